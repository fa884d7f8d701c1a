package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The engine is the notification logic without I/O: alerts come in
// (receive), time goes on (advance, with the caller's clock), and it
// returns the notifications that are due; the caller sends them and says
// how it went (done). Its state (alerts, what was sent to whom, acks,
// silences) is written through to a stateStore when one is set, and
// another process's changes come back through the apply methods.
//
// The model is Alertmanager's: an alert is routed to the groups of the
// routes it matches; a new group waits group_wait to collect others, then
// each receiver of the group is told of its alerts; a change (an alert
// joins, one resolves) is told no sooner than group_interval after the
// last notification; an unchanged firing group is told again every
// repeat_interval. Whether something changed is decided against the
// notification log (logEntry): the fingerprints last sent to that
// receiver, so that a restart, or another process taking over, neither
// sends again what was sent nor forgets what was not.
type engine struct {
	mu  sync.Mutex
	cfg engineConfig

	leader bool       // only the leader notifies and writes alerts and the log
	store  stateStore // nil: nothing is kept

	alerts   map[string]*alertRec // by fingerprint
	groups   map[string]*group    // by group key
	log      map[string]*logEntry // by logKey(group key, receiver)
	sending  map[string]*sendState
	acks     map[string]*ack     // by id: a group id or a fingerprint
	silences map[string]*silence // by id

	// counters, by receiver
	sent, failed map[string]int64
}

// engineConfig is what the engine needs of the output's config.
type engineConfig struct {
	routes         []*route // the routes in order, then the default route
	resolveTimeout time.Duration
	sendResolved   bool
	externalURL    string
	sender         string        // the agent's name
	retryMin       time.Duration // the first retry of a failed send; doubles up to group_interval
	silenceKeep    time.Duration // how long an expired silence stays in the list
}

// route is one [[outputs.notify.routes]], or the default route.
type route struct {
	id             string // "default", "routes[0]"...: the first part of the group keys
	matchers       labels.Matchers
	receiver       string
	groupBy        []string // sorted; nil with groupAll
	groupAll       bool     // group_by = ["..."]: one group per alert
	groupWait      time.Duration
	groupInterval  time.Duration
	repeatInterval time.Duration
	cont           bool
	escalate       []escalation
}

// escalation is one step: after this long without an ack since the
// group's first notification, receiver is told too.
type escalation struct {
	after    time.Duration
	receiver string
}

// receivers returns the receiver of each step: the route's, then the
// escalations'.
func (r *route) receivers() []string {
	out := []string{r.receiver}
	for _, e := range r.escalate {
		out = append(out, e.receiver)
	}
	return out
}

// alertRec is an alert as the engine keeps it.
type alertRec struct {
	pipeline.Alert
	// FirstSeen is when this engine (or the one before it) first heard of
	// this firing: a group's group_wait counts from the first of its
	// alerts.
	FirstSeen time.Time
	// LastSeen is when it was last heard of, firing: resolve_timeout
	// counts from it. Not kept across a restart (it starts again then).
	LastSeen time.Time
}

// group is the alerts of one route that share the values of its group_by
// labels.
type group struct {
	key    string // route id + ":" + the group labels, {alertname="x"}
	id     string // groupID(key): short, for the API, the CLI and KV keys
	route  *route
	labels map[string]string
	alerts map[string]*alertRec
}

// logEntry is what was last sent to one receiver about one group.
type logEntry struct {
	GroupKey string    `json:"group_key"`
	Receiver string    `json:"receiver"`
	Step     int       `json:"step"`     // 0: the route's receiver, n: the n-th escalation
	Firing   []string  `json:"firing"`   // fingerprints told as firing, sorted
	Resolved []string  `json:"resolved"` // fingerprints told as resolved, sorted
	At       time.Time `json:"at"`
	// Since is when this receiver was first told of each alert of Firing:
	// an alert escalates after the route receiver was told of it.
	Since map[string]time.Time `json:"since"`
}

