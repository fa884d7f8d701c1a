package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// runAlerts runs `interoceptor alerts args...` in-process.
func runAlerts(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cmdAlerts(args, &stdout, &stderr)
	return stdout.String() + stderr.String(), code
}

// A pipeline with outputs.notify: alerts come in on NATS; `interoceptor
// alerts` lists them, acks a group, silences (a maintenance window, then
// now), lists the silences and expires one, through the admin API.
func TestAlertsCommand(t *testing.T) {
	rt, _ := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = "127.0.0.1:0"

[[outputs.notify]]
name = "ops"
subscribe = ["alerts"]
external = true
receiver = "ops"
group_wait = "0s"
  [[outputs.notify.receivers]]
  name = "ops"
`, t.TempDir()))
	admin := rt.AdminURL()
	var enc pipeline.BatchEncoder
	for _, host := range []string{"web-1", "web-2"} {
		a := &pipeline.Alert{Status: pipeline.AlertFiring, Labels: map[string]string{"alertname": "down", "host": host, "severity": "critical"},
			Annotations: map[string]string{"summary": host + " does not answer"}, At: time.Now(), StartsAt: time.Now()}
		a.Fingerprint = pipeline.AlertFingerprint(a.Labels)
		var m pipeline.Message
		a.ToMessage(&m)
		enc.Add(&m)
	}
	if err := rt.Bus().Conn.Publish("alerts", enc.Bytes()); err != nil {
		t.Fatal(err)
	}

	var list struct {
		Leader bool `json:"leader"`
		Alerts []struct {
			Fingerprint string   `json:"fingerprint"`
			SilencedBy  []string `json:"silenced_by"`
			Acked       *struct {
				By string `json:"by"`
			} `json:"acked"`
		} `json:"alerts"`
		Groups []struct {
			ID        string `json:"id"`
			Acked     bool   `json:"acked"`
			Receivers []struct {
				LastSent time.Time `json:"last_sent"`
			} `json:"receivers"`
		} `json:"groups"`
	}
	pipelinetest.WaitUntil(t, 30*time.Second, "two alerts notified", func() error {
		out, code := runAlerts(t, "list", "-admin", admin, "-json")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, out)
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return err
		}
		if len(list.Alerts) != 2 || len(list.Groups) != 1 || list.Groups[0].Receivers[0].LastSent.IsZero() {
			return fmt.Errorf("not yet: %s", out)
		}
		return nil
	})
	if !list.Leader {
		t.Error("the only process does not lead")
	}
	out, code := runAlerts(t, "-admin", admin)
	for _, want := range []string{"2 alerts in 1 groups", "this process notifies", list.Groups[0].ID, `default:{alertname="down"}`,
		"down host=web-1 severity=critical: web-1 does not answer", list.Alerts[1].Fingerprint} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("alerts list: exit %d, lacks %q:\n%s", code, want, out)
		}
	}

	// Ack the group by its id, flags after the argument.
	if out, code := runAlerts(t, "ack", list.Groups[0].ID, "-admin", admin, "-by", "ann", "-comment", "on it"); code != 0 || !strings.Contains(out, "acknowledged") {
		t.Fatalf("ack: exit %d: %s", code, out)
	}
	out, _ = runAlerts(t, "list", "-admin", admin, "-json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if !list.Groups[0].Acked || list.Alerts[0].Acked == nil || list.Alerts[0].Acked.By != "ann" {
		t.Errorf("after the ack: %s", out)
	}

	// A maintenance window to come, then a silence now.
	start := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	end := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	if out, code := runAlerts(t, "silence", "-admin", admin, "-matchers", `host="web-1"`, "-start", start, "-end", end, "-comment", "upgrade"); code != 0 || !strings.Contains(out, "(pending)") {
		t.Fatalf("silence window: exit %d: %s", code, out)
	}
	out, code = runAlerts(t, "silence", "-admin", admin, "-matchers", `alertname="down",host=~"web-2|web-3"`, "-for", "2h", "-comment", "reboot", "-json")
	var sil struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &sil); code != 0 || err != nil || sil.State != "active" {
		t.Fatalf("silence: exit %d, %v: %s", code, err, out)
	}
	out, _ = runAlerts(t, "list", "-admin", admin, "-json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Alerts[0].SilencedBy) != 0 || len(list.Alerts[1].SilencedBy) != 1 || list.Alerts[1].SilencedBy[0] != sil.ID {
		t.Errorf("silenced_by: %s", out)
	}
	out, code = runAlerts(t, "silences", "-admin", admin)
	for _, want := range []string{"pending", "active", sil.ID, "upgrade", `host="web-1"`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("silences: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
	if out, code := runAlerts(t, "unsilence", sil.ID, "-admin", admin); code != 0 || !strings.Contains(out, "expired") {
		t.Fatalf("unsilence: exit %d: %s", code, out)
	}
	out, _ = runAlerts(t, "silences", "-admin", admin)
	if !strings.Contains(out, "expired") {
		t.Errorf("after unsilence:\n%s", out)
	}

	// Errors say what is wrong.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ack", "0123456789abcdef"}, 1, "no firing alert has fingerprint"},
		{[]string{"ack", "nope"}, 1, "no group has key or id"},
		{[]string{"unsilence", "nope"}, 1, "no silence has id"},
		{[]string{"silence", "-matchers", `host=web-1"`, "-for", "1h", "-comment", "x"}, 1, "matcher"},
		{[]string{"silence", "-matchers", `host="web-1"`, "-for", "1h"}, 2, "-comment is required"},
		{[]string{"silence", "-comment", "x", "-for", "1h"}, 2, "-matchers is required"},
		{[]string{"ack"}, 2, "want 1 argument"},
		{[]string{"frobnicate"}, 2, "unknown subcommand"},
	} {
		out, code := runAlerts(t, append(c.args, "-admin", admin)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("alerts %v: exit %d, want %d and %q:\n%s", c.args, code, c.code, c.want, out)
		}
	}
}
