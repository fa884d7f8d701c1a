// Package alert is the filters.alert plugin: rules that turn metrics,
// anomalies and silence into alert messages (Type "alert", see
// pipeline.Alert), firing and resolved, per group of tags.
package alert

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindFilter,
		Type:        "alert",
		Description: "Alert rules: thresholds and expressions over the latest values per group, absence, anomalies; emits firing and resolved alerts",
		Sample:      sample,
		New: func() any {
			return &Alert{GroupBy: []string{"host"}, StaleAfter: pipeline.Duration(DefaultStaleAfter),
				ResendInterval: pipeline.Duration(DefaultResendInterval), MaxGroups: DefaultMaxGroups}
		},
	})
}

// Defaults of the filter's keys.
const (
	DefaultStaleAfter     = 5 * time.Minute
	DefaultResendInterval = time.Minute
	DefaultMaxGroups      = 100000
)

// Alert is one [[filters.alert]] table: a set of rules sharing the
// subjects, the matcher and the group_by tags.
type Alert struct {
	GroupBy        []string          `toml:"group_by"`
	StaleAfter     pipeline.Duration `toml:"stale_after"`
	ResendInterval pipeline.Duration `toml:"resend_interval"`
	MaxGroups      int               `toml:"max_groups"`
	PreserveData   bool              `toml:"preserve_data"`
	Rules          []RuleConfig      `toml:"rules"`

	mu    sync.Mutex
	env   *pipeline.Env
	log   *slog.Logger
	rules []*rule
	// byMeas indexes the threshold rules by the measurements they read,
	// so that a point evaluates only the rules that can use it.
	byMeas  map[string]*measInfo
	slots   int // (measurement, field) pairs read by some rule
	absent  []*rule
	anomaly []*rule
	groups  map[string]*group
	order   []*group // in the order they were first seen: ticks are deterministic
	active  map[stateKey]*alertState
	flaps   map[stateKey][]int64 // times of state changes, for the rules with flap_threshold
	start   int64                // the first time seen after Init (ns); 0 before
	clock   int64                // the latest time seen
	machine vm.VM
	keyBuf  []byte
	msg     pipeline.Message
	keys    []stateKey
	anomEnv map[string]any
	refused uint64
	errLog  pipeline.LogThrottle
	fullLog pipeline.LogThrottle
}

// measInfo is what the filter reads of one measurement.
type measInfo struct {
	fields []ref   // one per (measurement, field) read, by slot
	rules  []*rule // the threshold rules that read it
}

// group is what the filter knows of one group (one host): its tags and
// the latest value of each field the rules read.
type group struct {
	key      string
	tags     map[string]string // the group_by tags, empty ones left out
	env      map[string]any    // the expression env: "cpu.usage_user", "tags.host"
	slotAt   []int64           // when each slot was last set (ns), 0: never
	lastSeen int64             // the latest data (ns)
}

// stateKey names the alert of one rule for one group (for an anomaly rule,
// one group and series).
type stateKey struct {
	rule  int
	group string
}

type phase uint8

const (
	pending phase = iota + 1
	firing
)

// alertState is an alert pending or firing.
type alertState struct {
	rule        *rule
	key         stateKey
	group       *group // nil for a state restored without its group
	labels      map[string]string
	fingerprint string
	phase       phase
	activeAt    int64 // when the condition became true: StartsAt
	falseSince  int64 // 0 while the condition holds
	lastSent    int64
	lastCond    bool
	held        bool // a resolve held back by flapping
	flapping    bool
	restored    bool // read from preserve_data: no data seen since
	values      map[string]float64
	anomaly     map[string]any
}

var (
	_ pipeline.Filter          = (*Alert)(nil)
	_ pipeline.Ticker          = (*Alert)(nil)
	_ pipeline.Validator       = (*Alert)(nil)
	_ pipeline.Initializer     = (*Alert)(nil)
	_ pipeline.Closer          = (*Alert)(nil)
	_ pipeline.StatusReporter  = (*Alert)(nil)
	_ pipeline.GaugeReporter   = (*Alert)(nil)
	_ pipeline.CounterReporter = (*Alert)(nil)
)

// Validate checks the keys and compiles every rule: an expression that
// does not compile, a bad template or time zone is an error here, in
// `interoceptor check`. It keeps nothing: Init compiles again.
func (a *Alert) Validate() error {
	_, err := a.compile()
	return err
}

