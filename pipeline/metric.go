package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// A metric point is a Message with Type "metric" whose fields carry InfluxDB's
// data model; docs/message.md is the reference, this is the short form:
//
//   - the measurement is the one field with Role RoleMeasurement, named "name",
//     of KindString, placed first so that the matcher's Fields[name] finds it;
//   - tags are KindString fields with Role RoleTag, sorted by key;
//   - values are fields with Role RoleField, of kind float, int, uint, string
//     or bool (bytes has no line protocol type);
//   - Timestamp is the point's time in nanoseconds.
//
// Nothing is guessed between a line and a message: 1i is an int, 1u a uint,
// 1 and 1.0 floats, "1" a string, t/true/f/false (any case line protocol
// allows) a bool.

// MetricType is the Type of a message that is a metric point.
const MetricType = "metric"

// MeasurementField is the name of the field that holds a metric's measurement.
const MeasurementField = "name"

// ErrSkipLine is returned by a decoder for a line that carries no message (a
// comment); it is not counted as an error.
var ErrSkipLine = errors.New("skip line")

// IsMetric reports whether m is a metric point: it has a measurement field.
// Points read from line protocol have Type "metric"; points made by filters
// may have another Type (a change detector's "anomaly") and are points all
// the same, so that they can be stored next to the data.
func (m *Message) IsMetric() bool {
	return m.measurementIndex() >= 0
}

// Measurement returns the measurement name ("" if none).
func (m *Message) Measurement() string {
	if i := m.measurementIndex(); i >= 0 {
		return m.Fields[i].Str
	}
	return ""
}

// measurementIndex returns the index of the first measurement field, or -1.
func (m *Message) measurementIndex() int {
	for i := range m.Fields {
		if isMeasurement(&m.Fields[i]) {
			return i
		}
	}
	return -1
}

func isMeasurement(f *Field) bool {
	return f.Role == RoleMeasurement && f.Name == MeasurementField && f.Kind == KindString
}

// maxStackTags is how many tags AppendLineProtocol orders without allocating.
const maxStackTags = 32

var encoderPool = sync.Pool{New: func() any { return new(lineprotocol.Encoder) }}

// AppendLineProtocol appends m as one line of line protocol (with the trailing
// newline), timestamps in ns. Tags are written sorted by key whatever their
// order in m. On error buf is returned unchanged.
func AppendLineProtocol(buf []byte, m *Message) ([]byte, error) {
	if m.Type != MetricType {
		return buf, fmt.Errorf("line protocol: message of type %q is not a metric (a metric has Type %q and a string field %q with role measurement)", m.Type, MetricType, MeasurementField)
	}
	mi := -1
	var tagStack [maxStackTags]int
	tags := tagStack[:0]
	sorted := true
	values := 0
	for i := range m.Fields {
		f := &m.Fields[i]
		switch f.Role {
		case RoleMeasurement:
			if !isMeasurement(f) {
				return buf, fmt.Errorf("line protocol: field %q has role measurement but the measurement is the string field %q", f.Name, MeasurementField)
			}
			if mi >= 0 {
				return buf, fmt.Errorf("line protocol: metric has two measurements (%q and %q)", m.Fields[mi].Str, f.Str)
			}
			mi = i
		case RoleTag:
			if f.Kind != KindString {
				return buf, fmt.Errorf("line protocol: metric %q: tag %q is a %s; tags are strings", m.Measurement(), f.Name, f.Kind)
			}
			if n := len(tags); n > 0 && f.Name <= m.Fields[tags[n-1]].Name {
				sorted = false
			}
			tags = append(tags, i)
		case RoleField:
			switch f.Kind {
			case KindBytes:
				return buf, fmt.Errorf("line protocol: metric %q: field %q is bytes, which has no line protocol type (make it a string)", m.Measurement(), f.Name)
			case KindFloat:
				if math.IsNaN(f.Float) || math.IsInf(f.Float, 0) {
					return buf, fmt.Errorf("line protocol: metric %q: field %q is %v, which line protocol cannot carry", m.Measurement(), f.Name, f.Float)
				}
			}
			values++
		default:
			return buf, fmt.Errorf("line protocol: field %q has an unknown role %d", f.Name, f.Role)
		}
	}
	if mi < 0 {
		return buf, fmt.Errorf("line protocol: metric has no measurement (a string field %q with role measurement)", MeasurementField)
	}
	name := m.Fields[mi].Str
	if len(name) > 0 && name[0] == '#' {
		return buf, fmt.Errorf("line protocol: measurement %q starts with '#', which line protocol reads as a comment", name)
	}
	if values == 0 {
		return buf, fmt.Errorf("line protocol: metric %q has no value fields; a point needs at least one", name)
	}
	if !sorted {
		// Messages built by hand (in Lua, say) need not keep tags in order;
		// line protocol requires it. Insertion sort: tags are few.
		for i := 1; i < len(tags); i++ {
			for j := i; j > 0 && m.Fields[tags[j]].Name < m.Fields[tags[j-1]].Name; j-- {
				tags[j], tags[j-1] = tags[j-1], tags[j]
			}
		}
	}
	for i := 1; i < len(tags); i++ {
		if m.Fields[tags[i]].Name == m.Fields[tags[i-1]].Name {
			return buf, fmt.Errorf("line protocol: metric %q: tag %q appears twice", name, m.Fields[tags[i]].Name)
		}
	}

	if out, ok := appendFast(buf, m, name, tags); ok {
		return out, nil
	}
	return appendWithLibrary(buf, m, name, tags)
}

