package logfmt

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

func str(k, v string) pipeline.Field {
	return pipeline.Field{Name: k, Kind: pipeline.KindString, Str: v}
}
func flag(k string) pipeline.Field {
	return pipeline.Field{Name: k, Kind: pipeline.KindBool, Bool: true}
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
		{"typical", `ts=2024-05-01T12:00:00Z level=info msg="request done" method=GET path=/api/v1/items status=200 latency=12.5ms`,
			[]pipeline.Field{str("ts", "2024-05-01T12:00:00Z"), str("level", "info"), str("msg", "request done"),
				str("method", "GET"), str("path", "/api/v1/items"), str("status", "200"), str("latency", "12.5ms")}},
		{"no type guessing", `n=42 f=1.5 b=true`, []pipeline.Field{str("n", "42"), str("f", "1.5"), str("b", "true")}},
		{"bare keys are true", `debug a=1 cached`, []pipeline.Field{flag("debug"), str("a", "1"), flag("cached")}},
		{"empty values are empty strings", `a= b="" c=x`, []pipeline.Field{str("a", ""), str("b", ""), str("c", "x")}},
		{"bare key at the end after an empty value", `a= b`, []pipeline.Field{str("a", ""), flag("b")}},
		{"quoted values with escapes", `msg="say \"hi\"\nnow" path="C:\\tmp" u="\u00e9"`,
			[]pipeline.Field{str("msg", "say \"hi\"\nnow"), str("path", `C:\tmp`), str("u", "é")}},
		{"quoted value holding = and spaces", `q="a=b c" z=1`, []pipeline.Field{str("q", "a=b c"), str("z", "1")}},
		{"repeated keys are kept", `a=1 a=2`, []pipeline.Field{str("a", "1"), str("a", "2")}},
		{"extra white space and CR", "  a=1\t\tb  \r", []pipeline.Field{str("a", "1"), flag("b")}},
		{"unicode", `ключ=значение 名前="東京"`, []pipeline.Field{str("ключ", "значение"), str("名前", "東京")}},
		{"punctuation in keys", `http.status_code=200 user-agent=curl`, []pipeline.Field{str("http.status_code", "200"), str("user-agent", "curl")}},
		{"empty", ``, nil},
		{"the README's example", `ts=2024-05-01T12:00:00Z level=info msg="request done" status=200 cached path=`,
			[]pipeline.Field{str("ts", "2024-05-01T12:00:00Z"), str("level", "info"), str("msg", "request done"),
				str("status", "200"), flag("cached"), str("path", "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := headers(tc.line)
			if err := (&Logfmt{}).Decode([]byte(tc.line), m); err != nil {
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
		{`a=1 =2`, `logfmt: column 5: unexpected '='`},
		{`a=b=c`, `logfmt: column 4: unexpected '='`},
		{`a="open`, `logfmt: column 8: unterminated quoted value`},
		{`a="bad \x"`, `logfmt: column 11: invalid quoted value`},
		{`a"b=1`, `logfmt: column 2: unexpected '"'`},
		{`a=x"y`, `logfmt: column 4: unexpected '"'`},
		{"k\xffey=1", `logfmt: column 5: invalid key`},
		{"a=1\nb=2", "logfmt: the line contains a newline"},
	} {
		m := headers(tc.line)
		m.Fields = []pipeline.Field{str("keep", "me")}
		err := (&Logfmt{}).Decode([]byte(tc.line), m)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: got error %v, want %q", tc.line, err, tc.want)
		}
		if len(m.Fields) != 1 || m.Type != "" {
			t.Errorf("%q: a failed decode changed the message: %v", tc.line, fieldsString(m.Fields))
		}
	}
}

// TestDecodeConcurrent: one decoder serves several goroutines (an input
// may emit from many connections); run with -race.
func TestDecodeConcurrent(t *testing.T) {
	d := &Logfmt{}
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
	r, ok := pipeline.LookupDecoder("logfmt")
	if !ok {
		t.Fatal("logfmt decoder not registered")
	}
	if _, ok := r.New().(*Logfmt); !ok {
		t.Fatalf("New returned %T", r.New())
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
