package notify

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// startJetStream starts a NATS server with JetStream on a random port and
// a temporary store, and returns a JetStream context on it.
func startJetStream(t *testing.T) nats.JetStreamContext {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	return pipelinetest.JetStream(t, srv.ClientURL())
}

// testHost is the pipeline a plugin under test runs in: only JetStream.
type testHost struct{ js nats.JetStreamContext }

func (h testHost) Stopping() <-chan struct{}                 { return nil }
func (h testHost) PluginStatus() []pipeline.PluginStatus     { return nil }
func (h testHost) NATSStats() pipeline.NATSStats             { return pipeline.NATSStats{} }
func (h testHost) JetStream() (nats.JetStreamContext, error) { return h.js, nil }

// clock is a fake clock that tests set.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// recorder is a sender that keeps what it is given, and fails while fail
// is set.
type recorder struct {
	mu   sync.Mutex
	got  []*Notification
	fail error
}

func (r *recorder) Send(_ context.Context, n *Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, n)
	return nil
}

func (r *recorder) Describe() string { return "recorder" }

// take returns what was sent since the last take, by group key and
// receiver (the plugin sends to its receivers at once).
func (r *recorder) take() []*Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	slices.SortFunc(out, func(a, b *Notification) int {
		return cmp.Or(strings.Compare(a.GroupKey, b.GroupKey), strings.Compare(a.Receiver, b.Receiver))
	})
	return out
}

