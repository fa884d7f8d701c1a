package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/internal/mailpittest"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// pluginState is one plugin of /api/plugins, as these tests read it.
type pluginState struct {
	Kind     string             `json:"kind"`
	Type     string             `json:"type"`
	Name     string             `json:"name"`
	Status   map[string]any     `json:"status"`
	Gauges   map[string]float64 `json:"gauges"`
	Counters struct {
		In, Out, Dropped, Errors uint64
	} `json:"counters"`
}

// adminPlugin reads the plugin kind.type[name] from the admin API at addr
// (host:port).
func adminPlugin(addr, plugin string) (*pluginState, error) {
	resp, err := http.Get("http://" + addr + "/api/plugins")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/plugins: %s", resp.Status)
	}
	var plugins []pluginState
	if err := json.NewDecoder(resp.Body).Decode(&plugins); err != nil {
		return nil, err
	}
	for i := range plugins {
		if fmt.Sprintf("%s.%s[%s]", plugins[i].Kind, plugins[i].Type, plugins[i].Name) == plugin {
			return &plugins[i], nil
		}
	}
	return nil, fmt.Errorf("no plugin %s in /api/plugins", plugin)
}

// notifyLeads is a condition for WaitUntil: the notify output at addr
// holds the lease and has written at least n alerts since its start.
func notifyLeads(addr, plugin string, n uint64) func() error {
	return func() error {
		p, err := adminPlugin(addr, plugin)
		if err != nil {
			return err
		}
		if p.Status["leader"] != true || p.Counters.Out < n {
			return fmt.Errorf("leader %v, %d alerts written (want %d): status %v", p.Status["leader"], p.Counters.Out, n, p.Status)
		}
		return nil
	}
}

// sendLines writes influx lines to a tcp input, once it listens.
func sendLines(t *testing.T, addr string, lines ...string) {
	t.Helper()
	var conn net.Conn
	pipelinetest.WaitUntil(t, 15*time.Second, "the tcp input at "+addr, func() error {
		var err error
		conn, err = net.Dial("tcp", addr)
		return err
	})
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		t.Fatal(err)
	}
}

// points makes one influx line per host: measurement,host=H field=value.
func points(measurement, field string, value float64, hosts ...string) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, fmt.Sprintf("%s,host=%s %s=%g", measurement, h, field, value))
	}
	return out
}

// mailHosts returns the hosts a mail's text body names in its alerts'
// "Labels:" lines, sorted.
func mailHosts(text string) []string {
	var hosts []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "Labels:") {
			continue
		}
		for _, kv := range strings.Fields(strings.TrimPrefix(line, "Labels:")) {
			if h, ok := strings.CutPrefix(kv, "host="); ok {
				hosts = append(hosts, h)
			}
		}
	}
	slices.Sort(hosts)
	return hosts
}

