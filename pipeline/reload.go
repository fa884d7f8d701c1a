package pipeline

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// A reload of the whole configuration, as Caddy does it: the new files are
// loaded and checked in full, every plugin the new config adds or changes
// is built and initialised beside the running ones, and only then is the
// difference applied; if anything fails before that, the running pipeline
// goes on untouched.
//
// Plugins are matched by identity: kind, type and name. For each one:
//
//   - same table: the runner keeps running untouched (a tcp input keeps its
//     connections); a plugin with a script reloads it if it changed;
//   - only the plugin's own keys changed and it can take them
//     (Reconfigurer, a Lua filter): it takes them in place, keeping its
//     state when it asks to (preserve_data);
//   - otherwise a new runner replaces the old one. A filter or output whose
//     own keys did not change (a new matcher, subscribe or publish) keeps
//     its instance, and so its state, in the new runner; any other gets a
//     new instance. Counters go on across the change.
//   - removed: drained and closed; added: started.
//
// Applying the difference loses and duplicates nothing that flows inside
// the process: every publisher holds its batches (paused) while the
// subscriptions change; an input that goes is stopped after its successor
// was bound, so that nothing is refused; a filter or output that goes
// handles everything it was sent (its subscriptions drained) before its
// successor takes its first message (ready) and before the publishers
// resume. A durable subscription's successor binds the same consumer after
// the old one has let go, so the stream hands it the rest. Messages from
// other processes on a subject whose subscriber is replaced may arrive
// twice during the swap (both subscriptions hear them for a moment); use
// durable = true where that matters.

