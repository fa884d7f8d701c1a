package alertmanager

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/internal/amtest"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// wait is how long a test waits for Alertmanager's asynchronous work (its
// dispatcher's group_wait, a webhook call) on a busy machine.
const wait = 20 * time.Second

// TestSample keeps sample.toml and the code in step.
func TestSample(t *testing.T) {
	pipelinetest.CheckSample(t, pipeline.KindOutput, "alertmanager", "url")
}

// Firing alerts from the pipeline reach Alertmanager with their labels and
// annotations, under the fingerprint the pipeline gave them; what is not an
// alert is skipped, counted as dropped.
func TestFiringAlertsReachAlertmanager(t *testing.T) {
	am := amtest.New(t, amtest.Config)
	o, clock, _ := start(t, func(o *Alertmanager) {
		o.URL = []string{am.URL}
		o.GeneratorURL = "http://grafana.example/d/hosts?var-host={{ urlquery .Labels.host }}"
	})
	a := alert(pipeline.AlertFiring, "high_cpu", "web-1")
	a.Annotations = map[string]string{"summary": "CPU at 97%", "description": "usage_user above 90 for 5m"}
	if err := o.Write([]*pipeline.Message{message(a), {Type: "log", Payload: []byte("not an alert")}}); err != nil {
		t.Fatal(err)
	}
	if got := o.env.Stats.Dropped.Load(); got != 1 {
		t.Errorf("Dropped = %d, want 1: the log message", got)
	}
	got := waitAlert(t, am, a.Labels)
	if got.Fingerprint != pipeline.AlertFingerprint(a.Labels) {
		t.Errorf("Alertmanager's fingerprint %s, the pipeline's %s", got.Fingerprint, pipeline.AlertFingerprint(a.Labels))
	}
	for k, v := range a.Annotations {
		if got.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, got.Annotations[k], v)
		}
	}
	if want := a.StartsAt; !sameTime(got.StartsAt, want) {
		t.Errorf("startsAt = %v, want %v", got.StartsAt, want)
	}
	if want := clock.Now().Add(4 * time.Minute); !sameTime(got.EndsAt, want) {
		t.Errorf("endsAt = %v, want now + 4 × resend_interval = %v", got.EndsAt, want)
	}
	if want := "http://grafana.example/d/hosts?var-host=web-1"; got.GeneratorURL != want {
		t.Errorf("generatorURL = %q, want %q", got.GeneratorURL, want)
	}
	pipelinetest.WaitUntil(t, wait, "the gauges", func() error {
		g := o.Gauges()
		if g["alertmanager_alerts_firing"] != 1 || g["alertmanager_posts_ok"] != 1 || g["alertmanager_posts_failed"] != 0 {
			return fmt.Errorf("gauges %v", g)
		}
		return nil
	})
}

// Alertmanager groups what the output posts: three hosts' alerts of one
// rule arrive in one notification listing the three; once resolved, the
// notification says "resolved" and Alertmanager no longer lists them.
func TestAlertmanagerGroupsAndResolves(t *testing.T) {
	hook := newWebhook(t)
	am := amtest.New(t, amtest.WebhookConfig(hook.URL))
	o, _, _ := start(t, func(o *Alertmanager) { o.URL = []string{am.URL} })

	var firing []*pipeline.Message
	for _, h := range []string{"web-1", "web-2", "web-3"} {
		a := alert(pipeline.AlertFiring, "disk_full", h)
		// Just started: Alertmanager waits group_wait for more of the group
		// (an alert that started longer ago than that is notified at once).
		a.StartsAt = time.Now()
		firing = append(firing, message(a))
	}
	if err := o.Write(firing); err != nil {
		t.Fatal(err)
	}
	n := hook.waitFor(t, "the firing group", func(p webhookPayload) bool { return p.Status == "firing" })
	if p := hook.calls()[n]; len(p.Alerts) != 3 || p.GroupLabels["alertname"] != "disk_full" {
		t.Fatalf("first notification: %d alerts, group %v; want the 3 hosts of disk_full in one", len(p.Alerts), p.GroupLabels)
	}
	if n != 0 {
		t.Errorf("the firing group came in notification %d, want the first", n)
	}

	var resolved []*pipeline.Message
	for _, h := range []string{"web-1", "web-2", "web-3"} {
		a := alert(pipeline.AlertResolved, "disk_full", h)
		a.EndsAt = time.Now().Add(-time.Second)
		resolved = append(resolved, message(a))
	}
	if err := o.Write(resolved); err != nil {
		t.Fatal(err)
	}
	n = hook.waitFor(t, "the resolved group", func(p webhookPayload) bool { return p.Status == "resolved" })
	p := hook.calls()[n]
	if len(p.Alerts) != 3 {
		t.Errorf("resolved notification lists %d alerts, want 3", len(p.Alerts))
	}
	for _, a := range p.Alerts {
		if a.Status != "resolved" {
			t.Errorf("alert %v: status %q, want resolved", a.Labels, a.Status)
		}
	}
	if alerts, err := am.Alerts(); err != nil || len(alerts) != 0 {
		t.Errorf("Alertmanager still lists %d alerts (%v), want none once resolved", len(alerts), err)
	}
	if g := o.Gauges(); g["alertmanager_alerts_firing"] != 0 || g["alertmanager_alerts_resolved"] != 3 {
		t.Errorf("gauges %v: want 0 firing, 3 resolved held for re-sending", g)
	}
}