// sendState is a notification on its way to one receiver, and its failures.
type sendState struct {
	inflight *Notification
	firing   []string
	resolved []string
	failures int
	retryAt  time.Time
	lastErr  string
}

// ack acknowledges firing alerts: a whole group's (those firing when it was
// acked) or one. An acked alert stops its group's repeats and escalation
// until it resolves (it fires again with a new starts_at) or expires.
type ack struct {
	ID          string    `json:"id"`              // the group's id or the alert's fingerprint
	Group       string    `json:"group,omitempty"` // the group key, for a group ack
	Fingerprint string    `json:"fingerprint,omitempty"`
	Covers      []covered `json:"covers"`
	By          string    `json:"by,omitempty"`
	Comment     string    `json:"comment,omitempty"`
	At          time.Time `json:"at"`
	Expires     time.Time `json:"expires,omitzero"` // zero: until the alerts resolve
}

// covered is one alert an ack covers: its firing since StartsAt.
type covered struct {
	Fingerprint string    `json:"fingerprint"`
	StartsAt    time.Time `json:"starts_at"`
}

// silence mutes the alerts its matchers match between StartsAt and EndsAt.
// One that starts later is a maintenance window.
type silence struct {
	ID        string    `json:"id"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	Comment   string    `json:"comment,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`

	matchers labels.Matchers
}

// active reports whether s mutes at now.
func (s *silence) active(now time.Time) bool { return !now.Before(s.StartsAt) && now.Before(s.EndsAt) }

// state is "active", "pending" (a maintenance window to come) or "expired".
func (s *silence) state(now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return "pending"
	case now.Before(s.EndsAt):
		return "active"
	}
	return "expired"
}

// stateStore keeps the engine's state; the engine calls it with its lock
// held, on each change. kvStore writes to a JetStream KV bucket.
type stateStore interface {
	putAlert(a *alertRec)
	deleteAlert(fp string)
	putLog(e *logEntry)
	deleteLog(groupKey, receiver string)
	putAck(a *ack)
	deleteAck(id string)
	putSilence(s *silence)
	deleteSilence(id string)
}

func newEngine(cfg engineConfig) *engine {
	if cfg.retryMin <= 0 {
		cfg.retryMin = 5 * time.Second
	}
	if cfg.silenceKeep <= 0 {
		cfg.silenceKeep = 24 * time.Hour
	}
	return &engine{cfg: cfg, leader: true,
		alerts: map[string]*alertRec{}, groups: map[string]*group{}, log: map[string]*logEntry{},
		sending: map[string]*sendState{}, acks: map[string]*ack{}, silences: map[string]*silence{},
		sent: map[string]int64{}, failed: map[string]int64{}}
}

// groupID is a group key's short id: 12 hex digits of its SHA-256, unlike
// a fingerprint's 16, so that `alerts ack ID` knows which it was given.
func groupID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}

