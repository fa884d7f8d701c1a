package tcp

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// needFiles raises the soft limit on open files to n if it is lower, or
// skips the test when the hard limit does not allow it.
func needFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("SKIPPED: cannot read RLIMIT_NOFILE: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("SKIPPED: needs %d open files, the hard limit is %d (ulimit -Hn)", n, lim.Max)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("SKIPPED: cannot raise RLIMIT_NOFILE to %d: %v", n, err)
	}
}

// openConns opens n connections to addr, a few at a time, and keeps them
// open until the test ends; each may write what once it is open.
func openConns(t *testing.T, addr net.Addr, n int, what []byte) {
	t.Helper()
	conns := make([]net.Conn, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				c, err := net.Dial("tcp", addr.String())
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
				if what != nil {
					c.Write(what) // fails on a connection the input closed: that is what is tested
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("opening %d connections: %v", n, err)
	}
}

// The tester's case: thousands of idle connections no longer lock out a
// sender. With max_connections (1024) open and idle, each new connection
// takes the place of the one idle the longest, so a real sender that comes
// after 5,000 idle ones delivers every line.
func TestTCPIdleConnectionsDoNotLockOutASender(t *testing.T) {
	const idle, lines = 5000, 2000
	needFiles(t, 2*idle+1000) // both ends of each connection are in this process
	in := newDefault()
	in.IdleTimeout = pipeline.Duration(10 * time.Minute) // only max_connections is at work here
	env, out, _ := start(t, in)

	openConns(t, in.Addr(), idle, nil)
	evicted := float64(idle - in.MaxConnections)
	// Every idle connection accepted (the last ones may still wait in the
	// listen queue when Dial returns) before the sender comes.
	pipelinetest.WaitUntil(t, 60*time.Second, "every idle connection accepted", pipelinetest.GaugeIs(in, "tcp_evicted", evicted))

	var b strings.Builder
	for i := range lines {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	send(t, in.Addr(), b.String())
	out.WaitFor(t, lines, 60*time.Second)
	for i, l := range out.Lines() {
		if want := fmt.Sprintf("line %d", i); l != want {
			t.Fatalf("line %d is %q, want %q", i, l, want)
		}
	}
	g := in.Gauges()
	if g["tcp_refused"] != 0 || env.Stats.Errors.Load() != 0 || env.Stats.Dropped.Load() != 0 {
		t.Errorf("refused %v, errors %d, dropped %d; want none", g["tcp_refused"], env.Stats.Errors.Load(), env.Stats.Dropped.Load())
	}
	if g["tcp_evicted"] != evicted+1 {
		t.Errorf("tcp_evicted = %v, want %v: the sender took one idle connection's place", g["tcp_evicted"], evicted+1)
	}
	// An evicted connection counts until its reader has returned and it is
	// closed, which may come after the new one is served: wait for them.
	pipelinetest.WaitUntil(t, 30*time.Second, "the evicted connections closed", func() error {
		if n := in.Gauges()["tcp_connections"]; n > float64(in.MaxConnections) {
			return fmt.Errorf("tcp_connections = %v, more than max_connections (%d)", n, in.MaxConnections)
		}
		return nil
	})
}

// 1,000 connections each sending a 1 MiB line without its newline: the
// input holds no more than max_buffer_bytes of them, the Go heap stays far
// from the gigabyte they add up to, and every line it could not hold is
// counted as dropped, its connection closed.
func TestTCPPartialLinesStayWithinMaxBufferBytes(t *testing.T) {
	const conns, lineBytes = 1000, 1 << 20
	needFiles(t, 2*conns+1000)
	// The defaults, max_line_bytes 1 MiB and max_buffer_bytes 64 MiB, with
	// no timeout: only max_buffer_bytes is at work here.
	in := newDefault()
	in.IdleTimeout, in.FrameTimeout = 0, 0
	env, _, _ := start(t, in)

	var heapMax atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > heapMax.Load() {
				heapMax.Store(ms.HeapInuse)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	openConns(t, in.Addr(), conns, []byte(strings.Repeat("x", lineBytes)))
	// Each connection ends either closed for max_buffer_bytes or holding
	// its whole line (1 MiB charged).
	var held float64
	pipelinetest.WaitUntil(t, 120*time.Second, "each connection closed or holding its whole line", func() error {
		g := in.Gauges()
		held = g["tcp_buffered_bytes"] / lineBytes
		if held != float64(int(held)) || g["tcp_buffer_full"]+held != conns {
			return fmt.Errorf("%v closed for max_buffer_bytes, %v bytes held", g["tcp_buffer_full"], g["tcp_buffered_bytes"])
		}
		return nil
	})
	close(stopSampling)
	<-sampled

	g := in.Gauges()
	limit := float64(in.MaxBufferBytes)
	t.Logf("held %v lines, closed %v connections, buffered peak %v bytes, heap in use at most %d MiB",
		held, g["tcp_buffer_full"], g["tcp_buffered_bytes_peak"], heapMax.Load()>>20)
	if g["tcp_buffered_bytes_peak"] > limit || g["tcp_buffered_bytes"] > limit {
		t.Errorf("buffered %v bytes, peak %v: more than max_buffer_bytes (%v)", g["tcp_buffered_bytes"], g["tcp_buffered_bytes_peak"], limit)
	}
	if held < 1 {
		t.Errorf("no connection holds its line: max_buffer_bytes (%v) has room for %v", limit, limit/lineBytes)
	}
	if full := uint64(g["tcp_buffer_full"]); env.Stats.Dropped.Load() != full || env.Stats.Errors.Load() != full {
		t.Errorf("dropped %d, errors %d; want %d each, one per connection closed with its line",
			env.Stats.Dropped.Load(), env.Stats.Errors.Load(), full)
	}
	if heapMax.Load() > 512<<20 {
		t.Errorf("heap in use reached %d MiB, want it well below the 1 GiB the lines add up to", heapMax.Load()>>20)
	}
}

// A connection that sends nothing for idle_timeout is closed and counted;
// the line it had begun is dropped and counted, the ones before delivered.
func TestTCPIdleTimeoutClosesASilentConnection(t *testing.T) {
	in := newDefault()
	in.IdleTimeout = pipeline.Duration(time.Second)
	env, out, _ := start(t, in)
	c := dial(t, in.Addr())
	io.WriteString(c, "said\nbegun")
	out.WaitFor(t, 1, 30*time.Second)
	if !closedByInput(c) {
		t.Fatal("a silent connection was not closed")
	}
	pipelinetest.WaitUntil(t, 30*time.Second, "the close counted", pipelinetest.GaugeIs(in, "tcp_idle_closed", 1))
	if got := out.Lines(); !slices.Equal(got, []string{"said"}) {
		t.Errorf("emitted %q, want [said]", got)
	}
	if got := env.Stats.Dropped.Load(); got != 1 {
		t.Errorf("dropped = %d, want 1: the line it had begun", got)
	}
	if got := env.Stats.Errors.Load(); got != 0 {
		t.Errorf("errors = %d, want 0: being idle is no error", got)
	}
}

// A line that trickles in (a byte now and then, never idle for long) is cut
// off by frame_timeout: its connection is closed, the line dropped, and both
// counted.
func TestTCPFrameTimeoutClosesATricklingLine(t *testing.T) {
	in := newDefault()
	in.FrameTimeout = pipeline.Duration(time.Second)
	env, out, _ := start(t, in)
	c := dial(t, in.Addr())
	io.WriteString(c, "whole\ns")
	out.WaitFor(t, 1, 30*time.Second)
	done := make(chan struct{})
	defer close(done)
	go func() { // well within idle_timeout between two bytes
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := io.WriteString(c, "l"); err != nil {
					return
				}
			}
		}
	}()
	if !closedByInput(c) {
		t.Fatal("a trickling line was not cut off")
	}
	pipelinetest.WaitUntil(t, 30*time.Second, "the timeout counted", pipelinetest.GaugeIs(in, "tcp_frame_timeouts", 1))
	if got := out.Lines(); !slices.Equal(got, []string{"whole"}) {
		t.Errorf("emitted %q, want [whole]", got)
	}
	if d, e := env.Stats.Dropped.Load(), env.Stats.Errors.Load(); d != 1 || e != 1 {
		t.Errorf("dropped %d, errors %d; want 1 and 1 (the line, the slow sender)", d, e)
	}
	if got := in.Gauges()["tcp_idle_closed"]; got != 0 {
		t.Errorf("tcp_idle_closed = %v, want 0: the sender was never idle for idle_timeout", got)
	}
}