// Past resend_interval, the re-send loop posts a firing alert again with
// a later endsAt; before it, it posts nothing.
func TestResendPostsFiringAlertsAgain(t *testing.T) {
	am := amtest.New(t, amtest.Config)
	proxy := newCountingProxy(t, am.URL)
	o, clock, tick := start(t, func(o *Alertmanager) { o.URL = []string{proxy.URL} })

	a := alert(pipeline.AlertFiring, "high_cpu", "web-1")
	if err := o.Write([]*pipeline.Message{message(a)}); err != nil {
		t.Fatal(err)
	}
	first := waitAlert(t, am, a.Labels).EndsAt

	clock.Advance(30 * time.Second) // half of resend_interval: nothing due
	tick()
	if n := proxy.posts(); n != 1 {
		t.Fatalf("%d posts before resend_interval, want the first only", n)
	}

	clock.Advance(30 * time.Second)
	tick()
	pipelinetest.WaitUntil(t, wait, "the second post", func() error {
		if n := proxy.posts(); n != 2 {
			return fmt.Errorf("%d posts", n)
		}
		return nil
	})
	got := waitAlert(t, am, a.Labels)
	if want := first.Add(time.Minute); !sameTime(got.EndsAt, want) {
		t.Errorf("endsAt after the re-send = %v, want a minute later than %v", got.EndsAt, first)
	}
}

// A firing alert its rule stops repeating is posted as resolved once
// resolve_timeout has passed, and forgotten resolvedRetention after.
func TestResolveTimeoutResolvesAForgottenAlert(t *testing.T) {
	am := amtest.New(t, amtest.Config)
	o, clock, tick := start(t, func(o *Alertmanager) {
		o.URL = []string{am.URL}
		o.ResolveTimeout = pipeline.Duration(3 * time.Minute)
	})
	// Alertmanager runs on the wall clock: the output's starts 3m30s behind
	// it, so that the firing alert (endsAt 4m ahead) is active there and
	// the resolved one (endsAt at resolve_timeout, 3m on) is over.
	clock.Advance(-210 * time.Second)
	a := alert(pipeline.AlertFiring, "high_cpu", "web-1")
	if err := o.Write([]*pipeline.Message{message(a)}); err != nil {
		t.Fatal(err)
	}
	waitAlert(t, am, a.Labels)
	for range 3 { // re-sent while it waits: still firing
		clock.Advance(time.Minute)
		tick()
	}
	if g := o.Gauges(); g["alertmanager_alerts_firing"] != 0 || g["alertmanager_alerts_resolved"] != 1 {
		t.Fatalf("gauges %v after resolve_timeout, want the alert resolved", g)
	}
	pipelinetest.WaitUntil(t, wait, "Alertmanager to drop the resolved alert", func() error {
		alerts, err := am.Alerts()
		if err == nil && len(alerts) > 0 {
			err = fmt.Errorf("it lists %v ending %v", alerts[0].Labels, alerts[0].EndsAt)
		}
		return err
	})
	clock.Advance(resolvedRetention)
	tick()
	if g := o.Gauges(); g["alertmanager_alerts_resolved"] != 0 {
		t.Errorf("gauges %v after resolvedRetention, want the alert forgotten", g)
	}
}