// urlRE is a URL in an error: a channel's error may quote one with a token
// in its path (a Slack webhook), which the admin API must not show.
var urlRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^@/\s"']*@)?([^/\s"'?]+)[^\s"']*`)

// hideURLs keeps only the scheme and host of the URLs in s.
func hideURLs(s string) string { return urlRE.ReplaceAllString(s, "${1}${2}/...") }

func logKey(groupKey, receiver string) string { return groupKey + "\x00" + receiver }

// labelString writes labels as {a="1",b="2"}, sorted.
func labelString(ls map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(ls)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, ls[k])
	}
	b.WriteByte('}')
	return b.String()
}

// match returns the routes an alert goes to: each route that matches, in
// order, until one without continue; the default route when none does.
func (e *engine) match(ls map[string]string) []*route {
	var out []*route
	routes := e.cfg.routes[:len(e.cfg.routes)-1]
	for _, r := range routes {
		if r.matchers.Matches(labelSet(ls)) {
			out = append(out, r)
			if !r.cont {
				break
			}
		}
	}
	if len(out) == 0 {
		out = append(out, e.cfg.routes[len(e.cfg.routes)-1])
	}
	return out
}

// labelSet adapts a label map to what labels.Matchers take.
func labelSet(ls map[string]string) model.LabelSet {
	m := make(model.LabelSet, len(ls))
	for k, v := range ls {
		m[model.LabelName(k)] = model.LabelValue(v)
	}
	return m
}

// groupOf returns the group of a on route r, created if need be.
func (e *engine) groupOf(r *route, a *alertRec) *group {
	gl := map[string]string{}
	if r.groupAll {
		maps.Copy(gl, a.Labels)
	} else {
		for _, k := range r.groupBy {
			if v, ok := a.Labels[k]; ok {
				gl[k] = v
			}
		}
	}
	key := r.id + ":" + labelString(gl)
	g := e.groups[key]
	if g == nil {
		g = &group{key: key, id: groupID(key), route: r, labels: gl, alerts: map[string]*alertRec{}}
		e.groups[key] = g
	}
	return g
}

// receive takes one alert, as a rule said it at now. A firing alert heard
// again only refreshes it (two processes' rules, re-sends); one older than
// what is known is ignored.
func (e *engine) receive(in *pipeline.Alert, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.alerts[in.Fingerprint]
	if cur != nil && in.At.Before(cur.At) {
		return
	}
	switch {
	case in.Status == pipeline.AlertResolved && (cur == nil || cur.Status == pipeline.AlertResolved):
		return // nothing fires that it could end
	case in.Status == pipeline.AlertFiring && cur != nil && cur.Status == pipeline.AlertFiring:
		// The first StartsAt stays: two processes' rules may each say
		// their own, and acks hold to one.
		cur.LastSeen = now
		changed := !maps.Equal(cur.Annotations, in.Annotations)
		starts := cur.StartsAt
		cur.Alert = *in
		cur.StartsAt = starts
		if changed {
			e.putAlert(cur)
		}
		return
	}
	rec := &alertRec{Alert: *in, FirstSeen: now, LastSeen: now}
	if rec.Status == pipeline.AlertFiring {
		if rec.StartsAt.IsZero() {
			rec.StartsAt = in.At
		}
	} else {
		rec.FirstSeen, rec.LastSeen = cur.FirstSeen, cur.LastSeen
		if rec.StartsAt.IsZero() {
			rec.StartsAt = cur.StartsAt
		}
		if rec.EndsAt.IsZero() {
			rec.EndsAt = in.At
		}
	}
	e.place(rec)
	e.putAlert(rec)
}

// place puts rec in e.alerts and in the groups of the routes it matches.
func (e *engine) place(rec *alertRec) {
	e.alerts[rec.Fingerprint] = rec
	for _, r := range e.match(rec.Labels) {
		e.groupOf(r, rec).alerts[rec.Fingerprint] = rec
	}
}

// silencedBy returns the ids of the silences that mute a at now.
func (e *engine) silencedBy(a *alertRec, now time.Time) []string {
	var ids []string
	for _, s := range e.silences {
		if s.active(now) && s.matchers.Matches(labelSet(a.Labels)) {
			ids = append(ids, s.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// ackedBy returns the ack that covers a's current firing, if any.
func (e *engine) ackedBy(a *alertRec, now time.Time) *ack {
	if a.Status != pipeline.AlertFiring {
		return nil
	}
	for _, id := range slices.Sorted(maps.Keys(e.acks)) {
		k := e.acks[id]
		if !k.Expires.IsZero() && !now.Before(k.Expires) {
			continue
		}
		for _, c := range k.Covers {
			if c.Fingerprint == a.Fingerprint && c.StartsAt.Equal(a.StartsAt) {
				return k
			}
		}
	}
	return nil
}

// view is what a group amounts to at one moment for one receiver.
type view struct {
	firing, resolved []*alertRec // firing not silenced; resolved not silenced or told as firing
	unacked          []string    // the fingerprints of the firing alerts without an ack
	start            time.Time   // the first FirstSeen of the firing ones
}

// toldFiring is the fingerprints some receiver of g was told as firing and
// not yet as resolved.
func (e *engine) toldFiring(g *group) map[string]bool {
	told := map[string]bool{}
	for _, rcv := range g.route.receivers() {
		if le := e.log[logKey(g.key, rcv)]; le != nil {
			for _, fp := range le.Firing {
				told[fp] = true
			}
		}
	}
	return told
}

func (e *engine) view(g *group, now time.Time) view {
	var v view
	told := e.toldFiring(g)
	for _, fp := range slices.Sorted(maps.Keys(g.alerts)) {
		a := g.alerts[fp]
		silenced := len(e.silencedBy(a, now)) > 0
		if a.Status == pipeline.AlertFiring {
			if silenced {
				continue
			}
			v.firing = append(v.firing, a)
			if e.ackedBy(a, now) == nil {
				v.unacked = append(v.unacked, fp)
			}
			if v.start.IsZero() || a.FirstSeen.Before(v.start) {
				v.start = a.FirstSeen
			}
		} else if !silenced || told[fp] {
			// The all-clear of what a person was told is sent even under a
			// silence, so that nobody is left believing it still fires.
			v.resolved = append(v.resolved, a)
		}
	}
	byLabels := func(a, b *alertRec) int { return strings.Compare(labelString(a.Labels), labelString(b.Labels)) }
	slices.SortFunc(v.firing, byLabels)
	slices.SortFunc(v.resolved, byLabels)
	return v
}

func fingerprints(as []*alertRec) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Fingerprint
	}
	sort.Strings(out)
	return out
}

func subset(sub, of []string) bool {
	for _, s := range sub {
		if _, ok := slices.BinarySearch(of, s); !ok {
			return false
		}
	}
	return true
}

// due returns when receiver step of g is to be notified, given v; ok is
// false when it is not to be.
func (e *engine) due(g *group, step int, v view) (at time.Time, ok bool) {
	r := g.route
	rcv := r.receivers()[step]
	le := e.log[logKey(g.key, rcv)]
	firing, resolved := fingerprints(v.firing), fingerprints(v.resolved)
	if len(firing) == 0 && len(resolved) == 0 {
		return time.Time{}, false // nothing to say: all silenced, or nothing left
	}
	told := le != nil && len(le.Firing) > 0
	if !told {
		// Told nothing firing yet: a new group waits group_wait, an
		// escalation its time since the first notification, unless acked.
		if len(firing) == 0 {
			return time.Time{}, false
		}
		if step > 0 {
			// Each unacked alert escalates its time after the route's
			// receiver was told of it.
			base := e.log[logKey(g.key, r.receiver)]
			if base == nil {
				return time.Time{}, false
			}
			for _, fp := range v.unacked {
				if since, ok := base.Since[fp]; ok && (at.IsZero() || since.Before(at)) {
					at = since
				}
			}
			if at.IsZero() {
				return time.Time{}, false
			}
			return at.Add(r.escalate[step-1].after), true
		}
		at = v.start.Add(r.groupWait)
		if le != nil && le.At.Add(r.groupInterval).After(at) {
			at = le.At.Add(r.groupInterval)
		}
		return at, true
	}
	changed := !subset(firing, le.Firing) || len(firing) == 0 ||
		e.cfg.sendResolved && !subset(resolved, le.Resolved)
	if changed {
		return le.At.Add(r.groupInterval), true
	}
	if len(v.unacked) > 0 {
		return le.At.Add(r.repeatInterval), true
	}
	return time.Time{}, false
}

// advance does what is due at now: alerts not heard of for resolve_timeout
// resolve, acks and silences expire, and, on the leader, the notifications
// that are due are returned, to be sent and reported with done. next is
// when something will be due next (zero: nothing is waiting).
func (e *engine) advance(now time.Time) (out []*Notification, next time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	soon := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, a := range e.alerts {
		if a.Status != pipeline.AlertFiring || e.cfg.resolveTimeout <= 0 {
			continue
		}
		end := a.LastSeen.Add(e.cfg.resolveTimeout)
		if !now.Before(end) {
			a.Status, a.EndsAt = pipeline.AlertResolved, end
			e.putAlert(a)
		} else {
			soon(end)
		}
	}
	e.expire(now, soon)
	for _, key := range slices.Sorted(maps.Keys(e.groups)) {
		g := e.groups[key]
		v := e.view(g, now)
		for step, rcv := range g.route.receivers() {
			at, ok := e.due(g, step, v)
			if !ok {
				continue
			}
			st := e.sending[logKey(g.key, rcv)]
			if st != nil && st.inflight != nil {
				continue
			}
			if st != nil && st.retryAt.After(at) {
				at = st.retryAt
			}
			if now.Before(at) {
				soon(at)
				continue
			}
			if !e.leader {
				continue
			}
			if n := e.notification(g, step, v, now); n != nil {
				out = append(out, n)
			}
		}
		e.collect(g, now)
		// Silences and acks change what is due without an alert coming
		// in: look again at least when the next one starts or ends.
	}
	return out, next
}

// notification builds the notification of g to its step's receiver and
// marks it in flight; with send_resolved off, an all-clear is not sent but
// recorded as if it were, and nil is returned.
func (e *engine) notification(g *group, step int, v view, now time.Time) *Notification {
	rcv := g.route.receivers()[step]
	firing, resolved := fingerprints(v.firing), fingerprints(v.resolved)
	if len(firing) == 0 && !e.cfg.sendResolved {
		e.record(g, step, firing, resolved, now)
		return nil
	}
	n := &Notification{Receiver: rcv, GroupKey: g.key, GroupLabels: maps.Clone(g.labels),
		Status: pipeline.AlertFiring, Escalation: step, ExternalURL: e.cfg.externalURL, Sender: e.cfg.sender, At: now}
	if len(firing) == 0 {
		n.Status = pipeline.AlertResolved
	}
	for _, a := range v.firing {
		n.Alerts = append(n.Alerts, a.Alert)
	}
	if e.cfg.sendResolved {
		for _, a := range v.resolved {
			n.Alerts = append(n.Alerts, a.Alert)
		}
	}
	n.CommonLabels, n.CommonAnnotations = common(n.Alerts)
	st := e.sending[logKey(g.key, rcv)]
	if st == nil {
		st = &sendState{}
		e.sending[logKey(g.key, rcv)] = st
	}
	st.inflight, st.firing, st.resolved = n, firing, resolved
	return n
}

// common returns the labels and annotations every alert has alike.
func common(as []pipeline.Alert) (ls, ann map[string]string) {
	ls, ann = map[string]string{}, map[string]string{}
	if len(as) == 0 {
		return ls, ann
	}
	maps.Copy(ls, as[0].Labels)
	maps.Copy(ann, as[0].Annotations)
	for _, a := range as[1:] {
		maps.DeleteFunc(ls, func(k, v string) bool { return a.Labels[k] != v })
		maps.DeleteFunc(ann, func(k, v string) bool { return a.Annotations[k] != v })
	}
	return ls, ann
}

// record writes in the log that g's step receiver was told firing and
// resolved at now.
func (e *engine) record(g *group, step int, firing, resolved []string, now time.Time) {
	rcv := g.route.receivers()[step]
	k := logKey(g.key, rcv)
	old := e.log[k]
	le := &logEntry{GroupKey: g.key, Receiver: rcv, Step: step, Firing: firing, Resolved: resolved, At: now,
		Since: map[string]time.Time{}}
	for _, fp := range firing {
		le.Since[fp] = now
		if old != nil {
			if t, ok := old.Since[fp]; ok {
				le.Since[fp] = t
			}
		}
	}
	e.log[k] = le
	if e.leader && e.store != nil {
		e.store.putLog(le)
	}
}

// done reports how the sending of n (from advance) went. A failure is
// retried with backoff, doubling from retryMin up to the route's
// group_interval; meanwhile n's alerts stay.
func (e *engine) done(n *Notification, now time.Time, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := logKey(n.GroupKey, n.Receiver)
	st := e.sending[k]
	if st == nil || st.inflight != n {
		return
	}
	st.inflight = nil
	g := e.groups[n.GroupKey]
	if err != nil {
		e.failed[n.Receiver]++
		st.failures++
		st.lastErr = hideURLs(err.Error())
		wait := e.cfg.retryMin << min(st.failures-1, 20)
		if g != nil && wait > g.route.groupInterval {
			wait = g.route.groupInterval
		}
		st.retryAt = now.Add(wait)
		return
	}
	e.sent[n.Receiver]++
	delete(e.sending, k)
	if g == nil {
		return
	}
	e.record(g, n.Escalation, st.firing, st.resolved, now)
	e.collect(g, now)
}

// collect drops from g the resolved alerts no receiver still has to be
// told of, and g itself once it has no alert left (with its log and
// acks); an alert in no group any more is forgotten.
func (e *engine) collect(g *group, now time.Time) {
	told := e.toldFiring(g)
	for _, rcv := range g.route.receivers() {
		if st := e.sending[logKey(g.key, rcv)]; st != nil && st.inflight != nil {
			for _, fp := range st.firing {
				told[fp] = true
			}
			for _, fp := range st.resolved {
				told[fp] = true
			}
		}
	}
	for fp, a := range g.alerts {
		if a.Status == pipeline.AlertResolved && !told[fp] {
			delete(g.alerts, fp)
			e.forget(a)
		}
	}
	if len(g.alerts) > 0 {
		return
	}
	for _, rcv := range g.route.receivers() {
		k := logKey(g.key, rcv)
		if st := e.sending[k]; st != nil && st.inflight != nil {
			return
		}
	}
	for _, rcv := range g.route.receivers() {
		k := logKey(g.key, rcv)
		if _, ok := e.log[k]; ok && e.leader && e.store != nil {
			e.store.deleteLog(g.key, rcv)
		}
		delete(e.log, k)
		delete(e.sending, k)
	}
	delete(e.groups, g.key)
}

// forget drops a from e.alerts once no group holds it.
func (e *engine) forget(a *alertRec) {
	for _, g := range e.groups {
		if _, ok := g.alerts[a.Fingerprint]; ok {
			return
		}
	}
	if e.alerts[a.Fingerprint] == a {
		delete(e.alerts, a.Fingerprint)
		if e.leader && e.store != nil {
			e.store.deleteAlert(a.Fingerprint)
		}
	}
}

// expire drops the acks that have expired or whose alerts all resolved,
// and the silences expired for longer than silenceKeep; the leader
// deletes them from the store. soon is told when the next silence starts
// or ends and the next ack expires.
func (e *engine) expire(now time.Time, soon func(time.Time)) {
	for id, k := range e.acks {
		live := false
		for _, c := range k.Covers {
			if a := e.alerts[c.Fingerprint]; a != nil && a.Status == pipeline.AlertFiring && a.StartsAt.Equal(c.StartsAt) {
				live = true
			}
		}
		if (!k.Expires.IsZero() && !now.Before(k.Expires)) || !live && e.leader {
			delete(e.acks, id)
			if e.leader && e.store != nil {
				e.store.deleteAck(id)
			}
			continue
		}
		if !k.Expires.IsZero() {
			soon(k.Expires)
		}
	}
	for id, s := range e.silences {
		switch s.state(now) {
		case "pending":
			soon(s.StartsAt)
		case "active":
			soon(s.EndsAt)
		default:
			if !now.Before(s.EndsAt.Add(e.cfg.silenceKeep)) {
				delete(e.silences, id)
				if e.leader && e.store != nil {
					e.store.deleteSilence(id)
				}
			}
		}
	}
}

func (e *engine) putAlert(a *alertRec) {
	if e.leader && e.store != nil {
		e.store.putAlert(a)
	}
}

// setLeader makes the engine notify (and keep the alerts and the log in
// the store) or not. A new leader writes its alerts, which the one before
// it may not have had.
func (e *engine) setLeader(leader bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if leader == e.leader {
		return
	}
	e.leader = leader
	if !leader {
		e.sending = map[string]*sendState{} // what is in flight is now another's
		return
	}
	if e.store != nil {
		for _, fp := range slices.Sorted(maps.Keys(e.alerts)) {
			e.store.putAlert(e.alerts[fp])
		}
	}
}

// Errors of ack and silence requests: the API answers them with 400 or 404.
var (
	errNotFound = errors.New("not found")
	errBadInput = errors.New("bad request")
)

// ackRequest is POST /api/alerts/ack.
type ackRequest struct {
	Group       string    `json:"group,omitempty"`       // a group key or id
	Fingerprint string    `json:"fingerprint,omitempty"` // or an alert's fingerprint
	By          string    `json:"by,omitempty"`
	Comment     string    `json:"comment,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
}

