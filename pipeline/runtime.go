package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Runtime runs one pipeline: it owns the bus, a runner per plugin and the
// admin server.
//
// Start builds everything and fails early (bind errors, bad files). Run
// starts the inputs and blocks until ctx ends or every input has finished on
// its own; then it drains: inputs are stopped, everything they emitted passes
// through filters and outputs, filters get a final tick, outputs flush, and
// only then do plugins close. A drain loses nothing.
type Runtime struct {
	cfg     *Config
	log     *slog.Logger
	bus     *Bus
	runners []*runner
	started time.Time
	admin   *adminServer
	redact  *Redactor // hides the config's secrets in logs, errors and the admin API

	published atomic.Uint64 // batches published by this process
	draining  atomic.Bool
	stopping  chan struct{} // closed once the pipeline begins to stop
	stopOnce  sync.Once
	pid       int32
	replay    *replayState // replay mode (see Replay); nil in a pipeline that runs
}

// runner wraps one plugin instance with what the runtime owns for it.
type runner struct {
	rt    *Runtime
	cfg   *PluginConfig
	log   *slog.Logger
	stats PluginStats
	state atomic.Value // string: "starting", "running", "stopped", "failed"

	input   Input
	filter  Filter
	sfilter SubjectFilter
	output  Output
	ticker  Ticker
	decoder Decoder

	pub  *publisher // nil when the plugin does not publish
	dead *publisher // dead_letter

	mu     sync.Mutex // serialises calls into the plugin
	closed bool       // under mu: Close has been called
	subs   []*subscription
	dec    BatchDecoder
	batch  []*Message
	warn   LogThrottle

	held  []*nats.Msg // durable batches the output gave up on at shutdown
	retry drainRetry  // draining: when retries of a failing write stop

	rp replayRunner // replay mode only
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
	drainTo atomic.Uint64 // durable: the stream's last sequence when the drain looked
	// durable: when the drain first saw acks pending with nothing in hand
	ackPendingSince time.Time
	redeliveredTo   uint64        // durable: stream sequences delivered before the consumer was restarted
	origins         *originWindow // lines had before, by origin; nil in a queue group
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

// Start constructs the runtime: it connects NATS, initialises every plugin
// and subscribes. On error everything started so far is closed again.
//
// Every log record and the error it returns are redacted: no password,
// token or URL user info of the config appears in them.
func Start(cfg *Config, log *slog.Logger) (_ *Runtime, err error) {
	return start(cfg, log, nil)
}

// start is Start, in replay mode when replay is not nil.
func start(cfg *Config, log *slog.Logger, replay *replayState) (_ *Runtime, err error) {
	red := cfg.Redactor()
	log = slog.New(red.Handler(log.Handler()))
	rt := &Runtime{cfg: cfg, log: log, redact: red, started: time.Now(), pid: int32(os.Getpid()), stopping: make(chan struct{}),
		replay: replay}
	if replay != nil {
		rt.pid = 0 // not this process's: a replay's output is the same in every run
	}
	defer func() {
		if err != nil {
			rt.closeAll() // rt, not the nil the error returns carry
			err = red.Error(err)
		}
	}()
	rt.bus, err = ConnectBus(cfg, log, rt.onAsyncError)
	if err != nil {
		return nil, err
	}
	// A batch the server refuses would be retried (or dropped) forever.
	if max := rt.bus.Conn.MaxPayload(); int64(cfg.Nats.BatchBytes) > max {
		return nil, fmt.Errorf("nats.batch_bytes (%d) is larger than the server's max_payload (%d): lower it, or raise max_payload on the server",
			cfg.Nats.BatchBytes, max)
	}
	for _, pc := range cfg.Plugins {
		r := &runner{rt: rt, cfg: pc, log: log.With("plugin", pc.ID())}
		r.state.Store("starting")
		rt.runners = append(rt.runners, r)
		if err := r.init(); err != nil {
			r.state.Store("failed")
			return nil, fmt.Errorf("%s:%d: %s: %w", pc.File, pc.Line, pc.ID(), err)
		}
	}
	// Durable publishers store into a stream; made before the subscribers
	// look for one, so that a pipeline with both shares it.
	for _, r := range rt.runners {
		for _, p := range []*publisher{r.pub, r.dead} {
			if p != nil && p.durable {
				if err := p.ensureStream(); err != nil {
					return nil, fmt.Errorf("%s: %w", r.cfg.ID(), err)
				}
			}
		}
	}
	// Publishers wait for this process's subscribers of their subject, so
	// subscriptions come first.
	for _, r := range rt.runners {
		if err := r.subscribe(); err != nil {
			return nil, fmt.Errorf("%s: subscribe: %w", r.cfg.ID(), err)
		}
	}
	if err := rt.bus.Conn.Flush(); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	for _, r := range rt.runners {
		for _, p := range []*publisher{r.pub, r.dead} {
			if p != nil {
				p.findLocalSubscribers()
			}
		}
	}
	if addr := cfg.Agent.AdminAddr; addr != "" && addr != "off" {
		rt.admin, err = startAdmin(rt, cfg.Agent)
		if err != nil {
			return nil, err
		}
	}
	return rt, nil
}

// Bus returns the runtime's NATS connection and embedded server.
func (rt *Runtime) Bus() *Bus { return rt.bus }

// Stopping is closed once the pipeline begins to stop (a signal, or every
// input finished): a plugin that waits for something that is not needed to
// finish the work (a Lua filter's restart backoff) stops waiting then, so
// that the drain is not held up.
func (rt *Runtime) Stopping() <-chan struct{} { return rt.stopping }

// AdminAddr returns the address the admin API listens on, or "".
func (rt *Runtime) AdminAddr() string {
	if rt.admin == nil {
		return ""
	}
	return rt.admin.addr
}

// AdminURL returns the admin API's base URL ("https://127.0.0.1:8377/"), or "".
func (rt *Runtime) AdminURL() string {
	if rt.admin == nil {
		return ""
	}
	return rt.admin.scheme + "://" + rt.admin.addr + "/"
}

// Plugin returns a plugin instance by kind and name, for tests and tools
// that need, say, an input's bound address.
func (rt *Runtime) Plugin(kind Kind, name string) any {
	for _, r := range rt.runners {
		if r.cfg.Kind == kind && r.cfg.Name == name {
			return r.cfg.Plugin
		}
	}
	return nil
}

func (r *runner) init() error {
	pc := r.cfg
	switch p := pc.Plugin.(type) {
	case Input:
		r.input = p
	case Output:
		r.output = p
	case Filter:
		r.filter = p
		r.sfilter, _ = p.(SubjectFilter)
		r.ticker, _ = p.(Ticker)
	}
	if pc.Decoder != "" {
		reg, _ := LookupDecoder(pc.Decoder)
		r.decoder = reg.New()
		if cd, ok := r.decoder.(ConfigurableDecoder); ok {
			if err := cd.Configure(pc.DecoderConfig); err != nil {
				return fmt.Errorf("decoder_config: %w", err) // LoadConfig already checked it
			}
		}
		if in, ok := r.decoder.(Initializer); ok {
			env := &Env{Kind: pc.Kind, Type: pc.Type, Name: pc.Name, Log: r.log.With("decoder", pc.Decoder),
				Agent: r.rt.cfg.Agent, Stats: &r.stats, Runtime: r.rt}
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
	if in, ok := pc.Plugin.(Initializer); ok {
		env := &Env{Kind: pc.Kind, Type: pc.Type, Name: pc.Name, Log: r.log, Agent: r.rt.cfg.Agent,
			Ticker: pc.TickerInterval, Stats: &r.stats, Runtime: r.rt}
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
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs, err := r.dec.Decode(msg.Data)
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
	var durableMsg *nats.Msg
	if from.durable {
		durableMsg = msg
	}
	res := writeOK
	switch {
	case r.output != nil:
		r.batch = r.batch[:0]
		for _, m := range msgs {
			if r.cfg.Matcher == nil || r.cfg.Matcher.Match(m) {
				r.batch = append(r.batch, m)
			}
		}
		if len(r.batch) > 0 {
			r.stats.In.Add(uint64(len(r.batch)))
			from.origins.intend()
			res = r.write(r.batch, durableMsg)
		}
		if res == writeOK {
			r.countSuspect(from.origins.taken())
		} else {
			from.origins.missed()
		}
		if from.durable {
			// write has flushed it: record it, then ack it.
			if res == writeOK {
				from.origins.commit()
			}
			r.ackDurable(from, msg, res)
		} else if f, ok := r.output.(Flusher); ok && r.nothingPending(from) {
			if err := f.Flush(); err != nil {
				r.stats.Errors.Add(1)
				r.warnf("flush failed", "err", err)
			}
		}
	case r.filter != nil:
		from.origins.intend()
		if from.durable {
			// A filter may take long (a Lua script waiting for its
			// restart): the batch must not be redelivered meanwhile.
			defer keepInProgress(msg)()
		}
		for _, m := range msgs {
			if r.cfg.Matcher != nil && !r.cfg.Matcher.Match(m) {
				continue
			}
			r.stats.In.Add(1)
			if r.sfilter != nil {
				err = r.sfilter.ProcessFrom(msg.Subject, m, r.pub.orNone())
			} else {
				err = r.filter.Process(m, r.pub.orNone())
			}
			if err != nil {
				r.processFailed(m, err)
			}
		}
		r.countSuspect(from.origins.taken())
		if from.durable {
			// What the filter emitted must be stored before its input is acked.
			r.pub.flush()
			r.dead.flush()
			from.origins.commit()
			r.settle(msg, "+ACK")
		}
	}
	r.stats.ProcessNanos.Add(int64(time.Since(start)))
}

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

// processFailed counts a filter's error; a message the filter did not
// process at all goes to its dead_letter subject, with the error, or is
// counted as dropped.
func (r *runner) processFailed(m *Message, err error) {
	r.stats.Errors.Add(1)
	if !IsNotProcessed(err) {
		r.warnf("process failed", "err", err)
		return
	}
	if r.dead == nil {
		r.stats.Dropped.Add(1)
		r.warnf("message not processed, dropped (no dead_letter)", "err", err)
		return
	}
	r.warnf("message not processed, sent to dead_letter", "dead_letter", r.cfg.DeadLetter, "err", err)
	m.AddString("dead_letter_error", err.Error())
	m.AddString("dead_letter_plugin", string(r.cfg.Kind)+"."+r.cfg.Type+"["+r.cfg.Name+"]")
	if err := r.dead.Emit(m); err != nil {
		r.warnf("dead_letter not published, message dropped", "err", err) // Emit counted it
	}
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

// writeResult is what became of a batch handed to write.
type writeResult int

const (
	writeOK      writeResult = iota // written
	writeDropped                    // dropped, counted
	writeHeld                       // durable: not written, left in the stream
)

// write hands a batch to the output, retrying what the output says is worth
// retrying. While draining, retries stop as drainRetry says, and the batch
// is counted as dropped. A durable batch (durable != nil) keeps its ack
// timer running while retried, and at shutdown is left in the stream at
// once.
func (r *runner) write(batch []*Message, durable *nats.Msg) writeResult {
	backoff := 100 * time.Millisecond
	for try := 0; ; try++ {
		// An output drops what it cannot write (a log message in line
		// protocol), counting it; the rest of the batch was written.
		droppedBefore := r.stats.Dropped.Load()
		err := r.output.Write(batch)
		if f, ok := r.output.(Flusher); ok && err == nil && durable != nil {
			// Acked and recorded only once written out, one batch at a
			// time: a crash can catch at most this one half written.
			err = f.Flush()
		}
		if err == nil {
			r.retry.ok()
			r.stats.Out.Add(uint64(len(batch)) - min(uint64(len(batch)), r.stats.Dropped.Load()-droppedBefore))
			return writeOK
		}
		r.stats.Errors.Add(1)
		if !IsRetryable(err) {
			r.stats.Dropped.Add(uint64(len(batch)))
			r.log.Error("write failed, batch dropped", "messages", len(batch), "err", err)
			return writeDropped
		}
		if durable != nil {
			if r.rt.draining.Load() {
				r.log.Warn("write failing at shutdown, batch left in the stream", "messages", len(batch), "err", err)
				return writeHeld
			}
			_ = durable.InProgress()
		}
		if r.rt.draining.Load() && r.retry.failed(time.Now()) {
			r.stats.Dropped.Add(uint64(len(batch)))
			if try > 0 { // the batch that waited out the grace
				r.log.Error("write still failing at shutdown, batch dropped", "messages", len(batch), "err", err)
			} else {
				r.warnf("write still failing at shutdown, batch dropped", "messages", len(batch), "err", err)
			}
			return writeDropped
		}
		r.warnf("write failed, retrying", "messages", len(batch), "backoff", backoff, "err", err)
		time.Sleep(r.retry.cap(backoff))
		backoff = min(backoff*2, 10*time.Second)
	}
}

// drainRetryGrace is how long a failing output (or durable publisher) is
// retried once the pipeline is stopping. A var for tests.
var drainRetryGrace = 10 * time.Second

// drainRetry bounds the retries of a failing output or durable publisher
// while the pipeline drains: drainRetryGrace from its first failure since
// it last succeeded. Past that each batch that fails is given up at its
// first try, so that one that stays down (a full disk) does not hold the
// shutdown for the grace once per batch; a success gives the next failure
// the whole grace again.
type drainRetry struct{ giveUp time.Time }

// failed records a failure while draining, at now, and reports whether the
// grace has run out.
func (d *drainRetry) failed(now time.Time) bool {
	if d.giveUp.IsZero() {
		d.giveUp = now.Add(drainRetryGrace)
		return false
	}
	return now.After(d.giveUp)
}

// ok records a success.
func (d *drainRetry) ok() { d.giveUp = time.Time{} }

// cap shortens a retry's wait so that it does not run past the grace.
func (d *drainRetry) cap(wait time.Duration) time.Duration {
	if d.giveUp.IsZero() {
		return wait
	}
	return max(0, min(wait, time.Until(d.giveUp)))
}

func (r *runner) tick(final bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	if err := r.ticker.Tick(start, final, r.pub.orNone()); err != nil {
		r.stats.Errors.Add(1)
		r.warnf("timer failed", "err", err)
	}
	r.stats.ProcessNanos.Add(int64(time.Since(start)))
}

// Run runs the pipeline until ctx ends or every input has finished, then
// drains and closes it. It returns nil after a clean drain.
func (rt *Runtime) Run(ctx context.Context) error {
	inputCtx, stopInputs := context.WithCancel(ctx)
	defer stopInputs()
	var inputs sync.WaitGroup
	allDone := make(chan struct{})
	n := 0
	for _, r := range rt.runners {
		r.state.Store("running")
		if r.input == nil {
			continue
		}
		n++
		inputs.Add(1)
		go func() {
			defer inputs.Done()
			err := r.input.Run(inputCtx, lineEmitter{r.pub})
			r.pub.flush()
			if err != nil && inputCtx.Err() == nil {
				r.stats.Errors.Add(1)
				r.state.Store("failed")
				r.log.Error("input stopped", "err", err)
				return
			}
			r.state.Store("stopped")
			r.log.Debug("input finished")
		}()
	}
	go func() { inputs.Wait(); close(allDone) }()

	tickers := rt.startTickers(ctx)

	if n > 0 {
		select {
		case <-ctx.Done():
		case <-allDone:
			rt.log.Info("all inputs finished; draining")
		}
	} else {
		<-ctx.Done()
	}
	rt.stopOnce.Do(func() { close(rt.stopping) })
	stopInputs()
	inputs.Wait()
	tickers.stop()
	return rt.drain()
}

type tickerSet struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (t *tickerSet) stop() { t.cancel(); t.wg.Wait() }

func (rt *Runtime) startTickers(ctx context.Context) *tickerSet {
	ctx, cancel := context.WithCancel(ctx)
	ts := &tickerSet{cancel: cancel}
	for _, r := range rt.runners {
		if r.ticker == nil || r.cfg.TickerInterval <= 0 {
			continue
		}
		ts.wg.Add(1)
		go func() {
			defer ts.wg.Done()
			t := time.NewTicker(r.cfg.TickerInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					r.tick(false)
				}
			}
		}()
	}
	return ts
}

// quiesce waits until everything published so far has been handled by every
// local subscriber, repeating while handling publishes more.
func (rt *Runtime) quiesce() error {
	for {
		before := rt.published.Load()
		for _, r := range rt.runners {
			r.pub.flush()
			r.dead.flush()
		}
		if err := rt.bus.Conn.Flush(); err != nil {
			return fmt.Errorf("nats flush: %w", err)
		}
		rt.markDrainTargets()
		for !rt.idle() {
			time.Sleep(200 * time.Microsecond)
		}
		if rt.published.Load() == before && rt.publishersEmpty() {
			return nil
		}
	}
}

// markDrainTargets records, for each durable subscription, how far its
// stream goes now: the drain waits for what was stored up to here (this
// process's durable publishers have just flushed), not for what remote
// agents keep storing, which waits in the stream for the next start.
func (rt *Runtime) markDrainTargets() {
	if rt.bus.js == nil {
		return // no durable subscription has connected it
	}
	for _, r := range rt.runners {
		for _, s := range r.subs {
			if !s.durable {
				continue
			}
			if si, err := rt.bus.js.StreamInfo(s.stream); err == nil {
				s.drainTo.Store(si.State.LastSeq)
			}
		}
	}
}

func (rt *Runtime) idle() bool {
	for _, r := range rt.runners {
		for _, s := range r.subs {
			if !s.idle() {
				return false
			}
		}
	}
	return true
}

func (rt *Runtime) publishersEmpty() bool {
	for _, r := range rt.runners {
		if !r.pub.empty() || !r.dead.empty() {
			return false
		}
	}
	return true
}

// drain delivers everything in flight, gives filters their final tick, then
// closes the subscriptions upstream first, each after its last message has
// been handled, and finally closes every plugin.
func (rt *Runtime) drain() error {
	rt.draining.Store(true)
	var errs []error
	if err := rt.quiesce(); err != nil {
		errs = append(errs, err)
	}
	order := rt.flowOrder()
	for _, r := range order {
		if r.ticker != nil {
			r.tick(true)
			if err := rt.quiesce(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// A remote publisher may still be sending: NATS's Drain stops the flow
	// and hands over what had already arrived, which Unsubscribe would
	// discard. Upstream first, so that what a filter emits while draining
	// still finds its subscribers.
	for _, r := range order {
		for _, s := range r.subs {
			if err := s.sub.Drain(); err != nil {
				errs = append(errs, fmt.Errorf("%s: drain %s: %w", r.cfg.ID(), s.pattern, err))
			}
		}
		deadline := time.Now().Add(drainRetryGrace + 5*time.Second)
		for _, s := range r.subs {
			for s.sub.IsValid() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		r.mu.Lock()
		r.nakHeld()
		r.mu.Unlock()
		if err := rt.quiesce(); err != nil {
			errs = append(errs, err)
		}
	}
	// Every batch NATS gave this connection must have reached a handler.
	var handled uint64
	for _, r := range rt.runners {
		for _, s := range r.subs {
			if !s.durable { // durable batches come on the JetStream connection
				handled += s.handled.Load()
			}
		}
	}
	received := rt.bus.Conn.Stats().InMsgs
	rt.closeAll()
	for _, r := range rt.runners {
		s := r.stats.Snapshot()
		r.log.Info("stopped", "in", s.In, "out", s.Out, "dropped", s.Dropped, "errors", s.Errors, "duplicates", s.Duplicates)
	}
	rt.log.Info("nats stopped", "received_batches", received, "handled_batches", handled, "published_batches", rt.published.Load())
	if received != handled {
		errs = append(errs, fmt.Errorf("nats: %d batches received but %d handled", received, handled))
	}
	return errors.Join(errs...)
}

// flowOrder sorts the runners so that each comes before the ones that
// subscribe to what it publishes (inputs first, outputs last). Runners in a
// cycle keep their config order.
func (rt *Runtime) flowOrder() []*runner {
	feeds := func(a, b *runner) bool {
		for _, p := range []*publisher{a.pub, a.dead} {
			if p == nil || a == b {
				continue
			}
			for _, s := range b.subs {
				if SubjectMatches(s.pattern, p.subject) {
					return true
				}
			}
		}
		return false
	}
	indegree := map[*runner]int{}
	for _, a := range rt.runners {
		for _, b := range rt.runners {
			if feeds(a, b) {
				indegree[b]++
			}
		}
	}
	var order []*runner
	done := map[*runner]bool{}
	for len(order) < len(rt.runners) {
		progressed := false
		for _, r := range rt.runners {
			if done[r] || indegree[r] > 0 {
				continue
			}
			done[r], progressed = true, true
			order = append(order, r)
			for _, b := range rt.runners {
				if feeds(r, b) {
					indegree[b]--
				}
			}
		}
		if !progressed { // a cycle: take the first remaining in config order
			for _, r := range rt.runners {
				if !done[r] {
					indegree[r] = 0
					break
				}
			}
		}
	}
	return order
}

// closeAll flushes and closes plugins, the admin server and the bus. It is
// safe on a partly started runtime.
func (rt *Runtime) closeAll() {
	for _, r := range rt.runners {
		r.mu.Lock()
		if f, ok := r.cfg.Plugin.(Flusher); ok && r.output != nil {
			if err := f.Flush(); err != nil {
				r.stats.Errors.Add(1)
				r.log.Error("flush at close failed", "err", err)
			}
		}
		for _, s := range r.subs {
			s.origins.close()
		}
		if c, ok := r.cfg.Plugin.(Closer); ok {
			if err := c.Close(); err != nil {
				r.log.Error("close failed", "err", err)
			}
		}
		if c, ok := r.decoder.(Closer); ok {
			if err := c.Close(); err != nil {
				r.log.Error("decoder close failed", "err", err)
			}
		}
		r.closed = true
		r.pub.stop()
		r.dead.stop()
		if r.state.Load() != "failed" {
			r.state.Store("stopped")
		}
		r.mu.Unlock()
	}
	if rt.admin != nil {
		rt.admin.close()
	}
	if rt.bus != nil {
		rt.bus.Close()
	}
}

// NATSStats is what this process's NATS connection has carried.
type NATSStats struct {
	InMsgs, OutMsgs, InBytes, OutBytes, Reconnects uint64
	PublishedBatches                               uint64
}

// NATSStats reports the bus connection's counters.
func (rt *Runtime) NATSStats() NATSStats {
	st := rt.bus.Conn.Stats()
	return NATSStats{InMsgs: st.InMsgs, OutMsgs: st.OutMsgs, InBytes: st.InBytes, OutBytes: st.OutBytes,
		Reconnects: st.Reconnects, PublishedBatches: rt.published.Load()}
}

// ReloadResult is the outcome of reloading one plugin.
type ReloadResult struct {
	Plugin  string `json:"plugin"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Warning string `json:"warning,omitempty"` // what the reload did not apply
}

// Reload reloads every plugin that can (name == "") or the one named (by its
// name, or its ID such as "filters.lua[cpu]"). A plugin whose new version
// fails keeps running its old one; its result says why. The error is for a
// name that matches no reloadable plugin.
//
// A pipeline loaded from files (LoadConfig) is loaded again first, so that
// a plugin that takes a new version of its table (Reconfigurer) gets it: a
// Lua filter's config, script and limits. When the files no longer load,
// the plugins reload from their files with the tables they have (a script
// that does not compile fails there too), and each result's Warning says
// why the tables were not read. The runtime's own keys of a plugin
// (subscribe, publish, matcher...), plugins added or removed and
// [agent]/[nats] are not applied: the result says so in Warning.
func (rt *Runtime) Reload(name string) ([]ReloadResult, error) {
	var next *Config
	var notLoaded string
	if rt.cfg.Path != "" {
		var err error
		if next, err = LoadConfig(rt.cfg.Path); err != nil {
			notLoaded = "the config does not load, so the plugins' tables were not reloaded: " + err.Error()
		}
	}
	var results []ReloadResult
	for _, r := range rt.runners {
		if name != "" && name != r.cfg.Name && name != r.cfg.ID() {
			continue
		}
		// The plugin, and its decoder (a Lua decoder's script).
		for i, p := range []any{r.cfg.Plugin, r.decoder} {
			rl, ok := p.(Reloader)
			if !ok {
				continue
			}
			res := ReloadResult{Plugin: r.cfg.ID(), OK: true}
			if i == 1 {
				res.Plugin += " decoder " + r.cfg.Decoder
			}
			var err error
			np := next.plugin(r.cfg)
			rc, ok := p.(Reconfigurer)
			switch {
			case ok && i == 0 && np != nil:
				res.Warning = r.cfg.sharedDiff(np)
				err = rc.Reconfigure(np.Plugin)
			case ok && i == 0:
				res.Warning = notLoaded
				err = rl.Reload()
			default:
				err = rl.Reload()
			}
			if err != nil {
				res.OK, res.Error = false, err.Error()
				r.stats.Errors.Add(1)
				r.log.Error("reload failed; the previous version keeps running", "what", res.Plugin, "err", err)
			} else {
				r.log.Info("reloaded", "what", res.Plugin)
			}
			if res.Warning != "" {
				r.log.Warn("reload: not applied until a restart", "what", res.Plugin, "changed", res.Warning)
			}
			results = append(results, res)
		}
	}
	if len(results) == 0 && name != "" {
		return nil, fmt.Errorf("no reloadable plugin named %q", name)
	}
	return results, nil
}

// plugin returns the plugin of cfg with pc's kind, type and name, or nil.
func (cfg *Config) plugin(pc *PluginConfig) *PluginConfig {
	if cfg == nil {
		return nil
	}
	for _, p := range cfg.Plugins {
		if p.Kind == pc.Kind && p.Type == pc.Type && p.Name == pc.Name {
			return p
		}
	}
	return nil
}

// sharedDiff names the runtime's own keys that differ between pc and next,
// which a reload of the plugin does not apply ("" when none does).
func (pc *PluginConfig) sharedDiff(next *PluginConfig) string {
	var keys []string
	differs := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, key)
		}
	}
	differs("publish", pc.Publish, next.Publish)
	differs("subscribe", pc.Subscribe, next.Subscribe)
	differs("queue", pc.Queue, next.Queue)
	differs("ticker_interval", pc.TickerInterval, next.TickerInterval)
	differs("dead_letter", pc.DeadLetter, next.DeadLetter)
	differs("durable", pc.Durable, next.Durable)
	differs("matcher", matcherText(pc.Matcher), matcherText(next.Matcher))
	if len(keys) == 0 {
		return ""
	}
	return strings.Join(keys, ", ") + " changed: applied at the next start"
}

func matcherText(m MessageMatcher) string {
	if m == nil {
		return ""
	}
	return m.String()
}

// onAsyncError counts what NATS drops when a remote publisher outruns a
// subscription (a slow consumer); nothing else can lose messages silently.
func (rt *Runtime) onAsyncError(sub *nats.Subscription, err error) {
	for _, r := range rt.runners {
		for _, s := range r.subs {
			if s.sub == sub {
				r.stats.Errors.Add(1)
				r.warnf("nats subscription error", "subject", s.pattern, "err", err)
				return
			}
		}
	}
	rt.log.Warn("nats error", "err", err)
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
type publisher struct {
	r       *runner
	subject string
	max     int
	linger  time.Duration

	mu      sync.Mutex
	enc     BatchEncoder
	timer   *time.Timer
	armed   bool
	stopped bool
	local   []*subscription // this process's subscribers of subject, other than r
	durable bool            // publish to the stream and wait for its ack
	first   UUID            // of the batch's first message: the batch id
	rid     int             // replay mode: the publisher's number
	rfirst  uint64          // replay mode: the sequence number of the batch's first message
	lost    error           // durable: the first batch the stream never stored
	retry   drainRetry      // durable, draining: when retries of a failing store stop

	pool sync.Pool // scratch messages for EmitLine
}

func newPublisher(r *runner, subject string) *publisher {
	p := &publisher{r: r, subject: subject, max: r.rt.cfg.Nats.BatchBytes, linger: time.Duration(r.rt.cfg.Nats.BatchLinger)}
	p.timer = time.AfterFunc(time.Hour, func() {
		p.mu.Lock()
		p.armed = false
		p.flushLocked()
		p.mu.Unlock()
	})
	p.timer.Stop()
	p.pool.New = func() any { return new(Message) }
	if rs := r.rt.replay; rs != nil {
		p.rid = rs.addPublisher(r)
	}
	return p
}

func (p *publisher) findLocalSubscribers() {
	for _, r := range p.r.rt.runners {
		if r == p.r {
			continue // a plugin that hears itself must not wait for itself
		}
		for _, s := range r.subs {
			if SubjectMatches(s.pattern, p.subject) {
				p.local = append(p.local, s)
			}
		}
	}
}

// noEmitter rejects emits from a plugin without a publish subject.
type noEmitter struct{}

func (noEmitter) Emit(*Message) error {
	return errors.New("this plugin has no publish subject: set publish = \"...\"")
}

func (p *publisher) orNone() Emitter {
	if p == nil {
		return noEmitter{}
	}
	return p
}

// Emit stamps missing headers and adds m to the batch.
func (p *publisher) Emit(m *Message) error {
	r := p.r
	if r.rt.replay != nil {
		if m.Timestamp == 0 {
			m.Timestamp = r.rp.now // the data's time, not the wall clock
		}
		// The UUID is made under p.mu, from the replay's sequence.
	} else if m.Timestamp == 0 || m.UUID == (UUID{}) {
		now := time.Now()
		if m.Timestamp == 0 {
			m.Timestamp = now.UnixNano()
		}
		if m.UUID == (UUID{}) {
			m.UUID = NewUUID(now)
		}
	}
	if m.Hostname == "" {
		// Made here: this host, this process. A message that names another
		// host (a syslog line relayed) keeps its Pid, even an unknown one.
		m.Hostname = r.rt.cfg.Agent.Name
		if m.Pid == 0 {
			m.Pid = r.rt.pid
		}
	}
	if m.Logger == "" {
		m.Logger = r.cfg.Name
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		r.stats.Dropped.Add(1)
		return errors.New("pipeline stopped")
	}
	if r.rt.replay != nil {
		p.markReplay(m)
	}
	if p.enc.Len() == 0 {
		p.first = m.UUID
	}
	p.enc.Add(m)
	if p.enc.Size() >= p.max {
		p.flushLocked()
	} else if !p.armed {
		p.armed = true
		p.timer.Reset(p.linger)
	}
	p.mu.Unlock()
	r.stats.Out.Add(1)
	return nil
}

func (p *publisher) flush() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.flushLocked()
	p.mu.Unlock()
}

func (p *publisher) empty() bool {
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.enc.Len() == 0
}

func (p *publisher) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.stopped = true
	p.timer.Stop()
	p.mu.Unlock()
}

// backpressureWait bounds how long a publisher waits for a stuck local
// subscriber; past it, the batch is queued anyway (memory, not loss).
const backpressureWait = 10 * time.Second

// flushLocked publishes the batch being filled. The error says that it was
// dropped; a durable batch the stream never stored is also kept in p.lost,
// so that no later flush reports the lines before it as delivered.
func (p *publisher) flushLocked() error {
	n := p.enc.Len()
	if n == 0 {
		return nil
	}
	rt := p.r.rt
	if p.durable {
		err := p.publishDurable(p.enc.Bytes(), n)
		if err != nil {
			p.r.stats.Dropped.Add(uint64(n))
			p.r.log.Error("durable publish still failing at shutdown, messages dropped", "subject", p.subject, "messages", n, "err", err)
			if p.lost == nil {
				p.lost = fmt.Errorf("durable publish to %s: %w", p.subject, err)
			}
		} else {
			rt.published.Add(1)
		}
		p.enc.Reset()
		return err // the stream's consumers hold back by max ack pending
	}
	var err error
	if rt.replay != nil {
		err = rt.bus.Conn.PublishMsg(p.replayBatch())
	} else {
		err = rt.bus.Conn.Publish(p.subject, p.enc.Bytes())
	}
	if err != nil {
		p.r.stats.Dropped.Add(uint64(n))
		p.r.stats.Errors.Add(1)
		p.r.warnf("publish failed, messages dropped", "subject", p.subject, "messages", n, "err", err)
	} else {
		rt.published.Add(1)
	}
	p.enc.Reset()
	if err != nil {
		return fmt.Errorf("publish to %s: %w", p.subject, err)
	}
	// Backpressure: hold this publisher (and so its input or filter) while a
	// subscriber in this process is too far behind.
	limit := rt.cfg.Nats.MaxPendingBytes
	deadline := time.Time{}
	for _, s := range p.local {
		for {
			_, b, err := s.sub.Pending()
			if err != nil || int64(b) <= limit {
				break
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(backpressureWait)
			} else if time.Now().After(deadline) {
				p.r.warnf("subscriber still behind, publishing anyway", "subject", s.pattern)
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	return nil
}

// lineEmitter is the LineEmitter given to an input.
type lineEmitter struct {
	*publisher
}

var _ FlushingEmitter = lineEmitter{}

// Flush publishes the batch being filled and returns once every line emitted
// before it has left: in durable mode, once the stream acked it. Holding p.mu
// also waits for a batch the linger timer is publishing. A durable batch
// that was dropped fails every later Flush: an input's checkpoint must stay
// before it.
func (e lineEmitter) Flush() error {
	p := e.publisher
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.flushLocked()
	if p.lost != nil {
		return p.lost
	}
	return err
}

// Emit counts a message an input made itself (not from a line) and emits it.
func (e lineEmitter) Emit(m *Message) error {
	e.r.stats.In.Add(1)
	return e.publisher.Emit(m)
}

// EmitLine decodes one line and emits it. The line is copied into the batch
// before EmitLine returns.
func (e lineEmitter) EmitLine(line []byte) error {
	return e.EmitLineAt(line, nil)
}

var _ OriginEmitter = lineEmitter{}

// EmitLineAt is EmitLine for a line whose origin the input knows: its
// message gets the origin's UUID and path tag.
func (e lineEmitter) EmitLineAt(line []byte, at *LineOrigin) error {
	p := e.publisher
	r := p.r
	r.stats.In.Add(1)
	m := p.pool.Get().(*Message)
	defer p.pool.Put(m)
	m.Reset()
	m.Payload = line
	if r.decoder == nil {
		m.Type = "log"
		return p.Emit(at.stamp(m))
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	m.Timestamp = time.Now().UnixNano()
	err := r.decoder.Decode(line, m)
	if err == nil {
		return p.Emit(at.stamp(m))
	}
	if errors.Is(err, ErrSkipLine) {
		return nil
	}
	r.stats.Errors.Add(1)
	r.warnf("line failed to decode", "decoder", r.cfg.Decoder, "err", err)
	if r.dead == nil {
		r.stats.Dropped.Add(1)
		return nil
	}
	m.Reset()
	m.Type = "decode_error"
	m.Payload = line
	m.AddString("error", err.Error())
	m.AddString("decoder", r.cfg.Decoder)
	return r.dead.Emit(at.stamp(m))
}

// stamp gives m the UUID and path tag of its origin, if it has one.
func (at *LineOrigin) stamp(m *Message) *Message {
	if at == nil {
		return m
	}
	m.UUID = OriginUUID(at.Source, at.Offset)
	if at.PathField != "" && m.Field(at.PathField) == nil {
		m.Fields = append(m.Fields, Field{Name: at.PathField, Kind: KindString, Str: at.Path, Role: RoleTag})
	}
	return m
}
