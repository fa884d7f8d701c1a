package influx

import (
	"testing"

	"github.com/interoceptor/interoceptor/decoders/decodertest"
	"github.com/interoceptor/interoceptor/pipeline"
)

const now = 1111 // the arrival time the runtime sets before decoding

// headers is a message as the runtime hands it to a decoder.
func headers(line string) *pipeline.Message {
	return &pipeline.Message{Timestamp: now, Hostname: "edge-1", Logger: "in", Payload: []byte(line)}
}

// TestGolden runs the cases of testdata/ (see decoders/decodertest).
func TestGolden(t *testing.T) { decodertest.Run(t, "influx", "testdata") }

// FuzzDecode: no panic, and whatever decodes is a metric that writes back as
// line protocol.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("cpu,host=edge-1,cpu=cpu0 usage_user=12.5,usage_system=3.25,usage_idle=84.25 1700000000000000000"))
	f.Add([]byte(`m,t\ k=v\,1 s="a\"b\\c",i=-1i,u=1u,b=F 0`))
	f.Add([]byte("# comment"))
	f.Fuzz(func(t *testing.T, line []byte) {
		m := headers(string(line))
		err := (&Influx{}).Decode(line, m)
		if err != nil {
			return
		}
		if !m.IsMetric() || m.Payload != nil {
			t.Fatalf("%q decoded to %+v", line, m)
		}
		if _, err := pipeline.AppendLineProtocol(nil, m); err != nil {
			t.Fatalf("%q decoded to a metric that does not write: %v", line, err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	line := []byte("cpu,host=edge-1,cpu=cpu0 usage_user=12.5,usage_system=3.25,usage_idle=84.25 1700000000000000000")
	d := &Influx{}
	m := &pipeline.Message{Fields: make([]pipeline.Field, 0, 16)}
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		m.Fields = m.Fields[:0]
		m.Payload = line
		if err := d.Decode(line, m); err != nil {
			b.Fatal(err)
		}
	}
}
