package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/internal/mailpittest"
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
