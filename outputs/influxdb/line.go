package influxdb

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The tags and the field a log message is written with (README: "Logs").
const (
	logHostTag      = "host"
	logSeverityTag  = "severity"
	logTypeTag      = "type"
	logMessageField = "message"
	logPayloadField = "payload"
	defaultLogName  = "log"
)

// lineEncoder turns messages into lines of line protocol for InfluxDB. It
// keeps scratch space between calls: one per output, used by Write only.
type lineEncoder struct {
	logMeasurement      string // "" : the message's Logger, else "log"
	logMeasurementField string // a field whose string value names the measurement
	div                 int64  // nanoseconds per unit of the precision
	uintSupport         bool   // write uints with the u suffix (InfluxDB 1.x refuses it)

	point  pipeline.Message // a metric of another Type, or a log, as a metric
	fields []pipeline.Field // scratch for uints written as ints
}

// asInts returns fs with its uint fields as ints (clamped at the largest
// int64), as Telegraf writes them unless influx_uint_support is set:
// InfluxDB 1.x answers "invalid number" to a u suffix. fs itself when it has
// no uint field, or when uints are supported.
func (e *lineEncoder) asInts(fs []pipeline.Field) []pipeline.Field {
	if e.uintSupport || !slices.ContainsFunc(fs, func(f pipeline.Field) bool { return f.Kind == pipeline.KindUint }) {
		return fs
	}
	e.fields = append(e.fields[:0], fs...)
	for i := range e.fields {
		if f := &e.fields[i]; f.Kind == pipeline.KindUint {
			f.Kind, f.Int = pipeline.KindInt, int64(min(f.Uint, math.MaxInt64))
		}
	}
	return e.fields
}

// appendLine appends m to buf as one line (with its newline) and returns
// the longer buffer; on error buf comes back unchanged. A message with a
// measurement field is written as the point it is (docs/message.md); any
// other message is written as a log point.
func (e *lineEncoder) appendLine(buf []byte, m *pipeline.Message) ([]byte, error) {
	start := len(buf)
	var err error
	switch {
	case m.IsMetric():
		// A point made by a filter (an "anomaly") is a point all the same.
		e.point.Type, e.point.Timestamp, e.point.Fields = pipeline.MetricType, m.Timestamp, e.asInts(m.Fields)
		buf, err = pipeline.AppendLineProtocol(buf, &e.point)
		e.point.Fields = nil // m's or scratch: not to keep
	default:
		e.logPoint(m)
		logFields := e.point.Fields // logPoint's scratch, kept for the next log
		e.point.Fields = e.asInts(logFields)
		buf, err = pipeline.AppendLineProtocol(buf, &e.point)
		e.point.Fields = logFields
		m = &e.point
	}
	if err != nil {
		return buf[:start], err
	}
	if hasControlInStrings(m) {
		buf = append(buf[:start], rawControlsInStrings(buf[start:])...)
	}
	if e.div > 1 {
		buf = retime(buf, start, e.div)
	}
	return buf, nil
}

// logPoint fills e.point with the point that stands for log message m: the
// tags host, severity and type from the headers, the message's own fields
// (the first of a repeated name), and the payload as the field "message"
// ("payload" if the message has a field called message already).
func (e *lineEncoder) logPoint(m *pipeline.Message) {
	p := &e.point
	clear(p.Fields)
	p.Fields = p.Fields[:0]
	p.Type, p.Timestamp = pipeline.MetricType, m.Timestamp

	name, nameField := e.logName(m)
	p.Fields = append(p.Fields, pipeline.Field{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: name})
	addTag := func(k, v string) {
		if v != "" && !seen(p.Fields, k, pipeline.RoleTag) {
			p.Fields = append(p.Fields, pipeline.Field{Name: k, Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: validUTF8(v)})
		}
	}
	addTag(logHostTag, m.Hostname)
	addTag(logSeverityTag, strconv.Itoa(int(m.Severity)))
	addTag(logTypeTag, m.Type)
	for i := range m.Fields {
		f := &m.Fields[i]
		if i == nameField || f.Name == "" {
			continue
		}
		g := *f
		g.Role = pipeline.RoleField
		if f.Role == pipeline.RoleTag && f.Kind == pipeline.KindString {
			g.Role = pipeline.RoleTag
			if f.Str == "" {
				continue // an empty tag is no tag
			}
		}
		if seen(p.Fields, f.Name, g.Role) {
			continue
		}
		switch f.Kind {
		case pipeline.KindString:
			g.Str = validUTF8(f.Str)
		case pipeline.KindBytes:
			if !utf8.Valid(f.Bytes) {
				continue // line protocol has no bytes type: binary has no place
			}
			g.Kind, g.Str, g.Bytes = pipeline.KindString, string(f.Bytes), nil
		case pipeline.KindFloat:
			if f.Float != f.Float || f.Float > maxFloat || f.Float < -maxFloat {
				continue // NaN and the infinities have no line protocol form
			}
		}
		p.Fields = append(p.Fields, g)
	}
	text := logMessageField
	if seen(p.Fields, text, pipeline.RoleField) {
		text = logPayloadField
	}
	if len(m.Payload) > 0 || !hasValue(p.Fields) {
		p.Fields = append(p.Fields, pipeline.Field{Name: text, Kind: pipeline.KindString, Str: validUTF8(string(m.Payload))})
	}
}