// While Alertmanager is down, Write says retry and the failure is counted
// and shown (by host, not by URL); once it is back the alert is delivered,
// by the re-send loop as well as by the runtime's retry.
func TestAlertmanagerDownIsRetriedThenDelivered(t *testing.T) {
	am := amtest.New(t, amtest.Config)
	am.Stop()
	u, _ := url.Parse(am.URL)
	u.User = url.UserPassword("am", "s3cret-pass")
	o, _, tick := start(t, func(o *Alertmanager) { o.URL = []string{u.String()} })

	a := alert(pipeline.AlertFiring, "high_cpu", "web-1")
	batch := []*pipeline.Message{message(a)}
	err := o.Write(batch)
	if !pipeline.IsRetryable(err) {
		t.Fatalf("Write with Alertmanager down = %v, want a retryable error", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the password: %v", err)
	}
	if g := o.Gauges(); g["alertmanager_posts_failed"] != 1 || g["alertmanager_alerts_firing"] != 1 {
		t.Errorf("gauges %v, want one failed post and the alert held", g)
	}
	st := fmt.Sprint(o.Status())
	if !strings.Contains(st, "failing_since") || !strings.Contains(st, u.Host) || strings.Contains(st, "s3cret") {
		t.Errorf("Status = %s, want the host failing, without the password", st)
	}

	if err := am.Restart(); err != nil {
		t.Fatal(err)
	}
	tick() // not yet taken by any: due at once
	waitAlert(t, am, a.Labels)
	if err := o.Write(batch); err != nil { // the runtime's retry
		t.Fatalf("Write once Alertmanager is back: %v", err)
	}
	if st := fmt.Sprint(o.Status()); strings.Contains(st, "failing_since") {
		t.Errorf("Status = %s, still failing", st)
	}
}

// With two Alertmanagers (an HA pair) each gets every alert; one down does
// not fail the write, and it catches up at the next re-send.
func TestHAPairBothGetTheAlerts(t *testing.T) {
	am1 := amtest.New(t, amtest.Config)
	am2 := amtest.New(t, amtest.Config)
	am2.Stop()
	o, clock, tick := start(t, func(o *Alertmanager) { o.URL = []string{am1.URL, am2.URL} })
	a := alert(pipeline.AlertFiring, "high_cpu", "web-1")
	if err := o.Write([]*pipeline.Message{message(a)}); err != nil {
		t.Fatalf("Write with one of two down = %v, want nil", err)
	}
	waitAlert(t, am1, a.Labels)
	if err := am2.Restart(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	tick()
	waitAlert(t, am2, a.Labels)
}

// Alertmanager's refusal (4xx) is not retried and says why; a 5xx is
// retried. Basic auth and bearer tokens are sent as configured.
func TestAnswersAndAuthentication(t *testing.T) {
	var mu sync.Mutex
	status, gotAuth := http.StatusBadRequest, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gotAuth = r.Header.Get("Authorization")
		if r.URL.Path != "/prefix/api/v2/alerts" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, "start time must be before end time")
	}))
	defer srv.Close()
	o, _, _ := start(t, func(o *Alertmanager) {
		o.URL = []string{srv.URL + "/prefix"}
		o.BearerToken = "tok-123456"
	})
	batch := []*pipeline.Message{message(alert(pipeline.AlertFiring, "x", "h"))}
	err := o.Write(batch)
	if err == nil || pipeline.IsRetryable(err) || !strings.Contains(err.Error(), "start time must be before end time") {
		t.Errorf("400: Write = %v, want an error that is not retryable and holds the reason", err)
	}
	mu.Lock()
	if gotAuth != "Bearer tok-123456" {
		t.Errorf("Authorization %q, want the bearer token", gotAuth)
	}
	status = http.StatusServiceUnavailable
	mu.Unlock()
	if err := o.Write(batch); !pipeline.IsRetryable(err) {
		t.Errorf("503: Write = %v, want retryable", err)
	}

	o2, _, _ := start(t, func(o *Alertmanager) {
		o.URL = []string{srv.URL + "/prefix/"}
		o.BasicAuth = BasicAuth{Username: "am", Password: "pw"}
	})
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	if err := o2.Write(batch); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "Basic YW06cHc="; gotAuth != want {
		t.Errorf("Authorization %q, want %q", gotAuth, want)
	}
}

