package alert

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// Business hours in Berlin: the weekday is Berlin's, and 08:00 is 08:00 on
// the wall clock on either side of a daylight saving change.
func TestTimeWindowInBerlin(t *testing.T) {
	w, err := compileWindow(TimeWindow{Days: []string{"mon-fri"}, From: "08:00", To: "20:00", TimeZone: "Europe/Berlin"}, "w")
	if err != nil {
		t.Fatal(err)
	}
	night, err := compileWindow(TimeWindow{Days: []string{"monday"}, To: "06:00", TimeZone: "Europe/Berlin"}, "w")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		w    *window
		at   string
		want bool
	}{
		{&w, "2026-01-05T06:59:00Z", false}, // Mon 07:59 CET
		{&w, "2026-01-05T07:00:00Z", true},  // Mon 08:00 CET
		{&w, "2026-01-09T18:59:00Z", true},  // Fri 19:59 CET
		{&w, "2026-01-09T19:00:00Z", false}, // Fri 20:00 CET: to is excluded
		{&w, "2026-01-10T10:00:00Z", false}, // Saturday
		// Sunday 23:30 UTC is Monday 00:30 in Berlin.
		{&night, "2026-01-04T23:30:00Z", true},
		{&night, "2026-01-05T23:30:00Z", false}, // Tuesday 00:30
		// DST begins on Sunday 2026-03-29: Friday before is CET (UTC+1), Monday after CEST (UTC+2).
		{&w, "2026-03-27T06:30:00Z", false}, // Fri 07:30 CET
		{&w, "2026-03-27T07:30:00Z", true},  // Fri 08:30 CET
		{&w, "2026-03-30T06:30:00Z", true},  // Mon 08:30 CEST
		{&w, "2026-03-30T05:30:00Z", false}, // Mon 07:30 CEST
		{&w, "2026-03-30T17:59:00Z", true},  // Mon 19:59 CEST
		{&w, "2026-03-30T18:00:00Z", false}, // Mon 20:00 CEST
	}
	for _, c := range cases {
		if got := c.w.contains(utc(c.at)); got != c.want {
			t.Errorf("%s: active %v, want %v", c.at, got, c.want)
		}
	}
}

// Templates see the labels, the values and the times; the fingerprint is
// Alertmanager's over the labels, the same on every message of an alert.
func TestTemplatesAndFingerprints(t *testing.T) {
	a := newAlert(t, `
resend_interval = "1m"
[[filters.alert.rules]]
alert = "HighCPU"
expr = "cpu.usage_user > 90 && system.load1 > 4"
severity = "critical"
labels = { team = "ops" }
summary = "CPU at {{ printf \"%.0f\" .Value }}% and load {{ .Values.system_load1 }} on {{ .Labels.host }}"
description = "{{ .Rule }} ({{ .Severity }}) since {{ .StartsAt.Format \"15:04\" }}, {{ .Status }}; {{ humanize 1234567 }}"
annotations = { dashboard = "https://grafana.example/d/x?var-host={{ urlquery .Labels.host }}&from={{ .StartsAt.UnixMilli }}" }`)
	var out pipelinetest.Collector
	for _, lp := range []string{"system,host=web 1 load1=6", "cpu,host=web 1 usage_user=97.4"} {
		feed(t, a, lp, t0, &out)
	}
	a.Tick(t0.Add(time.Minute), false, &out)
	feed(t, a, "cpu,host=web 1 usage_user=3", t0.Add(2*time.Minute), &out)
	msgs := out.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want firing, firing again and resolved", len(msgs))
	}
	labels := map[string]string{"alertname": "HighCPU", "severity": "critical", "host": "web", "team": "ops"}
	for i, m := range msgs {
		al, err := pipeline.AlertFromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if al.Fingerprint != pipeline.AlertFingerprint(labels) || len(al.Labels) != len(labels) {
			t.Errorf("message %d: fingerprint %s labels %v, want %s of %v", i, al.Fingerprint, al.Labels, pipeline.AlertFingerprint(labels), labels)
		}
		if i == 0 {
			for k, want := range map[string]string{
				"summary":     "CPU at 97% and load 6 on web",
				"description": "HighCPU (critical) since 10:00, firing; 1.235M",
				"dashboard":   "https://grafana.example/d/x?var-host=web&from=1767607200000",
			} {
				if al.Annotations[k] != want {
					t.Errorf("annotation %s = %q, want %q", k, al.Annotations[k], want)
				}
			}
			if m.Severity != 2 || !strings.HasPrefix(string(m.Payload), "[FIRING] HighCPU host=web team=ops: CPU at 97%") {
				t.Errorf("severity %d payload %q", m.Severity, m.Payload)
			}
		}
	}
	if al, _ := pipeline.AlertFromMessage(msgs[2]); !strings.HasSuffix(al.Annotations["description"], ", resolved; 1.235M") {
		t.Errorf("resolved description %q", al.Annotations["description"])
	}
}