const maxFloat = 1.7976931348623157e308

// logName returns the measurement of a log message and the index of the
// field it came from (-1 when none).
func (e *lineEncoder) logName(m *pipeline.Message) (string, int) {
	if e.logMeasurementField != "" {
		for i := range m.Fields {
			f := &m.Fields[i]
			if f.Name == e.logMeasurementField && f.Kind == pipeline.KindString && f.Str != "" {
				return validUTF8(f.Str), i
			}
		}
	}
	switch {
	case e.logMeasurement != "":
		return e.logMeasurement, -1
	case m.Logger != "":
		return validUTF8(m.Logger), -1
	}
	return defaultLogName, -1
}

// seen reports whether fs has a field with that name and role.
func seen(fs []pipeline.Field, name string, role pipeline.FieldRole) bool {
	for i := range fs {
		if fs[i].Name == name && fs[i].Role == role {
			return true
		}
	}
	return false
}

// hasValue reports whether fs has a value field: a point needs one.
func hasValue(fs []pipeline.Field) bool {
	for i := range fs {
		if fs[i].Role == pipeline.RoleField {
			return true
		}
	}
	return false
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// hasControlInStrings reports whether a string value of point m holds a
// newline, carriage return or tab.
func hasControlInStrings(m *pipeline.Message) bool {
	for i := range m.Fields {
		f := &m.Fields[i]
		if f.Role == pipeline.RoleField && f.Kind == pipeline.KindString && strings.ContainsAny(f.Str, "\n\r\t") {
			return true
		}
	}
	return false
}

// rawControlsInStrings rewrites, in place, the escapes \n, \r and \t inside
// the string values of one line to the characters they stand for, and
// returns the (shorter) line. Our line protocol writer escapes those
// characters, but InfluxDB's parser (1.x, 2.x) only unescapes \" and \\: it
// would store a backslash and an "n". Inside quotes it takes the characters
// as they are, newlines included.
//
// The line is one AppendLineProtocol wrote, so its grammar is known: the
// measurement and tags run to the first space not escaped by a backslash;
// then come key=value pairs separated by commas, where a value starting
// with a double quote is a string in which every backslash starts an escape
// pair; then a space and the timestamp.
func rawControlsInStrings(line []byte) []byte {
	i := 0
	// Measurement and tags: "\," "\=" "\ " are escapes; a backslash before
	// anything else stands for itself.
	for i < len(line) && line[i] != ' ' {
		if line[i] == '\\' && i+1 < len(line) && isKeySpecial(line[i+1]) {
			i++
		}
		i++
	}
	w := i
	for i < len(line) {
		c := line[i]
		if c == '=' && i+1 < len(line) && line[i+1] == '"' {
			line[w], line[w+1] = '=', '"'
			w, i = w+2, i+2
			for i < len(line) && line[i] != '"' {
				if line[i] == '\\' && i+1 < len(line) {
					switch line[i+1] {
					case 'n':
						line[w] = '\n'
						w, i = w+1, i+2
						continue
					case 'r':
						line[w] = '\r'
						w, i = w+1, i+2
						continue
					case 't':
						line[w] = '\t'
						w, i = w+1, i+2
						continue
					}
					line[w] = line[i]
					w, i = w+1, i+1
				}
				line[w] = line[i]
				w, i = w+1, i+1
			}
			continue // the closing quote is copied below
		}
		if c == '\\' && i+1 < len(line) && isKeySpecial(line[i+1]) {
			line[w] = c
			w, i = w+1, i+1
		}
		line[w] = line[i]
		w, i = w+1, i+1
	}
	return line[:w]
}

func isKeySpecial(c byte) bool { return c == ',' || c == '=' || c == ' ' }

// retime rewrites the timestamp of the line that starts at buf[start:] (it
// ends in " <ns>\n") in units of div nanoseconds, rounded down.
func retime(buf []byte, start int, div int64) []byte {
	end := len(buf) - 1 // the newline
	sp := bytes.LastIndexByte(buf[start:end], ' ')
	if sp < 0 {
		return buf
	}
	sp += start
	ns, err := strconv.ParseInt(string(buf[sp+1:end]), 10, 64)
	if err != nil {
		return buf
	}
	t := ns / div
	if ns%div < 0 {
		t-- // floor, so that every instant maps into the unit it falls in
	}
	buf = strconv.AppendInt(buf[:sp+1], t, 10)
	return append(buf, '\n')
}

// precisionDivisor returns nanoseconds per unit of a precision key value.
func precisionDivisor(p string) int64 {
	switch p {
	case "us":
		return 1e3
	case "ms":
		return 1e6
	case "s":
		return 1e9
	}
	return 1
}
