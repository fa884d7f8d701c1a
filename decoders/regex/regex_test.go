package regex

import (
	"testing"

	"github.com/interoceptor/interoceptor/decoders/decodertest"
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

// TestGolden runs the cases of testdata/ (see decoders/decodertest).
func TestGolden(t *testing.T) { decodertest.Run(t, "regex", "testdata") }

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