func feed(t *testing.T, a *Alert, lp string, at time.Time, out pipeline.Emitter) {
	t.Helper()
	var m pipeline.Message
	fields := strings.Replace(lp, " 1 ", " ", 1) // "cpu,host=web 1 x=1": the 1 marks where the time is not
	if err := pipeline.ParseLineProtocol([]byte(fields+" "+itoa(at.UnixNano())), &m); err != nil {
		t.Fatal(err)
	}
	if err := a.Process(&m, out); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconvI(n) }

func strconvI(n int64) string {
	var b []byte
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// With preserve_data, a restart keeps the firing and pending alerts: the
// firing one is neither sent as new nor forgotten, and resolves when the
// data says so; the pending one fires when its for has passed.
func TestStateSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	rules := `
preserve_data = true
resend_interval = "1h"
[[filters.alert.rules]]
alert = "HighCPU"
expr = "cpu.usage_user > 90"
[[filters.alert.rules]]
alert = "SlowDisk"
expr = "disk.wait > 10"
for = "5m"
[[filters.alert.rules]]
alert = "HostDown"
absent_for = "5m"
`
	a := newAlert(t, rules, dir)
	first := run(t, a, []step{{0, "cpu,host=a usage_user=95"}, {0, "disk,host=a wait=20"}, {0, "cpu,host=b usage_user=1"},
		{6 * time.Minute, "cpu,host=a usage_user=95"}, {6 * time.Minute, "disk,host=a wait=20"}, {6 * time.Minute, ""}})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "alert", "alert.json")); err != nil {
		t.Fatal(err)
	}
	b := newAlert(t, rules, dir)
	if n, p := b.countStates(); n != 3 || p != 0 {
		t.Fatalf("after the restart: %d firing, %d pending; want HighCPU, SlowDisk and HostDown firing", n, p)
	}
	second := run(t, b, []step{{7 * time.Minute, ""}, {8 * time.Minute, "cpu,host=a usage_user=5"}, {9 * time.Minute, "cpu,host=b usage_user=1"}})
	want := []string{"10:08 resolved HighCPU host=a since 10:00 [cpu_usage_user=95]", "10:09 resolved HostDown host=b since 10:06 [silent_seconds=420]"}
	if !slices.Equal(second, want) {
		t.Errorf("before the restart %q\nafter it:\n got %q\nwant %q", first, second, want)
	}
	b.Close()
}

// An expression that fails at run time (a string where a number is
// compared) is counted, never fatal.
func TestRuntimeErrorsAreCounted(t *testing.T) {
	a := newAlert(t, `
[[filters.alert.rules]]
alert = "Odd"
expr = "svc.state + 1 > 2"`)
	run(t, a, []step{{0, `svc,host=a state="up"`}})
	if a.env.Stats.Errors.Load() != 1 {
		t.Errorf("errors = %d, want 1", a.env.Stats.Errors.Load())
	}
}

// Beyond max_groups, new groups are refused and counted.
func TestMaxGroups(t *testing.T) {
	a := newAlert(t, `
max_groups = 2
[[filters.alert.rules]]
alert = "HighCPU"
expr = "cpu.usage_user > 90"`)
	got := run(t, a, []step{{0, "cpu,host=a usage_user=95"}, {0, "cpu,host=b usage_user=95"}, {0, "cpu,host=c usage_user=95"}})
	if len(got) != 2 || a.Gauges()["alert_groups_refused"] != 1 || a.Status()["groups"] != 2 {
		t.Errorf("alerts %q, gauges %v", got, a.Gauges())
	}
}

