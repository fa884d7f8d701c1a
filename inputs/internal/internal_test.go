package internal_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/filters/lua"
	_ "github.com/interoceptor/interoceptor/inputs/generator"
	"github.com/interoceptor/interoceptor/inputs/internal"
	_ "github.com/interoceptor/interoceptor/outputs/file"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// TestAPipelineWatchesItself runs a real pipeline: a generator sends 100
// log messages to a Lua filter that passes each on to a file, and to a file
// in line protocol that cannot write them (each a drop and an error);
// inputs.internal reports every plugin's counters to a JSON file, which
// must show each plugin with the counts it had.
func TestAPipelineWatchesItself(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "pass.lua")
	if err := os.WriteFile(script, []byte(`
function process_message()
  inject_message({Type = "passed", Fields = {seq = read_message("Fields[seq]")}})
  return 0
end
`), 0o644); err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(dir, "metrics.jsonl")
	_, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
name = "watcher"
data_dir = %q
admin_addr = "off"

[[inputs.generator]]
name = "gen"
publish = "logs.gen"
rate = 0
count = 100

[[filters.lua]]
name = "pass"
subscribe = ["logs.gen"]
publish = "logs.passed"
script = %q
ticker_interval = "1h"
watch = false

[[outputs.file]]
name = "sink"
subscribe = ["logs.passed"]
path = %q
format = "json"

[[outputs.file]]
name = "lp"
subscribe = ["logs.gen"]
path = %q
format = "influx"

[[inputs.internal]]
publish = "metrics.internal"
interval = "50ms"

