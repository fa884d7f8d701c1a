package json

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

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

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       []pipeline.Field
	}{
		{"typical",
			`{"level":"info","msg":"request done","status":200,"latency_ms":12.5,"cached":false,"user":null}`,
			[]pipeline.Field{str("level", "info"), str("msg", "request done"), num("status", 200), flt("latency_ms", 12.5), boolean("cached", false)}},
		{"nested objects are flattened",
			`{"http":{"method":"GET","req":{"bytes":512}},"ok":true}`,
			[]pipeline.Field{str("http.method", "GET"), num("http.req.bytes", 512), boolean("ok", true)}},
		{"arrays are their JSON text", `{"tags":["a", "b"],"empty":[],"deep":[{"x":[1,2]}]}`,
			[]pipeline.Field{str("tags", `["a", "b"]`), str("empty", "[]"), str("deep", `[{"x":[1,2]}]`)}},
		{"number rules", `{"i":-42,"z":0,"max":9223372036854775807,"big":9223372036854775808,"f":1.0,"e":1e3,"E":2E-2,"neg0":-0}`,
			[]pipeline.Field{num("i", -42), num("z", 0), num("max", math.MaxInt64), flt("big", 9223372036854775808),
				flt("f", 1), flt("e", 1000), flt("E", 0.02), num("neg0", 0)}},
		{"string escapes", `{"s":"a\"b\\c\/d\n\t\u00e9\ud83d\ude00","k\u0041":"x"}`,
			[]pipeline.Field{str("s", "a\"b\\c/d\n\té😀"), str("kA", "x")}},
		{"invalid UTF-8 and lone surrogates become U+FFFD", "{\"s\":\"a\xffb\",\"t\":\"\\ud800x\"}",
			[]pipeline.Field{str("s", "a\uFFFDb"), str("t", "\uFFFDx")}},
		{"empty object and empty nested object", `{"a":{},"b":1}`, []pipeline.Field{num("b", 1)}},
		{"repeated keys are kept", `{"a":1,"a":2}`, []pipeline.Field{num("a", 1), num("a", 2)}},
		{"white space around", " \t{ \"a\" : 1 , \"b\" : [ 1 ] }\r\n", []pipeline.Field{num("a", 1), str("b", "[ 1 ]")}},
		{"empty", `{}`, nil},
		{"the README's example",
			`{"time":"2024-05-01T12:00:00Z","level":"info","msg":"request done","status":200,"latency_ms":12.5,"cached":false,"trace":null,"user":{"id":42,"name":"ada"},"tags":["a","b"]}`,
			[]pipeline.Field{str("time", "2024-05-01T12:00:00Z"), str("level", "info"), str("msg", "request done"), num("status", 200),
				flt("latency_ms", 12.5), boolean("cached", false), num("user.id", 42), str("user.name", "ada"), str("tags", `["a","b"]`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := headers(tc.line)
			if err := (&JSON{}).Decode([]byte(tc.line), m); err != nil {
				t.Fatal(err)
			}
			want := &pipeline.Message{Type: "log", Timestamp: 1111, Hostname: "edge-1", Payload: []byte(tc.line), Fields: tc.want}
			if !m.Equal(want) {
				t.Fatalf("got  %v\nwant %v", fieldsString(m.Fields), fieldsString(tc.want))
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`[1,2]`, "json: line is not a JSON object"},
		{`"text"`, "json: line is not a JSON object"},
		{`hello world`, "json: line is not a JSON object"},
		{``, "json: line is not a JSON object"},
		{`{"a":1`, "json: column 7: expected ',' or '}', found end of line"},
		{`{"a" 1}`, `json: column 6: expected ':' after key "a", found character '1'`},
		{`{a:1}`, "json: column 2: expected a key in double quotes, found character 'a'"},
		{`{"a":1,}`, "json: column 8: expected a key in double quotes"},
		{`{"a":tru}`, "json: column 6: expected a value"},
		{`{"a":01}`, "json: column 7: expected ',' or '}' after a value, found character '1'"},
		{`{"a":1.}`, `json: column 6: invalid number "1.}"`},
		{`{"a":-}`, `invalid number`},
		{`{"a":1e400}`, "json: column 6: number 1e400 is out of range for a float"},
		{`{"a":"x}`, "json: column 9: the string opened at column 6 has no closing quote"},
		{"{\"a\":\"x\ty\"}", "control character 0x09 in a string"},
		{`{"a":"\x"}`, `invalid escape '\x'`},
		{`{"a":"\u12"}`, `invalid \u escape`},
		{`{"a":[1,}`, "expected a value, found character '}'"},
		{`{"a":1} x`, "json: column 9: unexpected character 'x' after the object"},
		{`{"a":1}{}`, "unexpected character '{' after the object"},
		{`{"a":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + "}", "nested more than 10000 deep"},
	} {
		m := headers(tc.line)
		m.Fields = []pipeline.Field{str("keep", "me")}
		err := (&JSON{}).Decode([]byte(tc.line), m)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60q: got error %v, want one containing %q", tc.line, err, tc.want)
		}
		if len(m.Fields) != 1 || m.Type != "" {
			t.Errorf("%.60q: a failed decode changed the message: %v", tc.line, fieldsString(m.Fields))
		}
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

// TestDecodeConcurrent: one decoder serves several goroutines (an input
// may emit from many connections); run with -race.
func TestDecodeConcurrent(t *testing.T) {
	d := &JSON{}
	want := headers(benchLine)
	if err := d.Decode([]byte(benchLine), want); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				m := headers(benchLine)
				if err := d.Decode([]byte(benchLine), m); err != nil || !m.Equal(want) {
					t.Errorf("concurrent decode: %v %v", err, fieldsString(m.Fields))
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestRegistered(t *testing.T) {
	r, ok := pipeline.LookupDecoder("json")
	if !ok {
		t.Fatal("json decoder not registered")
	}
	if _, ok := r.New().(*JSON); !ok {
		t.Fatalf("New returned %T", r.New())
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
