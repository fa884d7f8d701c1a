package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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

	// mu guards runners, which a reload replaces (never changes in place)
	// while the admin API and NATS callbacks read it.
	mu sync.RWMutex
	// reloadMu serialises reloads with Run's start and stop.
	reloadMu       sync.Mutex
	runCtx         context.Context // set by Run: the tickers' parent
	inputCtx       context.Context // set by Run: the inputs' parent
	live           liveInputs      // inputs running that were not stopped
	inputsFinished chan struct{}   // signalled when the last live input finished on its own
	retiredHandled atomic.Uint64   // batches handled by the subscriptions of runners a reload stopped
}

// list returns the runners, in config order.
func (rt *Runtime) list() []*runner {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	return rt.runners
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
	applyMemoryLimit(cfg.Agent.MemoryLimit)
	rt := &Runtime{cfg: cfg, log: log, redact: red, started: time.Now(), pid: int32(os.Getpid()), stopping: make(chan struct{}), inputsFinished: make(chan struct{}, 1),
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
		r := newRunner(rt, pc, nil)
		rt.runners = append(rt.runners, r)
		if err := r.init(true); err != nil {
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
	rt.keepByInterest(rt.runners)
	if err := rt.bus.Conn.Flush(); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	for _, r := range rt.runners {
		r.pub.findLocal()
		r.dead.findLocal()
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
	return rt.admin.url()
}

// Plugin returns a plugin instance by kind and name, for tests and tools
// that need, say, an input's bound address.
func (rt *Runtime) Plugin(kind Kind, name string) any {
	for _, r := range rt.list() {
		if r.cfg.Kind == kind && r.cfg.Name == name {
			return r.cfg.Plugin
		}
	}
	return nil
}

// Run runs the pipeline until ctx ends or every input has finished, then
// drains and closes it. It returns nil after a clean drain. A reload may
// add, replace and remove runners meanwhile (see Reload).
func (rt *Runtime) Run(ctx context.Context) error {
	inputCtx, stopInputs := context.WithCancel(ctx)
	defer stopInputs()
	rt.reloadMu.Lock()
	rt.inputCtx = inputCtx
	rt.runCtx = ctx
	// One more live input while they start: an input that finishes at
	// once (a generator with a count) is then not taken for the last
	// before those after it in the list have started.
	release := rt.holdLive()
	for _, r := range rt.list() {
		if !r.failed() {
			rt.startRunner(r)
		}
	}
	release()
	rt.reloadMu.Unlock()
	if rt.cfg.Agent.WatchConfig && rt.cfg.Path != "" {
		w, err := rt.watchConfig()
		if err != nil {
			rt.log.Error("agent.watch_config: cannot watch the config; reload it with SIGHUP", "path", rt.cfg.Path, "err", err)
		} else {
			defer w.Close()
		}
	}

	select {
	case <-ctx.Done():
	case <-rt.inputsFinished: // never, in a pipeline without inputs
		rt.log.Info("all inputs finished; draining")
	}
	// From here on a reload is refused: the runners are final (a reload
	// the watcher starts now is refused too).
	rt.reloadMu.Lock()
	rt.stopOnce.Do(func() { close(rt.stopping) })
	rt.reloadMu.Unlock()
	stopInputs()
	for _, r := range rt.list() {
		r.stopRunning()
	}
	return rt.drain()
}

// startRunner marks r running and starts its ticker and, for an input, its
// Run; under reloadMu, once Run has begun.
func (rt *Runtime) startRunner(r *runner) {
	r.state.Store("running")
	if r.ticker != nil && r.cfg.TickerInterval > 0 {
		ctx, cancel := context.WithCancel(rt.runCtx)
		done := make(chan struct{})
		r.stopTicker = func() { cancel(); <-done }
		go func() {
			defer close(done)
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
	if r.input == nil {
		return
	}
	ctx, cancel := context.WithCancel(rt.inputCtx)
	r.stopInput, r.inputDone = cancel, make(chan struct{})
	rt.live.add()
	go func() {
		defer close(r.inputDone)
		err := r.input.Run(ctx, lineEmitter{r.pub})
		r.pub.flush()
		if ctx.Err() == nil && r.leaveLive(true) {
			// The last live input finished on its own (a file read
			// once), or failed.
			rt.signalInputsFinished()
		}
		if err != nil && ctx.Err() == nil {
			r.stats.Errors.Add(1)
			r.state.Store("failed")
			r.log.Error("input stopped", "err", err)
			return
		}
		r.state.Store("stopped")
		r.log.Debug("input finished")
	}()
}

// liveInputs counts the inputs running that were not stopped. The
// pipeline ends when the last one finishes on its own (not when one is
// stopped by a reload). While Run starts the runners, and while a reload
// stops and starts them, a hold keeps an input that finishes meanwhile (a
// generator with a count, just started; an old input while the new ones
// are not started yet) from being taken for the last: its end counts once
// the hold is released, if no input started after it. A mutex, not
// atomics: inputs start and end seldom, and the three counts must change
// together.
type liveInputs struct {
	mu     sync.Mutex
	inputs int  // running, not stopped
	holds  int  // not released
	ended  bool // the last input finished on its own during a hold
}

func (l *liveInputs) add() {
	l.mu.Lock()
	l.inputs++
	l.ended = false // what ended before is not the last any more
	l.mu.Unlock()
}

// leave counts an input out; own says that it finished on its own. It
// reports whether that was the end of the last input, with no hold.
func (l *liveInputs) leave(own bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inputs--
	if l.inputs > 0 || !own {
		return false
	}
	if l.holds > 0 {
		l.ended = true
		return false
	}
	return true
}

func (l *liveInputs) hold() {
	l.mu.Lock()
	l.holds++
	l.mu.Unlock()
}

// release ends a hold; it reports whether the last input finished on its
// own during it, with none started after.
func (l *liveInputs) release() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holds--
	if l.holds > 0 {
		return false
	}
	ended := l.ended && l.inputs == 0
	l.ended = false
	return ended
}

// holdLive holds the live inputs (see liveInputs) until the function it
// returns is called, which tells Run when every input has finished
// meanwhile.
func (rt *Runtime) holdLive() (release func()) {
	rt.live.hold()
	return func() {
		if rt.live.release() {
			rt.signalInputsFinished()
		}
	}
}

// signalInputsFinished tells Run that every input has finished.
func (rt *Runtime) signalInputsFinished() {
	select {
	case rt.inputsFinished <- struct{}{}:
	default:
	}
}

// leaveLive counts r out of the live inputs, once; own says that it
// finished on its own. It reports whether r was the last (liveInputs.leave).
func (r *runner) leaveLive(own bool) bool {
	if !r.left.CompareAndSwap(false, true) {
		return false
	}
	return r.rt.live.leave(own)
}

// stopRunning stops r's input and ticker and waits for both: the input's
// Run has returned and its last lines are published; no tick is running.
func (r *runner) stopRunning() {
	if r.stopInput != nil {
		r.leaveLive(false) // stopped, not finished: no signal
		r.stopInput()
		<-r.inputDone
	}
	if r.stopTicker != nil {
		r.stopTicker()
		r.stopTicker = nil
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

// JetStream returns a JetStream context on the bus (see Host).
func (rt *Runtime) JetStream() (nats.JetStreamContext, error) { return rt.bus.JetStream() }

func (rt *Runtime) onAsyncError(sub *nats.Subscription, err error) {
	for _, r := range rt.list() {
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