[[outputs.file]]
name = "metrics"
subscribe = ["metrics.internal"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), script, filepath.Join(dir, "sink.jsonl"), filepath.Join(dir, "lp.txt"), metrics))

	// Wait for a round taken once the 100 messages went all the way.
	var last []*pipeline.Message
	pipelinetest.WaitUntil(t, 20*time.Second, "a round after the 100 messages went through", func() error {
		rs := rounds(t, metrics)
		if len(rs) == 0 {
			return errors.New("no round yet")
		}
		last = rs[len(rs)-1]
		p := plugins(last)
		own, _ := p["inputs.internal"]["out"].(int64) // a round after the first
		if p["outputs.sink"]["out"] != int64(100) || p["outputs.lp"]["dropped"] != int64(100) || own < 8 {
			return fmt.Errorf("sink out %v, lp dropped %v, internal out %v", p["outputs.sink"]["out"], p["outputs.lp"]["dropped"], own)
		}
		return nil
	})
	if err := wait(true); err != nil {
		t.Fatalf("pipeline: %v", err)
	}

	want := map[string]map[string]any{
		"inputs.gen":      {"in": int64(100), "out": int64(100), "dropped": int64(0), "errors": int64(0)},
		"filters.pass":    {"in": int64(100), "out": int64(100), "dropped": int64(0), "errors": int64(0)},
		"outputs.sink":    {"in": int64(100), "out": int64(100), "dropped": int64(0), "errors": int64(0)},
		"outputs.lp":      {"in": int64(100), "out": int64(0), "dropped": int64(100), "errors": int64(100)},
		"inputs.internal": {"dropped": int64(0), "errors": int64(0)},
		"outputs.metrics": {"dropped": int64(0), "errors": int64(0)},
	}
	types := map[string]string{"inputs.gen": "generator", "filters.pass": "lua", "outputs.sink": "file",
		"outputs.lp": "file", "inputs.internal": "internal", "outputs.metrics": "file"}
	got := plugins(last)
	if len(got) != len(want) {
		t.Errorf("a round has points for %d plugins, want %d", len(got), len(want))
	}
	for id, counters := range want {
		f, ok := got[id]
		if !ok {
			t.Errorf("no %s point for %s", internal.PluginMeasurement, id)
			continue
		}
		for k, v := range counters {
			if f[k] != v {
				t.Errorf("%s: %s = %v, want %v", id, k, f[k], v)
			}
		}
		if f["type"] != types[id] {
			t.Errorf("%s: type tag %v, want %q", id, f["type"], types[id])
		}
		if s, ok := f["process_seconds"].(float64); !ok || s < 0 {
			t.Errorf("%s: process_seconds %v, want a float >= 0", id, f["process_seconds"])
		}
	}
	if out := got["inputs.internal"]["out"].(int64); out < 8 {
		t.Errorf("internal has emitted %d points before its last round, want at least a round of 8", out)
	}
	// The Lua filter's gauges come as float fields.
	pass := got["filters.pass"]
	if pass["lua_running"] != 1.0 || pass["lua_calls"].(float64) < 100 || pass["lua_memory_bytes"].(float64) <= 0 {
		t.Errorf("filters.pass gauges: running %v, calls %v, memory %v", pass["lua_running"], pass["lua_calls"], pass["lua_memory_bytes"])
	}

	var nats, rt map[string]any
	for _, m := range last {
		switch m.Measurement() {
		case internal.NATSMeasurement:
			nats = values(m)
		case internal.RuntimeMeasurement:
			rt = values(m)
		}
	}
	if nats == nil || nats["published_batches"].(int64) == 0 || nats["out_msgs"].(int64) == 0 ||
		nats["in_msgs"].(int64) == 0 || nats["out_bytes"].(int64) == 0 || nats["reconnects"] != int64(0) {
		t.Errorf("%s point: %v", internal.NATSMeasurement, nats)
	}
	if rt == nil || rt["goroutines"].(int64) < 2 || rt["heap_alloc_bytes"].(int64) <= 0 ||
		rt["heap_inuse_bytes"].(int64) < rt["heap_alloc_bytes"].(int64)/2 || rt["gc_pause_total_ns"] == nil {
		t.Errorf("%s point: %v", internal.RuntimeMeasurement, rt)
	}
	if _, ok := rt["rss_bytes"]; !ok && runtime.GOOS == "linux" {
		t.Errorf("%s point has no rss_bytes", internal.RuntimeMeasurement)
	}

	// Counters are cumulative: no plugin's counts go down from a round to
	// the next.
	all := rounds(t, metrics)
	for i := 1; i < len(all); i++ {
		prev, cur := plugins(all[i-1]), plugins(all[i])
		for id, f := range cur {
			for _, k := range []string{"in", "out", "dropped", "errors"} {
				if f[k].(int64) < prev[id][k].(int64) {
					t.Errorf("round %d: %s %s went from %v to %v", i+1, id, k, prev[id][k], f[k])
				}
			}
		}
	}
}

// TestRoundWithoutAPipeline: outside a pipeline (no Env.Host) only the
// runtime point is made, and every round's points share their timestamp.
func TestRoundWithoutAPipeline(t *testing.T) {
	p := newDefault()
	p.Interval = pipeline.Duration(20 * time.Millisecond)
	env := pipelinetest.Env(pipeline.KindInput, "internal", "internal")
	env.Agent.Name = "h"
	out := &pipelinetest.Collector{MessagesOnly: true}
	stop := pipelinetest.StartInput(t, p, env, out)
	out.WaitFor(t, 3, 5*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	msgs := out.Messages()
	for i, m := range msgs {
		checkPoint(t, m, "h")
		if m.Measurement() != internal.RuntimeMeasurement {
			t.Errorf("point %d: %s, want only %s", i, m.Measurement(), internal.RuntimeMeasurement)
		}
		if i > 0 && m.Timestamp-msgs[i-1].Timestamp < int64(15*time.Millisecond) {
			t.Errorf("points %d and %d are %v apart, want the interval", i, i+1, time.Duration(m.Timestamp-msgs[i-1].Timestamp))
		}
	}
}

func TestRunEndsWhenEmitFails(t *testing.T) {
	p := newDefault()
	pipelinetest.Init(t, p, pipelinetest.Env(pipeline.KindInput, "internal", "internal"))
	if err := p.Run(context.Background(), pipelinetest.Stopped{}); !errors.Is(err, pipelinetest.ErrStopped) {
		t.Errorf("Run = %v, want Emit's error", err)
	}
}

func TestValidate(t *testing.T) {
	p := newDefault()
	if err := p.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	p.Interval = 0
	var ke *pipeline.KeyError
	if err := p.Validate(); !errors.As(err, &ke) || ke.Key != "interval" {
		t.Errorf("interval 0: %v, want an error on interval", err)
	}
}

// TestSample keeps sample.toml and the code in step.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindInput, "internal") }

func newDefault() *internal.Internal {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "internal")
	return reg.New().(*internal.Internal)
}