// ruleSet is the rules compiled and indexed.
type ruleSet struct {
	rules   []*rule
	byMeas  map[string]*measInfo
	slots   int
	absent  []*rule
	anomaly []*rule
}

func (a *Alert) compile() (*ruleSet, error) {
	var errs []error
	for i, t := range a.GroupBy {
		switch {
		case t == "" || t == "status" || t == "alertname" || t == "severity":
			errs = append(errs, invalid(fmt.Sprintf("group_by.[%d]", i), "%q cannot be a group tag", t))
		case slices.Contains(a.GroupBy[:i], t):
			errs = append(errs, invalid(fmt.Sprintf("group_by.[%d]", i), "%q is listed twice", t))
		}
	}
	if a.StaleAfter <= 0 {
		errs = append(errs, invalid("stale_after", "must be more than 0"))
	}
	if a.ResendInterval <= 0 {
		errs = append(errs, invalid("resend_interval", "must be more than 0"))
	}
	if a.MaxGroups < 1 {
		errs = append(errs, invalid("max_groups", "must be 1 or more"))
	}
	if len(a.Rules) == 0 {
		errs = append(errs, pipeline.MissingKey("rules"))
	}
	rs := &ruleSet{byMeas: map[string]*measInfo{}}
	names := map[string]int{}
	for i, rc := range a.Rules {
		r, err := compileRule(i, rc, a.GroupBy)
		if err != nil {
			errs = append(errs, err)
		}
		if first, dup := names[rc.Alert]; dup && rc.Alert != "" {
			errs = append(errs, invalid(fmt.Sprintf("rules.[%d].alert", i), "%q is also the alert of rules.[%d]: each rule has its own", rc.Alert, first))
		}
		names[rc.Alert] = i
		rs.rules = append(rs.rules, r)
		switch r.kind {
		case kindAbsent:
			rs.absent = append(rs.absent, r)
		case kindAnomaly:
			rs.anomaly = append(rs.anomaly, r)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slot := map[string]int{}
	for _, r := range rs.rules {
		for j := range r.refs {
			rf := &r.refs[j]
			mi := rs.byMeas[rf.meas]
			if mi == nil {
				mi = &measInfo{}
				rs.byMeas[rf.meas] = mi
			}
			if !slices.Contains(mi.rules, r) {
				mi.rules = append(mi.rules, r)
			}
			s, ok := slot[rf.key]
			if !ok {
				s = rs.slots
				slot[rf.key] = s
				rs.slots++
				mi.fields = append(mi.fields, *rf)
				mi.fields[len(mi.fields)-1].slot = s
			}
			rf.slot = s
		}
	}
	return rs, nil
}

// Init compiles the rules and reads the state kept by
// preserve_data.
func (a *Alert) Init(env *pipeline.Env) error {
	rs, err := a.compile()
	if err != nil {
		return err
	}
	a.rules, a.byMeas, a.slots, a.absent, a.anomaly = rs.rules, rs.byMeas, rs.slots, rs.absent, rs.anomaly
	a.env, a.log = env, env.Log
	a.groups = map[string]*group{}
	a.active = map[stateKey]*alertState{}
	a.flaps = map[stateKey][]int64{}
	a.anomEnv = map[string]any{}
	if a.PreserveData {
		a.restore()
	}
	return nil
}

// Process takes a metric point (or an anomaly) for its group: it updates
// the group's latest values and evaluates the rules that read them, at the
// point's Timestamp.
func (a *Alert) Process(m *pipeline.Message, out pipeline.Emitter) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := m.Timestamp
	if t == 0 {
		t = a.clock
	}
	a.see(t)
	g := a.group(m)
	if g == nil {
		return nil
	}
	if t > g.lastSeen {
		g.lastSeen = t
	}
	var errs []error
	for _, r := range a.absent {
		if st := a.active[stateKey{r.index, g.key}]; st != nil {
			errs = append(errs, a.step(st.rule, g, st, false, t, out))
		}
	}
	if m.Type == "anomaly" {
		errs = append(errs, a.processAnomaly(m, g, t, out))
		return errors.Join(errs...)
	}
	mi := a.byMeas[m.Measurement()]
	if mi == nil {
		return errors.Join(errs...)
	}
	if len(g.slotAt) < a.slots {
		g.slotAt = slices.Grow(g.slotAt, a.slots-len(g.slotAt))[:a.slots]
	}
	for i := range mi.fields {
		rf := &mi.fields[i]
		f := m.Field(rf.field)
		if f == nil || f.Role != pipeline.RoleField {
			continue
		}
		var v any
		switch f.Kind {
		case pipeline.KindFloat:
			v = f.Float
		case pipeline.KindInt:
			v = float64(f.Int)
		case pipeline.KindUint:
			v = float64(f.Uint)
		case pipeline.KindBool:
			v = f.Bool
		case pipeline.KindString:
			v = f.Str
		default:
			continue
		}
		g.env[rf.key] = v
		if t > g.slotAt[rf.slot] {
			g.slotAt[rf.slot] = t
		}
	}
	for _, r := range mi.rules {
		errs = append(errs, a.evaluate(r, g, t, out))
	}
	return errors.Join(errs...)
}

// see moves the filter's clock.
func (a *Alert) see(t int64) {
	if a.start == 0 {
		a.start = t
	}
	if t > a.clock {
		a.clock = t
	}
}

// group returns the group of m, made if new; nil when max_groups is
// reached.
func (a *Alert) group(m *pipeline.Message) *group {
	a.keyBuf = a.keyBuf[:0]
	for _, t := range a.GroupBy {
		if f := m.Field(t); f != nil && f.Role == pipeline.RoleTag {
			a.keyBuf = append(a.keyBuf, f.Str...)
		}
		a.keyBuf = append(a.keyBuf, 0)
	}
	if g := a.groups[string(a.keyBuf)]; g != nil {
		return g
	}
	if len(a.groups) >= a.MaxGroups {
		a.refused++
		if ok, n := a.fullLog.Allow(); ok {
			a.log.Warn("max_groups reached: a new group is not watched", "max_groups", a.MaxGroups, "refused", a.refused, "suppressed", n)
		}
		return nil
	}
	g := a.newGroup(string(a.keyBuf))
	for _, t := range a.GroupBy {
		if f := m.Field(t); f != nil && f.Role == pipeline.RoleTag && f.Str != "" {
			g.tags[t] = f.Str
			g.env["tags."+t], g.env["labels."+t] = f.Str, f.Str
		}
	}
	return g
}

func (a *Alert) newGroup(key string) *group {
	g := &group{key: key, tags: map[string]string{}, env: map[string]any{}}
	a.groups[key] = g
	a.order = append(a.order, g)
	return g
}

// evaluate runs a threshold rule for a group at t.
func (a *Alert) evaluate(r *rule, g *group, t int64, out pipeline.Emitter) error {
	st := a.active[stateKey{r.index, g.key}]
	cond := false
	if r.active(time.Unix(0, t)) && a.fresh(r, g, t) {
		res, err := a.machine.Run(r.prog, g.env)
		if err != nil {
			a.env.Stats.Errors.Add(1)
			if ok, n := a.errLog.Allow(); ok {
				a.log.Warn("rule expression failed", "alert", r.name, "group", g.tags, "err", err, "suppressed", n)
			}
			return nil
		}
		cond, _ = res.(bool)
	}
	if st == nil && !cond {
		return nil
	}
	if st != nil {
		st.restored = false
	}
	return a.step(r, g, st, cond, t, out)
}

// fresh reports whether every value r reads is known for g and not older
// than stale_after at t.
func (a *Alert) fresh(r *rule, g *group, t int64) bool {
	for i := range r.refs {
		s := r.refs[i].slot
		if s >= len(g.slotAt) || g.slotAt[s] == 0 || t-g.slotAt[s] > int64(a.StaleAfter) {
			return false
		}
	}
	return true
}

// step moves the alert of rule r for group g (st, nil when inactive) with
// the condition's value at t, and emits what changes.
func (a *Alert) step(r *rule, g *group, st *alertState, cond bool, t int64, out pipeline.Emitter) error {
	if st == nil {
		if !cond {
			return nil
		}
		st = a.newState(r, g, stateKey{r.index, g.key}, g.tags)
		st.activeAt = t
		st.phase = pending
	}
	if cond && r.kind == kindThreshold {
		a.readValues(r, g, st)
	}
	st.lastCond = cond
	switch st.phase {
	case pending:
		if !cond {
			delete(a.active, st.key)
			return nil
		}
		if t-st.activeAt >= int64(r.forDur) {
			return a.fire(st, t, out)
		}
	case firing:
		if cond {
			st.falseSince = 0
			if st.held {
				st.held = false
				a.flap(st, t)
			}
			return a.checkFlapping(st, t, out)
		}
		if st.falseSince == 0 {
			st.falseSince = t
		}
		outside := !r.active(time.Unix(0, t))
		if !outside && t-st.falseSince < int64(r.keep) {
			return nil
		}
		if r.flapN > 0 && !outside {
			if !st.held {
				st.held = true
				a.flap(st, t)
			}
			if a.flapCount(st.key, t) >= r.flapN {
				return a.checkFlapping(st, t, out)
			}
		}
		return a.resolve(st, t, out)
	}
	return nil
}

// newState makes the alert of rule r for a group, pending, and records it.
func (a *Alert) newState(r *rule, g *group, key stateKey, tags map[string]string) *alertState {
	labels := maps.Clone(r.labels)
	maps.Copy(labels, tags)
	st := &alertState{rule: r, key: key, group: g, labels: labels, fingerprint: pipeline.AlertFingerprint(labels),
		values: map[string]float64{}}
	a.active[key] = st
	return st
}

// readValues keeps the numbers the expression read, as the alert's values.
func (a *Alert) readValues(r *rule, g *group, st *alertState) {
	for i := range r.refs {
		if v, ok := g.env[r.refs[i].key].(float64); ok {
			st.values[r.refs[i].value] = v
		}
	}
}

func (a *Alert) fire(st *alertState, t int64, out pipeline.Emitter) error {
	st.phase, st.falseSince = firing, 0
	if st.rule.flapN > 0 {
		a.flap(st, t)
		st.flapping = a.flapCount(st.key, t) >= st.rule.flapN
	}
	return a.send(st, pipeline.AlertFiring, t, out)
}

func (a *Alert) resolve(st *alertState, t int64, out pipeline.Emitter) error {
	delete(a.active, st.key)
	return a.send(st, pipeline.AlertResolved, t, out)
}

// flap records a change of state of st at t (held or not), for flapping.
func (a *Alert) flap(st *alertState, t int64) {
	a.flaps[st.key] = append(a.pruneFlaps(st.key, st.rule, t), t)
}

func (a *Alert) pruneFlaps(key stateKey, r *rule, t int64) []int64 {
	times := a.flaps[key]
	i := 0
	for i < len(times) && times[i] <= t-int64(r.flapWin) {
		i++
	}
	return times[i:]
}

func (a *Alert) flapCount(key stateKey, t int64) int {
	return len(a.pruneFlaps(key, a.rules[key.rule], t))
}

// checkFlapping marks or unmarks a firing alert as flapping, and sends the
// change at once.
func (a *Alert) checkFlapping(st *alertState, t int64, out pipeline.Emitter) error {
	if st.rule.flapN == 0 {
		return nil
	}
	flapping := a.flapCount(st.key, t) >= st.rule.flapN
	if flapping == st.flapping {
		return nil
	}
	st.flapping = flapping
	return a.send(st, pipeline.AlertFiring, t, out)
}

// processAnomaly fires the anomaly rules that match an anomaly of group g.
func (a *Alert) processAnomaly(m *pipeline.Message, g *group, t int64, out pipeline.Emitter) error {
	if len(a.anomaly) == 0 {
		return nil
	}
	clear(a.anomEnv)
	fields := map[string]any{}
	values := map[string]float64{}
	tags := maps.Clone(g.tags)
	for i := range m.Fields {
		f := &m.Fields[i]
		switch {
		case f.Role == pipeline.RoleMeasurement:
		case f.Role == pipeline.RoleTag:
			if f.Name == "series" || f.Name == "field" {
				tags[f.Name] = f.Str
			}
		default:
			v := f.Value()
			switch n := v.(type) {
			case int64:
				v = float64(n)
			case uint64:
				v = float64(n)
			case []byte:
				v = string(n)
			}
			fields[f.Name] = v
			a.anomEnv["anomaly."+f.Name] = v
			if x, ok := v.(float64); ok {
				values["anomaly_"+f.Name] = x
			}
		}
	}
	for k, v := range g.tags {
		a.anomEnv["tags."+k], a.anomEnv["labels."+k] = v, v
	}
	key := g.key + "\x00" + tags["series"] + "\x00" + tags["field"]
	var errs []error
	for _, r := range a.anomaly {
		if !r.active(time.Unix(0, t)) {
			continue
		}
		if r.prog != nil {
			res, err := a.machine.Run(r.prog, a.anomEnv)
			if err != nil {
				a.env.Stats.Errors.Add(1)
				if ok, n := a.errLog.Allow(); ok {
					a.log.Warn("rule expression failed", "alert", r.name, "group", g.tags, "err", err, "suppressed", n)
				}
				continue
			}
			if ok, _ := res.(bool); !ok {
				continue
			}
		}
		k := stateKey{r.index, key}
		st := a.active[k]
		if st == nil {
			st = a.newState(r, g, k, tags)
			st.activeAt = t
			st.phase = pending
		}
		st.values, st.anomaly = values, fields
		if st.phase == pending {
			errs = append(errs, a.fire(st, t, out))
		} else {
			errs = append(errs, a.step(r, g, st, true, t, out))
		}
		st.falseSince = t // an anomaly is an event: keep_firing_for counts from it
	}
	return errors.Join(errs...)
}

// Tick evaluates what time alone changes, at now: pending alerts whose
// for has passed fire, alerts whose data went stale or whose
// keep_firing_for has passed resolve, silent groups fire their absent_for
// rules, rules leaving their active_time resolve, and firing alerts are
// sent again every resend_interval.
func (a *Alert) Tick(now time.Time, _ bool, out pipeline.Emitter) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := now.UnixNano()
	a.see(t)
	var errs []error
	// Absent rules first, then every active alert in a fixed order.
	for _, r := range a.absent {
		active := r.active(now)
		for _, g := range a.order {
			if a.active[stateKey{r.index, g.key}] != nil {
				continue
			}
			since := max(g.lastSeen, a.start)
			if active && t-since >= int64(r.absent) {
				errs = append(errs, a.absentStep(r, g, nil, true, t, out))
			}
		}
	}
	a.keys = a.keys[:0]
	for k := range a.active {
		a.keys = append(a.keys, k)
	}
	slices.SortFunc(a.keys, func(x, y stateKey) int {
		if x.rule != y.rule {
			return x.rule - y.rule
		}
		return strings.Compare(x.group, y.group)
	})
	for _, k := range a.keys {
		st := a.active[k]
		if st == nil {
			continue
		}
		r := st.rule
		switch r.kind {
		case kindThreshold:
			cond := st.lastCond
			if st.group == nil || !a.fresh(r, st.group, t) {
				if st.restored && t-a.start < int64(a.StaleAfter) {
					continue // no data yet since a restart: wait for it
				}
				cond = false
			}
			errs = append(errs, a.step(r, st.group, st, cond && r.active(now), t, out))
		case kindAbsent:
			cond := st.group == nil || t-st.group.lastSeen >= int64(r.absent)
			errs = append(errs, a.absentStep(r, st.group, st, cond && r.active(now), t, out))
		case kindAnomaly:
			errs = append(errs, a.step(r, st.group, st, false, t, out))
		}
		if a.active[k] == st && st.phase == firing && t-st.lastSent >= int64(a.ResendInterval) {
			errs = append(errs, a.resend(st, t, out))
		}
	}
	for k := range a.flaps {
		if len(a.pruneFlaps(k, a.rules[k.rule], t)) == 0 {
			delete(a.flaps, k)
		}
	}
	return errors.Join(errs...)
}

