package wire_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

// datagram is what ServeUDP handed on: a copy, since the datagram is only
// valid during the call.
type datagram struct {
	data string
	from netip.AddrPort
	cut  bool
}

// serveUDP runs ServeUDP on 127.0.0.1, handing each datagram on to got,
// and returns the socket and a stop that ends it and returns ServeUDP's
// result.
func serveUDP(t *testing.T, maxBytes int) (conn *net.UDPConn, got chan datagram, stop func() error) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	env := pipelinetest.Env(pipeline.KindInput, "udp", "udp")
	got = make(chan datagram, 16)
	stop = runServe(t, "ServeUDP", func(ctx context.Context) error {
		return wire.ServeUDP(ctx, conn, maxBytes, env, func(d []byte, from netip.AddrPort, cut bool) error {
			got <- datagram{string(d), from, cut}
			return nil
		})
	})
	return conn, got, stop
}

func next(t *testing.T, got chan datagram) datagram {
	t.Helper()
	select {
	case d := <-got:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no datagram handed on")
		return datagram{}
	}
}

func TestServeUDPHandsOnEachDatagramAndCutsLongOnes(t *testing.T) {
	conn, got, stop := serveUDP(t, 8)
	c, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sender := c.LocalAddr().(*net.UDPAddr).AddrPort()
	for _, want := range []datagram{
		{data: "short"},
		{data: "01234567"}, // exactly the limit
		{data: "0123456789", cut: true},
	} {
		if _, err := c.Write([]byte(want.data)); err != nil {
			t.Fatal(err)
		}
		d := next(t, got)
		if want.cut {
			want.data = want.data[:8]
		}
		if d.data != want.data || d.cut != want.cut {
			t.Errorf("handed %q (cut %v), want %q (cut %v)", d.data, d.cut, want.data, want.cut)
		}
		if d.from.Addr().Unmap() != sender.Addr().Unmap() || d.from.Port() != sender.Port() {
			t.Errorf("from %v, want the sender %v", d.from, sender)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("ServeUDP returned %v after its context ended, want nil", err)
	}
}

func TestServeUDPReturnsTheErrorOfHandle(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	full := errors.New("pipeline full")
	done := make(chan error, 1)
	go func() {
		done <- wire.ServeUDP(context.Background(), conn, 64, pipelinetest.Env(pipeline.KindInput, "udp", "udp"),
			func([]byte, netip.AddrPort, bool) error { return full })
	}()
	c, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != full {
			t.Errorf("ServeUDP returned %v, want the error of handle", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeUDP still running after handle failed")
	}
}