// An alert Alertmanager would refuse is skipped, counted, not posted;
// external_labels are added, the alert's own labels win.
func TestInvalidAlertsAndExternalLabels(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]postableAlert
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b []postableAlert
		_ = json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
	}))
	defer srv.Close()
	o, _, _ := start(t, func(o *Alertmanager) {
		o.URL = []string{srv.URL}
		o.ExternalLabels = map[string]string{"pipeline": "edge-1", "host": "not-this"}
	})
	bad := alert(pipeline.AlertFiring, "x", "h")
	bad.Labels["bad-name"] = "v"
	good := alert(pipeline.AlertFiring, "x", "h")
	if err := o.Write([]*pipeline.Message{message(bad), message(good)}); err != nil {
		t.Fatal(err)
	}
	if d, e := o.env.Stats.Dropped.Load(), o.env.Stats.Errors.Load(); d != 1 || e != 1 {
		t.Errorf("Dropped %d, Errors %d; want 1 and 1", d, e)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || len(bodies[0]) != 1 {
		t.Fatalf("posted %v, want one request with the good alert", bodies)
	}
	l := bodies[0][0].Labels
	if l["pipeline"] != "edge-1" || l["host"] != "h" || l["alertname"] != "x" {
		t.Errorf("labels %v: want external label pipeline=edge-1 and the alert's own host", l)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		set  func(o *Alertmanager)
		key  string // "" when valid
	}{
		{"one URL", func(o *Alertmanager) {}, ""},
		{"no url", func(o *Alertmanager) { o.URL = nil }, "url"},
		{"not http", func(o *Alertmanager) { o.URL = []string{"ftp://h:9093"} }, "url"},
		{"listed twice", func(o *Alertmanager) { o.URL = []string{"http://h:9093", "http://h:9093/"} }, ""},
		{"listed twice, same path", func(o *Alertmanager) { o.URL = []string{"http://h:9093", "http://h:9093"} }, "url"},
		{"resend too fast", func(o *Alertmanager) { o.ResendInterval = pipeline.Duration(time.Millisecond) }, "resend_interval"},
		{"bad template", func(o *Alertmanager) { o.GeneratorURL = "http://x/{{ .Labels" }, "generator_url"},
		{"relative generator", func(o *Alertmanager) { o.GeneratorURL = "/alerts" }, "generator_url"},
		{"both auths", func(o *Alertmanager) { o.BasicAuth.Username, o.BearerToken = "u", "t" }, "bearer_token"},
		{"password alone", func(o *Alertmanager) { o.BasicAuth.Password = "p" }, "basic_auth"},
		{"tls_ca over http", func(o *Alertmanager) { o.TLSCA = "ca.pem" }, "tls_ca"},
		{"bad external label", func(o *Alertmanager) { o.ExternalLabels = map[string]string{"a-b": "c"} }, "external_labels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newDefault()
			o.URL = []string{"http://127.0.0.1:9093"}
			tc.set(o)
			err := o.Validate()
			if tc.key == "" {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), `"`+tc.key+`"`) {
				t.Errorf("Validate = %v, want an error on key %q", err, tc.key)
			}
		})
	}
}

// A password in url is a secret the runtime redacts.
func TestURLPasswordIsRedacted(t *testing.T) {
	src := "[[outputs.alertmanager]]\nsubscribe = [\"alerts.>\"]\nexternal = true\n" +
		`url = ["http://u:pw-secret@h:9093", "http://h2:9093"]` + "\n"
	cfg, err := pipeline.ParseConfig("t.toml", src)
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Plugins[0].Plugin.(*Alertmanager); len(o.URL) != 2 {
		t.Errorf("url = %v", o.URL)
	}
	if got := cfg.Redactor().String("post to http://u:pw-secret@h:9093 failed: pw-secret"); strings.Contains(got, "pw-secret") {
		t.Errorf("redacted: %q", got)
	}
}

