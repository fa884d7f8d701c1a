// Package lua is the filters.lua plugin: a sandboxed Lua script (Heka's API)
// that can be edited while the pipeline runs.
//
// Reload: when the script or a Lua module it required changes on disk, on
// SIGHUP and on POST /api/reload, a new sandbox is built from the files and
// initialised first; only if that works is it swapped in, between two
// messages, under the same lock that process_message runs under, so no
// message is lost, none is handled twice and none by both versions. With
// preserve_data the old version's global data is carried into the new one
// (and saved under data_dir at shutdown, restored at start).
//
// A script that breaks a limit is terminated: counted, logged, reported in
// /api/plugins and announced with a "sandbox.terminated" message on the
// plugin's publish subject. The message it was handling goes to the
// filter's dead_letter subject. It is restarted after a backoff; messages
// that arrive meanwhile wait for it (the publishers above hold back). More
// than max_restarts terminations within restart_window stop it until it is
// reloaded: from then on every message goes to dead_letter (or is counted
// as dropped without one).
package lua

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/interoceptor/interoceptor/internal/filewatch"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/sandbox"
	_ "github.com/interoceptor/interoceptor/sandbox/modules/all" // change, circular_buffer, json
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindFilter,
		Type:        "lua",
		Description: "runs a sandboxed Lua script (Heka's API); reloads it when it changes",
		Sample:      sample,
		New:         func() any { return New() },
	})
}

// New returns the plugin with its defaults.
func New() *Lua {
	return &Lua{
		MemoryLimit:    sandbox.DefaultMemoryBytes,
		TimeLimit:      pipeline.Duration(sandbox.DefaultCallTime),
		OutputLimit:    sandbox.DefaultOutputBytes,
		InjectLimit:    sandbox.DefaultInjectsPerCall,
		MaxRestarts:    3,
		RestartWindow:  pipeline.Duration(10 * time.Minute),
		RestartBackoff: pipeline.Duration(time.Second),
		Watch:          true,
	}
}

var (
	_ pipeline.Filter          = (*Lua)(nil)
	_ pipeline.BatchFilter     = (*Lua)(nil)
	_ pipeline.Ticker          = (*Lua)(nil)
	_ pipeline.Reloader        = (*Lua)(nil)
	_ pipeline.Reconfigurer    = (*Lua)(nil)
	_ pipeline.StatusReporter  = (*Lua)(nil)
	_ pipeline.GaugeReporter   = (*Lua)(nil)
	_ pipeline.CounterReporter = (*Lua)(nil)
)

// Lua is the filters.lua plugin.
type Lua struct {
	Script         string            `toml:"script" path:"true"`
	Config         map[string]any    `toml:"config"`
	PreserveData   bool              `toml:"preserve_data"`
	ModulePath     []string          `toml:"module_path" path:"true"`
	MemoryLimit    int64             `toml:"memory_limit"`
	TimeLimit      pipeline.Duration `toml:"time_limit"`
	OutputLimit    int               `toml:"output_limit"`
	InjectLimit    int               `toml:"inject_limit"`
	MaxRestarts    int               `toml:"max_restarts"`
	RestartWindow  pipeline.Duration `toml:"restart_window"`
	RestartBackoff pipeline.Duration `toml:"restart_backoff"`
	Watch          bool              `toml:"watch"`

	env *pipeline.Env
	log *slog.Logger

	reloadMu      sync.Mutex // serialises reloads; the settings change under it and mu
	mu            sync.Mutex // held while the script runs and while it is swapped
	sb            *sandbox.Sandbox
	out           pipeline.Emitter // the emitter of the call in progress
	results       []sandbox.Result // ProcessBatch's, reused
	version       int              // 1 for the first script, +1 per successful reload
	loadedAt      time.Time
	reloadErr     string
	terminated    *sandbox.TerminatedError
	terminateAt   time.Time
	recent        []time.Time // terminations within restart_window
	restarts      int         // restarts since the script was loaded
	restartAt     time.Time   // when the next restart is due; zero when none is
	gaveUp        bool        // max_restarts reached: stopped until a reload
	wake          chan struct{}
	printsDropped uint64 // by the sandboxes retired so far
	digest        string // of the running sandbox's files, as they were when it was built

	watcher *filewatch.Watcher
}