// appendWithLibrary is AppendLineProtocol for any metric it has checked, with
// the line protocol library's encoder.
func appendWithLibrary(buf []byte, m *Message, name string, tags []int) ([]byte, error) {
	e := encoderPool.Get().(*lineprotocol.Encoder)
	defer func() {
		e.SetBuffer(nil) // do not keep the caller's buffer alive
		encoderPool.Put(e)
	}()
	e.SetBuffer(buf)
	e.StartLine(name)
	for _, i := range tags {
		e.AddTag(m.Fields[i].Name, m.Fields[i].Str)
	}
	for i := range m.Fields {
		f := &m.Fields[i]
		if f.Role != RoleField {
			continue
		}
		var v lineprotocol.Value
		switch f.Kind {
		case KindFloat:
			v, _ = lineprotocol.FloatValue(f.Float) // finite: checked above
		case KindInt:
			v = lineprotocol.IntValue(f.Int)
		case KindUint:
			v = lineprotocol.UintValue(f.Uint)
		case KindBool:
			v = lineprotocol.BoolValue(f.Bool)
		case KindString:
			// Zero-copy: the encoder only reads the bytes.
			var err error
			v, err = lineprotocol.NewValueFromBytes(lineprotocol.String, unsafe.Slice(unsafe.StringData(f.Str), len(f.Str)))
			if err != nil {
				return buf, fmt.Errorf("line protocol: metric %q: field %q: string is not valid UTF-8", name, f.Name)
			}
		default:
			return buf, fmt.Errorf("line protocol: metric %q: field %q has an unknown kind %d", name, f.Name, f.Kind)
		}
		e.AddField(f.Name, v)
	}
	e.EndLine(time.Unix(0, m.Timestamp))
	if err := e.Err(); err != nil {
		return buf, fmt.Errorf("line protocol: metric %q: %w", name, err)
	}
	return e.Bytes(), nil
}

// ParseLineProtocol parses one line (no trailing newline needed) into m,
// appending fields; m is not reset. It sets Type to "metric", appends the
// measurement, the tags sorted by key and the values in line order, and sets
// Timestamp when the line has one (otherwise the caller's value, typically
// "now", stays). m should hold no fields of a metric already. On error m's
// Type, Timestamp and Fields are as they were.
func ParseLineProtocol(line []byte, m *Message) error {
	n0 := len(m.Fields)
	err := parseLineProtocol(line, m)
	if err != nil {
		clear(m.Fields[n0:]) // drop references to strings of a bad line
		m.Fields = m.Fields[:n0]
	}
	return err
}

// lpParsers hold what the parser keeps between lines (lpParser): the
// strings of parsed lines are interned, as measurements, keys and most tag
// values repeat from line to line. A tag value may be a request id, more
// strings a line than a decoder's keys: 4096 of them. Pooled, so that parsers
// on several goroutines do not contend.
var lpParsers = sync.Pool{New: func() any { return &lpParser{in: Interner{Max: 4096}} }}

// ParseLineProtocolTransient is ParseLineProtocol for a message that is
// done with before line changes: the strings of a plain line (see
// metricfast.go) alias line instead of being copied or looked up, so they
// are valid only while line's bytes are. Lines the fast path does not take
// are parsed as ParseLineProtocol does.
func ParseLineProtocolTransient(line []byte, m *Message) error {
	n0, ts0 := len(m.Fields), m.Timestamp
	p := lpParsers.Get().(*lpParser)
	p.alias = true
	ok := p.parseFast(line, m)
	p.alias = false
	lpParsers.Put(p)
	if ok {
		return nil
	}
	clear(m.Fields[n0:])
	m.Fields, m.Timestamp = m.Fields[:n0], ts0
	return ParseLineProtocol(line, m)
}

