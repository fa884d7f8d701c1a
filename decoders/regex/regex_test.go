package regex

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

const accessPattern = `^(?P<ip>\S+) (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d+) (?P<bytes>-?\d+) (?P<took>\S+) (?P<ts>\S+)(?: (?P<extra>.*))?$`

func configured(t testing.TB, table map[string]any) *Regex {
	t.Helper()
	r, ok := pipeline.LookupDecoder("regex")
	if !ok {
		t.Fatal("regex decoder not registered")
	}
	d := r.New().(*Regex)
	if err := d.Configure(table); err != nil {
		t.Fatal(err)
	}
	return d
}

func accessConfig() map[string]any {
	return map[string]any{
		"pattern":          accessPattern,
		"types":            map[string]any{"status": "int", "bytes": "int", "took": "float", "ts": "timestamp"},
		"timestamp_format": "unix_ms",
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		table      map[string]any
		typ        string
		ts         int64
		want       []pipeline.Field
	}{
		{"typed groups", "10.0.0.1 GET /a 200 512 0.25 1700000000123", accessConfig(), "log", 1700000000123e6, []pipeline.Field{
			{Name: "ip", Kind: pipeline.KindString, Str: "10.0.0.1"}, {Name: "method", Kind: pipeline.KindString, Str: "GET"},
			{Name: "path", Kind: pipeline.KindString, Str: "/a"}, {Name: "status", Kind: pipeline.KindInt, Int: 200},
			{Name: "bytes", Kind: pipeline.KindInt, Int: 512}, {Name: "took", Kind: pipeline.KindFloat, Float: 0.25}}},
		{"optional group present", "10.0.0.1 GET /a 200 512 0.25 1700000000123 hello world", accessConfig(), "log", 1700000000123e6, []pipeline.Field{
			{Name: "ip", Kind: pipeline.KindString, Str: "10.0.0.1"}, {Name: "method", Kind: pipeline.KindString, Str: "GET"},
			{Name: "path", Kind: pipeline.KindString, Str: "/a"}, {Name: "status", Kind: pipeline.KindInt, Int: 200},
			{Name: "bytes", Kind: pipeline.KindInt, Int: 512}, {Name: "took", Kind: pipeline.KindFloat, Float: 0.25},
			{Name: "extra", Kind: pipeline.KindString, Str: "hello world"}}},
		{"go layout and type", "2024-05-01 12:00:00 warn disk full", map[string]any{
			"pattern": `^(?P<at>\S+ \S+) (?P<level>\w+) (?P<msg>.*)$`, "types": map[string]any{"at": "timestamp"},
			"timestamp_format": "2006-01-02 15:04:05", "type": "app.log"}, "app.log",
			time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano(), []pipeline.Field{
				{Name: "level", Kind: pipeline.KindString, Str: "warn"}, {Name: "msg", Kind: pipeline.KindString, Str: "disk full"}}},
		{"bool and unanchored", "x ok=true y", map[string]any{"pattern": `ok=(?P<ok>\w+)`, "types": map[string]any{"ok": "bool"}}, "log", 1111,
			[]pipeline.Field{{Name: "ok", Kind: pipeline.KindBool, Bool: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := configured(t, tc.table)
			m := &pipeline.Message{Timestamp: 1111, Payload: []byte(tc.line)}
			if err := d.Decode([]byte(tc.line), m); err != nil {
				t.Fatal(err)
			}
			want := &pipeline.Message{Type: tc.typ, Timestamp: tc.ts, Payload: []byte(tc.line), Fields: tc.want}
			if !m.Equal(want) {
				t.Fatalf("got  %+v\nwant %+v", m, want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	d := configured(t, accessConfig())
	for _, tc := range []struct{ line, want string }{
		{"nothing like it", "regex: line does not match"},
		{"10.0.0.1 GET /a 99999999999999999999 1 0.1 1", `regex: group "status": "99999999999999999999" is not an int`},
		{"10.0.0.1 GET /a 200 1 fast 1", `regex: group "took": "fast" is not a float`},
		{"10.0.0.1 GET /a 200 1 0.1 soon", `regex: group "ts": timestamp "soon" is not a unix_ms time`},
	} {
		m := &pipeline.Message{Timestamp: 5, Fields: []pipeline.Field{{Name: "keep", Kind: pipeline.KindString, Str: "me"}}}
		err := d.Decode([]byte(tc.line), m)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v, want %q", tc.line, err, tc.want)
		}
		if len(m.Fields) != 1 || m.Type != "" || m.Timestamp != 5 {
			t.Errorf("%q: a failed decode changed the message: %+v", tc.line, m)
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	for _, tc := range []struct {
		table map[string]any
		want  string
	}{
		{nil, `missing required key "pattern"`},
		{map[string]any{"pattern": `(`}, `key "pattern": error parsing regexp`},
		{map[string]any{"pattern": `\d+`}, `key "pattern": has no named groups`},
		{map[string]any{"pattern": `(?P<a>x)`, "types": map[string]any{"b": "int"}}, `key "types.b": the pattern has no group named "b"`},
		{map[string]any{"pattern": `(?P<a>x)`, "types": map[string]any{"a": "integer"}}, `key "types.a": type integer`},
		{map[string]any{"pattern": `(?P<a>x)`, "patern": "x"}, `key "patern": unknown key`},
		{map[string]any{"pattern": 3}, `key "pattern": expected a non-empty string`},
	} {
		err := (&Regex{}).Configure(tc.table)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.table, err, tc.want)
		}
	}
}

func TestDecodeConcurrent(t *testing.T) {
	d := configured(t, accessConfig())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				m := &pipeline.Message{}
				if err := d.Decode([]byte(benchLine), m); err != nil || len(m.Fields) != 6 {
					t.Errorf("concurrent decode: %v %v", err, m.Fields)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzDecode: never panics; a failed decode leaves the message as it was.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(benchLine))
	f.Add([]byte("10.0.0.1 GET /a 200 -1 1e400 -9223372036854775808 x"))
	f.Add([]byte("a b c d e f g"))
	d := configured(f, accessConfig())
	f.Fuzz(func(t *testing.T, line []byte) {
		m := &pipeline.Message{Timestamp: 7}
		if err := d.Decode(line, m); err != nil {
			if len(m.Fields) != 0 || m.Timestamp != 7 || m.Type != "" {
				t.Fatalf("%q: failed decode changed the message", line)
			}
		} else if m.Type != "log" {
			t.Fatalf("%q: type %q", line, m.Type)
		}
	})
}

const benchLine = "10.0.0.1 GET /api/v1/items 200 5120 0.012 1700000000123"

func BenchmarkDecode(b *testing.B) {
	d := configured(b, accessConfig())
	line := []byte(benchLine)
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
