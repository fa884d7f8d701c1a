// Package notify is the outputs.notify plugin: it turns alert messages
// (pipeline.Alert, from filters.alert) into notifications to people,
// Alertmanager's way: routed by labels to receivers, grouped, throttled,
// with an all-clear when a group resolves, escalation when nobody
// acknowledges, acks and silences through the admin API and `interoceptor
// alerts`. Its state lives in a JetStream key-value bucket, so that a
// restart neither sends again nor forgets, and of several processes that
// run the same output only the one holding the lease notifies.
package notify

// Where to find what:
//
//	plugin.go        registration, the keys, Init, Write, the loop that
//	                 sends, Close, gauges and status
//	config.go        the routes' and escalations' keys and their checks
//	engine.go        the logic, without I/O: routing, grouping, timing,
//	                 acks, silences (time given by the caller)
//	store.go         the state in a JetStream KV bucket: load, write
//	                 through, watch for the other processes' changes
//	lease.go         leadership: a lease key renewed with compare-and-set
//	api.go           /api/alerts and /api/silences
//	matchers.go      label matchers (Alertmanager's syntax)
//	notification.go  what a receiver gets; receivers.go: the channels

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindOutput,
		Type:        "notify",
		Description: "Notifies people of alerts (email, Slack, webhook, SMS): routing, grouping, repeats, all-clear, escalation, acks and silences, state in JetStream",
		Sample:      sample,
		New: func() any {
			return &Notify{
				GroupBy:        []string{"alertname"},
				GroupWait:      pipeline.Duration(30 * time.Second),
				GroupInterval:  pipeline.Duration(5 * time.Minute),
				RepeatInterval: pipeline.Duration(4 * time.Hour),
				ResolveTimeout: pipeline.Duration(5 * time.Minute),
				SendResolved:   true,
				Lease:          pipeline.Duration(5 * time.Second),
				Timeout:        pipeline.Duration(10 * time.Second),
			}
		},
	})
}

// Notify is the output. Write hands each alert to the engine; one
// goroutine (run) holds the lease, asks the engine what is due and sends
// it through the receivers' channels.
type Notify struct {
	Receiver       string            `toml:"receiver"` // the default route's receiver
	GroupBy        []string          `toml:"group_by"`
	GroupWait      pipeline.Duration `toml:"group_wait"`
	GroupInterval  pipeline.Duration `toml:"group_interval"`
	RepeatInterval pipeline.Duration `toml:"repeat_interval"`
	ResolveTimeout pipeline.Duration `toml:"resolve_timeout"`
	SendResolved   bool              `toml:"send_resolved"`
	ExternalURL    string            `toml:"external_url" secret:"url"`
	StateBucket    string            `toml:"state_bucket"`
	Lease          pipeline.Duration `toml:"lease"`
	Timeout        pipeline.Duration `toml:"timeout"` // one send to one channel
	Escalate       []EscalateConfig  `toml:"escalate"`
	Routes         []RouteConfig     `toml:"routes"`
	Receivers      []ReceiverConfig  `toml:"receivers"`

	env     *pipeline.Env
	log     *slog.Logger
	engine  *engine
	senders map[string][]sender // by receiver
	store   *kvStore            // nil without JetStream (a plugin under test)
	lease   *lease              // nil without a store: always the leader
	now     func() time.Time    // the clock; tests drive their own
	manual  bool                // tests: no goroutine, they call cycle
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}

	dropLog   pipeline.LogThrottle
	lastPurge time.Time // the loop's last purge of delete markers

	mu     sync.Mutex // guards what Status reads of the loop
	leader bool
	holder string
}

var (
	_ pipeline.Output          = (*Notify)(nil)
	_ pipeline.Validator       = (*Notify)(nil)
	_ pipeline.Initializer     = (*Notify)(nil)
	_ pipeline.Closer          = (*Notify)(nil)
	_ pipeline.StatusReporter  = (*Notify)(nil)
	_ pipeline.GaugeReporter   = (*Notify)(nil)
	_ pipeline.CounterReporter = (*Notify)(nil)
	_ pipeline.APIHandler      = (*Notify)(nil)
)

// buildSenders makes the senders of a receiver's channels; tests replace
// it with fakes.
var buildSenders = newSenders