// TestAlertMailEndToEnd: points through a tcp input, a threshold rule of
// filters.alert and outputs.notify, into a real mailpit. Five hosts cross
// the threshold at once: one mail, [FIRING:5], listing them. The process
// is then restarted on the same data_dir (its JetStream holds the notify
// state) and the points are sent again, so that the rule fires again: no
// mail, since the notification log says it was sent. Then the hosts go
// back under the threshold: one all-clear.
//
// That nothing is sent again is shown by a sentinel: another rule's alert,
// sent after the five came in again, makes its own group; once its mail
// (group_wait later) is in, the engine has had group_wait to send the
// five's group again, had it thought it new.
func TestAlertMailEndToEnd(t *testing.T) {
	mp := mailpittest.New(t, mailpittest.Options{})
	dir := t.TempDir()
	tcpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	adminAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	config := fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = %q

[[inputs.tcp]]
publish = "metrics"
address = %q
decoder = "influx"

[[filters.alert]]
subscribe = ["metrics"]
publish = "alerts"
group_by = ["host"]
ticker_interval = "1s"
  [[filters.alert.rules]]
  alert = "HighCPU"
  expr = "cpu.usage > 90"
  severity = "critical"
  summary = "CPU at {{ .Value }}%% on {{ .Labels.host }}"
  [[filters.alert.rules]]
  alert = "DiskFull"
  expr = "disk.used > 95"
  severity = "warning"

[[outputs.notify]]
name = "notify"
subscribe = ["alerts"]
receiver = "ops"
group_by = ["alertname"]
group_wait = "2s"
group_interval = "3s"
  [[outputs.notify.receivers]]
  name = "ops"
    [outputs.notify.receivers.email]
    smtp = %q
    from = "Interoceptor <alerts@example.com>"
    to = ["ops@example.com", "oncall@example.com"]
    starttls = "none"
    timeout = "10s"
`, filepath.Join(dir, "var"), adminAddr, tcpAddr, mp.SMTP)
	const notify = "outputs.notify[notify]"
	hosts := []string{"web-1", "web-2", "web-3", "web-4", "web-5"}

	p := runPipeline(t, dir, "central", config)
	p.waitRunning(t)
	pipelinetest.WaitUntil(t, 30*time.Second, "the notify output to lead", notifyLeads(adminAddr, notify, 0))
	sendLines(t, tcpAddr, points("cpu", "usage", 97, hosts...)...)

	msgs := mp.WaitMessages(t, 1, 60*time.Second)
	m := msgs[0]
	if want := "[FIRING:5] HighCPU (severity=critical)"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if got := mailHosts(m.Text); !slices.Equal(got, hosts) {
		t.Errorf("the mail lists hosts %v, want %v:\n%s", got, hosts, m.Text)
	}
	for _, h := range hosts {
		if !strings.Contains(m.Text, "CPU at 97% on "+h) || !strings.Contains(m.HTML, h) {
			t.Errorf("the mail lacks the summary of %s:\n%s", h, m.Text)
		}
	}
	if m.From.Address != "alerts@example.com" || m.From.Name != "Interoceptor" {
		t.Errorf("from %+v", m.From)
	}
	var to []string
	for _, a := range m.To {
		to = append(to, a.Address)
	}
	if !slices.Equal(to, []string{"ops@example.com", "oncall@example.com"}) {
		t.Errorf("to %v", to)
	}

	// Restart on the same data_dir, and say it again.
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p = runPipeline(t, dir, "central", config)
	p.waitRunning(t)
	sendLines(t, tcpAddr, points("cpu", "usage", 98, hosts...)...)
	pipelinetest.WaitUntil(t, 30*time.Second, "the restarted notify output to lead and take the 5 alerts again",
		notifyLeads(adminAddr, notify, uint64(len(hosts))))
	sendLines(t, tcpAddr, points("disk", "used", 99, "db-1")...)
	msgs = mp.WaitMessages(t, 2, 60*time.Second)
	if want := "[FIRING:1] DiskFull (host=db-1 severity=warning)"; msgs[1].Subject != want {
		t.Fatalf("after the restart: a mail %q, want only the sentinel's %q:\n%s", msgs[1].Subject, want, msgs[1].Text)
	}

	// All clear.
	sendLines(t, tcpAddr, points("cpu", "usage", 10, hosts...)...)
	msgs = mp.WaitMessages(t, 3, 60*time.Second)
	m = msgs[2]
	if want := "[RESOLVED] HighCPU (severity=critical)"; m.Subject != want {
		t.Errorf("all-clear subject %q, want %q", m.Subject, want)
	}
	if got := mailHosts(m.Text); !slices.Equal(got, hosts) || !strings.Contains(m.Text, "All clear: HighCPU") {
		t.Errorf("the all-clear lists hosts %v, want %v:\n%s", got, hosts, m.Text)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	if got, err := mp.Messages(); err != nil || len(got) != 3 {
		t.Errorf("%d mails in the end (%v), want 3", len(got), err)
	}
}

// webhookNotification is the part of Alertmanager's webhook payload these
// tests read.
type webhookNotification struct {
	Status      string            `json:"status"`
	Receiver    string            `json:"receiver"`
	GroupKey    string            `json:"groupKey"`
	GroupLabels map[string]string `json:"groupLabels"`
	ExternalURL string            `json:"externalURL"`
	Alerts      []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
	at time.Time // when it arrived
}

// webhookRecorder is an HTTP server that records the notifications POSTed
// to it.
type webhookRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	got  []webhookNotification
	errs []string
}

func newWebhookRecorder(t *testing.T) *webhookRecorder {
	r := &webhookRecorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var n webhookNotification
		err := json.Unmarshal(b, &n)
		n.at = time.Now()
		r.mu.Lock()
		if err != nil {
			r.errs = append(r.errs, fmt.Sprintf("%v: %s", err, b))
		} else {
			r.got = append(r.got, n)
		}
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *webhookRecorder) notifications() []webhookNotification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// has is a condition for WaitUntil: n notifications arrived.
func (r *webhookRecorder) has(n int) func() error {
	return func() error {
		got := r.notifications()
		if len(got) < n {
			return fmt.Errorf("%d notifications", len(got))
		}
		return nil
	}
}

// describe lists the notifications, one a line, for a failure message.
func describeNotifications(ns []webhookNotification) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "  %s %v %d alerts from %s\n", n.Status, n.GroupLabels, len(n.Alerts), n.ExternalURL)
	}
	return b.String()
}

// injectAlerts publishes firing alerts, one per host, with `interoceptor
// inject`.
func injectAlerts(t *testing.T, natsURL, subject, alertname string, hosts ...string) {
	t.Helper()
	var b []byte
	for _, h := range hosts {
		labels := map[string]string{"alertname": alertname, "host": h, "severity": "critical"}
		now := time.Now()
		a := &pipeline.Alert{Status: pipeline.AlertFiring, Labels: labels, StartsAt: now, At: now,
			Annotations: map[string]string{"summary": alertname + " on " + h}, Fingerprint: pipeline.AlertFingerprint(labels)}
		var m pipeline.Message
		a.ToMessage(&m)
		b = append(pipeline.AppendJSON(b, &m), '\n')
	}
	file := writeFile(t, filepath.Join(t.TempDir(), "alerts.json"), string(b))
	out, err := exec.Command(binary, "inject", "-server", natsURL, "-subject", subject, "-file", file).CombinedOutput()
	if err != nil {
		t.Fatalf("inject: %v\n%s", err, out)
	}
}

// TestNotifyFailoverKill9: two processes run the same outputs.notify on
// one external NATS with JetStream, so the same state bucket and lease.
// Only the lease holder notifies; it is killed with SIGKILL, and the other
// takes over: it notifies a group that came after the kill, and not the
// groups the dead one had notified. The time from the kill to the takeover
// is logged (Panopta's bar is 10 s); what is asserted is that it happens,
// with a lease short enough for that bar.
func TestNotifyFailoverKill9(t *testing.T) {
	const lease = 3 * time.Second
	if lease > 8*time.Second {
		t.Fatalf("lease %v: a follower would take over later than 10s after a kill", lease)
	}
	natsURL, _ := startNatsServer(t, "-js", "-sd", t.TempDir())
	hook := newWebhookRecorder(t)
	dir := t.TempDir()
	const notify = "outputs.notify[notify]"
	type node struct {
		name, admin string
		p           *proc
	}
	run := func(name string) *node {
		n := &node{name: name, admin: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		n.p = runPipeline(t, dir, name, fmt.Sprintf(`
[agent]
name = %q
data_dir = %q
admin_addr = %q
[nats]
url = %q
[[outputs.notify]]
name = "notify"
subscribe = ["alerts"]
external = true
receiver = "ops"
group_by = ["alertname"]
group_wait = "1s"
group_interval = "2s"
repeat_interval = "1h"
lease = %q
  [[outputs.notify.receivers]]
  name = "ops"
    [outputs.notify.receivers.webhook]
    url = %q
    timeout = "5s"
`, name, filepath.Join(dir, name), n.admin, natsURL, lease.String(), hook.URL))
		return n
	}
	a, b := run("a"), run("b")
	a.p.waitRunning(t)
	b.p.waitRunning(t)

	// One leads, the other knows it.
	var leader, follower *node
	pipelinetest.WaitUntil(t, 30*time.Second, "one process to lead, the other to follow it", func() error {
		sa, err := adminPlugin(a.admin, notify)
		if err != nil {
			return err
		}
		sb, err := adminPlugin(b.admin, notify)
		if err != nil {
			return err
		}
		switch {
		case sa.Status["leader"] == true && sb.Status["leader"] == false && sb.Status["lease_holder"] == sa.Status["holder"]:
			leader, follower = a, b
		case sb.Status["leader"] == true && sa.Status["leader"] == false && sa.Status["lease_holder"] == sb.Status["holder"]:
			leader, follower = b, a
		default:
			return fmt.Errorf("a: %v; b: %v", sa.Status, sb.Status)
		}
		return nil
	})
	t.Logf("%s leads, %s follows", leader.name, follower.name)
	leaderURL := "http://" + leader.admin + "/api/alerts"
	followerURL := "http://" + follower.admin + "/api/alerts"

	// Both processes get the alerts; one notification per group. The
	// second group is injected once the first is notified, so that by its
	// notification the follower has had group_wait to send the first, if
	// it were to.
	injectAlerts(t, natsURL, "alerts", "Down", "web-1", "web-2")
	pipelinetest.WaitUntil(t, 30*time.Second, "the first group's notification", hook.has(1))
	injectAlerts(t, natsURL, "alerts", "DiskFull", "db-1")
	pipelinetest.WaitUntil(t, 30*time.Second, "the second group's notification", hook.has(2))
	pipelinetest.WaitUntil(t, 30*time.Second, "the follower to take the 3 alerts", func() error {
		s, err := adminPlugin(follower.admin, notify)
		if err != nil {
			return err
		}
		if s.Counters.Out < 3 || s.Status["leader"] != false {
			return fmt.Errorf("%d alerts written, status %v", s.Counters.Out, s.Status)
		}
		return nil
	})
	before := hook.notifications()
	if len(before) != 2 || before[0].GroupLabels["alertname"] != "Down" || len(before[0].Alerts) != 2 ||
		before[1].GroupLabels["alertname"] != "DiskFull" || len(before[1].Alerts) != 1 {
		t.Fatalf("before the kill, want Down with 2 alerts then DiskFull with 1, got:\n%s", describeNotifications(before))
	}
	for _, n := range before {
		if n.ExternalURL != leaderURL || n.Status != "firing" || n.Receiver != "ops" {
			t.Errorf("a notification %s %s to %s from %s, want firing to ops from the leader (%s)", n.Status, n.GroupLabels["alertname"], n.Receiver, n.ExternalURL, leaderURL)
		}
	}

	// kill -9 the leader; a group that comes after is the follower's to
	// notify, once it has the lease.
	leader.p.signal(t, syscall.SIGKILL)
	killed := time.Now()
	leader.p.wait(t, 10*time.Second)
	injectAlerts(t, natsURL, "alerts", "MemoryLow", "app-1")
	var tookOver time.Duration
	pipelinetest.WaitUntil(t, 60*time.Second, "the follower to take the lease", func() error {
		s, err := adminPlugin(follower.admin, notify)
		if err != nil {
			return err
		}
		if s.Status["leader"] != true {
			return fmt.Errorf("status %v", s.Status)
		}
		tookOver = time.Since(killed)
		return nil
	})
	pipelinetest.WaitUntil(t, 60*time.Second, "the new group's notification", hook.has(3))
	third := hook.notifications()[2]
	t.Logf("after the kill -9 of %s: %s took the lease %v later (lease %v), and its first notification came %v after the kill",
		leader.name, follower.name, tookOver.Round(10*time.Millisecond), lease, third.at.Sub(killed).Round(10*time.Millisecond))
	if third.GroupLabels["alertname"] != "MemoryLow" || third.ExternalURL != followerURL {
		t.Errorf("after the kill: %s from %s, want MemoryLow from %s", third.GroupLabels["alertname"], third.ExternalURL, followerURL)
	}

	// No group notified before the kill is notified again by the new
	// leader: its notification log came from the state bucket. A fourth
	// group, injected now, is a sentinel: by its notification the new
	// leader has had group_wait and more to send the old ones again.
	injectAlerts(t, natsURL, "alerts", "Sentinel", "app-2")
	pipelinetest.WaitUntil(t, 60*time.Second, "the sentinel's notification", hook.has(4))
	pipelinetest.WaitUntil(t, 30*time.Second, "the new leader to take the 5 alerts", notifyLeads(follower.admin, notify, 5))
	got := hook.notifications()
	if len(got) != 4 || got[3].GroupLabels["alertname"] != "Sentinel" {
		t.Errorf("want the 2 groups before the kill, then MemoryLow and Sentinel, each once; got:\n%s", describeNotifications(got))
	}
	hook.mu.Lock()
	if len(hook.errs) > 0 {
		t.Errorf("payloads that do not read: %v", hook.errs)
	}
	hook.mu.Unlock()
	follower.p.signal(t, syscall.SIGTERM)
	if code := follower.p.wait(t, 60*time.Second); code != 0 {
		t.Errorf("%s: exit %d", follower.name, code)
	}
}

// TestSilenceAndAckThroughTheCommand: `interoceptor alerts silence` and
// `alerts ack` on a running pipeline, seen in what is notified (the
// command's own test, TestAlertsCommand, checks what the API answers, not
// what reaches people). A silence of web-2 made before its alert: only
// web-1 is notified. An ack of web-1's group stops its repeats, while
// another group's go on.
func TestSilenceAndAckThroughTheCommand(t *testing.T) {
	natsURL, _ := startNatsServer(t, "-js", "-sd", t.TempDir())
	hook := newWebhookRecorder(t)
	dir := t.TempDir()
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	const notify = "outputs.notify[notify]"
	p := runPipeline(t, dir, "central", fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = %q
[nats]
url = %q
[[outputs.notify]]
name = "notify"
subscribe = ["alerts"]
external = true
receiver = "ops"
group_by = ["alertname", "host"]
group_wait = "1s"
group_interval = "1s"
repeat_interval = "2s"
  [[outputs.notify.receivers]]
  name = "ops"
    [outputs.notify.receivers.webhook]
    url = %q
    timeout = "5s"
`, filepath.Join(dir, "var"), admin, natsURL, hook.URL))
	p.waitRunning(t)
	pipelinetest.WaitUntil(t, 30*time.Second, "the notify output to lead", notifyLeads(admin, notify, 0))
	alerts := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append(append([]string{"alerts"}, args...), "-admin", admin)...).CombinedOutput()
		if err != nil {
			t.Fatalf("alerts %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// count counts the notifications of host's group.
	count := func(host string) int {
		n := 0
		for _, x := range hook.notifications() {
			if x.GroupLabels["host"] == host {
				n++
			}
		}
		return n
	}
	countIs := func(host string, want int) func() error {
		return func() error {
			if got := count(host); got < want {
				return fmt.Errorf("%d notifications of %s, want %d:\n%s", got, host, want, describeNotifications(hook.notifications()))
			}
			return nil
		}
	}

	if out := alerts("silence", "-matchers", `host="web-2"`, "-for", "1h", "-comment", "maintenance"); !strings.Contains(out, "active") {
		t.Fatalf("silence: %s", out)
	}
	injectAlerts(t, natsURL, "alerts", "Down", "web-1", "web-2")
	// web-1 notified, then repeated: by then web-2 has had group_wait and
	// more.
	pipelinetest.WaitUntil(t, 60*time.Second, "web-1 notified and repeated", countIs("web-1", 2))
	if n := count("web-2"); n != 0 {
		t.Errorf("web-2 is silenced, yet notified %d times:\n%s", n, describeNotifications(hook.notifications()))
	}

	// Ack web-1's group (by its id, as `alerts list` shows it).
	var list struct {
		Groups []struct {
			ID     string            `json:"id"`
			Labels map[string]string `json:"labels"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(alerts("list", "-json")), &list); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, g := range list.Groups {
		if g.Labels["host"] == "web-1" {
			id = g.ID
		}
	}
	if id == "" {
		t.Fatalf("no group of web-1 in %+v", list.Groups)
	}
	if out := alerts("ack", id, "-by", "e2e", "-comment", "on it"); !strings.Contains(out, "acknowledged") {
		t.Fatalf("ack: %s", out)
	}
	// A sentinel group that is not acked: once it has been repeated twice
	// (two repeat_intervals), web-1, acked, has been left alone. Counted
	// from the sentinel's first notification, so that a repeat of web-1 on
	// its way at the ack is not taken for one after it.
	injectAlerts(t, natsURL, "alerts", "Down", "web-3")
	pipelinetest.WaitUntil(t, 60*time.Second, "web-3 notified", countIs("web-3", 1))
	acked := count("web-1")
	pipelinetest.WaitUntil(t, 60*time.Second, "web-3 repeated twice", countIs("web-3", 3))
	if n := count("web-1"); n != acked {
		t.Errorf("web-1's group, acked, was notified %d more times:\n%s", n-acked, describeNotifications(hook.notifications()))
	}
	if n := count("web-2"); n != 0 {
		t.Errorf("web-2 is silenced, yet notified %d times", n)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}
