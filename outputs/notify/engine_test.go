package notify

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// t0 is where the tests' clocks start.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// testConfig is an output with receivers ops, pager, lead and sms, and the
// defaults but for a resolve_timeout of a day; change sets what a test
// needs.
func testConfig(t *testing.T, change func(p *Notify)) *Notify {
	t.Helper()
	reg, _ := pipeline.Lookup(pipeline.KindOutput, "notify")
	p := reg.New().(*Notify)
	p.Receiver = "ops"
	p.ResolveTimeout = pipeline.Duration(24 * time.Hour) // tests that want it set it shorter
	for _, n := range []string{"ops", "pager", "lead", "sms"} {
		p.Receivers = append(p.Receivers, ReceiverConfig{Name: n})
	}
	if change != nil {
		change(p)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

func testEngine(t *testing.T, change func(p *Notify)) *engine {
	p := testConfig(t, change)
	return newEngine(engineConfig{routes: p.routes(), resolveTimeout: time.Duration(p.ResolveTimeout),
		sendResolved: p.SendResolved, sender: "test"})
}

// alert is an alert of rule name with labels given as "k=v".
func alert(status, name string, at time.Time, kv ...string) *pipeline.Alert {
	a := &pipeline.Alert{Status: status, Labels: map[string]string{"alertname": name}, At: at}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		a.Labels[k] = v
	}
	a.Fingerprint = pipeline.AlertFingerprint(a.Labels)
	if status == pipeline.AlertResolved {
		a.EndsAt = at
	}
	return a
}

func fire(e *engine, now time.Time, name string, kv ...string) *pipeline.Alert {
	a := alert(pipeline.AlertFiring, name, now, kv...)
	e.receive(a, now)
	return a
}

func resolve(e *engine, now time.Time, name string, kv ...string) {
	e.receive(alert(pipeline.AlertResolved, name, now, kv...), now)
}

// deliver advances e to now and reports every notification as sent.
func deliver(e *engine, now time.Time) []*Notification {
	out, _ := e.advance(now)
	for _, n := range out {
		e.done(n, now, nil)
	}
	return out
}

// summary writes notifications as "receiver status firing/resolved" lines.
func summary(ns []*Notification) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "%s %s %d/%d;", n.Receiver, n.Status, len(n.Firing()), len(n.Resolved()))
	}
	return b.String()
}

func expect(t *testing.T, at string, got []*Notification, want string) {
	t.Helper()
	if s := summary(got); s != want {
		t.Fatalf("%s: notifications %q, want %q", at, s, want)
	}
}

// Twenty hosts failing within group_wait are one notification that lists
// them all, sent group_wait after the first.
func TestGroupWaitConsolidates(t *testing.T) {
	e := testEngine(t, nil)
	for i := range 20 {
		fire(e, t0.Add(time.Duration(i)*time.Second), "host_down", fmt.Sprintf("host=web-%02d", i))
	}
	expect(t, "before group_wait", deliver(e, t0.Add(29*time.Second)), "")
	out := deliver(e, t0.Add(30*time.Second))
	expect(t, "at group_wait", out, "ops firing 20/0;")
	n := out[0]
	if n.GroupKey != `default:{alertname="host_down"}` || n.GroupLabels["alertname"] != "host_down" || n.Escalation != 0 {
		t.Errorf("notification %+v", n)
	}
	if n.Alerts[0].Labels["host"] != "web-00" || n.Alerts[19].Labels["host"] != "web-19" {
		t.Errorf("alerts not sorted by labels: %v ... %v", n.Alerts[0].Labels, n.Alerts[19].Labels)
	}
	if n.CommonLabels["alertname"] != "host_down" || n.CommonLabels["host"] != "" {
		t.Errorf("common labels %v", n.CommonLabels)
	}
	expect(t, "right after", deliver(e, t0.Add(31*time.Second)), "")
}

