package pipeline

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// waitUntil polls cond until it returns nil, failing the test after timeout
// with its last error (pipelinetest.WaitUntil, which imports this package).
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// fenceBus starts an embedded server (no JetStream) for a publisher test.
func fenceBus(t *testing.T) *Bus { return testBus(t, "fence", false) }

// testBus starts an embedded server for a test of agent name, with
// JetStream or not, closed when the test ends.
func testBus(t *testing.T, name string, jetStream bool) *Bus {
	t.Helper()
	cfg := newConfig(nil)
	cfg.Agent.Name, cfg.Agent.DataDir = name, t.TempDir()
	cfg.Nats.JetStream = &jetStream
	bus, err := ConnectBus(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	return bus
}

// When a fence is passed, every message published on the bus before it has
// come back to this process's subscription: handled, or pending in it.
func TestBusFenceFollowsWhatWasPublished(t *testing.T) {
	bus := fenceBus(t)
	var handled atomic.Int64
	sub, err := bus.Conn.Subscribe("fence.test", func(*nats.Msg) { handled.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("x"), 1000)
	for round := 0; round < 5; round++ {
		for i := 0; i < 2000; i++ {
			if err := bus.Conn.Publish("fence.test", payload); err != nil {
				t.Fatal(err)
			}
		}
		<-bus.fence()
		pending, _, err := sub.Pending()
		if err != nil {
			t.Fatal(err)
		}
		// handled before pending: a message the handler takes meanwhile
		// leaves the pending count before it enters the handled one.
		if got, want := handled.Load()+int64(pending), int64(2000*(round+1)); got < want {
			t.Fatalf("round %d: %d messages handled or pending once the fence was passed; want %d", round, got, want)
		}
	}
}

// A publisher with a subscriber in this process does not run more than two
// fences ahead: it sets its second fence only once its first is passed, so
// what the server holds of its batches stays bounded.
func TestPublisherWaitsForItsFenceBeforeLast(t *testing.T) {
	bus := fenceBus(t)
	cfg := newConfig(nil)
	cfg.Agent.Name = "fence"
	rt := &Runtime{cfg: cfg, bus: bus}
	r := &runner{rt: rt, cfg: &PluginConfig{Kind: KindInput, Type: "tcp", Name: "tcp"}, log: slog.New(slog.DiscardHandler), stats: &PluginStats{}}
	p := newPublisher(r, "fence.test")
	var got atomic.Int64 // bytes of the batches the subscriber received
	sub, err := bus.Conn.Subscribe("fence.test", func(m *nats.Msg) { got.Add(int64(len(m.Data))) })
	if err != nil {
		t.Fatal(err)
	}
	p.local = []*subscription{{pattern: "fence.test", sub: sub}}

	// The first fence stays up until the subscriber has the batch that
	// crossed the second fence's mark, after which the publisher must be
	// waiting for it; every later one is passed at once.
	var mu sync.Mutex
	var fences []chan struct{}
	p.startFence = func() <-chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if len(fences) == 1 {
			select {
			case <-fences[0]:
			default:
				t.Error("the second fence was set before the first was passed")
			}
		}
		c := make(chan struct{})
		if len(fences) > 0 {
			close(c)
		}
		fences = append(fences, c)
		return c
	}

	line := bytes.Repeat([]byte("y"), 100)
	const lines = 4 * fenceEvery / 100
	emitted := make(chan error, 1)
	go func() {
		for i := 0; i < lines; i++ {
			if err := (lineEmitter{p}).EmitLine(line); err != nil {
				emitted <- err
				return
			}
		}
		emitted <- lineEmitter{p}.Flush()
	}()
	waitUntil(t, 10*time.Second, "the subscriber has two fences' worth", func() error {
		if n := got.Load(); n < 2*fenceEvery {
			return fmt.Errorf("%d bytes so far", n)
		}
		return nil
	})
	mu.Lock()
	close(fences[0])
	mu.Unlock()
	if err := <-emitted; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "every line received", func() error {
		if n := r.stats.Out.Load(); n != lines {
			return fmt.Errorf("%d lines out", n)
		}
		if got.Load() < lines*100 {
			return fmt.Errorf("%d bytes received", got.Load())
		}
		return nil
	})
}
