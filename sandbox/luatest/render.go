package luatest

import (
	"bytes"
	"encoding/base64"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/interoceptor/interoceptor/pipeline"
)

func formatTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
}

// renderExpectation writes an expected line in the canonical key order.
func renderExpectation(e *expectation) string {
	if e.fail != nil {
		return string(appendFailure(nil, e.fail, e.has))
	}
	buf := appendMessage(nil, e.msg, e.has, e.form, e.msg.Fields)
	if e.subset {
		buf = append(buf[:len(buf)-1], `,"fields_subset":true}`...)
	}
	return string(buf)
}

// renderEvent writes what the script did as one JSON line. With a shape,
// only the keys the shape compares are written, fields in the shape's order
// and form (then any others); without one, the form -update writes.
func renderEvent(ev *event, shape *expectation) string {
	if ev.fail != nil {
		has := map[string]bool{"failed": true, "line": true, "status": ev.fail.Status != 0,
			"terminated": ev.fail.Terminated != "", "error": ev.fail.Error != ""}
		if shape != nil && shape.fail != nil {
			has = shape.has
		}
		return string(appendFailure(nil, ev.fail, has))
	}
	m := ev.msg
	if shape == nil || shape.msg == nil {
		has := updateKeys
		if len(m.Payload) == 0 {
			has = maps(updateKeys, "payload")
		}
		return string(appendMessage(nil, m, has, '[', m.Fields))
	}
	fields := m.Fields
	if shape.has["fields"] {
		// The shape's fields first, in its order; the rest after, unless a subset is expected.
		fields = make([]pipeline.Field, 0, len(m.Fields))
		used := make([]bool, len(m.Fields))
		seen := map[string]int{}
		for i := range shape.msg.Fields {
			name := shape.msg.Fields[i].Name
			k := seen[name]
			seen[name]++
			for j := range m.Fields {
				if m.Fields[j].Name == name && !used[j] {
					if k == 0 {
						fields = append(fields, m.Fields[j])
						used[j] = true
						break
					}
					k--
				}
			}
		}
		if !shape.subset {
			for j := range m.Fields {
				if !used[j] {
					fields = append(fields, m.Fields[j])
				}
			}
		}
	}
	return string(appendMessage(nil, m, shape.has, shape.form, fields))
}

// maps returns a copy of m without the key drop.
func maps(m map[string]bool, drop string) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		if k != drop {
			out[k] = v
		}
	}
	return out
}

// appendMessage writes the headers in has, in the JSON form's order, and
// fields in form ('[' the array form, '{' the object form).
func appendMessage(buf []byte, m *pipeline.Message, has map[string]bool, form byte, fields []pipeline.Field) []byte {
	buf = append(buf, '{')
	first := true
	key := func(k string) {
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendString(buf, k)
		buf = append(buf, ':')
	}
	text := func(k, s string) {
		if utf8.ValidString(s) {
			key(k)
			buf = appendString(buf, s)
			return
		}
		key(k + "_base64")
		buf = appendString(buf, base64.StdEncoding.EncodeToString([]byte(s)))
	}
	for _, k := range headerKeys {
		if !has[k] {
			continue
		}
		switch k {
		case "uuid":
			key(k)
			buf = appendString(buf, m.UUID.String())
		case "timestamp":
			key(k)
			buf = appendString(buf, formatTime(m.Timestamp))
		case "type":
			text(k, m.Type)
		case "logger":
			text(k, m.Logger)
		case "severity":
			key(k)
			buf = strconv.AppendInt(buf, int64(m.Severity), 10)
		case "hostname":
			text(k, m.Hostname)
		case "pid":
			key(k)
			buf = strconv.AppendInt(buf, int64(m.Pid), 10)
		case "payload":
			text(k, string(m.Payload))
		case "fields":
			key(k)
			buf = appendFields(buf, fields, form)
		}
	}
	return append(buf, '}')
}

func appendFields(buf []byte, fields []pipeline.Field, form byte) []byte {
	if form == '{' {
		buf = append(buf, '{')
		for i := range fields {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, fields[i].Name)
			buf = append(buf, ':')
			buf = appendValue(buf, &fields[i], '{')
		}
		return append(buf, '}')
	}
	buf = append(buf, '[')
	for i := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = pipeline.AppendJSONField(buf, &fields[i])
	}
	return append(buf, ']')
}

// appendValue writes a field's value. In the object form, where the kind
// comes from the literal, a whole float keeps a ".0" so that it reads back a
// float.
func appendValue(buf []byte, f *pipeline.Field, form byte) []byte {
	switch f.Kind {
	case pipeline.KindString:
		return appendString(buf, f.Str)
	case pipeline.KindBytes:
		return appendString(buf, base64.StdEncoding.EncodeToString(f.Bytes))
	case pipeline.KindInt:
		return strconv.AppendInt(buf, f.Int, 10)
	case pipeline.KindUint:
		return strconv.AppendUint(buf, f.Uint, 10)
	case pipeline.KindBool:
		return strconv.AppendBool(buf, f.Bool)
	case pipeline.KindFloat:
		switch {
		case math.IsNaN(f.Float):
			return append(buf, `"NaN"`...)
		case math.IsInf(f.Float, 1):
			return append(buf, `"+Inf"`...)
		case math.IsInf(f.Float, -1):
			return append(buf, `"-Inf"`...)
		}
		n := len(buf)
		buf = strconv.AppendFloat(buf, f.Float, 'g', -1, 64)
		if form == '{' && !bytes.ContainsAny(buf[n:], ".e") {
			buf = append(buf, ".0"...)
		}
		return buf
	}
	return append(buf, "null"...)
}

func appendFailure(buf []byte, f *failure, has map[string]bool) []byte {
	buf = append(buf, `{"failed":`...)
	buf = appendString(buf, f.Call)
	if has["line"] {
		buf = append(buf, `,"line":`...)
		buf = strconv.AppendInt(buf, int64(f.Line), 10)
	}
	if has["status"] {
		buf = append(buf, `,"status":`...)
		buf = strconv.AppendInt(buf, int64(f.Status), 10)
	}
	if has["terminated"] {
		buf = append(buf, `,"terminated":`...)
		buf = appendString(buf, f.Terminated)
	}
	if has["error"] {
		buf = append(buf, `,"error":`...)
		buf = appendString(buf, f.Error)
	}
	return append(buf, '}')
}

// appendString writes s as a JSON string, as the JSON form does.
func appendString(buf []byte, s string) []byte {
	return pipeline.AppendJSONString(buf, s)
}