// --- helpers ---

func newDefault() *Alertmanager {
	reg, _ := pipeline.Lookup(pipeline.KindOutput, "alertmanager")
	return reg.New().(*Alertmanager)
}

// start initialises an output, configured by set, on a fake clock that
// starts now; tick makes the re-send loop run once, and returns when it
// has.
func start(t *testing.T, set func(o *Alertmanager)) (o *Alertmanager, clock *fakeClock, tick func()) {
	t.Helper()
	o = newDefault()
	set(o)
	clock = &fakeClock{t: time.Now()}
	ticks := make(chan time.Time)
	o.now, o.ticks = clock.Now, ticks
	env := pipelinetest.Env(pipeline.KindOutput, "alertmanager", "alertmanager")
	if testing.Verbose() {
		env.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	pipelinetest.Init(t, o, env)
	// The loop takes one tick at a time: the second is taken once the
	// first is done.
	tick = func() { ticks <- clock.Now(); ticks <- clock.Now() }
	return o, clock, tick
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// alert is a firing or resolved alert of rule name on host, as
// filters.alert would say it.
func alert(status, name, host string) *pipeline.Alert {
	labels := map[string]string{"alertname": name, "severity": "critical", "host": host}
	now := time.Now()
	return &pipeline.Alert{Status: status, Labels: labels, Annotations: map[string]string{},
		Values: map[string]float64{"usage_user": 97}, StartsAt: now.Add(-5 * time.Minute).Truncate(time.Millisecond),
		At: now, Fingerprint: pipeline.AlertFingerprint(labels)}
}

func message(a *pipeline.Alert) *pipeline.Message {
	m := &pipeline.Message{}
	a.ToMessage(m)
	return m
}

// sameTime compares times as Alertmanager returns them, to the millisecond.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Millisecond && d < time.Millisecond
}

// waitAlert waits until Alertmanager lists an alert with these labels and
// returns it.
func waitAlert(t *testing.T, am *amtest.Server, labels map[string]string) amtest.Alert {
	t.Helper()
	var found amtest.Alert
	pipelinetest.WaitUntil(t, wait, fmt.Sprintf("Alertmanager to list %v", labels), func() error {
		alerts, err := am.Alerts()
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if fmt.Sprint(a.Labels) == fmt.Sprint(labels) {
				found = a
				return nil
			}
		}
		return fmt.Errorf("it lists %d others", len(alerts))
	})
	return found
}

// webhookPayload is what Alertmanager's webhook receiver posts.
type webhookPayload struct {
	Status      string            `json:"status"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

type webhook struct {
	URL      string
	mu       sync.Mutex
	payloads []webhookPayload
}

func newWebhook(t *testing.T) *webhook {
	h := &webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p webhookPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("webhook: %v", err)
			return
		}
		h.mu.Lock()
		h.payloads = append(h.payloads, p)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

func (h *webhook) calls() []webhookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhookPayload(nil), h.payloads...)
}

// waitFor waits for a notification that matches and returns its index.
func (h *webhook) waitFor(t *testing.T, what string, match func(webhookPayload) bool) int {
	t.Helper()
	n := -1
	pipelinetest.WaitUntil(t, wait, what, func() error {
		calls := h.calls()
		for i, p := range calls {
			if match(p) {
				n = i
				return nil
			}
		}
		return fmt.Errorf("%d other notifications", len(calls))
	})
	return n
}

// countingProxy passes requests to Alertmanager and counts the alert posts.
type countingProxy struct {
	URL string
	mu  sync.Mutex
	n   int
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	u, _ := url.Parse(target)
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp.ServeHTTP(w, r)
		if r.Method == http.MethodPost && r.URL.Path == "/api/v2/alerts" { // counted once Alertmanager has it
			p.mu.Lock()
			p.n++
			p.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *countingProxy) posts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}
