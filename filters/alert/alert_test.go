package alert

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/decoders/influx"
	_ "github.com/interoceptor/interoceptor/inputs/file"
	_ "github.com/interoceptor/interoceptor/outputs/file"
	"github.com/interoceptor/interoceptor/pipeline"
	_ "github.com/interoceptor/interoceptor/pipeline/matcher"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// t0 is a Monday, 10:00 UTC.
var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

// newAlert loads one [[filters.alert]] table (its keys after subscribe and
// publish) as `check` does, and inits it with a data_dir of its own.
func newAlert(t *testing.T, body string, dataDir ...string) *Alert {
	t.Helper()
	cfg, err := pipeline.ParseConfig("p.toml", "[[filters.alert]]\nsubscribe = [\"metrics\"]\nexternal = true\npublish = \"alerts\"\n"+body)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Plugins[0].Plugin.(*Alert)
	env := pipelinetest.Env(pipeline.KindFilter, "alert", "alert")
	env.Agent.DataDir = t.TempDir()
	if len(dataDir) > 0 {
		env.Agent.DataDir = dataDir[0]
	}
	if err := a.Init(env); err != nil {
		t.Fatal(err)
	}
	return a
}

// step is a point (line protocol without its time) at t0+at, or a tick
// at t0+at when in is "".
type step struct {
	at time.Duration
	in string
}

