package grok

import (
	"testing"

	"github.com/interoceptor/interoceptor/decoders/decodertest"
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

const combinedLine = `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`

// TestGolden runs the cases of testdata/ (see decoders/decodertest).
func TestGolden(t *testing.T) { decodertest.Run(t, "grok", "testdata") }

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