func parseLineProtocol(line []byte, m *Message) error {
	p := lpParsers.Get().(*lpParser)
	defer lpParsers.Put(p)
	n0, ts0 := len(m.Fields), m.Timestamp
	if p.parseFast(line, m) {
		return nil
	}
	clear(m.Fields[n0:])
	m.Fields, m.Timestamp = m.Fields[:n0], ts0
	return parseWithLibrary(line, m, &p.in)
}

// parseWithLibrary is parseLineProtocol for any line, with the line protocol
// library's decoder.
func parseWithLibrary(line []byte, m *Message, in *Interner) error {
	// v2.2.1 has no Decoder.Reset, so a decoder per line: the struct stays on
	// the stack, its 512-byte escape buffer is allocated each time (see
	// TestLineProtocolParseAllocations).
	dec := lineprotocol.NewDecoderWithBytes(line)
	if !dec.Next() {
		return errors.New("line protocol: the line holds no point (it is empty or a comment)")
	}
	name, err := dec.Measurement()
	if err != nil {
		return lineError(err)
	}
	m.Fields = append(m.Fields, Field{Name: MeasurementField, Kind: KindString, Role: RoleMeasurement, Str: in.String(name)})

	t0 := len(m.Fields)
	for {
		key, val, err := dec.NextTag()
		if err != nil {
			return lineError(err)
		}
		if key == nil {
			break
		}
		m.Fields = append(m.Fields, Field{Name: in.String(key), Kind: KindString, Role: RoleTag, Str: in.String(val)})
	}
	if dup := sortTags(m.Fields[t0:]); dup != "" {
		return fmt.Errorf("line protocol: tag %q appears twice", dup)
	}

	values := 0
	for {
		key, val, err := dec.NextField()
		if err != nil {
			return lineError(err)
		}
		if key == nil {
			break
		}
		f := Field{Name: in.String(key)}
		switch val.Kind() {
		case lineprotocol.Float:
			f.Kind, f.Float = KindFloat, val.FloatV()
		case lineprotocol.Int:
			f.Kind, f.Int = KindInt, val.IntV()
		case lineprotocol.Uint:
			f.Kind, f.Uint = KindUint, val.UintV()
		case lineprotocol.Bool:
			f.Kind, f.Bool = KindBool, val.BoolV()
		case lineprotocol.String:
			f.Kind, f.Str = KindString, string(val.BytesV())
		default:
			return fmt.Errorf("line protocol: field %q has a value of unknown kind %v", key, val.Kind())
		}
		m.Fields = append(m.Fields, f)
		values++
	}
	if values == 0 {
		return errors.New("line protocol: the point has no fields")
	}

	ts, err := dec.TimeBytes()
	if err != nil {
		return lineError(err)
	}
	var ns int64
	if ts != nil {
		ns, err = strconv.ParseInt(unsafeString(ts), 10, 64)
		if err != nil {
			col := bytes.LastIndex(line, ts) + 1
			if errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("line protocol: column %d: timestamp %s is out of range (nanoseconds must fit in 64 bits)", col, ts)
			}
			return fmt.Errorf("line protocol: column %d: invalid timestamp %q", col, ts)
		}
	}
	if dec.Next() {
		return errors.New("line protocol: more than one point in the line")
	}
	if ts != nil {
		m.Timestamp = ns
	}
	m.Type = MetricType
	return nil
}

// lineError turns the library's "at line 1:18: ..." into "column 18: ...":
// we parse one line at a time, so the line number says nothing.
func lineError(err error) error {
	var de *lineprotocol.DecodeError
	if errors.As(err, &de) {
		if de.Err.Error() == "field value has unrecognized type" {
			return fmt.Errorf("line protocol: column %d: field value has unrecognized type (numbers start with a digit, '-' or '.'; strings are in double quotes; booleans are t, f, true or false)", de.Column)
		}
		return fmt.Errorf("line protocol: column %d: %w", de.Column, de.Err)
	}
	return fmt.Errorf("line protocol: %w", err)
}

// unsafeString views b as a string for a call that does not keep it.
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// sortTags sorts a point's tags by key, as line protocol wants them, and
// returns a key that appears twice ("" when none does).
func sortTags(tags []Field) (dup string) {
	for i := 1; i < len(tags); i++ { // insertion sort: tags are few and usually sorted
		for j := i; j > 0 && tags[j].Name < tags[j-1].Name; j-- {
			tags[j], tags[j-1] = tags[j-1], tags[j]
		}
	}
	for i := 1; i < len(tags); i++ {
		if tags[i].Name == tags[i-1].Name {
			return tags[i].Name
		}
	}
	return ""
}
