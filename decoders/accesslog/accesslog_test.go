package accesslog

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/decoders/grok"
	"github.com/interoceptor/interoceptor/pipeline"
)

func s(k, v string) pipeline.Field { return pipeline.Field{Name: k, Kind: pipeline.KindString, Str: v} }
func i(k string, v int64) pipeline.Field {
	return pipeline.Field{Name: k, Kind: pipeline.KindInt, Int: v}
}

const combinedLine = `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`

var oct10 = time.Date(2000, 10, 10, 20, 55, 36, 0, time.UTC).UnixNano()

func decoder(t testing.TB, name string) pipeline.Decoder {
	r, ok := pipeline.LookupDecoder(name)
	if !ok {
		t.Fatalf("%s decoder not registered", name)
	}
	return r.New()
}

func TestDecode(t *testing.T) {
	common := []pipeline.Field{s("client_ip", "127.0.0.1"), s("ident", "-"), s("auth", "frank"), s("verb", "GET"),
		s("request", "/apache_pb.gif"), s("http_version", "1.0"), i("resp_code", 200), i("resp_bytes", 2326)}
	for _, tc := range []struct {
		name, decoder, line string
		ts                  int64
		want                []pipeline.Field
	}{
		{"combined", "combined", combinedLine, oct10,
			append(common[:len(common):len(common)], s("referrer", "http://www.example.com/start.html"), s("agent", "Mozilla/4.08 [en] (Win98; I ;Nav)"))},
		{"common", "common", `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`, oct10, common},
		{"common reads the start of a combined line", "common", combinedLine, oct10, common},
		{"nginx: no size, escaped quote, odd request, trailing field", "combined",
			`2001:db8::1 - - [01/Jan/2024:00:00:00 +0000] "\x16\x03\x01" 400 - "-" "say \"hi\"" "10.0.0.9"`,
			time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(),
			[]pipeline.Field{s("client_ip", "2001:db8::1"), s("ident", "-"), s("auth", "-"), s("request", `\x16\x03\x01`),
				i("resp_code", 400), s("referrer", "-"), s("agent", `say \"hi\"`)}},
		{"HTTP/0.9 request without version", "common", `h - - [29/Feb/2024:23:59:59 +0130] "GET /" 200 0`,
			time.Date(2024, 2, 29, 22, 29, 59, 0, time.UTC).UnixNano(),
			[]pipeline.Field{s("client_ip", "h"), s("ident", "-"), s("auth", "-"), s("verb", "GET"), s("request", "/"), i("resp_code", 200), i("resp_bytes", 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &pipeline.Message{Timestamp: 1111, Payload: []byte(tc.line)}
			if err := decoder(t, tc.decoder).Decode([]byte(tc.line), m); err != nil {
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
	for _, tc := range []struct{ decoder, line, want string }{
		{"common", "", "common: column 1: expected the client address"},
		{"common", "1.2.3.4 - -", "common: column 12: expected [dd/Mon/yyyy:hh:mm:ss +zzzz]"},
		{"common", `1.2.3.4 - - [31/Feb/2024:00:00:00 +0000] "GET /" 200 1`, "common: column 13: expected [dd/Mon/yyyy"},
		{"common", `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] GET / 200 1`, "common: column 42: expected request line in double quotes"},
		{"common", `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /`, "common: column 42: the request line has no closing quote"},
		{"common", `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /" OK 1`, `common: column 50: status code "OK" is not a number`},
		{"common", `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /" 200 lots`, `common: column 54: response size "lots" is not a number`},
		{"combined", `1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /" 200 1`, "combined: column 55: expected referrer in double quotes"},
	} {
		m := &pipeline.Message{Timestamp: 5, Fields: []pipeline.Field{s("keep", "me")}}
		err := decoder(t, tc.decoder).Decode([]byte(tc.line), m)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.line, err, tc.want)
		}
		if len(m.Fields) != 1 || m.Type != "" || m.Timestamp != 5 {
			t.Errorf("%q: a failed decode changed the message: %+v", tc.line, m)
		}
	}
}

func TestDecodeConcurrent(t *testing.T) {
	d := decoder(t, "combined")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
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