// group_by splits; a second alert name is a second group.
func TestGroupBy(t *testing.T) {
	e := testEngine(t, func(p *Notify) { p.GroupBy = []string{"alertname", "dc"} })
	fire(e, t0, "down", "host=a", "dc=x")
	fire(e, t0, "down", "host=b", "dc=x")
	fire(e, t0, "down", "host=c", "dc=y")
	fire(e, t0, "cpu", "host=a", "dc=x")
	expect(t, "group_wait", deliver(e, t0.Add(30*time.Second)), "ops firing 1/0;ops firing 2/0;ops firing 1/0;")

	e = testEngine(t, func(p *Notify) { p.GroupBy = []string{"..."} })
	fire(e, t0, "down", "host=a")
	fire(e, t0, "down", "host=b")
	expect(t, "one group per alert", deliver(e, t0.Add(30*time.Second)), "ops firing 1/0;ops firing 1/0;")
}

// A change is told no sooner than group_interval after the last
// notification; then nothing until repeat_interval.
func TestGroupIntervalAndRepeat(t *testing.T) {
	e := testEngine(t, nil)
	fire(e, t0, "down", "host=a")
	expect(t, "first", deliver(e, t0.Add(30*time.Second)), "ops firing 1/0;")
	sent := t0.Add(30 * time.Second)
	fire(e, sent.Add(time.Minute), "down", "host=b")
	if _, next := e.advance(sent.Add(time.Minute)); !next.Equal(sent.Add(5 * time.Minute)) {
		t.Errorf("next deadline %v, want group_interval after the first: %v", next, sent.Add(5*time.Minute))
	}
	expect(t, "before group_interval", deliver(e, sent.Add(5*time.Minute-time.Second)), "")
	expect(t, "at group_interval", deliver(e, sent.Add(5*time.Minute)), "ops firing 2/0;")
	last := sent.Add(5 * time.Minute)
	// The rules keep saying both fire: nothing new, nothing sent.
	for m := 1; m < 240; m++ {
		now := last.Add(time.Duration(m) * time.Minute)
		fire(e, now, "down", "host=a")
		fire(e, now, "down", "host=b")
		expect(t, fmt.Sprintf("minute %d", m), deliver(e, now), "")
	}
	now := last.Add(4 * time.Hour)
	fire(e, now, "down", "host=a")
	fire(e, now, "down", "host=b")
	expect(t, "repeat_interval", deliver(e, now), "ops firing 2/0;")
}

// The all-clear: when every alert of a group has resolved, the group is
// told so, with the alerts it had, once; then the group is gone.
func TestAllClear(t *testing.T) {
	e := testEngine(t, nil)
	fire(e, t0, "down", "host=a")
	fire(e, t0, "down", "host=b")
	expect(t, "first", deliver(e, t0.Add(30*time.Second)), "ops firing 2/0;")
	resolve(e, t0.Add(time.Minute), "down", "host=a")
	out := deliver(e, t0.Add(5*time.Minute+30*time.Second))
	expect(t, "one resolved", out, "ops firing 1/1;")
	if out[0].Alerts[0].Status != pipeline.AlertFiring {
		t.Error("firing alerts are not first")
	}
	resolve(e, t0.Add(6*time.Minute), "down", "host=b")
	expect(t, "before group_interval", deliver(e, t0.Add(10*time.Minute)), "")
	expect(t, "all-clear", deliver(e, t0.Add(10*time.Minute+30*time.Second)), "ops resolved 0/1;")
	if len(e.groups) != 0 || len(e.alerts) != 0 || len(e.log) != 0 {
		t.Errorf("after the all-clear: %d groups, %d alerts, %d log entries, want none", len(e.groups), len(e.alerts), len(e.log))
	}
	expect(t, "after", deliver(e, t0.Add(24*time.Hour)), "")

	// Fired and resolved within group_wait: nobody is told.
	fire(e, t0.Add(25*time.Hour), "flap", "host=a")
	resolve(e, t0.Add(25*time.Hour+10*time.Second), "flap", "host=a")
	expect(t, "flap", deliver(e, t0.Add(26*time.Hour)), "")
}