// ReloadResult is the outcome of a reload for one plugin.
type ReloadResult struct {
	Plugin string `json:"plugin"`
	// Action is what the reload did: added, removed, replaced,
	// reconfigured (took its new table in place), reloaded (its script),
	// or unchanged.
	Action  string `json:"action,omitempty"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Warning string `json:"warning,omitempty"` // what the reload did not apply
}

// The actions of ReloadResult.
const (
	ActionAdded        = "added"
	ActionRemoved      = "removed"
	ActionReplaced     = "replaced"
	ActionReconfigured = "reconfigured"
	ActionReloaded     = "reloaded"
	ActionUnchanged    = "unchanged"
)

// ErrUnchanged is what a Reloader or Reconfigurer returns when there was
// nothing new to load (its script and table are as they were): the runtime
// reports the plugin as unchanged rather than reloaded.
var ErrUnchanged = errors.New("nothing changed")

// ReloadRefusedError is the error of a reload that changed nothing: the new
// files do not load, they change what only a restart applies, or a plugin
// the new config needs cannot be built. The running pipeline goes on.
type ReloadRefusedError struct {
	Reason string
	Err    error // the config's errors (errors.Join of *ConfigError), or nil
}

func (e *ReloadRefusedError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ":\n" + e.Err.Error()
}

func (e *ReloadRefusedError) Unwrap() error { return e.Err }

// Reload reloads a running pipeline. With name == "" and a pipeline loaded
// from files (LoadConfig) it loads the files again and applies the whole
// new configuration (see the top of reload.go); the results say what
// became of each plugin, and a *ReloadRefusedError that nothing changed.
//
// With a name (the plugin's name, or its ID such as "filters.lua[cpu]"), or
// for a pipeline not loaded from files, it reloads the plugins that can
// (Reloader, and Reconfigurer with their new table), keeping everything
// else as it runs; the error is for a name that matches no such plugin.
// A plugin whose new version fails keeps running its old one; its result
// says why.
func (rt *Runtime) Reload(name string) ([]ReloadResult, error) {
	if name == "" && rt.cfg.Path != "" {
		return rt.reloadConfig()
	}
	return rt.reloadPlugins(name)
}

// reloadPlugins reloads the scripts (and, when the files load, the own
// tables) of the plugins named, or of all.
func (rt *Runtime) reloadPlugins(name string) ([]ReloadResult, error) {
	var next *Config
	var notLoaded string
	if rt.cfg.Path != "" {
		var err error
		if next, err = LoadConfig(rt.cfg.Path); err != nil {
			notLoaded = "the config does not load, so the plugins' tables were not reloaded: " + err.Error()
		}
	}
	var results []ReloadResult
	for _, r := range rt.list() {
		if name != "" && name != r.cfg.Name && name != r.cfg.ID() {
			continue
		}
		np := next.plugin(r.cfg)
		warning := notLoaded
		if np != nil {
			warning = r.cfg.sharedDiff(np)
		}
		results = append(results, r.reloadScripts(np, warning)...)
	}
	if len(results) == 0 && name != "" {
		return nil, fmt.Errorf("no reloadable plugin named %q", name)
	}
	return results, nil
}

// reloadScripts reloads r's plugin and its decoder, where they can: the
// plugin with np's table when np is not nil and it takes one. warning goes
// into the plugin's result.
func (r *runner) reloadScripts(np *PluginConfig, warning string) []ReloadResult {
	var results []ReloadResult
	for i, p := range []any{r.cfg.Plugin, r.decoder} {
		rl, ok := p.(Reloader)
		if !ok {
			continue
		}
		res := ReloadResult{Plugin: r.cfg.ID(), Action: ActionReloaded, OK: true}
		if i == 1 {
			res.Plugin += " decoder " + r.cfg.Decoder
		} else {
			res.Warning = warning
		}
		var err error
		if rc, ok := p.(Reconfigurer); ok && i == 0 && np != nil {
			err = rc.Reconfigure(np.Plugin)
		} else {
			err = rl.Reload()
		}
		r.logReload(&res, err)
		results = append(results, res)
	}
	return results
}

// logReload records err (from Reload or Reconfigure) in res, counts and
// logs it.
func (r *runner) logReload(res *ReloadResult, err error) {
	switch {
	case errors.Is(err, ErrUnchanged):
		res.Action = ActionUnchanged
	case err != nil:
		res.OK, res.Error = false, err.Error()
		r.stats.Errors.Add(1)
		r.log.Error("reload failed; the previous version keeps running", "what", res.Plugin, "err", err)
	default:
		r.log.Info("reload: "+res.Action, "what", res.Plugin)
	}
	if res.Warning != "" {
		r.log.Warn("reload: not applied until a restart", "what", res.Plugin, "changed", res.Warning)
	}
}

// reloadPlan is the difference between the running runners and a new
// config, with the new runners built.
type reloadPlan struct {
	next     *Config
	runners  []*runner           // the new list, in the new config's order
	added    []*runner           // new identities
	replaced map[*runner]*runner // old runner → its successor
	removed  []*runner
	kept     map[*runner]*PluginConfig // unchanged runners → their new table
	moved    map[*runner]bool          // successors that took the old runner's plugin instance
	// reconfigure holds the new tables of plugins that take them in place
	// (kept runners, or the successor holding a moved instance).
	reconfigure map[*runner]*PluginConfig
	lateInit    []*runner // successors whose Init waits for the old instance to close
}

// reloadConfig loads the config files again and applies the difference.
func (rt *Runtime) reloadConfig() ([]ReloadResult, error) {
	rt.reloadMu.Lock()
	defer rt.reloadMu.Unlock()
	if rt.replay != nil {
		return nil, &ReloadRefusedError{Reason: "a replay does not reload"}
	}
	select {
	case <-rt.stopping:
		return nil, &ReloadRefusedError{Reason: "the pipeline is stopping: nothing was reloaded"}
	default:
	}
	start := time.Now()
	next, err := LoadConfig(rt.cfg.Path)
	if err != nil {
		return nil, rt.refused(&ReloadRefusedError{Reason: "the new config does not load; the running pipeline goes on unchanged", Err: err})
	}
	rt.redact.Add(next.Redactor().secrets()...)
	if keys := restartOnly(rt.cfg, next); len(keys) > 0 {
		return nil, rt.refused(&ReloadRefusedError{Reason: strings.Join(keys, ", ") +
			" changed: only a restart applies that; nothing was reloaded (undo the change, or restart the pipeline)"})
	}
	plan, err := rt.planReload(next)
	if err != nil {
		return nil, rt.refused(&ReloadRefusedError{Reason: "a plugin of the new config cannot start; the running pipeline goes on unchanged", Err: err})
	}
	results := rt.applyReload(plan)
	rt.log.Info("config reloaded", "took", time.Since(start).Round(time.Microsecond), "plugins", len(plan.runners),
		"added", len(plan.added), "replaced", len(plan.replaced), "removed", len(plan.removed))
	return results, nil
}

// refused logs a refused reload and returns it, redacted.
func (rt *Runtime) refused(err *ReloadRefusedError) error {
	rt.log.Error("reload refused", "err", err)
	return rt.redact.Error(err)
}

// restartOnly names the [agent] and [nats] keys that differ between cur
// and next: none of them applies while the pipeline runs (the NATS
// connection, the embedded server, data_dir and the admin API are made
// once, at the start).
func restartOnly(cur, next *Config) []string {
	var keys []string
	diff := func(section string, a, b any) {
		va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
		for i := 0; i < va.NumField(); i++ {
			f := va.Type().Field(i)
			if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
				keys = append(keys, section+"."+strings.Split(f.Tag.Get("toml"), ",")[0])
			}
		}
	}
	diff("agent", cur.Agent, next.Agent)
	diff("nats", cur.Nats, next.Nats)
	return keys
}

// planReload matches next's plugins with the running runners and builds
// the runners that are new; on error it closes what it built.
func (rt *Runtime) planReload(next *Config) (_ *reloadPlan, err error) {
	plan := &reloadPlan{next: next, replaced: map[*runner]*runner{}, kept: map[*runner]*PluginConfig{},
		moved: map[*runner]bool{}, reconfigure: map[*runner]*PluginConfig{}}
	old := map[string]*runner{}
	for _, r := range rt.list() {
		old[r.cfg.ID()] = r
	}
	var built []*runner
	defer func() {
		if err != nil {
			for _, r := range built {
				if !plan.moved[r] { // a moved instance runs on in its old runner
					r.closePlugin(!slices.Contains(plan.lateInit, r))
				}
			}
		}
	}()
	for _, np := range next.Plugins {
		r := old[np.ID()]
		delete(old, np.ID())
		if r == nil {
			nr := newRunner(rt, np, nil)
			built = append(built, nr)
			if err := nr.init(true); err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", np.File, np.Line, np.ID(), err)
			}
			plan.added = append(plan.added, nr)
			plan.runners = append(plan.runners, nr)
			continue
		}
		ownSame := reflect.DeepEqual(r.cfg.own, np.own)
		if ownSame && reflect.DeepEqual(r.cfg.shared, np.shared) && !r.failed() {
			plan.kept[r] = np
			plan.runners = append(plan.runners, r)
			continue
		}
		_, reconfigures := r.cfg.Plugin.(Reconfigurer)
		// A failed plugin (its new version did not start) gets a new
		// instance, never the one that failed.
		moved := r.input == nil && !r.failed() && (ownSame || reconfigures)
		if moved && !ownSame {
			// The instance takes its new table once it is in its new runner.
			cp := *np
			np = &cp
		}
		nr := newRunner(rt, np, r.stats)
		if moved {
			if !ownSame {
				plan.reconfigure[nr] = &PluginConfig{Plugin: np.Plugin}
			}
			np.Plugin = r.cfg.Plugin
			plan.moved[nr] = true
		}
		built = append(built, nr)
		// An input's new instance binds its address now, before the old
		// one closes. A filter's or output's is initialised once the old
		// one has closed (applyReload): two instances of one name would
		// share what Init opens under data_dir (an output's disk buffer).
		if err := nr.init(r.input != nil); err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", np.File, np.Line, np.ID(), err)
		}
		if !moved && r.input == nil {
			plan.lateInit = append(plan.lateInit, nr)
		}
		plan.replaced[r] = nr
		plan.runners = append(plan.runners, nr)
	}
	for _, r := range rt.list() {
		if old[r.cfg.ID()] == r {
			plan.removed = append(plan.removed, r)
		}
	}
	for _, r := range built {
		for _, p := range []*publisher{r.pub, r.dead} {
			if p != nil && p.durable {
				if err := p.ensureStream(); err != nil {
					return nil, fmt.Errorf("%s: %w", r.cfg.ID(), err)
				}
			}
		}
	}
	return plan, nil
}

// changed reports whether the plan changes any runner.
func (plan *reloadPlan) changed() bool {
	return len(plan.added)+len(plan.replaced)+len(plan.removed) > 0
}

// going returns the runners that stop: replaced and removed, in flow order
// (upstream first).
func (plan *reloadPlan) going(rt *Runtime) []*runner {
	removed := map[*runner]bool{}
	for _, r := range plan.removed {
		removed[r] = true
	}
	var out []*runner
	for _, r := range rt.flowOrder() {
		if _, ok := plan.replaced[r]; ok || removed[r] {
			out = append(out, r)
		}
	}
	return out
}

// applyReload applies a plan; see the top of this file for the order.
func (rt *Runtime) applyReload(plan *reloadPlan) []ReloadResult {
	var results []ReloadResult
	old := rt.list()
	if plan.changed() {
		release := rt.holdLive()
		defer release()
		going := plan.going(rt)
		var fresh []*runner // added and successors
		for _, r := range plan.runners {
			if _, kept := plan.kept[r]; !kept {
				fresh = append(fresh, r)
			}
		}
		// 1. Every publisher keeps what it publishes from here on.
		for _, r := range old {
			r.pub.pause()
			r.dead.pause()
		}
		for _, r := range fresh {
			r.pub.pause()
			r.dead.pause()
		}
		// 2. Inputs and tickers that go stop; their last lines are held.
		for _, r := range going {
			r.stopRunning()
		}
		// 3. Successors and new plugins subscribe, holding back until the
		// ones they replace are done (durable ones bind after, below).
		var subErrs []error
		for _, r := range fresh {
			r.ready = make(chan struct{})
			if !r.cfg.Durable {
				if err := r.subscribe(); err != nil {
					subErrs = append(subErrs, fmt.Errorf("%s: subscribe: %w", r.cfg.ID(), err))
				}
			}
		}
		if err := rt.bus.Conn.Flush(); err != nil {
			subErrs = append(subErrs, fmt.Errorf("nats: %w", err))
		}
		// 4. What goes handles everything it was sent, then closes.
		for _, r := range going {
			r.drainSubs()
			succ := plan.replaced[r]
			if r.ticker != nil && !(succ != nil && plan.moved[succ]) {
				r.tick(true) // its totals are not lost
			}
			r.closePlugin(succ == nil || !plan.moved[succ])
		}
		// Successors with a new instance initialise it now. One that fails
		// stays in place, failed: what it is sent is counted as dropped,
		// and the next reload tries again.
		for _, r := range plan.lateInit {
			if err := r.initPlugin(); err != nil {
				res := ReloadResult{Plugin: r.cfg.ID(), Action: ActionReplaced}
				r.logReload(&res, fmt.Errorf("the new version did not start; the plugin is stopped until a reload: %w", err))
				results = append(results, res)
				r.state.Store("failed")
				r.closePlugin(true)
			}
		}
		// 5. Durable successors bind the consumers the old ones let go.
		for _, r := range fresh {
			if r.cfg.Durable {
				if err := r.subscribe(); err != nil {
					subErrs = append(subErrs, fmt.Errorf("%s: subscribe: %w", r.cfg.ID(), err))
				}
			}
		}
		rt.keepByInterest(fresh)
		rt.mu.Lock()
		rt.runners = plan.runners
		rt.mu.Unlock()
		// 6. Moved instances take their new tables before their first
		// message.
		for nr, np := range plan.reconfigure {
			err := nr.cfg.Plugin.(Reconfigurer).Reconfigure(np.Plugin)
			if err != nil && !errors.Is(err, ErrUnchanged) {
				res := ReloadResult{Plugin: nr.cfg.ID(), Action: ActionReplaced, OK: true}
				nr.logReload(&res, err)
				results = append(results, res)
			}
		}
		// 7. Publishers learn their new local subscribers; the new runners
		// start; the publishers resume, and those that went publish
		// what they held, then stop.
		for _, r := range plan.runners {
			r.pub.findLocal()
			r.dead.findLocal()
		}
		for _, r := range fresh {
			close(r.ready)
			if rt.runCtx != nil && !r.failed() {
				rt.startRunner(r)
			}
		}
		for _, r := range plan.runners {
			r.pub.resume()
			r.dead.resume()
		}
		for _, r := range going {
			for _, p := range []*publisher{r.pub, r.dead} {
				p.findLocal()
				p.resume()
				p.stop()
			}
			if r.state.Load() != "failed" {
				r.state.Store("stopped")
			}
		}
		for _, err := range subErrs {
			rt.log.Error("reload: subscription failed", "err", err)
			results = append(results, ReloadResult{Plugin: "nats", OK: false, Error: err.Error()})
		}
	}
	// Results, in the new config's order, then what was removed.
	for _, r := range plan.runners {
		if np, ok := plan.kept[r]; ok {
			res := r.reloadScripts(np, "")
			if !containsResult(res, r.cfg.ID()) {
				results = append(results, ReloadResult{Plugin: r.cfg.ID(), Action: ActionUnchanged, OK: true})
			}
			results = append(results, res...)
			continue
		}
		action := ActionAdded
		for o, s := range plan.replaced {
			if s == r {
				action = ActionReplaced
				if plan.moved[r] && reflect.DeepEqual(o.cfg.shared, r.cfg.shared) {
					action = ActionReconfigured
				}
			}
		}
		if !containsResult(results, r.cfg.ID()) {
			results = append(results, ReloadResult{Plugin: r.cfg.ID(), Action: action, OK: true})
			r.log.Info("reload: " + action)
		}
	}
	for _, r := range plan.removed {
		results = append(results, ReloadResult{Plugin: r.cfg.ID(), Action: ActionRemoved, OK: true})
		r.log.Info("reload: removed")
	}
	return results
}

func containsResult(results []ReloadResult, id string) bool {
	for _, res := range results {
		if res.Plugin == id {
			return true
		}
	}
	return false
}

// drainSubs closes r's subscriptions once every message they had has been
// handled; a durable one's consumer stays, with what it has not acked.
func (r *runner) drainSubs() {
	for _, s := range r.subs {
		if err := s.sub.Drain(); err != nil {
			r.log.Warn("reload: drain failed", "subject", s.pattern, "err", err)
		}
	}
	// Once the server has the drain's UNSUB it sends nothing more: after a
	// round trip, what it sent has arrived, and a core subscription is
	// done when it has handled that (nats.go closes it up to 100 ms
	// later). A durable one is done when nats.go has closed it.
	if err := r.rt.bus.Conn.Flush(); err != nil {
		r.log.Warn("reload: nats flush", "err", err)
	}
	deadline := time.Now().Add(drainRetryGrace + 5*time.Second)
	for _, s := range r.subs {
		done := s.localIdle
		if s.durable {
			done = func() bool { return !s.sub.IsValid() }
		}
		for !done() && time.Now().Before(deadline) {
			time.Sleep(200 * time.Microsecond)
		}
	}
	r.mu.Lock()
	r.nakHeld()
	r.mu.Unlock()
	for _, s := range r.subs {
		if !s.durable {
			r.rt.retiredHandled.Add(s.handled.Load())
		}
	}
}

// closePlugin flushes an output, closes the subscriptions' origin windows
// and the decoder and, when instance is set, closes the plugin itself (a
// moved instance lives on in its new runner).
func (r *runner) closePlugin(instance bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return // a plugin whose new version failed to start, closed then
	}
	if f, ok := r.cfg.Plugin.(Flusher); ok && r.output != nil {
		if err := f.Flush(); err != nil {
			r.stats.Errors.Add(1)
			r.log.Error("flush at close failed", "err", err)
		}
	}
	for _, s := range r.subs {
		s.origins.close()
	}
	if c, ok := r.cfg.Plugin.(Closer); ok && instance {
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
