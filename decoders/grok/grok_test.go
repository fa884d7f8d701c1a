package grok

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

func configured(t testing.TB, table map[string]any) *Grok {
	t.Helper()
	r, ok := pipeline.LookupDecoder("grok")
	if !ok {
		t.Fatal("grok decoder not registered")
	}
	d := r.New().(*Grok)
	if err := d.Configure(table); err != nil {
		t.Fatal(err)
	}
	return d
}

func s(k, v string) pipeline.Field { return pipeline.Field{Name: k, Kind: pipeline.KindString, Str: v} }
func i(k string, v int64) pipeline.Field {
	return pipeline.Field{Name: k, Kind: pipeline.KindInt, Int: v}
}

const combinedLine = `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		table      map[string]any
		ts         int64
		want       []pipeline.Field
	}{
		{"COMBINEDAPACHELOG, typed in the pattern", combinedLine,
			map[string]any{"pattern": "%{COMBINEDAPACHELOG}", "types": map[string]any{"timestamp": "timestamp"}, "timestamp_format": "02/Jan/2006:15:04:05 -0700"},
			time.Date(2000, 10, 10, 20, 55, 36, 0, time.UTC).UnixNano(),
			[]pipeline.Field{s("http.request.method", "GET"), s("http.request.referrer", "http://www.example.com/start.html"),
				i("http.response.body.size", 2326), i("http.response.status_code", 200), s("http.version", "1.0"),
				s("source.address", "127.0.0.1"), s("url.original", "/apache_pb.gif"),
				s("user.name", "frank"), s("user_agent.original", "Mozilla/4.08 [en] (Win98; I ;Nav)")}},
		{"custom patterns and types", "took 12ms status=500 id=ab12",
			map[string]any{"pattern": "took %{NUMBER:took}ms status=%{INT:status} id=%{REQID:id}",
				"custom_patterns": map[string]any{"REQID": `[a-z0-9]+`}, "types": map[string]any{"took": "float", "status": "int"}},
			1111, []pipeline.Field{s("id", "ab12"), i("status", 500), {Name: "took", Kind: pipeline.KindFloat, Float: 12}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := configured(t, tc.table)
			m := &pipeline.Message{Timestamp: 1111, Payload: []byte(tc.line)}
			if err := d.Decode([]byte(tc.line), m); err != nil {
				t.Fatal(err)
			}
			want := &pipeline.Message{Type: "log", Timestamp: tc.ts, Payload: []byte(tc.line), Fields: tc.want}
			if !m.Equal(want) {
				t.Fatalf("got  %+v\nwant %+v", m, want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	d := configured(t, map[string]any{"pattern": "status=%{WORD:status}", "types": map[string]any{"status": "int"}})
	for _, tc := range []struct{ line, want string }{
		{"nothing like it", "grok: line does not match"},
		{"status=ok", `grok: group "status": "ok" is not an int`},
	} {
		m := &pipeline.Message{Timestamp: 5, Fields: []pipeline.Field{s("keep", "me")}}
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
		{map[string]any{"pattern": "%{NOPE:x}"}, `key "pattern": pattern definition "NOPE" unknown`},
		{map[string]any{"pattern": "%{NUMBER}"}, `key "pattern": captures nothing`},
		{map[string]any{"pattern": "%{NUMBER:n}", "custom_patterns": "x"}, `key "custom_patterns": expected a table`},
		{map[string]any{"pattern": "%{NUMBER:n}", "typs": "x"}, `key "typs": unknown key`},
	} {
		err := (&Grok{}).Configure(tc.table)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.table, err, tc.want)
		}
	}
}

func TestDecodeConcurrent(t *testing.T) {
	d := configured(t, map[string]any{"pattern": "%{COMBINEDAPACHELOG}"})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				m := &pipeline.Message{}
				if err := d.Decode([]byte(combinedLine), m); err != nil || len(m.Fields) != 10 {
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
	f.Add([]byte(combinedLine))
	f.Add([]byte(`::1 - - [10/Oct/2000:13:55:36 -0700] "-" 99999999999999999999 - "-" "-"`))
	f.Add([]byte("garbage"))
	d := configured(f, map[string]any{"pattern": "%{COMBINEDAPACHELOG}", "types": map[string]any{"timestamp": "timestamp"}, "timestamp_format": "02/Jan/2006:15:04:05 -0700"})
	f.Fuzz(func(t *testing.T, line []byte) {
		m := &pipeline.Message{Timestamp: 7}
		if err := d.Decode(line, m); err != nil && (len(m.Fields) != 0 || m.Timestamp != 7 || m.Type != "") {
			t.Fatalf("%q: failed decode changed the message", line)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	d := configured(b, map[string]any{"pattern": "%{COMBINEDAPACHELOG}"})
	line := []byte(combinedLine)
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