// Config errors come from check with the file, the line and the key.
func TestConfigErrors(t *testing.T) {
	src := `[[filters.alert]]
subscribe = ["metrics"]
external = true
publish = "alerts"
group_by = ["host", "status"]
  [[filters.alert.rules]]
  alert = "A"
  expr = "cpu.usage_user >"
  [[filters.alert.rules]]
  alert = "A"
  expr = "cpu.usage_user > 1"
  labels = { status = "x", team = "" }
  summary = "{{ .Labels.host"
  for = "5 minutes"
  [[filters.alert.rules]]
  alert = "C"
  absent_for = "5m"
    [[filters.alert.rules.active_time]]
    days = ["mon-fri"]
    time_zone = "Mars/Olympus"
    [[filters.alert.rules.active_time]]
    from = "20:00"
    to = "08:00"
  [[filters.alert.rules]]
  alert = "D"
  anomaly = true
  expr = "cpu.usage_user > 1"
`
	path := filepath.Join(t.TempDir(), "alerts.toml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := pipeline.LoadConfig(path)
	if err == nil {
		t.Fatal("the config loads")
	}
	for _, want := range []string{
		`:5: filters.alert[alert]: key "group_by.[1]": "status" cannot be a group tag`,
		`:8: filters.alert[alert]: key "rules.[0].expr": unexpected token EOF`,
		`:10: filters.alert[alert]: key "rules.[1].alert": "A" is also the alert of rules.[0]`,
		`:12: filters.alert[alert]: key "rules.[1].labels.status": "status" is not a label`,
		`:12: filters.alert[alert]: key "rules.[1].labels.team": empty value`,
		`:13: filters.alert[alert]: key "rules.[1].summary": template: summary:1: unclosed action`,
		`:14: filters.alert[alert]: key "rules.[1].for": invalid duration "5 minutes"`,
		`:20: filters.alert[alert]: key "rules.[2].active_time.[0].time_zone": unknown time zone "Mars/Olympus"`,
		`:23: filters.alert[alert]: key "rules.[2].active_time.[1].to": "08:00" is not after from "20:00"`,
		`:27: filters.alert[alert]: key "rules.[3].expr": cpu.usage_user: an anomaly rule reads the anomaly`,
	} {
		if !strings.Contains(err.Error(), path+want) {
			t.Errorf("the errors lack %q:\n%v", want, err)
		}
	}
}

// Metrics in, alert messages out on the publish subject, through a real
// pipeline: a file of line protocol, the filter, a file output.
func TestPipeline(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.lp")
	out := filepath.Join(dir, "out.lp")
	lp := "cpu,host=a usage_user=95 " + strconvI(t0.UnixNano()) + "\ncpu,host=b usage_user=5 " + strconvI(t0.UnixNano()) +
		"\ncpu,host=a usage_user=5 " + strconvI(t0.Add(time.Minute).UnixNano()) + "\n"
	if err := os.WriteFile(in, []byte(lp), 0o644); err != nil {
		t.Fatal(err)
	}
	_, wait := pipelinetest.Run(t, `
[agent]
data_dir = "`+filepath.Join(dir, "var")+`"
admin_addr = "off"
[[inputs.file]]
publish = "metrics"
path = "`+in+`"
decoder = "influx"
[[filters.alert]]
subscribe = ["metrics"]
publish = "alerts"
  [[filters.alert.rules]]
  alert = "HighCPU"
  expr = "cpu.usage_user > 90"
[[outputs.file]]
subscribe = ["alerts"]
path = "`+out+`"
format = "payload"
`)
	if err := wait(false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "[FIRING] HighCPU host=a (cpu_usage_user=95)\n[RESOLVED] HighCPU host=a (cpu_usage_user=95)\n"
	if string(b) != want {
		t.Errorf("alerts written:\n%s\nwant\n%s", b, want)
	}
}

// TestSample keeps sample.toml and the code in step.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindFilter, "alert", "rules") }