// startPlugin inits an output named "ops" on js (nil: no bucket) with a
// fake clock and no loop of its own: the test calls cycle. Every
// receiver's channel is rec.
func startPlugin(t *testing.T, js nats.JetStreamContext, c *clock, rec *recorder, change func(p *Notify)) *Notify {
	t.Helper()
	p := testConfig(t, func(p *Notify) {
		for i := range p.Receivers {
			p.Receivers[i].Webhook = &WebhookConfig{}
		}
		if change != nil {
			change(p)
		}
	})
	p.now, p.manual = c.now, true
	saved := buildSenders
	buildSenders = func(*ReceiverConfig, *slog.Logger) ([]sender, error) { return []sender{rec}, nil }
	defer func() { buildSenders = saved }()
	env := pipelinetest.Env(pipeline.KindOutput, "notify", "ops")
	env.Agent.Name = "central"
	if js != nil {
		env.Host = testHost{js}
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := p.Init(env); err != nil {
		p.Close()
		t.Fatal(err)
	}
	return p
}

// write hands alerts to p as messages, as the runtime does.
func write(t *testing.T, p *Notify, as ...*pipeline.Alert) {
	t.Helper()
	var batch []*pipeline.Message
	for _, a := range as {
		m := new(pipeline.Message)
		a.ToMessage(m)
		batch = append(batch, m)
	}
	if err := p.Write(batch); err != nil {
		t.Fatal(err)
	}
}

// run cycles p at now.
func run(p *Notify, c *clock, now time.Time) {
	c.set(now)
	p.cycle(context.Background(), now)
}

// A restart with the same bucket neither sends again what was sent nor
// forgets acks and silences; repeats keep their time.
func TestStateSurvivesRestart(t *testing.T) {
	js := startJetStream(t)
	c := &clock{}
	rec := &recorder{}
	a := startPlugin(t, js, c, rec, nil)
	run(a, c, t0)
	write(t, a, alert(pipeline.AlertFiring, "down", t0, "host=web-1"), alert(pipeline.AlertFiring, "down", t0, "host=web-2"),
		alert(pipeline.AlertFiring, "disk", t0, "host=db-1"))
	run(a, c, t0.Add(30*time.Second))
	expect(t, "first", rec.take(), "ops firing 1/0;ops firing 2/0;") // disk, down
	if _, err := a.engine.acknowledge(ackRequest{Group: `default:{alertname="disk"}`, By: "ann"}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	sil := &silence{Matchers: []string{`host="web-3"`}, StartsAt: t0, EndsAt: t0.Add(48 * time.Hour), CreatedBy: "bob"}
	if err := a.engine.addSilence(sil, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	b := startPlugin(t, js, c, rec, nil)
	defer b.Close()
	if n := len(b.engine.alerts); n != 3 {
		t.Fatalf("after the restart: %d alerts, want 3", n)
	}
	if len(b.engine.acks) != 1 || len(b.engine.silences) != 1 || len(b.engine.log) != 2 {
		t.Fatalf("after the restart: %d acks, %d silences, %d log entries; want 1, 1, 2", len(b.engine.acks), len(b.engine.silences), len(b.engine.log))
	}
	for m := 2; m < 240; m += 5 {
		now := t0.Add(time.Duration(m) * time.Minute)
		write(t, b, alert(pipeline.AlertFiring, "down", now, "host=web-1"), alert(pipeline.AlertFiring, "down", now, "host=web-2"),
			alert(pipeline.AlertFiring, "disk", now, "host=db-1"), alert(pipeline.AlertFiring, "down", now, "host=web-3"))
		run(b, c, now)
		expect(t, fmt.Sprintf("minute %d after the restart", m), rec.take(), "")
	}
	now := t0.Add(4*time.Hour + 30*time.Second)
	write(t, b, alert(pipeline.AlertFiring, "down", now, "host=web-1"), alert(pipeline.AlertFiring, "down", now, "host=web-2"),
		alert(pipeline.AlertFiring, "disk", now, "host=db-1"))
	run(b, c, now)
	// The repeat of down (web-3 silenced), none for disk (acked).
	expect(t, "repeat", rec.take(), "ops firing 2/0;")
}

// Two processes on one bucket: only the lease holder sends; when it stops
// renewing, the other takes over within the lease (by its own clock) and
// does not send again what the first one sent.
func TestFailover(t *testing.T) {
	js := startJetStream(t)
	ca, cb := &clock{}, &clock{}
	ra, rb := &recorder{}, &recorder{}
	a := startPlugin(t, js, ca, ra, nil)
	defer a.Close()
	b := startPlugin(t, js, cb, rb, nil)
	defer b.Close()
	run(a, ca, t0)
	run(b, cb, t0)
	if !a.Status()["leader"].(bool) || b.Status()["leader"].(bool) {
		t.Fatalf("leader: a %v, b %v; want a only", a.Status()["leader"], b.Status()["leader"])
	}
	if got := b.Status()["lease_holder"]; got != a.holder {
		t.Errorf("b sees the lease held by %v, want %s", got, a.holder)
	}
	for _, p := range []*Notify{a, b} {
		write(t, p, alert(pipeline.AlertFiring, "down", t0, "host=web-1"))
	}
	for s := 1; s <= 40; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		run(a, ca, now)
		run(b, cb, now)
	}
	expect(t, "leader", ra.take(), "ops firing 1/0;")
	expect(t, "follower", rb.take(), "")
	if a.Gauges()["notify_leader"] != 1 || b.Gauges()["notify_leader"] != 0 {
		t.Errorf("gauges: a %v, b %v", a.Gauges(), b.Gauges())
	}
	pipelinetest.WaitUntil(t, 10*time.Second, "the follower to see the leader's notification log", func() error {
		b.engine.mu.Lock()
		defer b.engine.mu.Unlock()
		if len(b.engine.log) != 1 {
			return fmt.Errorf("%d log entries", len(b.engine.log))
		}
		return nil
	})

	// a dies (no more steps, no Close). b's clock is its own: it takes
	// over once it has seen the lease unchanged for 5s.
	took := time.Time{}
	for s := 41; s <= 60; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		write(t, b, alert(pipeline.AlertFiring, "down", now, "host=web-1"))
		run(b, cb, now)
		if took.IsZero() && b.Status()["leader"].(bool) {
			took = now
		}
	}
	if took.IsZero() || took.Sub(t0.Add(40*time.Second)) > 6*time.Second {
		t.Fatalf("b took over at %v, want within 6s of a's last renewal at %v", took, t0.Add(40*time.Second))
	}
	expect(t, "after the takeover", rb.take(), "")
	// b notifies from now on: the repeat, 4h after a's notification.
	now := t0.Add(4*time.Hour + 30*time.Second)
	write(t, b, alert(pipeline.AlertFiring, "down", now, "host=web-1"))
	run(b, cb, now)
	expect(t, "repeat by the new leader", rb.take(), "ops firing 1/0;")

	// a comes back: it finds the lease taken and sends nothing.
	run(a, ca, now)
	if a.Status()["leader"].(bool) {
		t.Error("a still leads after b took over")
	}
	expect(t, "old leader", ra.take(), "")
}

// A leader that stops lets the lease go: the follower takes over at its
// next step, not after the lease.
func TestReleaseOnClose(t *testing.T) {
	js := startJetStream(t)
	c := &clock{}
	a := startPlugin(t, js, c, &recorder{}, nil)
	b := startPlugin(t, js, c, &recorder{}, nil)
	defer b.Close()
	run(a, c, t0)
	run(b, c, t0)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	run(b, c, t0.Add(time.Second))
	if !b.Status()["leader"].(bool) {
		t.Error("b did not take the released lease at once")
	}
}

// An ack or a silence made through a follower reaches the leader through
// the bucket.
func TestAckThroughFollower(t *testing.T) {
	js := startJetStream(t)
	ca, cb := &clock{}, &clock{}
	ra := &recorder{}
	a := startPlugin(t, js, ca, ra, nil)
	defer a.Close()
	b := startPlugin(t, js, cb, &recorder{}, nil)
	defer b.Close()
	run(a, ca, t0)
	run(b, cb, t0)
	for _, p := range []*Notify{a, b} {
		write(t, p, alert(pipeline.AlertFiring, "down", t0, "host=web-1"), alert(pipeline.AlertFiring, "cpu", t0, "host=web-1"))
	}
	run(a, ca, t0.Add(30*time.Second))
	expect(t, "first", ra.take(), "ops firing 1/0;ops firing 1/0;")
	if _, err := b.engine.acknowledge(ackRequest{Group: `default:{alertname="down"}`}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := b.engine.addSilence(&silence{Matchers: []string{`alertname="cpu"`}, StartsAt: t0, EndsAt: t0.Add(24 * time.Hour)}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 10*time.Second, "the leader to see the ack and the silence", func() error {
		a.engine.mu.Lock()
		defer a.engine.mu.Unlock()
		if len(a.engine.acks) != 1 || len(a.engine.silences) != 1 {
			return fmt.Errorf("%d acks, %d silences", len(a.engine.acks), len(a.engine.silences))
		}
		return nil
	})
	now := t0.Add(5 * time.Hour)
	for _, p := range []*Notify{a, b} {
		write(t, p, alert(pipeline.AlertFiring, "down", now, "host=web-1"), alert(pipeline.AlertFiring, "cpu", now, "host=web-1"))
	}
	run(a, ca, now)
	expect(t, "acked and silenced: no repeat", ra.take(), "")
}
