package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// The runtime is the Host of the plugins it runs (Env.Host).
var _ Host = (*Runtime)(nil)

// runner wraps one plugin instance with what the runtime owns for it.
type runner struct {
	rt    *Runtime
	cfg   *PluginConfig
	log   *slog.Logger
	stats *PluginStats // carried to the runner that replaces this one on a reload
	state atomic.Value // string: "starting", "running", "stopped", "failed"

	input   Input
	filter  Filter
	sfilter SubjectFilter
	bfilter BatchFilter // when the filter is one and not a SubjectFilter
	matched []*Message  // the batch bfilter gets
	output  Output
	ticker  Ticker
	decoder Decoder
	tdec    TransientDecoder // decoder, when it is one

	pub  *publisher // nil when the plugin does not publish
	dead *publisher // dead_letter

	mu     sync.Mutex // serialises calls into the plugin
	closed bool       // under mu: Close has been called
	subs   []*subscription
	dec    BatchDecoder
	batch  []*Message
	// unzipped is the buffer durable batches are decompressed into, kept
	// from batch to batch when the plugin keeps nothing (see batchData).
	unzipped []byte
	warn     LogThrottle

	held  []*nats.Msg // durable batches the output gave up on at shutdown
	retry drainRetry  // draining: when retries of a failing write stop

	rp replayRunner // replay mode only

	// Set while the pipeline runs (see Runtime.startRunner), under the
	// runtime's reloadMu.
	stopInput  context.CancelFunc // stops the input's Run
	inputDone  chan struct{}      // closed when the input's Run has returned
	left       atomic.Bool        // counted out of the runtime's live inputs
	stopTicker func()             // stops the ticker and waits for its last tick
	// ready, when not nil, holds back the handler until it is closed: a
	// runner a reload adds takes no message before the one it replaces
	// has handled its last (see reload.go).
	ready chan struct{}
}

// instance is the plugin the runner runs.
func (r *runner) instance() any {
	switch {
	case r.input != nil:
		return r.input
	case r.filter != nil:
		return r.filter
	case r.sfilter != nil:
		return r.sfilter
	}
	return r.output
}

// newRunner makes the runner of pc; stats are the counters it continues
// (a reload's replacement) or nil for new ones.
func newRunner(rt *Runtime, pc *PluginConfig, stats *PluginStats) *runner {
	if stats == nil {
		stats = &PluginStats{}
	}
	r := &runner{rt: rt, cfg: pc, log: rt.log.With("plugin", pc.ID()), stats: stats}
	r.state.Store("starting")
	return r
}

// subscription is one NATS subscription of a runner, with the count of
// messages its handler has finished, so that "idle" has no window: NATS
// counts a message delivered before the handler runs.
type subscription struct {
	pattern string
	sub     *nats.Subscription
	handled atomic.Uint64
	durable bool          // a bound JetStream consumer, on the bus's JetStream connection
	failing atomic.Bool   // durable: the output gave up on its last batch
	stream  string        // durable: the stream its consumer reads
	drainTo atomic.Uint64 // durable: the last sequence stored on its subjects when the drain looked
	// durable: when the drain first saw acks pending with nothing in hand
	ackPendingSince time.Time
	// undeliveredSince, durable: since when the consumer has shown nothing
	// pending short of drainTo (durableIdle).
	undeliveredSince time.Time
	redeliveredTo    uint64        // durable: stream sequences delivered before the consumer was restarted
	origins          *originWindow // lines had before, by origin; nil in a queue group
}

func (s *subscription) idle() bool {
	if s.durable && !s.localIdle() {
		return false
	}
	if s.durable {
		return s.durableIdle()
	}
	return s.localIdle()
}

func (s *subscription) localIdle() bool {
	n, _, err := s.sub.Pending()
	if err != nil {
		return true // closed
	}
	d, err := s.sub.Delivered()
	if err != nil {
		return true
	}
	return n == 0 && uint64(d) == s.handled.Load()
}