// rounds reads the points outputs.file wrote in JSON and groups them by
// timestamp; the last group is left out, as it may not be complete yet.
func rounds(t *testing.T, path string) [][]*pipeline.Message {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out [][]*pipeline.Message
	var prev int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := new(pipeline.Message)
		if err := pipeline.ParseJSON(sc.Bytes(), m); err != nil {
			break // a line being written
		}
		checkPoint(t, m, "watcher")
		if len(out) == 0 || m.Timestamp != prev {
			out = append(out, nil)
		}
		prev = m.Timestamp
		out[len(out)-1] = append(out[len(out)-1], m)
	}
	if len(out) > 0 {
		out = out[:len(out)-1]
	}
	return out
}

// checkPoint checks what every point has: a metric with its tags sorted
// (host first), that writes as line protocol.
func checkPoint(t *testing.T, m *pipeline.Message, host string) {
	t.Helper()
	if !m.IsMetric() || m.Type != pipeline.MetricType {
		t.Fatalf("not a metric: %+v", m)
	}
	var tags []string
	for _, f := range m.Fields {
		if f.Role == pipeline.RoleTag {
			tags = append(tags, f.Name)
		}
	}
	want := []string{"host"}
	if m.Measurement() == internal.PluginMeasurement {
		want = []string{"host", "kind", "name", "type"}
	}
	if !slices.Equal(tags, want) {
		t.Errorf("%s: tags %v, want %v", m.Measurement(), tags, want)
	}
	if h := m.Field("host"); h == nil || h.Str != host {
		t.Errorf("%s: host tag %+v, want %q", m.Measurement(), h, host)
	}
	for _, f := range m.Fields {
		if f.Role != pipeline.RoleField {
			continue
		}
		// Counters are ints; a plugin's process_seconds and gauges are floats.
		want := pipeline.KindInt
		if m.Measurement() == internal.PluginMeasurement && !slices.Contains([]string{"in", "out", "dropped", "errors"}, f.Name) {
			want = pipeline.KindFloat
		}
		if f.Kind != want {
			t.Errorf("%s: field %s is %v, want %v", m.Measurement(), f.Name, f.Kind, want)
		}
	}
	if _, err := pipeline.AppendLineProtocol(nil, m); err != nil {
		t.Errorf("%s: %v", m.Measurement(), err)
	}
}

// plugins returns the interoceptor_plugin points of a round by kind.name,
// as their values plus the type tag.
func plugins(round []*pipeline.Message) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, m := range round {
		if m.Measurement() != internal.PluginMeasurement {
			continue
		}
		v := values(m)
		v["type"] = m.Field("type").Str
		// The measurement is the first field called name, the tag the second.
		out[m.Field("kind").Str+"."+m.FieldAt("name", 1).Str] = v
	}
	return out
}

// values returns a point's value fields by name.
func values(m *pipeline.Message) map[string]any {
	out := map[string]any{}
	for _, f := range m.Fields {
		if f.Role == pipeline.RoleField {
			out[f.Name] = f.Value()
		}
	}
	return out
}