// absentStep is step for an absent_for rule, with the silence in the
// values.
func (a *Alert) absentStep(r *rule, g *group, st *alertState, cond bool, t int64, out pipeline.Emitter) error {
	if st == nil && cond {
		st = a.newState(r, g, stateKey{r.index, g.key}, g.tags)
		st.activeAt, st.phase = t, pending
	}
	if st != nil && cond && g != nil {
		st.values["silent_seconds"] = time.Duration(t - g.lastSeen).Seconds()
	}
	return a.step(r, g, st, cond, t, out)
}

// send emits st as an alert with the given status, at t: a change.
func (a *Alert) send(st *alertState, status string, t int64, out pipeline.Emitter) error {
	return a.emit(st, status, false, t, out)
}

// resend emits st, firing, again at t: no change, marked Resent.
func (a *Alert) resend(st *alertState, t int64, out pipeline.Emitter) error {
	return a.emit(st, pipeline.AlertFiring, true, t, out)
}

func (a *Alert) emit(st *alertState, status string, resent bool, t int64, out pipeline.Emitter) error {
	al := pipeline.Alert{Status: status, Labels: st.labels, Values: st.values, StartsAt: time.Unix(0, st.activeAt).UTC(),
		At: time.Unix(0, t).UTC(), Fingerprint: st.fingerprint, Resent: resent}
	if status == pipeline.AlertResolved {
		al.EndsAt = al.At
	}
	al.Annotations = a.annotate(st, &al)
	st.lastSent = t
	al.ToMessage(&a.msg)
	return out.Emit(&a.msg)
}

