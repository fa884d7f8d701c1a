package wire_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

// gatedLines keeps each line ReadLines hands it and then holds its reader
// until the gate opens: a connection handing a line on.
type gatedLines struct {
	got  chan string
	gate chan struct{}
}

func (g *gatedLines) EmitLine(line []byte) error {
	g.got <- string(line)
	<-g.gate
	return nil
}

// next returns the next line handed to g.
func (g *gatedLines) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-g.got:
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no line handed on within 30s")
		return ""
	}
}

// serveLines runs a TCPServer that reads lines into out, on 127.0.0.1, and
// returns its address and a stop that ends it and returns Serve's result.
func serveLines(t *testing.T, limits wire.TCPLimits, out interface{ EmitLine([]byte) error }) (addr string, srv *wire.TCPServer, env *pipeline.Env, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env = pipelinetest.Env(pipeline.KindInput, "tcp", "tcp")
	srv = wire.NewTCPServer(limits, env)
	stop = runServe(t, "Serve", func(ctx context.Context) error {
		return srv.Serve(ctx, ln, func(c *wire.TCPConn) error { return c.ReadLines(c, 0, out) })
	})
	return ln.Addr().String(), srv, env, stop
}

// runServe runs serve in the background until the returned stop (also
// called at cleanup) ends its context; stop returns serve's result, or an
// error naming what when it does not return within 30s.
func runServe(t *testing.T, what string, serve func(ctx context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				result = errors.New(what + " did not return after its context ended")
			}
		})
		return result
	}
	t.Cleanup(func() { stop() })
	return stop
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c: a read that ends
// (EOF or reset) rather than waiting.
func closedByServer(c net.Conn, within time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(within))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func gauge(srv *wire.TCPServer, name string) float64 { return srv.Gauges()[name] }

// With max_connections reached, a new connection takes the place of the one
// idle the longest; one that is handing a line on is not idle, and when
// none is idle the new one is refused, counted.
func TestTCPServerMakesRoomByClosingTheIdlest(t *testing.T) {
	out := &gatedLines{got: make(chan string, 10), gate: make(chan struct{})}
	defer close(out.gate)
	limits := wire.TCPLimits{MaxConnections: 2, MaxBufferBytes: wire.DefaultMaxBufferBytes}
	addr, srv, env, _ := serveLines(t, limits, out)

	oldest := dial(t, addr)
	pipelinetest.WaitUntil(t, 30*time.Second, "one connection", pipelinetest.GaugeIs(srv, "tcp_connections", 1))
	younger := dial(t, addr)
	pipelinetest.WaitUntil(t, 30*time.Second, "two connections", pipelinetest.GaugeIs(srv, "tcp_connections", 2))

	third := dial(t, addr)
	if !closedByServer(oldest, 30*time.Second) {
		t.Fatal("the connection idle the longest was not closed for the new one")
	}
	io.WriteString(younger, "younger\n")
	io.WriteString(third, "third\n")
	got := map[string]bool{out.next(t): true, out.next(t): true}
	if !got["younger"] || !got["third"] {
		t.Fatalf("lines %v, want one from the younger connection and one from the new one", got)
	}
	if n := gauge(srv, "tcp_evicted"); n != 1 {
		t.Errorf("tcp_evicted = %v, want 1", n)
	}

	// Both now hand a line on (the gate is shut): neither is idle.
	fourth := dial(t, addr)
	if !closedByServer(fourth, 30*time.Second) {
		t.Fatal("a connection beyond max_connections with none idle was not refused")
	}
	if n := gauge(srv, "tcp_refused"); n != 1 {
		t.Errorf("tcp_refused = %v, want 1", n)
	}
	if n := env.Stats.Errors.Load(); n != 1 {
		t.Errorf("errors = %d, want 1 for the refused connection", n)
	}
	if n := env.Stats.Dropped.Load(); n != 0 {
		t.Errorf("dropped = %d, want 0: the evicted connection held nothing", n)
	}
}

// On stop, Serve ends each blocked read, lets the complete lines already
// read go out, and waits for every connection.
func TestTCPServerStopEndsEveryRead(t *testing.T) {
	out := &pipelinetest.Collector{}
	limits := wire.TCPLimits{MaxConnections: 4, MaxBufferBytes: wire.DefaultMaxBufferBytes}
	addr, srv, env, stop := serveLines(t, limits, out)
	a, b := dial(t, addr), dial(t, addr)
	io.WriteString(a, "one\npartial")
	io.WriteString(b, "two\n")
	out.WaitFor(t, 2, 30*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := gauge(srv, "tcp_connections"); n != 0 {
		t.Errorf("tcp_connections = %v after Serve returned, want 0", n)
	}
	if n := env.Stats.Dropped.Load(); n != 1 {
		t.Errorf("dropped = %d, want 1: the line cut by the stop", n)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after Serve returned")
	}
}

func TestTCPLimitsValidate(t *testing.T) {
	ok := wire.TCPLimits{MaxConnections: 1, IdleTimeout: time.Second, FrameTimeout: time.Second, MaxBufferBytes: 100}
	cases := []struct {
		name    string
		edit    func(*wire.TCPLimits)
		wantKey string
	}{
		{name: "in range", edit: func(*wire.TCPLimits) {}},
		{name: "timeouts off", edit: func(l *wire.TCPLimits) { l.IdleTimeout, l.FrameTimeout = 0, 0 }},
		{name: "no connection", edit: func(l *wire.TCPLimits) { l.MaxConnections = 0 }, wantKey: "max_connections"},
		{name: "idle under a second", edit: func(l *wire.TCPLimits) { l.IdleTimeout = 10 * time.Millisecond }, wantKey: "idle_timeout"},
		{name: "frame under a second", edit: func(l *wire.TCPLimits) { l.FrameTimeout = time.Millisecond }, wantKey: "frame_timeout"},
		{name: "buffer below one frame", edit: func(l *wire.TCPLimits) { l.MaxBufferBytes = 99 }, wantKey: "max_buffer_bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := ok
			tc.edit(&l)
			err := l.Validate("max_line_bytes", 100)
			var ke *pipeline.KeyError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantKey != "" && (!errors.As(err, &ke) || ke.Key != tc.wantKey):
				t.Errorf("Validate = %v, want an error on key %q", err, tc.wantKey)
			}
		})
	}
	// The buffer's least is the input's own key, which the error names.
	l := ok
	l.MaxBufferBytes = 99
	const want = `key "max_buffer_bytes": must be between 100 and 4294967296 (4 GiB) bytes: at least max_message_bytes, so that a connection can hold its longest frame; got 99`
	if err := l.Validate("max_message_bytes", 100); err == nil || err.Error() != want {
		t.Errorf("Validate = %v\nwant %s", err, want)
	}
}