func (p *Lua) limits() sandbox.Limits {
	return sandbox.Limits{MemoryBytes: p.MemoryLimit, CallTime: time.Duration(p.TimeLimit),
		OutputBytes: p.OutputLimit, InjectsPerCall: p.InjectLimit}
}

// Validate checks the keys and compiles the script, so that `check` reports
// a script that does not compile, with its line.
func (p *Lua) Validate() error {
	errs := []error{
		sandbox.MemoryBytesRange.Check("memory_limit", p.MemoryLimit),
		sandbox.CallTimeRange.Check("time_limit", time.Duration(p.TimeLimit)),
		sandbox.OutputBytesRange.Check("output_limit", int64(p.OutputLimit)),
		sandbox.InjectsPerCallRange.Check("inject_limit", int64(p.InjectLimit)),
		maxRestartsRange.Check("max_restarts", int64(p.MaxRestarts)),
		restartWindowRange.Check("restart_window", time.Duration(p.RestartWindow)),
		restartBackoffRange.Check("restart_backoff", time.Duration(p.RestartBackoff)),
	}
	if p.Script == "" {
		errs = append(errs, pipeline.MissingKey("script"))
	}
	if err := errors.Join(errs...); err != nil {
		return err // the script is tried within valid limits only
	}
	if _, err := os.Stat(p.Script); err != nil {
		return pipeline.InvalidKey("script", "%v", err)
	}
	sb, err := p.build(slog.New(slog.DiscardHandler), func(*pipeline.Message) error { return nil })
	if err != nil {
		return pipeline.InvalidKey("script", "%v", err)
	}
	sb.Close()
	return nil
}

// The ranges of the restart keys: restart_backoff is the first wait after
// a termination (doubled up to maxBackoff, or itself when longer); terminations older than
// restart_window are forgiven.
var (
	maxRestartsRange    = pipeline.CountRange{Min: 0, Max: 1000}
	restartWindowRange  = pipeline.DurationRange{Min: time.Second, Max: 24 * time.Hour}
	restartBackoffRange = pipeline.DurationRange{Min: 10 * time.Millisecond, Max: time.Hour}
)

// errNoProcessMessage is what build returns for a script that a filter
// cannot run: every message would fail.
var errNoProcessMessage = errors.New("the script defines no process_message function, which a filter calls for every message")

// build makes a sandbox from the files as they are now.
func (p *Lua) build(log *slog.Logger, inject func(*pipeline.Message) error) (*sandbox.Sandbox, error) {
	return p.buildFrom(p, log, inject)
}

// buildFrom makes a sandbox of plugin p with the script, config and limits
// of s: p's own, or a new version of its table (Reconfigure).
func (p *Lua) buildFrom(s *Lua, log *slog.Logger, inject func(*pipeline.Message) error) (*sandbox.Sandbox, error) {
	sb, err := sandbox.New(sandbox.Options{
		Name: p.name(), Script: s.Script, Config: s.Config, ModulePath: sandbox.ModulePathOr(s.ModulePath, s.Script),
		Limits: s.limits(), Log: log, Inject: inject, PassOn: p.passOn,
	})
	if err != nil {
		return nil, err
	}
	if !sb.HasProcessMessage() {
		sb.Close()
		return nil, errNoProcessMessage
	}
	return sb, nil
}

func (p *Lua) name() string {
	if p.env == nil {
		return "filters.lua"
	}
	return fmt.Sprintf("filters.lua[%s]", p.env.Name)
}

// inject forwards what the script injects to the emitter of the current call.
func (p *Lua) inject(m *pipeline.Message) error {
	if p.out == nil {
		return errors.New("inject outside process_message or timer_event")
	}
	return p.out.Emit(m)
}

// passOn forwards a message the script passes on with fields appended
// (sandbox.Options.PassOn): without encoding it again when the emitter is
// the runtime's.
func (p *Lua) passOn(base *pipeline.Message, extra []pipeline.Field) error {
	if p.out == nil {
		return errors.New("inject outside process_message or timer_event")
	}
	if x, ok := p.out.(pipeline.Extender); ok {
		return x.EmitExtended(base, extra)
	}
	m := *base
	m.Fields = append(slices.Clip(base.Fields), extra...)
	return p.out.Emit(&m)
}

