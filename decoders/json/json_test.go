package json

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/decoders/decodertest"
	"github.com/interoceptor/interoceptor/pipeline"
)

func str(k, v string) pipeline.Field {
	return pipeline.Field{Name: k, Kind: pipeline.KindString, Str: v}
}
func num(k string, v int64) pipeline.Field {
	return pipeline.Field{Name: k, Kind: pipeline.KindInt, Int: v}
}
func flt(k string, v float64) pipeline.Field {
	return pipeline.Field{Name: k, Kind: pipeline.KindFloat, Float: v}
}
func boolean(k string, v bool) pipeline.Field {
	return pipeline.Field{Name: k, Kind: pipeline.KindBool, Bool: v}
}

// headers is a message as the runtime hands it to a decoder.
func headers(line string) *pipeline.Message {
	return &pipeline.Message{Timestamp: 1111, Hostname: "edge-1", Payload: []byte(line)}
}

// TestGolden runs the cases of testdata/ (see decoders/decodertest).
func TestGolden(t *testing.T) { decodertest.Run(t, "json", "testdata") }

// TestLineWithANewline: a newline counts as white space around the object;
// a line from an input never holds one, so the golden cases cannot.
func TestLineWithANewline(t *testing.T) {
	line := " \t{ \"a\" : 1 , \"b\" : [ 1 ] }\r\n"
	m := headers(line)
	if err := (&JSON{}).Decode([]byte(line), m); err != nil {
		t.Fatal(err)
	}
	want := &pipeline.Message{Type: "log", Timestamp: 1111, Hostname: "edge-1", Payload: []byte(line),
		Fields: []pipeline.Field{num("a", 1), str("b", "[ 1 ]")}}
	if !m.Equal(want) {
		t.Fatalf("got  %v\nwant %v", fieldsString(m.Fields), fieldsString(want.Fields))
	}
}

func TestDecodeDepthLimit(t *testing.T) {
	// The line's object is one level; maxDepth levels in all are fine.
	for _, open := range []string{"[", `{"k":`} {
		closing := map[string]string{"[": "]", `{"k":`: "}"}[open]
		ok := `{"a":` + strings.Repeat(open, maxDepth-1) + "1" + strings.Repeat(closing, maxDepth-1) + "}"
		if err := (&JSON{}).Decode([]byte(ok), headers(ok)); err != nil {
			t.Errorf("%s nested %d deep: %v", open, maxDepth, err)
		}
		bad := `{"a":` + strings.Repeat(open, maxDepth) + "1" + strings.Repeat(closing, maxDepth) + "}"
		if err := (&JSON{}).Decode([]byte(bad), headers(bad)); err == nil || !strings.Contains(err.Error(), "nested more than") {
			t.Errorf("%s nested %d deep: got %v", open, maxDepth+1, err)
		}
		if stdjson.Valid([]byte(ok)) != true || stdjson.Valid([]byte(bad)) != false {
			t.Errorf("encoding/json draws the line elsewhere")
		}
	}
}

// reference decodes a line with encoding/json, following the same rules.
func reference(line []byte) ([]pipeline.Field, error) {
	if !stdjson.Valid(line) {
		return nil, fmt.Errorf("invalid")
	}
	trimmed := bytes.TrimLeft(line, " \t\r\n")
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("not an object")
	}
	var out []pipeline.Field
	err := flatten("", trimmed, &out)
	return out, err
}

func flatten(prefix string, obj []byte, out *[]pipeline.Field) error {
	dec := stdjson.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{'
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := prefix + tok.(string)
		var raw stdjson.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		switch raw[0] {
		case '{':
			if err := flatten(name+".", raw, out); err != nil {
				return err
			}
		case '[':
			*out = append(*out, str(name, string(raw)))
		case '"':
			var s string
			if err := stdjson.Unmarshal(raw, &s); err != nil {
				return err
			}
			*out = append(*out, str(name, s))
		case 't', 'f':
			*out = append(*out, boolean(name, raw[0] == 't'))
		case 'n':
		default:
			lit := string(raw)
			if !strings.ContainsAny(lit, ".eE") {
				if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
					*out = append(*out, num(name, n))
					continue
				}
			}
			f, err := strconv.ParseFloat(lit, 64)
			if err != nil && !math.IsInf(f, 0) {
				return err
			}
			if math.IsInf(f, 0) {
				return fmt.Errorf("out of range")
			}
			*out = append(*out, flt(name, f))
		}
	}
	return nil
}

// FuzzDecode: no panic; the decoder agrees with encoding/json on what is
// valid and on every field; a decoded message keeps its payload.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"level":"info","msg":"request done","status":200,"latency_ms":12.5,"cached":false,"user":null}`))
	f.Add([]byte(`{"a":{"b":{"c":[1,{"d":"\u00e9"}]}},"e":-1.5e-3}`))
	f.Add([]byte("{\"s\":\"\\ud83d\\ude00\xff\"}"))
	f.Fuzz(func(t *testing.T, line []byte) {
		m := headers(string(line))
		err := (&JSON{}).Decode(line, m)
		want, refErr := reference(line)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("%q: decoder says %v, encoding/json says %v", line, err, refErr)
		}
		if err != nil {
			if len(m.Fields) != 0 {
				t.Fatalf("%q: failed decode left fields", line)
			}
			return
		}
		got := &pipeline.Message{Fields: m.Fields}
		if !got.Equal(&pipeline.Message{Fields: want}) {
			t.Fatalf("%q:\n got %v\nwant %v", line, fieldsString(m.Fields), fieldsString(want))
		}
		if m.Type != "log" || !bytes.Equal(m.Payload, line) {
			t.Fatalf("%q: type %q payload %q", line, m.Type, m.Payload)
		}
	})
}

// A typical structured log line, ~200 bytes, 9 keys, one nested object.
const benchLine = `{"time":"2024-05-01T12:00:00Z","level":"info","msg":"request done","method":"GET","path":"/api/v1/items","status":200,"latency_ms":12.5,"user":{"id":42,"name":"ada"}}`

func BenchmarkDecode(b *testing.B) {
	line := []byte(benchLine)
	d := &JSON{}
	m := &pipeline.Message{Fields: make([]pipeline.Field, 0, 16)}
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		m.Fields = m.Fields[:0]
		if err := d.Decode(line, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEncodingJSON is the same line through encoding/json (the
// reference above), to show what the scanner saves.
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	line := []byte(benchLine)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reference(line); err != nil {
			b.Fatal(err)
		}
	}
}

func fieldsString(fs []pipeline.Field) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%q(%s)=%#v ", f.Name, f.Kind, f.Value())
	}
	return b.String()
}