// init sets r up for its plugin: decoder, publishers and, with
// initPlugin, the plugin's Init (a reload calls it later, or not at all:
// see reload.go).
func (r *runner) init(initPlugin bool) error {
	pc := r.cfg
	_, r.dec.Alias = pc.Plugin.(Transient)
	switch p := pc.Plugin.(type) {
	case Input:
		r.input = p
	case Output:
		r.output = p
	case Filter:
		r.filter = p
		r.sfilter, _ = p.(SubjectFilter)
		if r.sfilter == nil {
			r.bfilter, _ = p.(BatchFilter)
		}
		r.ticker, _ = p.(Ticker)
	}
	if pc.Decoder != "" {
		reg, _ := LookupDecoder(pc.Decoder)
		r.decoder = reg.New()
		r.tdec, _ = r.decoder.(TransientDecoder)
		if cd, ok := r.decoder.(ConfigurableDecoder); ok {
			if err := cd.Configure(pc.DecoderConfig); err != nil {
				return fmt.Errorf("decoder_config: %w", err) // LoadConfig already checked it
			}
		}
		if in, ok := r.decoder.(Initializer); ok {
			env := &Env{Kind: pc.Kind, Type: pc.Type, Name: pc.Name, Log: r.log.With("decoder", pc.Decoder),
				Agent: r.rt.cfg.Agent, Stats: r.stats, Host: r.rt}
			if err := in.Init(env); err != nil {
				return fmt.Errorf("decoder: %w", err)
			}
		}
	}
	if pc.Publish != "" {
		r.pub = newPublisher(r, pc.Publish)
	}
	if pc.DeadLetter != "" {
		r.dead = newPublisher(r, pc.DeadLetter)
	}
	if pc.Durable {
		for _, p := range []*publisher{r.pub, r.dead} {
			if p != nil {
				p.durable = true
			}
		}
	}
	if initPlugin {
		return r.initPlugin()
	}
	return nil
}