// Without send_resolved, resolved alerts are not sent, and the all-clear is
// not either (but recorded, so that nothing is sent later).
func TestNoSendResolved(t *testing.T) {
	e := testEngine(t, func(p *Notify) { p.SendResolved = false })
	fire(e, t0, "down", "host=a")
	fire(e, t0, "down", "host=b")
	deliver(e, t0.Add(30*time.Second))
	resolve(e, t0.Add(time.Minute), "down", "host=a")
	expect(t, "one resolved", deliver(e, t0.Add(6*time.Minute)), "")
	resolve(e, t0.Add(7*time.Minute), "down", "host=b")
	expect(t, "all resolved", deliver(e, t0.Add(20*time.Minute)), "")
	if len(e.groups) != 0 {
		t.Errorf("%d groups left", len(e.groups))
	}
}

// resolve_timeout: a firing alert that is not heard of again resolves.
func TestResolveTimeout(t *testing.T) {
	e := testEngine(t, func(p *Notify) { p.ResolveTimeout = pipeline.Duration(5 * time.Minute) })
	fire(e, t0, "down", "host=a")
	fire(e, t0, "down", "host=b")
	deliver(e, t0.Add(30*time.Second))
	for m := 1; m <= 10; m++ {
		fire(e, t0.Add(time.Duration(m)*time.Minute), "down", "host=a") // b goes quiet
	}
	out := deliver(e, t0.Add(10*time.Minute))
	expect(t, "b timed out", out, "ops firing 1/1;")
	r := out[0].Resolved()[0]
	if r.Labels["host"] != "b" || !r.EndsAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("resolved %v ends %v, want host b at %v", r.Labels, r.EndsAt, t0.Add(5*time.Minute))
	}
}

// Routes: the first that matches takes the alert, continue lets the next
// ones match too, and the default takes what none does; a route's own
// group_by and group_wait apply.
func TestRouting(t *testing.T) {
	e := testEngine(t, func(p *Notify) {
		wait := pipeline.Duration(0)
		p.Routes = []RouteConfig{
			{Matchers: []string{`severity="critical"`}, Receiver: "pager", GroupBy: []string{"alertname", "host"}, GroupWait: &wait, Continue: true},
			{Matchers: []string{`team=~"db|storage"`}, Receiver: "lead"},
			{Matchers: []string{`team="db"`}, Receiver: "sms"}, // never reached: the route above takes it
		}
	})
	fire(e, t0, "down", "host=a", "severity=critical", "team=db")
	fire(e, t0, "down", "host=b", "severity=critical")
	fire(e, t0, "disk", "host=c", "team=storage")
	fire(e, t0, "cpu", "host=d", "severity=warning")
	expect(t, "critical at once", deliver(e, t0), "pager firing 1/0;pager firing 1/0;")
	expect(t, "the rest after group_wait", deliver(e, t0.Add(30*time.Second)),
		"ops firing 1/0;lead firing 1/0;lead firing 1/0;")
}

// Escalation: a group not acked 15m after its first notification is told
// to the next receiver too, and from then on that receiver hears of it
// (changes, the all-clear).
func TestEscalation(t *testing.T) {
	e := testEngine(t, func(p *Notify) {
		p.Escalate = []EscalateConfig{{After: pipeline.Duration(15 * time.Minute), Receiver: "pager"},
			{After: pipeline.Duration(time.Hour), Receiver: "sms"}}
	})
	fire(e, t0, "down", "host=a")
	first := t0.Add(30 * time.Second)
	expect(t, "first", deliver(e, first), "ops firing 1/0;")
	if _, next := e.advance(first.Add(time.Minute)); !next.Equal(first.Add(15 * time.Minute)) {
		t.Errorf("next deadline %v, want the escalation at %v", next, first.Add(15*time.Minute))
	}
	expect(t, "before", deliver(e, first.Add(15*time.Minute-time.Second)), "")
	out := deliver(e, first.Add(15*time.Minute))
	expect(t, "escalated", out, "pager firing 1/0;")
	if out[0].Escalation != 1 {
		t.Errorf("escalation %d, want 1", out[0].Escalation)
	}
	expect(t, "second step", deliver(e, first.Add(time.Hour)), "sms firing 1/0;")
	resolve(e, first.Add(2*time.Hour), "down", "host=a")
	expect(t, "all-clear to all three", deliver(e, first.Add(2*time.Hour)),
		"ops resolved 0/1;pager resolved 0/1;sms resolved 0/1;")
}

