package accesslog

import (
	"testing"

	"github.com/interoceptor/interoceptor/decoders/decodertest"
	"github.com/interoceptor/interoceptor/decoders/grok"
	"github.com/interoceptor/interoceptor/pipeline"
)

const combinedLine = `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`

func decoder(t testing.TB, name string) pipeline.Decoder {
	r, ok := pipeline.LookupDecoder(name)
	if !ok {
		t.Fatalf("%s decoder not registered", name)
	}
	return r.New()
}

// TestGolden runs the cases of testdata/common and testdata/combined (see
// decoders/decodertest).
func TestGolden(t *testing.T) {
	decodertest.Run(t, "common", "testdata/common")
	decodertest.Run(t, "combined", "testdata/combined")
}

// FuzzDecode: never panics; a failed decode leaves the message as it was;
// common accepts every line combined accepts.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(combinedLine))
	f.Add([]byte(`::1 - - [01/Jan/2024:00:00:00 +0000] "-" 499 - "-" "-"`))
	f.Add([]byte(`h - - [29/Feb/2024:23:59:59 +0130] "GET /" 200 0`))
	common, combined := decoder(f, "common"), decoder(f, "combined")
	f.Fuzz(func(t *testing.T, line []byte) {
		mc := &pipeline.Message{Timestamp: 7}
		errCombined := combined.Decode(line, mc)
		if errCombined != nil && (len(mc.Fields) != 0 || mc.Timestamp != 7 || mc.Type != "") {
			t.Fatalf("%q: failed decode changed the message", line)
		}
		if err := common.Decode(line, &pipeline.Message{}); err != nil && errCombined == nil {
			t.Fatalf("%q: combined decodes it, common says %v", line, err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	d := decoder(b, "combined")
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

// BenchmarkDecodeGrok is the same line through the grok decoder and
// %{COMBINEDAPACHELOG}, to show what the hand-written scanner saves.
func BenchmarkDecodeGrok(b *testing.B) {
	d := &grok.Grok{Type: "log"}
	if err := d.Configure(map[string]any{"pattern": "%{COMBINEDAPACHELOG}"}); err != nil {
		b.Fatal(err)
	}
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