// Init builds the receivers' senders, opens the state bucket (created if
// absent) and loads it, and starts the loop.
func (p *Notify) Init(env *pipeline.Env) error {
	p.env, p.log = env, env.Log
	if p.now == nil {
		p.now = time.Now
	}
	p.senders = map[string][]sender{}
	for i := range p.Receivers {
		rc := &p.Receivers[i]
		if rc.Email == nil && rc.Slack == nil && rc.Webhook == nil && rc.Twilio == nil {
			// No channel: notifications to it are recorded, not sent
			// (Alertmanager's receiver without integrations).
			p.senders[rc.Name] = nil
			continue
		}
		ss, err := buildSenders(rc, env.Log.With("receiver", rc.Name))
		if err != nil {
			return fmt.Errorf("receivers[%d] (%s): %w", i, rc.Name, err)
		}
		p.senders[rc.Name] = ss
	}
	ext := p.ExternalURL
	if ext == "" {
		ext = adminAlertsURL(env.Agent)
	}
	p.engine = newEngine(engineConfig{routes: p.routes(), resolveTimeout: time.Duration(p.ResolveTimeout),
		sendResolved: p.SendResolved, externalURL: ext, sender: env.Agent.Name})
	p.leader = true
	if env.Host != nil {
		js, err := env.Host.JetStream()
		if err != nil {
			return fmt.Errorf("outputs.notify keeps its state in JetStream, which the NATS server does not offer (nats.jetstream): %w", err)
		}
		bucket := p.StateBucket
		if bucket == "" {
			bucket = "interoceptor_notify_" + bucketUnsafe.ReplaceAllString(env.Name, "_")
		}
		if p.store, err = openKVStore(js, bucket, p.log); err != nil {
			return err
		}
		p.holder = holderName(env.Agent.Name)
		p.lease = newLease(p.store.kv, p.holder, time.Duration(p.Lease), p.log)
		p.leader = false
		p.engine.leader = false
		if err := p.store.load(p.engine, p.now()); err != nil {
			return err
		}
		p.engine.store = p.store
		p.store.watch(p.engine)
	}
	p.wake = make(chan struct{}, 1)
	if !p.manual {
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel, p.done = cancel, make(chan struct{})
		go p.run(ctx)
	}
	return nil
}

// adminAlertsURL is the admin API's /api/alerts, the default
// external_url: "" when the admin API is off or on a port chosen at start;
// a wildcard address is named by the agent's name (its host name by
// default).
func adminAlertsURL(a pipeline.AgentConfig) string {
	host, port, err := net.SplitHostPort(a.AdminAddr)
	if err != nil || port == "0" {
		return ""
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = a.Name
	}
	scheme := "http"
	if a.AdminTLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/api/alerts"
}

var bucketUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// holderName names this process in the lease: the agent and a random
// part, so that two processes of one agent name are told apart.
func holderName(agent string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return agent + "/" + hex.EncodeToString(b[:])
}

// Write hands the batch's alerts to the engine. A message that is not an
// alert is skipped and counted as dropped; a broken alert as an error too.
func (p *Notify) Write(batch []*pipeline.Message) error {
	now := p.now()
	for _, m := range batch {
		a, err := pipeline.AlertFromMessage(m)
		if err != nil {
			p.env.Stats.Dropped.Add(1)
			if !errors.Is(err, pipeline.ErrNotAlert) {
				p.env.Stats.Errors.Add(1)
			}
			if ok, suppressed := p.dropLog.Allow(); ok {
				p.log.Warn("skipped a message that is not an alert", "type", m.Type, "error", err, "suppressed", suppressed)
			}
			continue
		}
		p.engine.receive(a, now)
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// purgeEvery is how often the leader drops the markers of deleted keys.
const purgeEvery = time.Hour

// maxPause is the longest the loop waits between two looks at the lease
// and the engine.
const maxPause = time.Second

// run is the loop: cycle, then wait for the next deadline (at most
// maxPause, for the lease) or an alert.
func (p *Notify) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.wake:
		}
		next := p.cycle(ctx, p.now())
		pause := maxPause
		if !next.IsZero() {
			pause = min(pause, max(time.Until(next), 10*time.Millisecond))
		}
		t.Reset(pause)
	}
}

