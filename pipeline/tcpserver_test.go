package pipeline_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// ServeTCP serves up to max_connections at once, refuses (and counts) one
// more, and on stop ends each blocked read and waits for its serve.
func TestServeTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env := pipelinetest.Env(pipeline.KindInput, "tcp", "tcp")
	var serving, deadlined atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- pipeline.ServeTCP(ctx, ln, 1, env, func(c net.Conn) {
			defer c.Close()
			serving.Add(1)
			if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
				deadlined.Add(1)
			}
		})
	}()

	first, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	pipelinetest.WaitUntil(t, 2*time.Second, func() bool { return serving.Load() == 1 })

	second, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a connection beyond max_connections: read %v, want it closed (EOF)", err)
	}
	if n := env.Stats.Errors.Load(); n != 1 {
		t.Errorf("errors = %d, want 1 for the refused connection", n)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeTCP did not return after its context ended")
	}
	if serving.Load() != 1 || deadlined.Load() != 1 {
		t.Errorf("served %d, ended by the deadline %d; want 1 and 1", serving.Load(), deadlined.Load())
	}
}
