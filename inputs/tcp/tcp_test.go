package tcp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestTCPEmitsTheLinesOfAConnectionInOrder(t *testing.T) {
	cases := []struct {
		name      string
		send      string
		maxLine   int
		want      []string
		truncated uint64
	}{
		{name: "newline terminated", send: "one\ntwo\n", want: []string{"one", "two"}},
		{name: "CRLF and a last line without newline", send: "one\r\ntwo\nthree", want: []string{"one", "two", "three"}},
		{name: "empty lines are kept", send: "a\n\nb\n", want: []string{"a", "", "b"}},
		{name: "over-long line truncated and counted", send: strings.Repeat("x", 100) + "\nnext\n", maxLine: 16,
			want: []string{strings.Repeat("x", 16), "next"}, truncated: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newDefault()
			if tc.maxLine > 0 {
				in.MaxLineBytes = tc.maxLine
			}
			env, out, _ := start(t, in)
			send(t, in.Addr(), tc.send)
			out.WaitFor(t, len(tc.want), 5*time.Second)
			if got := out.Lines(); !slices.Equal(got, tc.want) {
				t.Errorf("emitted %q, want %q", got, tc.want)
			}
			if got := env.Stats.Errors.Load(); got != tc.truncated {
				t.Errorf("Errors = %d, want %d", got, tc.truncated)
			}
		})
	}
}

func TestTCPServesManyConnectionsAtOnce(t *testing.T) {
	const conns, lines = 50, 200
	in := newDefault()
	_, out, _ := start(t, in)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			var b strings.Builder
			for i := range lines {
				fmt.Fprintf(&b, "conn=%d line=%d\n", c, i)
			}
			send(t, in.Addr(), b.String())
		})
	}
	wg.Wait()
	out.WaitFor(t, conns*lines, 5*time.Second)
	// Connections interleave; each one's lines stay in order.
	next := make([]int, conns)
	for _, l := range out.Lines() {
		var c, i int
		if _, err := fmt.Sscanf(l, "conn=%d line=%d", &c, &i); err != nil {
			t.Fatalf("unexpected line %q", l)
		}
		if i != next[c] {
			t.Fatalf("connection %d: got line %d, want %d", c, i, next[c])
		}
		next[c]++
	}
}

// With max_connections reached, a new connection is served in place of the
// one idle the longest (a connection handing a line on, or inside one, is
// not idle: pipeline's TestTCPServerMakesRoomByClosingTheIdlest).
func TestTCPANewConnectionTakesTheIdlestPlace(t *testing.T) {
	in := newDefault()
	in.MaxConnections = 1
	env, out, _ := start(t, in)

	first := dial(t, in.Addr())
	io.WriteString(first, "first\n")
	out.WaitFor(t, 1, 30*time.Second) // the first is served, and now idle

	second := dial(t, in.Addr())
	if !closedByInput(first) {
		t.Fatal("the idle connection was not closed to admit the new one")
	}
	io.WriteString(second, "second\n")
	out.WaitFor(t, 2, 30*time.Second)
	if got := out.Lines(); !slices.Equal(got, []string{"first", "second"}) {
		t.Errorf("emitted %q, want first and second", got)
	}
	if got := in.Gauges()["tcp_evicted"]; got != 1 {
		t.Errorf("tcp_evicted = %v, want 1", got)
	}
	if got := env.Stats.Errors.Load() + env.Stats.Dropped.Load(); got != 0 {
		t.Errorf("errors + dropped = %d, want 0", got)
	}
}

func TestTCPShutdownEmitsWhatWasRead(t *testing.T) {
	in := newDefault()
	env, out, stop := start(t, in)
	c, err := net.Dial("tcp", in.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One write: by the time "a" and "b" are out, "partial" is in the
	// connection's buffer.
	if _, err := io.WriteString(c, "a\nb\npartial"); err != nil {
		t.Fatal(err)
	}
	out.WaitFor(t, 2, 5*time.Second)

	if err := stop(); err != nil { // the connection is still open
		t.Fatalf("Run: %v", err)
	}
	// A line cut by the shutdown is incomplete: dropped, and counted.
	if got, want := out.Lines(), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("emitted %q, want %q", got, want)
	}
	if got := env.Stats.Dropped.Load(); got != 1 {
		t.Errorf("Dropped = %d, want 1 incomplete line", got)
	}
	if _, err := net.Dial("tcp", in.Addr().String()); err == nil {
		t.Error("still accepting connections after Run returned")
	}
}

func TestTCPAddressInUseStopsStartup(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	in := newDefault()
	in.Address = taken.Addr().String()
	pipelinetest.CheckInitFails(t, in, pipelinetest.Env(pipeline.KindInput, "tcp", "tcp"), in.Address)
}

func TestTCPValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*TCP)
		wantKey string
	}{
		{name: "defaults", edit: func(*TCP) {}},
		{name: "any interface", edit: func(in *TCP) { in.Address = ":5170" }},
		{name: "no address", edit: func(in *TCP) { in.Address = "" }, wantKey: "address"},
		{name: "address without port", edit: func(in *TCP) { in.Address = "localhost" }, wantKey: "address"},
		{name: "zero max_line_bytes", edit: func(in *TCP) { in.MaxLineBytes = 0 }, wantKey: "max_line_bytes"},
		{name: "zero max_connections", edit: func(in *TCP) { in.MaxConnections = 0 }, wantKey: "max_connections"},
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
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindInput, "tcp") }

func newDefault() *TCP {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "tcp")
	in := reg.New().(*TCP)
	in.Address = "127.0.0.1:0"
	return in
}

// start initialises and runs the input as the runtime does; stop ends it and
// returns what Run returned. The test's cleanup stops it too.
func start(t *testing.T, in *TCP) (env *pipeline.Env, out *pipelinetest.Collector, stop func() error) {
	t.Helper()
	env, out = pipelinetest.Env(pipeline.KindInput, "tcp", "tcp"), &pipelinetest.Collector{LinesOnly: true}
	return env, out, pipelinetest.StartInput(t, in, env, out)
}

// dial opens a connection to addr, closed when the test ends.
func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByInput reports whether the input closed c: a read that ends (EOF,
// or a reset) rather than waiting; it waits up to 30 s for that.
func closedByInput(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// send writes s on a new connection and closes it.
func send(t *testing.T, addr net.Addr, s string) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	if _, err := io.WriteString(c, s); err != nil {
		t.Error(err)
	}
}