// cycle renews or seeks the lease, then sends what the engine says is due
// at now, each receiver's notifications at once, and tells it how that
// went. It returns the engine's next deadline.
func (p *Notify) cycle(ctx context.Context, now time.Time) time.Time {
	leader, holder := true, p.holder
	if p.lease != nil {
		leader, holder = p.lease.step(now)
	}
	p.mu.Lock()
	if leader != p.leader {
		p.log.Info("notify leadership changed", "leader", leader, "holder", holder)
	}
	p.leader, p.holder = leader, holder
	p.mu.Unlock()
	p.engine.setLeader(leader)
	out, next := p.engine.advance(now)
	var wg sync.WaitGroup
	for _, n := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.send(ctx, n)
			if err != nil {
				p.env.Stats.Errors.Add(1)
				p.log.Warn("notification failed, retried later", "receiver", n.Receiver, "group", n.GroupKey, "error", err)
			}
			p.engine.done(n, p.now(), err)
		}()
	}
	wg.Wait()
	if leader && p.store != nil && now.Sub(p.lastPurge) >= purgeEvery {
		p.lastPurge = now
		p.store.purgeDeletes()
	}
	if len(out) > 0 {
		// What was just sent changes what is due: look again soon.
		_, next = p.engine.advance(p.now())
	}
	return next
}

// send sends n through every channel of its receiver, each within timeout;
// the errors of those that failed are joined.
func (p *Notify) send(ctx context.Context, n *Notification) error {
	var errs []error
	for _, s := range p.senders[n.Receiver] {
		sctx, cancel := context.WithTimeout(ctx, time.Duration(p.Timeout))
		err := s.Send(sctx, n)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Describe(), err))
		}
	}
	return errors.Join(errs...)
}

// Close stops the loop and, on the leader, lets the lease go so that
// another process takes over at once.
func (p *Notify) Close() error {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	if p.lease != nil {
		p.lease.release()
	}
	if p.store != nil {
		p.store.close()
	}
	return nil
}

// Status shows leadership, the bucket and the receivers (without secrets).
func (p *Notify) Status() map[string]any {
	st := map[string]any{}
	p.mu.Lock()
	st["leader"], st["holder"] = p.leader, p.holder
	p.mu.Unlock()
	if p.lease != nil {
		st["lease_holder"] = p.lease.currentHolder()
	}
	if p.store != nil {
		st["state_bucket"] = p.store.bucket
	}
	rcv := map[string][]string{}
	for name, ss := range p.senders {
		for _, s := range ss {
			rcv[name] = append(rcv[name], s.Describe())
		}
	}
	st["receivers"] = rcv
	if p.engine != nil {
		c := p.engine.counts(p.now())
		st["alerts_firing"], st["groups"] = c.firing, c.groups
	}
	return st
}

// Gauges: leadership, alerts firing and silenced, acked groups, and
// notifications sent and failed by receiver.
func (p *Notify) Gauges() map[string]float64 {
	g := map[string]float64{}
	p.mu.Lock()
	g["notify_leader"] = 0
	if p.leader {
		g["notify_leader"] = 1
	}
	p.mu.Unlock()
	if p.engine == nil {
		return g
	}
	c := p.engine.counts(p.now())
	g["notify_alerts_firing"] = float64(c.firing)
	g["notify_alerts_silenced"] = float64(c.silenced)
	g["notify_groups_acked"] = float64(c.acked)
	for _, name := range slices.Sorted(maps.Keys(p.senders)) {
		k := metricUnsafe.ReplaceAllString(name, "_")
		g["notify_sent_"+k] = float64(c.sent[name])
		g["notify_failed_"+k] = float64(c.failed[name])
	}
	return g
}

// IsCounter reports which of the Gauges keys only grow: the notifications
// sent and failed per receiver (pipeline.CounterReporter).
func (p *Notify) IsCounter(key string) bool {
	return strings.HasPrefix(key, "notify_sent_") || strings.HasPrefix(key, "notify_failed_")
}

var metricUnsafe = regexp.MustCompile(`[^A-Za-z0-9_]`)
