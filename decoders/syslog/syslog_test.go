package syslog

import (
	"strings"
	"sync"
	"testing"
	"time"

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

func TestDecode(t *testing.T) {
	year := time.Now().Year()
	for _, tc := range []struct {
		name, rfc, line string
		want            *pipeline.Message
	}{
		{"rfc5424 with structured data", "", line5424, &pipeline.Message{
			Type: "syslog", Severity: 5, Hostname: "mymachine.example.com", Logger: "evntslog", Pid: 1234,
			Timestamp: time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC).UnixNano(),
			Payload:   []byte("An application event log entry..."),
			Fields: []pipeline.Field{s("facility", "local4"), s("severity", "notice"), s("appname", "evntslog"), s("procid", "1234"), s("msgid", "ID47"),
				s("sd.exampleSDID@32473.eventSource", "Application"), s("sd.exampleSDID@32473.iut", "3"), s("sd.origin.ip", "10.0.0.1")}}},
		{"rfc5424 with nil values, forced", "5424", `<14>1 - - - - - -`, &pipeline.Message{
			Type: "syslog", Severity: 6, Hostname: "h", Timestamp: 1111,
			Fields: []pipeline.Field{s("facility", "user"), s("severity", "info")}}},
		{"rfc3164", "", `<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8`, &pipeline.Message{
			Type: "syslog", Severity: 2, Hostname: "mymachine", Logger: "su", Pid: 230,
			Timestamp: time.Date(year, 10, 11, 22, 14, 15, 0, time.UTC).UnixNano(),
			Payload:   []byte("'su root' failed for lonvick on /dev/pts/8"),
			Fields:    []pipeline.Field{s("facility", "auth"), s("severity", "crit"), s("appname", "su"), s("procid", "230")}}},
		{"rfc3164 best effort: PRI only", "3164", `<13>hello`, &pipeline.Message{
			Type: "syslog", Severity: 5, Hostname: "h", Timestamp: 1111,
			Fields: []pipeline.Field{s("facility", "user"), s("severity", "notice")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &pipeline.Message{Timestamp: 1111, Hostname: "h", Payload: []byte(tc.line)}
			if err := decoder(t, tc.rfc).Decode([]byte(tc.line), m); err != nil {
				t.Fatal(err)
			}
			if !m.Equal(tc.want) {
				t.Fatalf("got  %+v\nwant %+v", m, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ rfc, line, want string }{
		{"auto", "no pri here", "syslog: line does not start with a <PRI>"},
		{"5424", "<34>Oct 11 22:14:15 mymachine su: x", "syslog: rfc5424: expecting a version value"},
		{"3164", "hello", "syslog: rfc3164: expecting a priority value"},
		{"auto", "<999>1 - - - - - -", "syslog: rfc5424: expecting a priority value"},
	} {
		m := &pipeline.Message{Timestamp: 5, Fields: []pipeline.Field{s("keep", "me")}}
		err := decoder(t, tc.rfc).Decode([]byte(tc.line), m)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
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
		{map[string]any{"rfc": "5425"}, `key "rfc": "5425": want`},
		{map[string]any{"rfc": int64(5424)}, `key "rfc": 5424: want`},
		{map[string]any{"format": "x"}, `key "format": unknown key`},
	} {
		if err := (&Syslog{}).Configure(tc.table); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.table, err, tc.want)
		}
	}
}

func TestDecodeConcurrent(t *testing.T) {
	d := decoder(t, "")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				m := &pipeline.Message{}
				if err := d.Decode([]byte(line5424), m); err != nil || len(m.Fields) != 8 {
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