// Init builds the first sandbox, restores preserved data and starts
// watching the files.
func (p *Lua) Init(env *pipeline.Env) error {
	p.env, p.log = env, env.Log
	p.wake = make(chan struct{}, 1)
	sb, err := p.build(p.log, p.inject)
	if err != nil {
		return err
	}
	p.sb, p.version, p.loadedAt = sb, 1, time.Now()
	p.digest = filesDigest(sb.Files())
	if p.PreserveData {
		p.restoreFromDisk()
	}
	if p.Watch {
		if err := p.watch(); err != nil {
			return fmt.Errorf("watching %s: %w", p.Script, err)
		}
	}
	return nil
}

func (p *Lua) preservePath() string {
	return p.env.DataPath("lua", ".preserve")
}

func (p *Lua) restoreFromDisk() {
	data, err := os.ReadFile(p.preservePath())
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		p.log.Warn("preserved data not read; starting clean", "err", err)
		return
	}
	ok, reason, err := p.sb.Restore(data)
	switch {
	case err != nil:
		p.log.Warn("preserved data not restored; starting clean", "path", p.preservePath(), "err", err)
	case !ok:
		p.log.Info("preserved data not restored; starting clean", "reason", reason)
	default:
		p.log.Info("preserved data restored", "path", p.preservePath())
	}
}

// Process runs process_message on one message. While the script waits for
// its restart, the message waits too; once the script has been stopped for
// good, or when the call was terminated, the message was not processed and
// the runtime sends it to dead_letter.
func (p *Lua) Process(m *pipeline.Message, out pipeline.Emitter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sb == nil {
		if err := p.awaitRestart(out); err != nil {
			return err
		}
	}
	p.out = out
	status, err := p.sb.ProcessMessage(m)
	p.out = nil
	return p.outcome(status, err, out)
}

// KeepsNothing: the sandbox copies what a script reads of a message
// (pipeline.Transient), so messages may alias the batch they came in.
func (*Lua) KeepsNothing() {}

// ProcessBatch is Process for each message of a batch, with the outcome
// of each that Process gives, at less cost: the sandbox runs the batch
// under one watchdog (sandbox.ProcessMessages). A termination ends the
// sandbox's run at that message, which goes to dead_letter; the rest of
// the batch then waits for the restart as one message would.
func (p *Lua) ProcessBatch(msgs []*pipeline.Message, out pipeline.Emitter, failed func(*pipeline.Message, error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(msgs) > 0 {
		if p.sb == nil {
			if err := p.awaitRestart(out); err != nil {
				failed(msgs[0], err)
				msgs = msgs[1:]
				continue
			}
		}
		p.out = out
		results, err := p.sb.ProcessMessages(msgs, p.results[:0])
		p.out = nil
		p.results = results
		if err != nil {
			// The sandbox cannot run at all: what Process says of the
			// first message, then the rest in turn.
			var te *sandbox.TerminatedError
			if errors.As(err, &te) {
				p.terminate(te, out)
				err = pipeline.NotProcessed(err)
			}
			failed(msgs[0], err)
			msgs = msgs[1:]
			continue
		}
		for i, r := range results {
			if err := p.outcome(r.Status, r.Err, out); err != nil {
				failed(msgs[i], err)
			}
		}
		clear(p.results) // no error kept past the batch
		msgs = msgs[len(results):]
	}
}

// outcome is Process's error for what the script made of one message;
// under p.mu.
func (p *Lua) outcome(status int, err error, out pipeline.Emitter) error {
	if err == nil {
		// Before errors.As, whose target escapes: an allocation a message.
		if status < 0 {
			return fmt.Errorf("process_message returned %d", status)
		}
		return nil
	}
	var te *sandbox.TerminatedError
	if errors.As(err, &te) {
		p.terminate(te, out)
		return pipeline.NotProcessed(err)
	}
	return err
}

// errStopped is the error of a message that arrives once the script has
// been stopped for good.
var errStopped = errors.New("the script was stopped after max_restarts terminations within restart_window; reload it to start it again")

// awaitRestart waits, without holding p.mu, until the script has been
// restarted or reloaded; under p.mu. It returns a NotProcessed error when
// the script stays stopped. Once the pipeline drains it restarts at once:
// the backoff guards against a hot loop, not against finishing the work.
func (p *Lua) awaitRestart(out pipeline.Emitter) error {
	for p.sb == nil {
		if p.gaveUp || p.terminated == nil {
			return pipeline.NotProcessed(errStopped)
		}
		if wait := time.Until(p.restartAt); wait > 0 && !p.stopping() {
			p.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-p.wake: // reloaded
			case <-p.stoppingCh():
			}
			t.Stop()
			p.mu.Lock()
			continue
		}
		p.restart(out)
	}
	return nil
}