// initPlugin calls the plugin's Init, if it has one.
func (r *runner) initPlugin() error {
	pc := r.cfg
	if in, ok := pc.Plugin.(Initializer); ok {
		env := &Env{Kind: pc.Kind, Type: pc.Type, Name: pc.Name, Log: r.log, Agent: r.rt.cfg.Agent,
			Ticker: pc.TickerInterval, Stats: r.stats, Host: r.rt}
		if err := in.Init(env); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) subscribe() error {
	for _, subject := range r.cfg.Subscribe {
		s := &subscription{pattern: subject}
		if r.cfg.Queue == "" {
			// In a queue group the batches between two that this process
			// gets go to others: spans cannot be merged across them.
			s.origins = &originWindow{}
			if err := r.openOrigins(s); err != nil {
				return err
			}
		}
		handler := func(msg *nats.Msg) {
			defer s.handled.Add(1)
			r.handle(s, msg)
		}
		var err error
		if r.cfg.Durable {
			// A stream may deliver at once: the handler waits for r.mu
			// until s and r.subs are complete.
			r.mu.Lock()
			err := r.subscribeDurable(s, handler)
			if err == nil {
				r.subs = append(r.subs, s)
			}
			r.mu.Unlock()
			if err != nil {
				s.origins.close() // not in r.subs: closeAll would not close it
				return err
			}
			continue
		}
		if r.cfg.Queue != "" {
			s.sub, err = r.rt.bus.Conn.QueueSubscribe(subject, r.cfg.Queue, handler)
		} else {
			s.sub, err = r.rt.bus.Conn.Subscribe(subject, handler)
		}
		if err != nil {
			return err
		}
		// Local publishers hold back at nats.max_pending_bytes; the high
		// limit here only bounds what a remote publisher can queue before
		// NATS drops (and we count) batches.
		if err := s.sub.SetPendingLimits(-1, 1<<30); err != nil {
			return err
		}
		r.subs = append(r.subs, s)
	}
	return nil
}

// openOrigins gives a durable subscription's origin window its journal
// under data_dir, restoring what it had before this process started.
func (r *runner) openOrigins(s *subscription) error {
	path := dedupPath(r.rt.cfg.Agent.DataDir, durableConsumerName(r.cfg, s.pattern), ".origins")
	if !r.cfg.Durable || path == "" {
		return nil
	}
	j, info, err := openOriginJournal(path, s.origins, r.log, &r.stats.Errors)
	if err != nil {
		return err
	}
	s.origins.journal = j
	if info.existed {
		r.log.Info("durable: origins restored", "subject", s.pattern, "sources", info.sources,
			"in_doubt_lines", info.doubtLines, "ignored_bytes", info.ignoredBytes)
	}
	return nil
}

// warnf logs at most once a second per plugin, so a flood of bad input
// cannot flood the log; the counters still count every event.
func (r *runner) warnf(msg string, args ...any) {
	if ok, held := r.warn.Allow(); ok {
		r.log.Warn(msg, append(args, "more_since_last_warning", held)...)
	}
}

// handle processes one batch from NATS.
func (r *runner) handle(from *subscription, msg *nats.Msg) {
	if r.rt.replay != nil {
		r.hold(msg) // processed in the replay's order, by Replay
		return
	}
	if r.ready != nil {
		<-r.ready
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	data, err := r.batchData(msg) // compressed if a durable publisher stored it
	var msgs []*Message
	if err == nil {
		msgs, err = r.dec.Decode(data)
	}
	var md *nats.MsgMetadata
	if from.durable {
		md, _ = msg.Metadata()
		if md != nil {
			from.origins.delivered(md.Sequence.Consumer)
		}
	}
	plain := len(msgs) // messages without an origin
	if err == nil && from.origins != nil {
		var had int
		msgs, had, plain = from.origins.filter(msg.Subject, msgs)
		r.stats.Duplicates.Add(uint64(had))
	}
	if from.durable {
		if md != nil && (md.NumDelivered > 1 || md.Sequence.Stream <= from.redeliveredTo) {
			// Possibly had before: a redelivery. Lines with an origin were
			// checked above, and those left are not copies.
			r.stats.Duplicates.Add(uint64(plain))
		}
		if r.closed {
			from.origins.missed()
			return // unacked: it stays in the stream for the next start
		}
	}
	if r.closed {
		// Only when a drain timed out: the plugin is gone, say so.
		r.stats.Dropped.Add(uint64(len(msgs)))
		r.warnf("message arrived after the plugin closed", "subject", msg.Subject, "messages", len(msgs))
		return
	}
	if err != nil {
		r.stats.Errors.Add(1)
		r.stats.Dropped.Add(uint64(len(msgs)))
		r.warnf("undecodable batch", "subject", msg.Subject, "bytes", len(msg.Data), "err", err)
		if from.durable {
			r.settle(msg, "+TERM")
		}
		return
	}
	start := time.Now()
	if r.output != nil {
		r.writeBatch(from, msg, msgs)
	} else if r.filter != nil {
		r.processBatch(from, msg, msgs)
	}
	r.stats.ProcessNanos.Add(int64(time.Since(start)))
}

// failed reports whether the runtime gave up on the plugin (its input
// failed, or its new version did not start on a reload).
func (r *runner) failed() bool { return r.state.Load() == "failed" }

// running reports whether the plugin runs: the runtime says so, and the
// plugin does not say otherwise (a Lua filter stopped for good).
func (r *runner) running() bool {
	if r.state.Load() != "running" {
		return false // its own status is not needed
	}
	return r.stateWith(r.ownStatus()) == "running"
}

// ownStatus is what the plugin reports of itself (StatusReporter), or nil.
func (r *runner) ownStatus() map[string]any {
	if sr, ok := r.cfg.Plugin.(StatusReporter); ok {
		return sr.Status()
	}
	return nil
}

// stateWith is the plugin's state, given its own status: the runtime's,
// unless the runtime says "running" and the plugin's own "state" says
// otherwise (a Lua filter "restarting", or stopped for good).
func (r *runner) stateWith(own map[string]any) string {
	state := r.state.Load().(string)
	if s, ok := own["state"].(string); ok && state == "running" {
		return s
	}
	return state
}

// countSuspect counts the lines of a batch just taken that were in doubt
// after a crash: they may now be in the output twice.
func (r *runner) countSuspect(n int) {
	if n == 0 {
		return
	}
	r.stats.Duplicates.Add(uint64(n))
	r.log.Info("durable: wrote lines in doubt since a crash (perhaps written before it); counted as duplicates", "lines", n)
}

// nothingPending reports whether no batch waits on any of r's subscriptions.
// NATS counts the batch being handled as pending until its handler returns.
func (r *runner) nothingPending(current *subscription) bool {
	for _, s := range r.subs {
		n, _, _ := s.sub.Pending()
		if s == current {
			n--
		}
		if n > 0 {
			return false
		}
	}
	return true
}

// StatsSnapshot is a plain copy of PluginStats.
type StatsSnapshot struct {
	In, Out, Dropped, Errors uint64
	Duplicates               uint64
	ProcessSeconds           float64
}

// Snapshot reads the counters.
func (s *PluginStats) Snapshot() StatsSnapshot {
	return StatsSnapshot{In: s.In.Load(), Out: s.Out.Load(), Dropped: s.Dropped.Load(), Errors: s.Errors.Load(),
		Duplicates: s.Duplicates.Load(), ProcessSeconds: time.Duration(s.ProcessNanos.Load()).Seconds()}
}

// publisher batches one runner's messages for one subject.
