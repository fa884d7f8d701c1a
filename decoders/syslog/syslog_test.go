package syslog

import (
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/decoders/decodertest"
	"github.com/interoceptor/interoceptor/pipeline"
)

func s(k, v string) pipeline.Field { return pipeline.Field{Name: k, Kind: pipeline.KindString, Str: v} }

const line5424 = `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application"][origin ip="10.0.0.1"] An application event log entry...`

func decoder(t testing.TB, rfc string) *Syslog {
	r, ok := pipeline.LookupDecoder("syslog")
	if !ok {
		t.Fatal("syslog decoder not registered")
	}
	d := r.New().(*Syslog)
	var table map[string]any
	if rfc != "" {
		table = map[string]any{"rfc": rfc}
	}
	if err := d.Configure(table); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestGolden runs the cases of testdata/ (see decoders/decodertest).
func TestGolden(t *testing.T) { decodertest.Run(t, "syslog", "testdata") }

// TestRFC3164TakesTheCurrentYear: an RFC 3164 timestamp has no year; the
// decoder gives it the current one, which a golden case cannot hold.
func TestRFC3164TakesTheCurrentYear(t *testing.T) {
	line := `<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8`
	m := &pipeline.Message{Timestamp: 1111, Hostname: "h", Payload: []byte(line)}
	if err := decoder(t, "").Decode([]byte(line), m); err != nil {
		t.Fatal(err)
	}
	want := &pipeline.Message{
		Type: "syslog", Severity: 2, Hostname: "mymachine", Logger: "su", Pid: 230,
		Timestamp: time.Date(time.Now().Year(), 10, 11, 22, 14, 15, 0, time.UTC).UnixNano(),
		Payload:   []byte("'su root' failed for lonvick on /dev/pts/8"),
		Fields:    []pipeline.Field{s("facility", "auth"), s("severity", "crit"), s("appname", "su"), s("procid", "230")}}
	if !m.Equal(want) {
		t.Fatalf("got  %+v\nwant %+v", m, want)
	}
}

// FuzzDecode: never panics; a failed decode leaves the message as it was.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(line5424))
	f.Add([]byte(`<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed`))
	f.Add([]byte(`<14>1 - - - - - -`))
	f.Add([]byte(`<0>`))
	d := decoder(f, "")
	f.Fuzz(func(t *testing.T, line []byte) {
		m := &pipeline.Message{Timestamp: 7}
		if err := d.Decode(line, m); err != nil && (len(m.Fields) != 0 || m.Timestamp != 7 || m.Type != "") {
			t.Fatalf("%q: failed decode changed the message", line)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"rfc5424", line5424},
		{"rfc3164", `<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := decoder(b, "")
			line := []byte(bc.line)
			m := &pipeline.Message{Fields: make([]pipeline.Field, 0, 16)}
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				m.Fields = m.Fields[:0]
				if err := d.Decode(line, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