// stoppingCh is closed once the pipeline begins to stop; nil (never) for
// a plugin used outside a runtime.
func (p *Lua) stoppingCh() <-chan struct{} {
	if p.env.Host == nil {
		return nil
	}
	return p.env.Host.Stopping()
}

func (p *Lua) stopping() bool {
	select {
	case <-p.stoppingCh():
		return true
	default:
		return false
	}
}

// Tick runs timer_event. A stopped script's tick waits for its restart
// like a message does.
func (p *Lua) Tick(now time.Time, _ bool, out pipeline.Emitter) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sb == nil {
		if err := p.awaitRestart(out); err != nil {
			return nil // stopped for good: the termination was reported
		}
	}
	p.out = out
	err := p.sb.TimerEvent(now.UnixNano())
	p.out = nil
	var te *sandbox.TerminatedError
	if errors.As(err, &te) {
		p.terminate(te, out)
	}
	return err
}

// maxBackoff caps the doubling of restart_backoff, however many
// terminations came before (a longer restart_backoff is waited as set).
const maxBackoff = time.Minute

// terminate records a stopped script, announces it and schedules a restart
// unless max_restarts terminations happened within restart_window.
func (p *Lua) terminate(te *sandbox.TerminatedError, out pipeline.Emitter) {
	if p.sb != nil {
		p.retire(p.sb)
		p.sb = nil
	}
	now := time.Now()
	p.terminated, p.terminateAt = te, now
	// Terminations older than the window are forgiven.
	window := time.Duration(p.RestartWindow)
	p.recent = slices.DeleteFunc(p.recent, func(t time.Time) bool { return now.Sub(t) >= window })
	p.recent = append(p.recent, now)
	if len(p.recent) > p.MaxRestarts {
		p.gaveUp = true
		p.restartAt = time.Time{}
		p.log.Error("script terminated; max_restarts reached, it stays stopped until it is reloaded; "+
			"its messages go to dead_letter, or are counted as dropped without one",
			"reason", te.Reason, "err", te.Msg, "max_restarts", p.MaxRestarts, "restart_window", window)
	} else {
		base := time.Duration(p.RestartBackoff)
		backoff := min(base<<min(len(p.recent)-1, 16), max(maxBackoff, base))
		p.restartAt = now.Add(backoff)
		p.log.Error("script terminated; it will be restarted, its messages wait", "reason", te.Reason, "err", te.Msg,
			"in", backoff, "terminations_in_window", len(p.recent), "max_restarts", p.MaxRestarts)
	}
	m := &pipeline.Message{Type: "sandbox.terminated", Severity: 3, Payload: []byte(te.Error())}
	m.AddString("plugin", p.name())
	m.AddString("reason", te.Reason)
	m.AddString("script", p.Script)
	if err := out.Emit(m); err != nil {
		p.log.Warn("sandbox.terminated message not published", "err", err)
	}
}

// restart starts a new sandbox; under p.mu, when a restart is due. A
// script that no longer builds counts as a termination of its own.
func (p *Lua) restart(out pipeline.Emitter) {
	p.restarts++
	sb, err := p.build(p.log, p.inject)
	if err != nil {
		p.terminate(&sandbox.TerminatedError{Name: p.name(), Reason: sandbox.ReasonError, Msg: "restart failed: " + err.Error()}, out)
		return
	}
	p.sb = sb
	p.digest = filesDigest(sb.Files())
	if p.watcher != nil {
		p.watcher.Add(sb.Files())
	}
	p.log.Info("script restarted", "restart", p.restarts)
}