// acknowledge acks a group (its key or id) or an alert (its fingerprint)
// and stores the ack.
func (e *engine) acknowledge(req ackRequest, now time.Time) (*ack, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := &ack{By: req.By, Comment: req.Comment, At: now, Expires: req.Expires}
	switch {
	case req.Group != "" && req.Fingerprint != "":
		return nil, fmt.Errorf("%w: give group or fingerprint, not both", errBadInput)
	case req.Fingerprint != "":
		a := e.alerts[req.Fingerprint]
		if a == nil || a.Status != pipeline.AlertFiring {
			return nil, fmt.Errorf("%w: no firing alert has fingerprint %q", errNotFound, req.Fingerprint)
		}
		k.ID, k.Fingerprint = a.Fingerprint, a.Fingerprint
		k.Covers = []covered{{a.Fingerprint, a.StartsAt}}
	case req.Group != "":
		g := e.findGroup(req.Group)
		if g == nil {
			return nil, fmt.Errorf("%w: no group has key or id %q", errNotFound, req.Group)
		}
		k.ID, k.Group = g.id, g.key
		for _, fp := range slices.Sorted(maps.Keys(g.alerts)) {
			if a := g.alerts[fp]; a.Status == pipeline.AlertFiring {
				k.Covers = append(k.Covers, covered{fp, a.StartsAt})
			}
		}
		if len(k.Covers) == 0 {
			return nil, fmt.Errorf("%w: group %s has no firing alert", errNotFound, g.id)
		}
	default:
		return nil, fmt.Errorf("%w: give group (a key or id) or fingerprint", errBadInput)
	}
	if !k.Expires.IsZero() && !k.Expires.After(now) {
		return nil, fmt.Errorf("%w: expires %s is not in the future", errBadInput, k.Expires.Format(time.RFC3339))
	}
	e.acks[k.ID] = k
	if e.store != nil {
		e.store.putAck(k)
	}
	return k, nil
}