// An ack stops repeats and escalation, until a new alert joins the group
// (not covered by it) or the alert fires anew; changes are still told.
func TestAckStopsRepeatAndEscalation(t *testing.T) {
	e := testEngine(t, func(p *Notify) {
		p.Escalate = []EscalateConfig{{After: pipeline.Duration(15 * time.Minute), Receiver: "pager"}}
	})
	fire(e, t0, "down", "host=a")
	first := t0.Add(30 * time.Second)
	out := deliver(e, first)
	k, err := e.acknowledge(ackRequest{Group: groupID(out[0].GroupKey), By: "ann", Comment: "on it"}, first.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != groupID(out[0].GroupKey) || len(k.Covers) != 1 || k.By != "ann" {
		t.Errorf("ack %+v", k)
	}
	expect(t, "no escalation", deliver(e, first.Add(16*time.Minute)), "")
	expect(t, "no repeat", deliver(e, first.Add(5*time.Hour)), "")
	if c := e.counts(first.Add(5 * time.Hour)); c.acked != 1 {
		t.Errorf("acked groups %d, want 1", c.acked)
	}

	// A new alert joins: told (a change), and, not acked, escalated later.
	now := first.Add(5 * time.Hour)
	fire(e, now, "down", "host=b")
	expect(t, "new alert", deliver(e, now), "ops firing 2/0;")
	expect(t, "escalation resumes", deliver(e, now.Add(15*time.Minute)), "pager firing 2/0;")
	// An ack of one alert by fingerprint covers that alert only.
	b := alert(pipeline.AlertFiring, "down", now, "host=b")
	if _, err := e.acknowledge(ackRequest{Fingerprint: b.Fingerprint}, now.Add(16*time.Minute)); err != nil {
		t.Fatal(err)
	}
	expect(t, "all acked: no repeat", deliver(e, now.Add(10*time.Hour)), "")

	// Errors: unknown group, unknown fingerprint, neither, both.
	for _, req := range []ackRequest{{Group: "nope"}, {Fingerprint: "0123456789abcdef"}, {}, {Group: "x", Fingerprint: "y"}} {
		if _, err := e.acknowledge(req, now); err == nil {
			t.Errorf("ack %+v: no error", req)
		}
	}
}

// An ack with an expiry lapses: repeats resume after it.
func TestAckExpires(t *testing.T) {
	e := testEngine(t, nil)
	fire(e, t0, "down", "host=a")
	out := deliver(e, t0.Add(30*time.Second))
	if _, err := e.acknowledge(ackRequest{Group: out[0].GroupKey, Expires: t0.Add(6 * time.Hour)}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	expect(t, "acked", deliver(e, t0.Add(5*time.Hour)), "")
	expect(t, "expired", deliver(e, t0.Add(6*time.Hour)), "ops firing 1/0;")
	if len(e.acks) != 0 {
		t.Errorf("expired ack kept: %v", e.acks)
	}
}

// An ack does not outlive the firing it was made for: the alert resolves
// and fires again, and it is told and escalated as new.
func TestAckEndsWithTheFiring(t *testing.T) {
	e := testEngine(t, func(p *Notify) {
		p.Escalate = []EscalateConfig{{After: pipeline.Duration(15 * time.Minute), Receiver: "pager"}}
	})
	fire(e, t0, "down", "host=a")
	out := deliver(e, t0.Add(30*time.Second))
	if _, err := e.acknowledge(ackRequest{Group: out[0].GroupKey}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	resolve(e, t0.Add(2*time.Minute), "down", "host=a")
	expect(t, "all-clear", deliver(e, t0.Add(6*time.Minute)), "ops resolved 0/1;")
	if len(e.acks) != 0 {
		t.Errorf("ack of a resolved group kept: %v", e.acks)
	}
	fire(e, t0.Add(time.Hour), "down", "host=a")
	expect(t, "fires again", deliver(e, t0.Add(time.Hour+30*time.Second)), "ops firing 1/0;")
	expect(t, "escalated", deliver(e, t0.Add(time.Hour+16*time.Minute)), "pager firing 1/0;")
}

// A silence mutes the alerts it matches; a maintenance window starting
// later mutes from its start; once it ends the alert is told.
func TestSilence(t *testing.T) {
	e := testEngine(t, nil)
	s := &silence{Matchers: []string{`host="a"`}, StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: "ann", Comment: "reboot"}
	if err := e.addSilence(s, t0); err != nil {
		t.Fatal(err)
	}
	fire(e, t0, "down", "host=a")
	expect(t, "silenced", deliver(e, t0.Add(30*time.Second)), "")
	if c := e.counts(t0.Add(time.Minute)); c.silenced != 1 || c.firing != 1 {
		t.Errorf("counts %+v", c)
	}
	fire(e, t0.Add(time.Minute), "down", "host=b")
	out := deliver(e, t0.Add(90*time.Second))
	expect(t, "b not silenced", out, "ops firing 1/0;")
	if out[0].Alerts[0].Labels["host"] != "b" {
		t.Errorf("sent %v", out[0].Alerts[0].Labels)
	}
	for m := 2; m < 60; m++ {
		now := t0.Add(time.Duration(m) * time.Minute)
		fire(e, now, "down", "host=a")
		fire(e, now, "down", "host=b")
		expect(t, "under the silence", deliver(e, now), "")
	}
	// The silence ends: a is new to the receiver, told at group_interval.
	now := t0.Add(time.Hour)
	fire(e, now, "down", "host=a")
	fire(e, now, "down", "host=b")
	expect(t, "silence over", deliver(e, now), "ops firing 2/0;")
}

// A maintenance window (a silence that starts later) mutes only from its
// start; expiring it through the API ends it at once.
func TestMaintenanceWindow(t *testing.T) {
	e := testEngine(t, func(p *Notify) { p.ResolveTimeout = pipeline.Duration(24 * time.Hour) })
	s := &silence{Matchers: []string{`alertname="down"`, `host=~"db-.*"`}, StartsAt: t0.Add(time.Hour), EndsAt: t0.Add(2 * time.Hour)}
	if err := e.addSilence(s, t0); err != nil {
		t.Fatal(err)
	}
	if got := s.state(t0); got != "pending" {
		t.Errorf("state %s, want pending", got)
	}
	fire(e, t0.Add(time.Hour), "down", "host=db-1")
	expect(t, "in the window", deliver(e, t0.Add(time.Hour+time.Minute)), "")
	fire(e, t0.Add(time.Hour+time.Minute), "down", "host=web-1")
	expect(t, "not matched", deliver(e, t0.Add(time.Hour+2*time.Minute)), "ops firing 1/0;")
	if _, err := e.expireSilence(s.ID, t0.Add(time.Hour+10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	expect(t, "expired", deliver(e, t0.Add(time.Hour+10*time.Minute)), "ops firing 2/0;")
	if _, err := e.expireSilence("nope", t0); !errors.Is(err, errNotFound) {
		t.Errorf("expire unknown: %v", err)
	}
	// Kept for the list a day after it ended, then forgotten.
	deliver(e, t0.Add(25*time.Hour))
	if len(e.silences) != 1 {
		t.Error("expired silence dropped too soon")
	}
	deliver(e, t0.Add(26*time.Hour))
	if len(e.silences) != 0 {
		t.Error("expired silence kept")
	}
}

// The all-clear of an alert told as firing is sent even when it resolves
// under a silence.
func TestAllClearUnderSilence(t *testing.T) {
	e := testEngine(t, nil)
	fire(e, t0, "down", "host=a")
	deliver(e, t0.Add(30*time.Second))
	if err := e.addSilence(&silence{Matchers: []string{`host="a"`}, StartsAt: t0.Add(time.Minute), EndsAt: t0.Add(5 * time.Hour)}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	expect(t, "silenced: no repeat", deliver(e, t0.Add(4*time.Hour+time.Minute)), "")
	resolve(e, t0.Add(4*time.Hour+2*time.Minute), "down", "host=a")
	expect(t, "all-clear", deliver(e, t0.Add(4*time.Hour+2*time.Minute)), "ops resolved 0/1;")
}

// Bad silences are refused.
func TestSilenceErrors(t *testing.T) {
	e := testEngine(t, nil)
	for _, s := range []*silence{
		{Matchers: nil, StartsAt: t0, EndsAt: t0.Add(time.Hour)},
		{Matchers: []string{`host=a"`}, StartsAt: t0, EndsAt: t0.Add(time.Hour)},
		{Matchers: []string{`host="a"`}, StartsAt: t0, EndsAt: t0},
		{Matchers: []string{`host="a"`}, StartsAt: t0.Add(-2 * time.Hour), EndsAt: t0.Add(-time.Hour)},
	} {
		if err := e.addSilence(s, t0); !errors.Is(err, errBadInput) {
			t.Errorf("silence %+v: %v, want a bad request", s, err)
		}
	}
}

// A failed send is retried with backoff, no later than group_interval, and
// nothing is lost meanwhile.
func TestRetry(t *testing.T) {
	e := testEngine(t, nil)
	fire(e, t0, "down", "host=a")
	now := t0.Add(30 * time.Second)
	out, _ := e.advance(now)
	expect(t, "first", out, "ops firing 1/0;")
	if again, _ := e.advance(now); len(again) != 0 {
		t.Fatal("a notification in flight was handed out twice")
	}
	e.done(out[0], now, errors.New("smtp: connection refused"))
	var tries []time.Duration
	for clock := now; len(tries) < 8 && clock.Before(now.Add(time.Hour)); {
		clock = clock.Add(time.Second)
		if out, _ := e.advance(clock); len(out) > 0 {
			tries = append(tries, clock.Sub(now))
			e.done(out[0], clock, errors.New("smtp: connection refused"))
			now = clock
		}
	}
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	if fmt.Sprint(tries) != fmt.Sprint(want) {
		t.Errorf("retries after %v, want %v", tries, want)
	}
	if e.failed["ops"] != 9 {
		t.Errorf("failed %d, want 9", e.failed["ops"])
	}
	expect(t, "recovers", deliver(e, now.Add(5*time.Minute)), "ops firing 1/0;")
	expect(t, "then quiet", deliver(e, now.Add(6*time.Minute)), "")
}

// Followers decide nothing: only the leader's engine hands out
// notifications.
func TestFollowerSendsNothing(t *testing.T) {
	e := testEngine(t, nil)
	e.setLeader(false)
	fire(e, t0, "down", "host=a")
	expect(t, "follower", deliver(e, t0.Add(time.Hour)), "")
	e.setLeader(true)
	expect(t, "leader", deliver(e, t0.Add(time.Hour)), "ops firing 1/0;")
}

// The same alert from two processes' rules, or sent again, is one alert;
// an older message than the one known is ignored.
func TestDeduplicates(t *testing.T) {
	e := testEngine(t, nil)
	a := fire(e, t0, "down", "host=a")
	a2 := *a
	a2.StartsAt = t0.Add(-time.Minute)
	e.receive(&a2, t0.Add(time.Second))
	old := alert(pipeline.AlertResolved, "down", t0.Add(-time.Hour), "host=a")
	e.receive(old, t0.Add(2*time.Second))
	out := deliver(e, t0.Add(30*time.Second))
	expect(t, "one alert", out, "ops firing 1/0;")
	if !out[0].Alerts[0].StartsAt.Equal(t0) {
		t.Errorf("starts_at %v, want the first one's %v", out[0].Alerts[0].StartsAt, t0)
	}
}

// The last error of a receiver, shown by the admin API, keeps only the
// scheme and host of a URL (a webhook's path holds its token).
func TestHideURLs(t *testing.T) {
	in := `Post "https://hooks.slack.com/services/T00/B00/SECRET": dial tcp: timeout; smtp://user:pw@mail.example.com:587/x failed`
	want := `Post "https://hooks.slack.com/...": dial tcp: timeout; smtp://mail.example.com:587/... failed`
	if got := hideURLs(in); got != want {
		t.Errorf("hideURLs:\n got %s\nwant %s", got, want)
	}
}
