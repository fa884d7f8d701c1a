package syslog

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// dial opens a TCP connection to addr, closed when the test ends.
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

func TestIdleTimeoutClosesASilentConnection(t *testing.T) {
	in := newDefault("tcp")
	in.IdleTimeout = pipeline.Duration(time.Second)
	env, out, _ := start(t, in)
	c := dial(t, in.Addr())
	io.WriteString(c, "<13>1 - - app - - - said\n")
	out.WaitFor(t, 1, 30*time.Second)
	if !closedByInput(c) {
		t.Fatal("a silent connection was not closed")
	}
	pipelinetest.WaitUntil(t, 30*time.Second, "the close counted", pipelinetest.GaugeIs(in, "tcp_idle_closed", 1))
	if d, e := env.Stats.Dropped.Load(), env.Stats.Errors.Load(); d != 0 || e != 0 {
		t.Errorf("dropped %d, errors %d; want none: it was between messages", d, e)
	}
}

// An octet-counted frame that does not arrive whole within frame_timeout is
// dropped, its connection closed, both counted.
func TestFrameTimeoutClosesAnIncompleteFrame(t *testing.T) {
	in := newDefault("tcp")
	in.FrameTimeout = pipeline.Duration(time.Second)
	env, out, _ := start(t, in)
	c := dial(t, in.Addr())
	io.WriteString(c, "25 <13>1 - - app - - - whole40 <13>1 - - app - - - never")
	out.WaitFor(t, 1, 30*time.Second)
	if !closedByInput(c) {
		t.Fatal("an incomplete frame did not time out")
	}
	pipelinetest.WaitUntil(t, 30*time.Second, "the timeout counted", pipelinetest.GaugeIs(in, "tcp_frame_timeouts", 1))
	if got := out.Messages(); len(got) != 1 || string(got[0].Payload) != "whole" {
		t.Errorf("emitted %d messages, want only the whole one", len(got))
	}
	if d, e := env.Stats.Dropped.Load(), env.Stats.Errors.Load(); d != 1 || e != 1 {
		t.Errorf("dropped %d, errors %d; want 1 and 1", d, e)
	}
}

// A TLS connection must finish its handshake within frame_timeout: one that
// never starts it is closed and counted, and a real client is still served.
func TestTLSHandshakeIsBoundedByFrameTimeout(t *testing.T) {
	in, cfg := newTLS(t)
	in.FrameTimeout = pipeline.Duration(time.Second)
	env, out, _ := start(t, in)
	silent := dial(t, in.Addr())
	if !closedByInput(silent) {
		t.Fatal("a connection that never sent its TLS ClientHello was not closed")
	}
	pipelinetest.WaitUntil(t, 30*time.Second, "the timeout counted", pipelinetest.GaugeIs(in, "tcp_frame_timeouts", 1))
	if got := env.Stats.Errors.Load(); got != 1 {
		t.Errorf("errors = %d, want 1", got)
	}
	sendTLS(t, in.Addr(), cfg, "<13>1 - - app - - - after\n")
	out.WaitFor(t, 1, 30*time.Second)
}

// Connections that never finish their TLS handshake are idle: with
// max_connections of them open, a real client takes the place of the
// oldest and is served.
func TestIdleConnectionsDoNotLockOutATLSClient(t *testing.T) {
	const maxConns, idle = 8, 40
	in, cfg := newTLS(t)
	in.MaxConnections = maxConns
	env, out, _ := start(t, in)
	for range idle {
		dial(t, in.Addr())
	}
	pipelinetest.WaitUntil(t, 30*time.Second, "every idle connection accepted", pipelinetest.GaugeIs(in, "tcp_evicted", idle-maxConns))
	sendTLS(t, in.Addr(), cfg, "<13>1 - - app - - - served\n")
	out.WaitFor(t, 1, 30*time.Second)
	if got := string(out.Messages()[0].Payload); got != "served" {
		t.Errorf("payload %q, want served", got)
	}
	if got := in.Gauges()["tcp_refused"]; got != 0 || env.Stats.Errors.Load() != 0 {
		t.Errorf("refused %v, errors %d; want none", got, env.Stats.Errors.Load())
	}
}

// Octet-counted frames announced long and left incomplete are held within
// max_buffer_bytes: a connection whose frame would pass it is closed, the
// frame dropped and counted; the frames held are emitted once complete.
func TestIncompleteFramesStayWithinMaxBufferBytes(t *testing.T) {
	const conns, frameBytes, limit = 20, 1 << 20, 4 << 20
	in := newDefault("tcp")
	in.MaxMessageBytes, in.MaxBufferBytes = frameBytes, limit
	in.IdleTimeout, in.FrameTimeout = 0, 0 // only max_buffer_bytes is at work here
	env, out, _ := start(t, in)

	head := "<13>1 - - app - - - "
	frame := strconv.Itoa(frameBytes) + " " + head + strings.Repeat("x", frameBytes-len(head)-1)
	senders := make([]net.Conn, conns)
	var writes sync.WaitGroup
	for i := range senders {
		senders[i] = dial(t, in.Addr())
		writes.Go(func() { senders[i].Write([]byte(frame)) }) // all but the last byte; fails once the input closes it
	}
	var held float64
	pipelinetest.WaitUntil(t, 60*time.Second, "each connection closed or holding its whole frame", func() error {
		g := in.Gauges()
		held = g["tcp_buffered_bytes"] / frameBytes
		if held != float64(int(held)) || g["tcp_buffer_full"]+held != conns {
			return fmt.Errorf("%v closed for max_buffer_bytes, %v bytes held", g["tcp_buffer_full"], g["tcp_buffered_bytes"])
		}
		return nil
	})
	g := in.Gauges()
	if g["tcp_buffered_bytes_peak"] > limit {
		t.Errorf("buffered peak %v bytes, more than max_buffer_bytes (%d)", g["tcp_buffered_bytes_peak"], limit)
	}
	if held < 1 {
		t.Fatalf("no connection holds its frame: max_buffer_bytes has room for %d", limit/frameBytes)
	}
	if full := uint64(g["tcp_buffer_full"]); env.Stats.Dropped.Load() != full || env.Stats.Errors.Load() != full {
		t.Errorf("dropped %d, errors %d; want %d each, one per connection closed with its frame",
			env.Stats.Dropped.Load(), env.Stats.Errors.Load(), full)
	}

	writes.Wait()
	for _, c := range senders {
		c.Write([]byte("x"))
	}
	out.WaitFor(t, int(held), 60*time.Second)
	for _, m := range out.Messages() {
		if len(m.Payload) != frameBytes-len(head) {
			t.Errorf("a message of %d bytes, want %d", len(m.Payload), frameBytes-len(head))
		}
	}
	pipelinetest.WaitUntil(t, 30*time.Second, "the buffers released", pipelinetest.GaugeIs(in, "tcp_buffered_bytes", 0))
}

// newTLS returns a TLS input with a fresh certificate, and a client config
// that trusts it.
func newTLS(t *testing.T) (*Syslog, *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	caCert, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", caCert, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	in := newDefault("tls")
	in.TLSCert, in.TLSKey = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	return in, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}