// Reload builds the script as it is on disk now and swaps it in between two
// messages; if it does not build, the running version stays.
func (p *Lua) Reload() error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	return p.swapIn(p)
}

// Reconfigure is Reload with a new version of the plugin's table (the
// runtime loaded the config files again): its script, config, limits and
// restart keys take effect with the new script version; watch takes effect
// at the next start.
func (p *Lua) Reconfigure(next any) error {
	n, ok := next.(*Lua)
	if !ok {
		return fmt.Errorf("filters.lua: a new version of its table must be a *Lua, not %T", next)
	}
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	return p.swapIn(n)
}

// keys are the settings a reload can change.
type keys struct {
	Script                                   string
	Config                                   map[string]any
	PreserveData                             bool
	ModulePath                               []string
	MemoryLimit                              int64
	TimeLimit, RestartWindow, RestartBackoff pipeline.Duration
	OutputLimit, InjectLimit, MaxRestarts    int
}

func (p *Lua) keys() keys {
	return keys{Script: p.Script, Config: p.Config, PreserveData: p.PreserveData, ModulePath: p.ModulePath,
		MemoryLimit: p.MemoryLimit, TimeLimit: p.TimeLimit, RestartWindow: p.RestartWindow, RestartBackoff: p.RestartBackoff,
		OutputLimit: p.OutputLimit, InjectLimit: p.InjectLimit, MaxRestarts: p.MaxRestarts}
}

// filesDigest hashes the paths and contents of files; "" when one cannot
// be read.
func filesDigest(files []string) string {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return ""
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// unchanged reports whether s would build what runs now: the same keys,
// and the script and its modules as they were. A script that was stopped
// or is restarting is built again all the same.
func (p *Lua) unchanged(s *Lua) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sb == nil || p.terminated != nil || p.gaveUp || p.digest == "" {
		return false
	}
	return reflect.DeepEqual(p.keys(), s.keys()) && filesDigest(p.sb.Files()) == p.digest
}

// swapIn builds a sandbox from s's settings and, if it builds, swaps it in
// between two messages, with s's settings; under reloadMu. When nothing
// would change it returns pipeline.ErrUnchanged, and the running version,
// with its state, goes on.
func (p *Lua) swapIn(s *Lua) error {
	if p.unchanged(s) {
		return pipeline.ErrUnchanged
	}
	sb, err := p.buildFrom(s, p.log, p.inject)
	if err != nil {
		p.mu.Lock()
		p.reloadErr = err.Error()
		p.mu.Unlock()
		return err
	}
	p.mu.Lock()
	if s != p {
		p.Script, p.Config, p.PreserveData, p.ModulePath = s.Script, s.Config, s.PreserveData, s.ModulePath
		p.MemoryLimit, p.TimeLimit, p.OutputLimit, p.InjectLimit = s.MemoryLimit, s.TimeLimit, s.OutputLimit, s.InjectLimit
		p.MaxRestarts, p.RestartWindow, p.RestartBackoff = s.MaxRestarts, s.RestartWindow, s.RestartBackoff
	}
	old := p.sb
	if old != nil && p.PreserveData {
		if data, err := old.Preserve(); err != nil {
			p.log.Warn("data not carried into the new version", "err", err)
		} else if ok, reason, err := sb.Restore(data); err != nil || !ok {
			p.log.Info("data not carried into the new version", "reason", reason, "err", err)
		}
	}
	p.sb = sb
	p.digest = filesDigest(sb.Files())
	p.version++
	p.loadedAt = time.Now()
	p.reloadErr = ""
	p.terminated, p.restarts, p.recent, p.gaveUp, p.restartAt = nil, 0, nil, false, time.Time{}
	if old != nil {
		p.retire(old)
	}
	version := p.version
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}: // a message waiting for a restart goes on
	default:
	}
	if p.watcher != nil {
		p.watcher.Add(sb.Files())
	}
	p.log.Info("script reloaded", "version", version)
	return nil
}