// run feeds the steps to a and returns the alerts it emitted, each as
// "10:05 firing HighCPU host=a since 10:00 [cpu_usage_user=95]".
func run(t *testing.T, a *Alert, steps []step) []string {
	t.Helper()
	var out pipelinetest.Collector
	for _, s := range steps {
		at := t0.Add(s.at)
		if s.in == "" {
			if err := a.Tick(at, false, &out); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var m pipeline.Message
		if err := pipeline.ParseLineProtocol(fmt.Appendf(nil, "%s %d", s.in, at.UnixNano()), &m); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(s.in, "anomaly,") {
			m.Type = "anomaly"
		}
		if err := a.Process(&m, &out); err != nil {
			t.Fatal(err)
		}
	}
	return describe(t, out.Messages())
}

func describe(t *testing.T, msgs []*pipeline.Message) []string {
	t.Helper()
	var got []string
	for _, m := range msgs {
		al, err := pipeline.AlertFromMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		var tags []string
		for _, k := range slices.Sorted(maps.Keys(al.Labels)) {
			if k != "alertname" && k != "severity" {
				tags = append(tags, k+"="+al.Labels[k])
			}
		}
		var vals []string
		for _, k := range slices.Sorted(maps.Keys(al.Values)) {
			vals = append(vals, fmt.Sprintf("%s=%g", k, al.Values[k]))
		}
		status := al.Status
		if al.Resent {
			status = "resent" // firing, said again
		}
		s := fmt.Sprintf("%s %s %s %s since %s [%s]", al.At.Format("15:04"), status, al.Name(), strings.Join(tags, ","),
			al.StartsAt.Format("15:04"), strings.Join(vals, " "))
		if al.Status == pipeline.AlertResolved && !al.EndsAt.Equal(al.At) {
			t.Errorf("%s: ends_at %v, want the resolve's time", s, al.EndsAt)
		}
		if al.Annotations["flapping"] == "true" {
			s += " flapping"
		}
		got = append(got, s)
	}
	return got
}

func TestRules(t *testing.T) {
	const m = time.Minute
	cases := []struct {
		name  string
		rules string
		steps []step
		want  []string
	}{
		{name: "a threshold fires at once with for = 0, and resolves", rules: `
[[filters.alert.rules]]
alert = "HighCPU"
expr = "cpu.usage_user > 90"`,
			steps: []step{{0, "cpu,host=a usage_user=50"}, {1 * m, "cpu,host=a usage_user=95"}, {2 * m, "cpu,host=a usage_user=97"},
				{3 * m, "cpu,host=a usage_user=20"}},
			want: []string{"10:01 firing HighCPU host=a since 10:01 [cpu_usage_user=95]",
				"10:03 resolved HighCPU host=a since 10:01 [cpu_usage_user=97]"}},
		{name: "for: pending, dropped when it stops holding, then firing at a tick", rules: `
[[filters.alert.rules]]
alert = "HighCPU"
expr = "cpu.usage_user > 90"
for = "5m"`,
			steps: []step{{0, "cpu,host=a usage_user=95"}, {2 * m, "cpu,host=a usage_user=50"}, {3 * m, "cpu,host=a usage_user=95"},
				{5 * m, ""}, {6 * m, "cpu,host=a usage_user=96"}, {7 * m, ""}, {8 * m, ""}, {9 * m, "cpu,host=a usage_user=1"}},
			want: []string{"10:08 firing HighCPU host=a since 10:03 [cpu_usage_user=96]",
				"10:09 resolved HighCPU host=a since 10:03 [cpu_usage_user=96]"}},
		{name: "keep_firing_for holds through a dip and resolves after it", rules: `
[[filters.alert.rules]]
alert = "HighCPU"
expr = "cpu.usage_user > 90"
keep_firing_for = "3m"`,
			steps: []step{{0, "cpu,host=a usage_user=95"}, {1 * m, "cpu,host=a usage_user=50"}, {2 * m, "cpu,host=a usage_user=95"},
				{3 * m, "cpu,host=a usage_user=50"}, {4 * m, "cpu,host=a usage_user=50"}, {5 * m, ""}, {6 * m, ""}},
			want: []string{"10:00 firing HighCPU host=a since 10:00 [cpu_usage_user=95]",
				"10:06 resolved HighCPU host=a since 10:00 [cpu_usage_user=95]"}},
		{name: "several measurements of the same host: only the host where both hold fires", rules: `
[[filters.alert.rules]]
alert = "Busy"
expr = "cpu.usage_user > 90 && system.load1 > 4"`,
			steps: []step{{0, "cpu,host=a usage_user=95"}, {0, "system,host=b load1=8"}, {1 * m, "system,host=a load1=2"},
				{1 * m, "cpu,host=b usage_user=99"}, {2 * m, "cpu,host=c usage_user=99"}, {2 * m, "system,host=a load1=3"}},
			want: []string{"10:01 firing Busy host=b since 10:01 [cpu_usage_user=99 system_load1=8]"}},
		{name: "stale data: the rule has no result and the alert resolves", rules: `
[[filters.alert.rules]]
alert = "Busy"
expr = "cpu.usage_user > 90 && system.load1 > 4"`,
			steps: []step{{0, "system,host=a load1=8"}, {1 * m, "cpu,host=a usage_user=95"}, {4 * m, ""}, {6 * m, ""},
				{7 * m, "cpu,host=a usage_user=95"}},
			want: []string{"10:01 firing Busy host=a since 10:01 [cpu_usage_user=95 system_load1=8]",
				"10:06 resolved Busy host=a since 10:01 [cpu_usage_user=95 system_load1=8]"}},
		{name: "resend_interval: a firing alert is sent again at ticks", rules: `
resend_interval = "2m"
[[filters.alert.rules]]
alert = "HighCPU"
expr = "cpu.usage_user > 90"`,
			steps: []step{{0, "cpu,host=a usage_user=95"}, {1 * m, ""}, {2 * m, ""}, {3 * m, ""}, {4 * m, "cpu,host=a usage_user=96"}, {4 * m, ""}},
			want: []string{"10:00 firing HighCPU host=a since 10:00 [cpu_usage_user=95]",
				"10:02 resent HighCPU host=a since 10:00 [cpu_usage_user=95]", "10:04 resent HighCPU host=a since 10:00 [cpu_usage_user=96]"}},
		{name: "tags in the expression", rules: `
[[filters.alert.rules]]
alert = "WebCPU"
expr = "tags.host startsWith 'web' && cpu.usage_user > 90"`,
			steps: []step{{0, "cpu,host=db-1 usage_user=95"}, {0, "cpu,host=web-1 usage_user=95"}},
			want:  []string{"10:00 firing WebCPU host=web-1 since 10:00 [cpu_usage_user=95]"}},
		{name: "absence fires for a silent group and resolves when it returns", rules: `
[[filters.alert.rules]]
alert = "HostDown"
absent_for = "5m"`,
			steps: []step{{0, "cpu,host=a usage_user=1"}, {0, "cpu,host=b usage_user=1"}, {3 * m, "cpu,host=b usage_user=1"},
				{4 * m, ""}, {5 * m, ""}, {6 * m, ""}, {8 * m, ""}, {9 * m, "cpu,host=a usage_user=1"}, {9 * m, ""}, {10 * m, "mem,host=b used=1"}},
			want: []string{"10:05 firing HostDown host=a since 10:05 [silent_seconds=300]",
				"10:08 firing HostDown host=b since 10:08 [silent_seconds=300]",
				"10:09 resolved HostDown host=a since 10:05 [silent_seconds=480]",
				"10:10 resolved HostDown host=b since 10:08 [silent_seconds=360]"}},
		{name: "anomaly rule: fires per series on a matching anomaly, resolves after keep_firing_for", rules: `
[[filters.alert.rules]]
alert = "LevelShift"
anomaly = true
expr = "anomaly.kind == 'level_shift' && anomaly.score > 0.9"
keep_firing_for = "5m"`,
			steps: []step{{0, `anomaly,host=a,series=cpu,field=usage_user kind="level_shift",score=0.8,value=50`},
				{1 * m, `anomaly,host=a,series=cpu,field=usage_user kind="new_high",score=0.99,value=50`},
				{2 * m, `anomaly,host=a,series=cpu,field=usage_user kind="level_shift",score=0.97,value=60,before=20,after=60`},
				{3 * m, ""}, {5 * m, `anomaly,host=a,series=cpu,field=usage_user kind="level_shift",score=0.98,value=61`},
				{9 * m, ""}, {10 * m, ""}},
			want: []string{"10:02 firing LevelShift field=usage_user,host=a,series=cpu since 10:02 [anomaly_after=60 anomaly_before=20 anomaly_score=0.97 anomaly_value=60]",
				"10:10 resolved LevelShift field=usage_user,host=a,series=cpu since 10:02 [anomaly_score=0.98 anomaly_value=61]"}},
		{name: "active_time: fires only inside the window, resolves when it ends", rules: `
[[filters.alert.rules]]
alert = "HighCPU"
expr = "cpu.usage_user > 90"
keep_firing_for = "1h"
  [[filters.alert.rules.active_time]]
  days = ["mon-fri"]
  from = "10:05"
  to = "10:10"
  time_zone = "UTC"`,
			steps: []step{{0, "cpu,host=a usage_user=95"}, {5 * m, "cpu,host=a usage_user=95"}, {9 * m, ""}, {10 * m, ""},
				{11 * m, "cpu,host=a usage_user=95"}},
			want: []string{"10:05 firing HighCPU host=a since 10:05 [cpu_usage_user=95]",
				"10:10 resolved HighCPU host=a since 10:05 [cpu_usage_user=95]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules := c.rules
			if !strings.Contains(rules, "resend_interval") {
				rules = "resend_interval = \"1h\"\n" + rules
			}
			got := run(t, newAlert(t, rules), c.steps)
			if !slices.Equal(got, c.want) {
				t.Errorf("alerts:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// A group that changes state flap_threshold times within flap_window is
// held firing, marked flapping, and resolves once it has been quiet.
func TestFlappingIsHeldFiring(t *testing.T) {
	a := newAlert(t, `
resend_interval = "1h"
[[filters.alert.rules]]
alert = "HighCPU"
expr = "cpu.usage_user > 90"
flap_threshold = 4
flap_window = "10m"`)
	const m = time.Minute
	var steps []step
	for i := range 6 { // 95, 50, 95, 50...
		v := 95
		if i%2 == 1 {
			v = 50
		}
		steps = append(steps, step{time.Duration(i) * m, fmt.Sprintf("cpu,host=a usage_user=%d", v)})
	}
	steps = append(steps, step{8 * m, ""}, step{12 * m, ""}, step{13 * m, ""})
	got := run(t, a, steps)
	want := []string{
		"10:00 firing HighCPU host=a since 10:00 [cpu_usage_user=95]",
		"10:01 resolved HighCPU host=a since 10:00 [cpu_usage_user=95]",
		"10:02 firing HighCPU host=a since 10:02 [cpu_usage_user=95]",
		// the 4th change within 10m (10:00, :01, :02, :03): held firing, flapping
		"10:03 firing HighCPU host=a since 10:02 [cpu_usage_user=95] flapping",
		// changes go on until 10:05, held; at 10:12 only 10:03, :04, :05 are within 10m
		"10:12 resolved HighCPU host=a since 10:02 [cpu_usage_user=95] flapping",
	}
	if !slices.Equal(got, want) {
		t.Errorf("alerts:\n got %q\nwant %q", got, want)
	}
}
