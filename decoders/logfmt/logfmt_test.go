package logfmt

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/decoders/decodertest"
	"github.com/interoceptor/interoceptor/pipeline"
)

func str(k, v string) pipeline.Field {
	return pipeline.Field{Name: k, Kind: pipeline.KindString, Str: v}
}

// headers is a message as the runtime hands it to a decoder.
func headers(line string) *pipeline.Message {
	return &pipeline.Message{Timestamp: 1111, Hostname: "edge-1", Payload: []byte(line)}
}

// TestGolden runs the cases of testdata/ (see decoders/decodertest).
func TestGolden(t *testing.T) { decodertest.Run(t, "logfmt", "testdata") }

// TestLineWithANewline: a line from an input never holds a newline, so the
// golden cases cannot; a decoder used directly may be given one.
func TestLineWithANewline(t *testing.T) {
	line := "a=1\nb=2"
	m := headers(line)
	m.Fields = []pipeline.Field{str("keep", "me")}
	err := (&Logfmt{}).Decode([]byte(line), m)
	if err == nil || err.Error() != "logfmt: the line contains a newline" {
		t.Errorf("got error %v", err)
	}
	if len(m.Fields) != 1 || m.Type != "" {
		t.Errorf("a failed decode changed the message: %v", fieldsString(m.Fields))
	}
}

// FuzzDecode: no panic; a decoded message is a log with its payload, whose
// fields are keys of the line, a bare key only where it has no '='.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`ts=2024-05-01T12:00:00Z level=info msg="request done" status=200 cached`))
	f.Add([]byte(`a= b="" c="x\"y\\z\u00e9" d`))
	f.Add([]byte("a=1 =2"))
	f.Fuzz(func(t *testing.T, line []byte) {
		m := headers(string(line))
		if err := (&Logfmt{}).Decode(line, m); err != nil {
			return
		}
		if m.Type != "log" || !bytes.Equal(m.Payload, line) {
			t.Fatalf("%q: type %q payload %q", line, m.Type, m.Payload)
		}
		for _, f := range m.Fields {
			// A bare key is followed by white space or the end of the line,
			// a key with a value by '='.
			if f.Kind == pipeline.KindBool && !followedBy(line, f.Name, func(c byte) bool { return c <= ' ' }) ||
				f.Kind == pipeline.KindString && !followedBy(line, f.Name, func(c byte) bool { return c == '=' }) {
				t.Fatalf("%q: field %q (%s) is not in the line as such", line, f.Name, f.Kind)
			}
		}
	})
}

// followedBy reports whether key occurs in line followed by a byte for which
// next is true, or for a bare key, by the end of the line.
func followedBy(line []byte, key string, next func(byte) bool) bool {
	for i := 0; i+len(key) <= len(line); i++ {
		if string(line[i:i+len(key)]) != key {
			continue
		}
		if end := i + len(key); end == len(line) && next(' ') || end < len(line) && next(line[end]) {
			return true
		}
	}
	return false
}

// A typical logfmt line, ~130 bytes, 7 pairs.
const benchLine = `ts=2024-05-01T12:00:00Z level=info msg="request done" method=GET path=/api/v1/items status=200 latency=12.5ms`

func BenchmarkDecode(b *testing.B) {
	line := []byte(benchLine)
	d := &Logfmt{}
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

func fieldsString(fs []pipeline.Field) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%q(%s)=%#v ", f.Name, f.Kind, f.Value())
	}
	return b.String()
}
