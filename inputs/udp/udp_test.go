package udp

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestUDPEmitsEveryNonEmptyLine(t *testing.T) {
	cases := []struct {
		name        string
		datagrams   []string
		maxDatagram int
		want        []string
		truncated   uint64
	}{
		{name: "one line per datagram", datagrams: []string{"one", "two\n"}, want: []string{"one", "two"}},
		{name: "several lines in a datagram", datagrams: []string{"a\nb\r\nc"}, want: []string{"a", "b", "c"}},
		{name: "empty lines and datagrams are skipped", datagrams: []string{"\n\na\n\r\n", "", "b"}, want: []string{"a", "b"}},
		{name: "datagram of exactly the limit", datagrams: []string{"01234567"}, maxDatagram: 8, want: []string{"01234567"}},
		{name: "longer datagram cut and counted", datagrams: []string{"abc\n0123456789"}, maxDatagram: 8,
			want: []string{"abc", "0123"}, truncated: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newDefault()
			if tc.maxDatagram > 0 {
				in.MaxDatagramBytes = tc.maxDatagram
			}
			env, out, _ := start(t, in)
			c, err := net.Dial("udp", in.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, d := range append(tc.datagrams, "end") {
				if _, err := c.Write([]byte(d)); err != nil {
					t.Fatal(err)
				}
			}
			// Loopback keeps datagrams in order: "end" comes last.
			pipelinetest.WaitUntil(t, 5*time.Second, "the last datagram", func() error {
				if got := out.Lines(); !slices.Contains(got, "end") {
					return fmt.Errorf("lines so far: %q", got)
				}
				return nil
			})
			if got := out.Lines(); !slices.Equal(got, append(tc.want, "end")) {
				t.Errorf("emitted %q, want %q", got, append(tc.want, "end"))
			}
			if got := env.Stats.Errors.Load(); got != tc.truncated {
				t.Errorf("Errors = %d, want %d", got, tc.truncated)
			}
		})
	}
}

func TestUDPStopsWhenThePipelineStops(t *testing.T) {
	in := newDefault()
	_, _, stop := start(t, in)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestUDPAddressInUseStopsStartup(t *testing.T) {
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	in := newDefault()
	in.Address = taken.LocalAddr().String()
	pipelinetest.CheckInitFails(t, in, pipelinetest.Env(pipeline.KindInput, "udp", "udp"), in.Address)
}

func TestUDPValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*UDP)
		wantKey string
	}{
		{name: "defaults", edit: func(*UDP) {}},
		{name: "any interface", edit: func(in *UDP) { in.Address = ":5171" }},
		{name: "no address", edit: func(in *UDP) { in.Address = "" }, wantKey: "address"},
		{name: "address without port", edit: func(in *UDP) { in.Address = "localhost" }, wantKey: "address"},
		{name: "zero max_datagram_bytes", edit: func(in *UDP) { in.MaxDatagramBytes = 0 }, wantKey: "max_datagram_bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newDefault()
			tc.edit(in)
			err := in.Validate()
			var ke *pipeline.KeyError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantKey != "" && (!errors.As(err, &ke) || ke.Key != tc.wantKey):
				t.Errorf("Validate = %v, want an error on key %q", err, tc.wantKey)
			}
		})
	}
}

// TestSample keeps sample.toml and the code in step.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindInput, "udp") }

func newDefault() *UDP {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "udp")
	in := reg.New().(*UDP)
	in.Address = "127.0.0.1:0"
	return in
}

// start initialises and runs the input as the runtime does; stop ends it and
// returns what Run returned. The test's cleanup stops it too.
func start(t *testing.T, in *UDP) (env *pipeline.Env, out *pipelinetest.Collector, stop func() error) {
	t.Helper()
	env, out = pipelinetest.Env(pipeline.KindInput, "udp", "udp"), &pipelinetest.Collector{LinesOnly: true}
	return env, out, pipelinetest.StartInput(t, in, env, out)
}