// findGroup finds a group by key or id.
func (e *engine) findGroup(s string) *group {
	if g := e.groups[s]; g != nil {
		return g
	}
	for _, g := range e.groups {
		if g.id == s {
			return g
		}
	}
	return nil
}

// addSilence checks s, gives it an id if it has none, and stores it.
func (e *engine) addSilence(s *silence, now time.Time) error {
	ms, err := parseMatchers(s.Matchers)
	if err != nil {
		return fmt.Errorf("%w: %w", errBadInput, err)
	}
	if len(ms) == 0 {
		return fmt.Errorf("%w: a silence needs at least one matcher", errBadInput)
	}
	if !s.EndsAt.After(s.StartsAt) {
		return fmt.Errorf("%w: ends_at must be after starts_at", errBadInput)
	}
	if !s.EndsAt.After(now) {
		return fmt.Errorf("%w: ends_at %s is already past", errBadInput, s.EndsAt.Format(time.RFC3339))
	}
	s.matchers = ms
	s.UpdatedAt = now
	if s.ID == "" {
		s.ID = newID()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.silences[s.ID] = s
	if e.store != nil {
		e.store.putSilence(s)
	}
	return nil
}

// expireSilence ends a silence now (a maintenance window to come is
// cancelled); it stays in the list until silenceKeep has passed.
func (e *engine) expireSilence(id string, now time.Time) (*silence, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.silences[id]
	if s == nil {
		return nil, fmt.Errorf("%w: no silence has id %q", errNotFound, id)
	}
	c := *s
	if c.EndsAt.After(now) {
		c.EndsAt = now
		if c.StartsAt.After(now) {
			c.StartsAt = now
		}
		c.UpdatedAt = now
	}
	e.silences[id] = &c
	if e.store != nil {
		e.store.putSilence(&c)
	}
	return &c, nil
}

// The apply methods take another process's changes, read from the store:
// they change the engine's state but write nothing back.

// applyAlert takes an alert loaded from the store at start.
func (e *engine) applyAlert(a *alertRec, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.alerts[a.Fingerprint]; cur != nil && !a.At.After(cur.At) {
		return
	}
	a.LastSeen = now
	e.place(a)
}

// applyLog takes a log entry, unless the engine has a newer one (its own
// write coming back, late).
func (e *engine) applyLog(le *logEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := logKey(le.GroupKey, le.Receiver)
	if cur := e.log[k]; cur != nil && cur.At.After(le.At) {
		return
	}
	e.log[k] = le
}

// applyLogDeleteHash takes the deletion of the log entry of that hash
// (logHash); the leader, the only one that deletes, keeps the entry of a
// group that came back meanwhile.
func (e *engine) applyLogDeleteHash(h string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, le := range e.log {
		if logHash(le.GroupKey, le.Receiver) != h {
			continue
		}
		if _, ok := e.groups[le.GroupKey]; ok && e.leader {
			return
		}
		delete(e.log, k)
	}
}

func (e *engine) applyAck(k *ack) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.acks[k.ID] = k
}