// TemplateData is what the summary, description and annotations templates
// see.
type TemplateData struct {
	Labels   map[string]string  // alertname, severity, the group's tags, the rule's labels
	Values   map[string]float64 // cpu_usage_user; anomaly_score; silent_seconds
	Value    float64            // the first value the expression reads (anomaly: the score; absent: silent_seconds)
	Rule     string             // the alertname
	Severity string
	Status   string    // firing or resolved
	StartsAt time.Time // UTC
	EndsAt   time.Time // zero while firing
	LastSeen time.Time // the group's latest data
	Anomaly  map[string]any
	Flapping bool
}

func (a *Alert) annotate(st *alertState, al *pipeline.Alert) map[string]string {
	r := st.rule
	d := TemplateData{Labels: st.labels, Values: st.values, Rule: r.name, Severity: r.severity, Status: al.Status,
		StartsAt: al.StartsAt, EndsAt: al.EndsAt, Anomaly: st.anomaly, Flapping: st.flapping}
	switch {
	case len(r.refs) > 0:
		d.Value = st.values[r.refs[0].value]
	case r.kind == kindAnomaly:
		d.Value = st.values["anomaly_score"]
	case r.kind == kindAbsent:
		d.Value = st.values["silent_seconds"]
	}
	if st.group != nil && st.group.lastSeen > 0 {
		d.LastSeen = time.Unix(0, st.group.lastSeen).UTC()
	}
	ann := make(map[string]string, len(r.annots)+1)
	var b strings.Builder
	for k, tmpl := range r.annots {
		b.Reset()
		if err := tmpl.Execute(&b, d); err != nil {
			a.env.Stats.Errors.Add(1)
			if ok, n := a.errLog.Allow(); ok {
				a.log.Warn("annotation template failed", "alert", r.name, "annotation", k, "err", err, "suppressed", n)
			}
			continue
		}
		ann[k] = b.String()
	}
	if _, ok := ann["summary"]; !ok && st.anomaly != nil {
		if s, ok := st.anomaly["summary"].(string); ok {
			ann["summary"] = s
		}
	}
	if st.flapping {
		ann["flapping"] = "true"
	}
	return ann
}

// Close writes the state when preserve_data is set.
func (a *Alert) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.PreserveData || a.env == nil {
		return nil
	}
	return a.save()
}

// Status reports the rules, groups and alerts for /api/plugins.
func (a *Alert) Status() map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	firing, pending := a.countStates()
	return map[string]any{"rules": len(a.rules), "groups": len(a.groups), "groups_refused": a.refused,
		"alerts_firing": firing, "alerts_pending": pending}
}

// Gauges reports alerts_firing, alerts_pending, groups and groups_refused.
func (a *Alert) Gauges() map[string]float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	firing, pending := a.countStates()
	return map[string]float64{"alerts_firing": float64(firing), "alerts_pending": float64(pending),
		"alert_groups": float64(len(a.groups)), "alert_groups_refused": float64(a.refused)}
}

// IsCounter reports which of the Gauges keys only grow: the groups refused
// (pipeline.CounterReporter).
func (a *Alert) IsCounter(key string) bool { return key == "alert_groups_refused" }

func (a *Alert) countStates() (nFiring, nPending int) {
	for _, st := range a.active {
		if st.phase == firing {
			nFiring++
		} else {
			nPending++
		}
	}
	return nFiring, nPending
}
