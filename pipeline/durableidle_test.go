package pipeline

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// A consumer that has not delivered up to the drain's target keeps the
// drain waiting while it shows nothing pending: it counts a stored batch a
// moment after the stream acked it, and a drain that took that for "all
// delivered" ended TestDurableEndToEnd with 398 of 3,000 lines written
// (2 runs in 300). Only once that lasts past lostAckGrace does it count as
// idle, so that a batch the stream dropped by its limits does not hold the
// drain forever.
func TestConsumerIdle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := &subscription{}
	s.drainTo.Store(39)
	info := func(delivered, pending, ackPending uint64) *nats.ConsumerInfo {
		return &nats.ConsumerInfo{Delivered: nats.SequenceInfo{Stream: delivered}, NumPending: pending, NumAckPending: int(ackPending)}
	}
	steps := []struct {
		what string
		ci   *nats.ConsumerInfo
		at   time.Duration
		idle bool
	}{
		{"delivered to 28 of 39, nothing pending yet", info(28, 0, 0), 0, false},
		{"the same, lostAckGrace later", info(28, 0, 0), lostAckGrace, false},
		{"the same, past lostAckGrace", info(28, 0, 0), lostAckGrace + time.Millisecond, true},
		{"11 pending", info(28, 11, 0), time.Hour, false},
		{"nothing pending again: the grace starts again", info(28, 0, 0), time.Hour + time.Millisecond, false},
		{"delivered to 39, 2 unacked", info(39, 0, 2), 2 * time.Hour, false},
		{"2 unacked past lostAckGrace", info(39, 0, 2), 2*time.Hour + lostAckGrace + time.Millisecond, true},
		{"delivered to 39, all acked", info(39, 0, 0), 3 * time.Hour, true},
		{"delivered to 28 of 39 once more, nothing pending", info(28, 0, 0), 3*time.Hour + time.Millisecond, false},
	}
	for _, st := range steps {
		if got := s.consumerIdle(st.ci, t0.Add(st.at)); got != st.idle {
			t.Errorf("%s: idle = %v, want %v", st.what, got, st.idle)
		}
	}
}

// The drain waits, for each durable subscription, for the last batch
// stored on its own subjects, not for the stream's last: a stream holds
// other subjects after it, which that consumer never gets.
func TestDrainTargetsAreTheSubscriptionsOwn(t *testing.T) {
	bus := testBus(t, "drain", true)
	js, err := bus.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "W", Subjects: []string{"w.>"}}); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"w.a", "w.a", "w.a", "w.b", "w.b"} { // sequences 1 to 5
		if _, err := js.Publish(subject, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]uint64{"w.a": 3, "w.b": 5, "w.>": 5, "w.*": 5, "w.c": 0}
	r := &runner{}
	for pattern := range want {
		s := &subscription{durable: true, stream: "W", pattern: pattern}
		s.drainTo.Store(99) // a target from an earlier look, which this one replaces
		r.subs = append(r.subs, s)
	}
	rt := &Runtime{bus: bus, runners: []*runner{r}}
	rt.markDrainTargets()
	for _, s := range r.subs {
		if got := s.drainTo.Load(); got != want[s.pattern] {
			t.Errorf("%s: drain target %d, want %d", s.pattern, got, want[s.pattern])
		}
	}
}