// watch reloads the script when it, or a Lua module it required, changes.
func (p *Lua) watch() error {
	w, err := filewatch.Watch(filewatch.Files(p.watchedFiles), reloadDebounce, func() {
		if err := p.Reload(); err != nil && !errors.Is(err, pipeline.ErrUnchanged) {
			p.env.Stats.Errors.Add(1)
			p.log.Error("reload failed; the previous version keeps running", "err", err)
		}
	}, p.log)
	if err != nil {
		return err
	}
	p.watcher = w
	w.Add(p.sb.Files())
	return nil
}

// reloadDebounce lets an editor finish writing before the file is read.
const reloadDebounce = 50 * time.Millisecond

func (p *Lua) watchedFiles() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sb == nil {
		return []string{p.Script}
	}
	return p.sb.Files()
}

// Close stops watching, saves preserved data and closes the sandbox.
func (p *Lua) Close() error {
	if p.watcher != nil {
		p.watcher.Close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sb == nil {
		return nil
	}
	var err error
	if p.PreserveData {
		err = p.saveToDisk()
	}
	p.retire(p.sb)
	p.sb = nil
	return err
}

// retire closes a sandbox the plugin no longer runs, keeping its counts;
// under p.mu.
func (p *Lua) retire(sb *sandbox.Sandbox) {
	p.printsDropped += sb.Usage().PrintsDropped
	sb.Close()
}

func (p *Lua) saveToDisk() error {
	data, err := p.sb.Preserve()
	if err != nil {
		return fmt.Errorf("preserve_data: %w", err)
	}
	return pipeline.WriteFileAtomic(p.preservePath(), data) // a crash mid-write leaves the previous file
}

// Status reports the script's version and health for /api/plugins.
func (p *Lua) Status() map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := map[string]any{
		"script":         p.Script,
		"version":        p.version,
		"loaded_at":      p.loadedAt.UTC().Format(time.RFC3339Nano),
		"restarts":       p.restarts,
		"running":        p.sb != nil,
		"state":          p.state(),
		"prints_dropped": p.printsDropped,
	}
	if p.sb != nil {
		st["prints_dropped"] = p.printsDropped + p.sb.Usage().PrintsDropped
	}
	if !p.restartAt.IsZero() {
		st["restart_at"] = p.restartAt.UTC().Format(time.RFC3339Nano)
	}
	if p.reloadErr != "" {
		st["last_reload_error"] = p.reloadErr
	}
	if p.terminated != nil {
		st["terminated"] = map[string]any{"reason": p.terminated.Reason, "error": p.terminated.Msg,
			"at": p.terminateAt.UTC().Format(time.RFC3339Nano)}
	}
	if p.sb != nil {
		u := p.sb.Usage()
		st["memory_bytes"], st["max_memory_bytes"] = u.MemoryBytes, u.MaxMemoryBytes
	}
	return st
}

// state is what /api/plugins shows as the plugin's state; under p.mu.
func (p *Lua) state() string {
	switch {
	case p.sb != nil:
		return "running"
	case p.gaveUp:
		return "stopped"
	case p.terminated != nil:
		return "restarting"
	}
	return "stopped" // closed
}

// Gauges reports Lua memory and time for /metrics.
func (p *Lua) Gauges() map[string]float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := map[string]float64{"lua_version": float64(p.version), "lua_restarts": float64(p.restarts), "lua_running": 0}
	if p.sb != nil {
		u := p.sb.Usage()
		g["lua_running"] = 1
		g["lua_memory_bytes"] = float64(u.MemoryBytes)
		g["lua_memory_max_bytes"] = float64(u.MaxMemoryBytes)
		g["lua_calls"] = float64(u.Calls)
		g["lua_call_seconds"] = u.CallTime.Seconds()
		g["lua_call_max_seconds"] = u.MaxCallTime.Seconds()
	}
	return g
}

// IsCounter reports which of the Gauges keys only grow: restarts, calls
// and the time spent in them (pipeline.CounterReporter).
func (p *Lua) IsCounter(key string) bool {
	return key == "lua_restarts" || key == "lua_calls" || key == "lua_call_seconds"
}