func (e *engine) applyAckDelete(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.acks, id)
}

// applySilence takes a silence, unless its matchers do not parse (then it
// is reported and skipped).
func (e *engine) applySilence(s *silence) error {
	ms, err := parseMatchers(s.Matchers)
	if err != nil {
		return fmt.Errorf("silence %s: %w", s.ID, err)
	}
	s.matchers = ms
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.silences[s.ID]; cur != nil && cur.UpdatedAt.After(s.UpdatedAt) {
		return nil
	}
	e.silences[s.ID] = s
	return nil
}

func (e *engine) applySilenceDelete(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.silences, id)
}

// counts is what the gauges and the status show.
type counts struct {
	firing, silenced, acked, groups int
	sent, failed                    map[string]int64
}

func (e *engine) counts(now time.Time) counts {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := counts{groups: len(e.groups), sent: maps.Clone(e.sent), failed: maps.Clone(e.failed)}
	for _, a := range e.alerts {
		if a.Status != pipeline.AlertFiring {
			continue
		}
		c.firing++
		if len(e.silencedBy(a, now)) > 0 {
			c.silenced++
		}
	}
	for _, g := range e.groups {
		if v := e.view(g, now); len(v.firing) > 0 && len(v.unacked) == 0 {
			c.acked++
		}
	}
	return c
}
