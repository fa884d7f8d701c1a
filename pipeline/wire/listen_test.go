package wire_test

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline/wire"
)

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("SO_REUSEPORT is set on Linux only")
	}
}

// Two instances of an input overlap during a reload: the second binds the
// address while the first is open, and takes the connections once the first
// closes.
func TestListenTwiceOnOneAddress(t *testing.T) {
	skipUnlessLinux(t)
	old, err := wire.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	addr := old.Addr().String()
	next, err := wire.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("second Listen on %s while the first is open: %v", addr, err)
	}
	defer next.Close()
	old.Close()

	accepted := make(chan string)
	go func() {
		for {
			c, err := next.Accept()
			if err != nil {
				close(accepted)
				return
			}
			b, _ := io.ReadAll(c)
			c.Close()
			accepted <- string(b)
		}
	}()
	for _, want := range []string{"one", "two", "three"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial after the first listener closed: %v", err)
		}
		c.Write([]byte(want))
		c.Close()
		select {
		case got := <-accepted:
			if got != want {
				t.Errorf("the second listener read %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("connection %q not accepted by the second listener", want)
		}
	}
}

// Sockets bound without SO_REUSEPORT (another program's) still hold their
// address: an input that asks for it fails to start, and the reverse.
func TestListenOnAnAddressInUseFails(t *testing.T) {
	skipUnlessLinux(t)
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if ln, err := wire.Listen("tcp", plain.Addr().String()); err == nil {
		ln.Close()
		t.Error("Listen bound an address a plain listener holds")
	}
	ours, err := wire.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	if ln, err := net.Listen("tcp", ours.Addr().String()); err == nil {
		ln.Close()
		t.Error("a plain listener bound the address Listen holds")
	}

	plainPC, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plainPC.Close()
	if pc, err := wire.ListenPacket("udp", plainPC.LocalAddr().String()); err == nil {
		pc.Close()
		t.Error("ListenPacket bound an address a plain socket holds")
	}
}

func TestListenPacketTwiceOnOneAddress(t *testing.T) {
	skipUnlessLinux(t)
	old, err := wire.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	addr := old.LocalAddr().String()
	next, err := wire.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("second ListenPacket on %s while the first is open: %v", addr, err)
	}
	defer next.Close()

	send := func(d string) {
		t.Helper()
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	// received reads a datagram from each socket until one of them has one
	// (or 10 s have passed), and returns what each got.
	received := func(pcs ...net.PacketConn) []string {
		got := make([]string, len(pcs))
		done := make(chan struct{}, len(pcs))
		for i, pc := range pcs {
			pc.SetReadDeadline(time.Now().Add(10 * time.Second))
			go func() {
				buf := make([]byte, 64)
				if n, _, err := pc.ReadFrom(buf); err == nil {
					got[i] = string(buf[:n])
				}
				done <- struct{}{}
			}()
		}
		<-done // the first read to end, with a datagram or at the deadline
		for _, pc := range pcs {
			pc.SetReadDeadline(time.Unix(1, 0)) // the others stop
		}
		for range pcs[1:] {
			<-done
		}
		return got
	}

	send("while both are open")
	got := received(old, next)
	if got[0] != "while both are open" && got[1] != "while both are open" {
		t.Errorf("neither socket received the datagram: got %q", got)
	}
	if got[0] != "" && got[1] != "" {
		t.Errorf("both sockets received a datagram: got %q", got)
	}

	old.Close()
	send("after the first closed")
	if got := received(next); got[0] != "after the first closed" {
		t.Errorf("the second socket got %q, want the datagram sent after the first closed", got[0])
	}
}
