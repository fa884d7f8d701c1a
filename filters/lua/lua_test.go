package lua_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/filters/lua"
	_ "github.com/interoceptor/interoceptor/inputs/all"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	"github.com/interoceptor/interoceptor/pipeline"
	_ "github.com/interoceptor/interoceptor/pipeline/matcher"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// jsonMessages reads a file written by outputs.file with format = "json".
func jsonMessages(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue // a line being written
		}
		out = append(out, m)
	}
	return out
}

// field returns a field's value from a message in the JSON form.
func field(m map[string]any, name string) any {
	fields, _ := m["fields"].([]any)
	for _, f := range fields {
		if f, ok := f.(map[string]any); ok && f["name"] == name {
			return f["value"]
		}
	}
	return nil
}

// countingScript counts in a global, which preserve_data carries into each
// new version; VERSION is local, so each version keeps its own.
const countingScript = `
local VERSION = %d
count = count or 0
function process_message()
  count = count + 1
  if last_version ~= VERSION then
    last_version = VERSION
    inject_message({Type = "version_seen", Fields = {version = VERSION}})
  end
  return 0
end
function timer_event(ns)
  inject_message({Type = "total", Fields = {count = count, version = VERSION}})
end
`

// Reload under load: a counting script fed at 50k msg/s is rewritten 20
// times. Every message is counted exactly once across the versions (the
// count is carried by preserve_data), and each version is seen handling
// messages within a second of its file being written.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "count.lua")
	out := filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(script, fmt.Appendf(nil, countingScript, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	const sent = 500_000 // 10 s at 50k/s: longer than the 20 rewrites take
	_, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "load"
rate = 50000
count = %d
[[filters.lua]]
subscribe = ["load"]
publish = "counts"
script = %q
preserve_data = true
ticker_interval = "1h"
[[outputs.file]]
subscribe = ["counts"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), sent, script, out))

	written := map[int]time.Time{}
	for v := 1; v <= 20; v++ {
		time.Sleep(150 * time.Millisecond)
		tmp := script + ".tmp"
		if err := os.WriteFile(tmp, fmt.Appendf(nil, countingScript, v), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, script); err != nil { // as editors do
			t.Fatal(err)
		}
		written[v] = time.Now()
		pipelinetest.WaitUntil(t, 2*time.Second, fmt.Sprintf("version %d at work", v), func() error {
			last := any(nil)
			for _, m := range jsonMessages(t, out) {
				if m["type"] == "version_seen" {
					if last = field(m, "version"); last == float64(v) {
						return nil
					}
				}
			}
			return fmt.Errorf("the last version seen is %v", last)
		})
	}
	if err := wait(false); err != nil { // the generator's count ends the pipeline
		t.Fatal(err)
	}
	msgs := jsonMessages(t, out)
	var total float64 = -1
	seenAt := map[int]time.Time{}
	for _, m := range msgs {
		switch m["type"] {
		case "total":
			total = field(m, "count").(float64)
		case "version_seen":
			ts, _ := time.Parse(time.RFC3339Nano, m["timestamp"].(string))
			seenAt[int(field(m, "version").(float64))] = ts
		}
	}
	var worst time.Duration
	for v := 1; v <= 20; v++ {
		lag := seenAt[v].Sub(written[v])
		worst = max(worst, lag)
		if seenAt[v].IsZero() || lag > time.Second {
			t.Errorf("version %d first handled a message %v after its write (want within 1s)", v, lag)
		}
	}
	t.Logf("slowest version seen %v after its write; %v messages counted across 21 versions", worst, total)
	if total != sent {
		t.Fatalf("counted %v messages, sent %d: a reload lost or repeated messages", total, sent)
	}
}

// Hostile scripts, each in its own filter beside a healthy one: each is
// stopped (terminated, or its calls fail), the process lives, and the
// healthy filter still counts every message.
func TestHostileScriptsAreStoppedAndTheRestFlows(t *testing.T) {
	hostile := map[string]string{
		"loop":      `function process_message() while true do end end`,
		"tables":    `t = {} function process_message() while true do t[#t+1] = {} end end`,
		"rep":       `function process_message() local s = string.rep("x", 1e9) return 0 end`,
		"pattern":   `function process_message() local s = string.rep("a", 1e5) s:find(".-.-.-.-.-b") return 0 end`,
		"recursion": `local function f() return 1 + f() end function process_message() return f() end`,
		"sparse":    `function process_message() local t = {} t[1e9] = 1 return 0 end`,
		"escape": `function process_message()
  local reached = {}
  if os.execute then reached[#reached+1] = "os.execute" end
  if io then reached[#reached+1] = "io" end
  if load then reached[#reached+1] = "load" end
  if getfenv then reached[#reached+1] = "getfenv" end
  if debug then reached[#reached+1] = "debug" end
  if loadstring then reached[#reached+1] = "loadstring" end
  if dofile then reached[#reached+1] = "dofile" end
  inject_message({Type = "escape", Payload = table.concat(reached, ",")})
  return 0
end`,
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "in"
rate = 0
count = 2000
[[filters.lua]]
name = "healthy"
subscribe = ["in"]
publish = "out.healthy"
script = %q
ticker_interval = "1h"
`, filepath.Join(dir, "var"), writeScript(t, dir, "healthy", `n = 0
function process_message() n = n + 1 return 0 end
function timer_event() inject_message({Type = "total", Fields = {count = n}}) end`))
	for name, src := range hostile {
		fmt.Fprintf(&cfg, `
[[filters.lua]]
name = %q
subscribe = ["in"]
publish = "out.%s"
script = %q
max_restarts = 0
`, name, name, writeScript(t, dir, name, src))
	}
	fmt.Fprintf(&cfg, `
[[outputs.file]]
subscribe = ["out.>"]
path = %q
format = "json"
`, out)
	start := time.Now()
	rt, wait := pipelinetest.Run(t, cfg.String())
	if err := wait(false); err != nil {
		t.Fatal(err)
	}
	t.Logf("pipeline with %d hostile scripts done in %v", len(hostile), time.Since(start))

	msgs := jsonMessages(t, out)
	terminated := map[string]string{}
	for _, m := range msgs {
		switch m["type"] {
		case "sandbox.terminated":
			terminated[strings.TrimSuffix(strings.TrimPrefix(field(m, "plugin").(string), "filters.lua["), "]")] = field(m, "reason").(string)
		case "total":
			if c := field(m, "count"); c != float64(2000) {
				t.Errorf("healthy filter counted %v of 2000 messages", c)
			}
		case "escape":
			if p, _ := m["payload"].(string); p != "" {
				t.Errorf("a script reached: %s", p)
			}
		}
	}
	status := map[string]pipeline.PluginStatus{}
	for _, p := range rt.PluginStatus() {
		status[p.Name] = p
	}
	// The limit each script must be stopped by ("" for t[1e9] = 1, which a
	// Lua table stores in its hash part: one entry, nothing to stop), where
	// the mechanism guarantees it: the loop and the pattern allocate
	// nothing, and only the script's own memory is charged to it, so only
	// time stops them; string.rep is refused before it allocates. Deep
	// recursion overflows the stack and the table bomb its memory, unless a
	// slow machine runs into their time limit first: both stop them.
	want := map[string][]string{
		"loop": {"time"}, "tables": {"memory", "time"}, "rep": {"memory"},
		"pattern": {"time"}, "recursion": {"memory", "time"}, "sparse": {""},
	}
	for name, reasons := range want {
		st := status[name]
		t.Logf("%s: terminated (%q), counters %+v", name, terminated[name], st.Counters)
		if !slices.Contains(reasons, terminated[name]) {
			t.Errorf("%s: terminated for %q, want one of %q", name, terminated[name], reasons)
		}
		if terminated[name] == "" && (st.Counters.Errors != 0 || st.Counters.In != 2000) {
			t.Errorf("%s: not stopped, yet counters %+v", name, st.Counters)
		}
	}
	if h := status["healthy"]; h.Counters.In != 2000 || h.Counters.Errors != 0 {
		t.Errorf("healthy counters %+v", h.Counters)
	}
}

func writeScript(t *testing.T, dir, name, src string) string {
	t.Helper()
	path := filepath.Join(dir, name+".lua")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A script edited into one that does not compile leaves the running
// version in place; the error is reported, and a later good edit loads.
func TestBrokenEditKeepsTheRunningVersion(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir, "tag", `function process_message()
  inject_message({Type = "v1"})
  return 0
end`)
	out := filepath.Join(dir, "out.jsonl")
	rt, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "in"
rate = 200
[[filters.lua]]
name = "tag"
subscribe = ["in"]
publish = "out"
script = %q
[[outputs.file]]
subscribe = ["out"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), script, out))
	countType := func(typ string) int {
		n := 0
		for _, m := range jsonMessages(t, out) {
			if m["type"] == typ {
				n++
			}
		}
		return n
	}
	typeCount := func(typ string, want int) func() error { // at least want messages of type typ
		return func() error {
			if n := countType(typ); n < want {
				return fmt.Errorf("%d messages of type %s", n, typ)
			}
			return nil
		}
	}
	pipelinetest.WaitUntil(t, 5*time.Second, "messages from the first script", typeCount("v1", 1))

	writeScript(t, dir, "tag", "function process_message()\n  inject_message({Type = 'v2'}\nend\n") // missing ")"
	results, err := rt.Reload("tag")
	if err != nil || len(results) != 1 || results[0].OK || !strings.Contains(results[0].Error, "tag.lua") {
		t.Fatalf("reload of a broken script: %+v, %v; want a failure naming the file", results, err)
	}
	before := countType("v1")
	pipelinetest.WaitUntil(t, 5*time.Second, "the first script still at work", typeCount("v1", before+11))
	st := pluginStatus(rt, "tag").Status
	if st["version"] != 1 || !strings.Contains(fmt.Sprint(st["last_reload_error"]), "tag.lua") {
		t.Fatalf("status after a failed reload: %v", st)
	}

	writeScript(t, dir, "tag", "function process_message()\n  inject_message({Type = 'v2'})\n  return 0\nend\n")
	pipelinetest.WaitUntil(t, 5*time.Second, "messages from the edited script", typeCount("v2", 1)) // by the file watch
	if st := pluginStatus(rt, "tag").Status; st["version"] != 2 || st["last_reload_error"] != nil {
		t.Fatalf("status after a good edit: %v", st)
	}
	if err := wait(true); err != nil {
		t.Fatal(err)
	}
}

// preserve_data: the script's globals are saved at shutdown and restored at
// the next start; a new _PRESERVATION_VERSION starts clean.
func TestPreserveDataAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	src := `_PRESERVATION_VERSION = %d
count = 0
function process_message() count = count + 1 return 0 end
function timer_event() inject_message({Type = "total", Fields = {count = count}}) end`
	script := writeScript(t, dir, "keep", fmt.Sprintf(src, 1))
	runOnce := func(outName string) float64 {
		out := filepath.Join(dir, outName)
		_, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "in"
rate = 0
count = 1000
[[filters.lua]]
name = "keep"
subscribe = ["in"]
publish = "out"
script = %q
preserve_data = true
ticker_interval = "1h"
[[outputs.file]]
subscribe = ["out"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), script, out))
		if err := wait(false); err != nil {
			t.Fatal(err)
		}
		for _, m := range jsonMessages(t, out) {
			if m["type"] == "total" {
				return field(m, "count").(float64)
			}
		}
		t.Fatal("no total")
		return 0
	}
	if got := runOnce("1.jsonl"); got != 1000 {
		t.Fatalf("first run counted %v, want 1000", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "var", "lua", "keep.preserve")); err != nil {
		t.Fatalf("nothing saved at shutdown: %v", err)
	}
	if got := runOnce("2.jsonl"); got != 2000 {
		t.Fatalf("second run counted %v, want 2000 (1000 carried over)", got)
	}
	writeScript(t, dir, "keep", fmt.Sprintf(src, 2))
	if got := runOnce("3.jsonl"); got != 1000 {
		t.Fatalf("after a new _PRESERVATION_VERSION counted %v, want 1000 (a clean start)", got)
	}
}

// pluginStatus is the /api/plugins entry of the plugin named name.
func pluginStatus(rt *pipeline.Runtime, name string) pipeline.PluginStatus {
	for _, p := range rt.PluginStatus() {
		if p.Name == name {
			return p
		}
	}
	return pipeline.PluginStatus{}
}

// A reload loads the config file again: a Lua filter takes its new config
// table (and limits) with the script; a change of the runtime's own keys
// (subscribe) is reported as applied at the next start; with a config that
// no longer loads, the script reloads with the table it has, and a warning.
func TestReloadTakesTheNewConfig(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	script := writeScript(t, dir, "tag", `local tag = read_config("tag")
function process_message()
  inject_message({Type = "tagged", Payload = tag})
  return 0
end`)
	conf := func(tag, subscribe string) string {
		return fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "in"
rate = 200
[[filters.lua]]
name = "tag"
subscribe = [%q]
publish = "out"
script = %q
watch = false
  [filters.lua.config]
  tag = %q
[[outputs.file]]
subscribe = ["out"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), subscribe, script, tag, out)
	}
	path := filepath.Join(dir, "p.toml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(conf("first", "in"))
	cfg, err := pipeline.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := pipeline.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() { cancel(); <-done }()
	seen := func(tag string) func() error {
		return func() error {
			ms := jsonMessages(t, out)
			for _, m := range ms {
				if m["payload"] == tag {
					return nil
				}
			}
			return fmt.Errorf("%d messages, none with payload %q", len(ms), tag)
		}
	}
	pipelinetest.WaitUntil(t, time.Minute, "the first table at work", seen("first"))

	write(conf("second", "in"))
	results, err := rt.Reload("tag")
	if err != nil || len(results) != 1 || !results[0].OK || results[0].Warning != "" {
		t.Fatalf("reload with a new config table: %+v, %v", results, err)
	}
	pipelinetest.WaitUntil(t, time.Minute, "the second table at work", seen("second"))

	write(strings.Replace(conf("third", "elsewhere"), "[[filters.lua]]", "[[inputs.stdin]]\npublish = \"elsewhere\"\n[[filters.lua]]", 1))
	results, err = rt.Reload("tag")
	if err != nil || len(results) != 1 || !results[0].OK || !strings.Contains(results[0].Warning, "subscribe") {
		t.Fatalf("reload with a new subscribe: %+v, %v; want it applied, with a warning about subscribe", results, err)
	}
	pipelinetest.WaitUntil(t, time.Minute, "the third table at work", seen("third"))

	write("[[filters.lua]]\nthis is not toml")
	results, err = rt.Reload("tag")
	if err != nil || len(results) != 1 || !results[0].OK || results[0].Action != pipeline.ActionUnchanged ||
		!strings.Contains(results[0].Warning, "does not load") {
		t.Fatalf("reload with a broken config: %+v, %v; want the script (unchanged) kept with its table, and a warning", results, err)
	}
	if st := pluginStatus(rt, "tag"); st.Status["version"] != 3 {
		t.Errorf("status after a broken config: %v, want version 3 (the script did not change)", st.Status)
	}
	pipelinetest.WaitUntil(t, time.Minute, "the third table still at work", seen("third"))
}

// The sample names plugins/filters/change_detect.lua, relative to the
// folder of the file it is saved in: the project's root, where CheckSample
// runs; its script and config are examples (the defaults are empty), module_path the default spelled out.
func TestSample(t *testing.T) {
	pipelinetest.CheckSample(t, pipeline.KindFilter, "lua", "script", "config", "module_path")
}

// A script that passes on the message in hand through a running pipeline:
// a tag appended (sent by copying the message's record from the frame it
// came in, pipeline.Extender), a value changed in place (encoded in full),
// or nothing changed. Every message comes out once, as the script left it.
func TestPassOnThroughThePipeline(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "tag.lua")
	out := filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(script, []byte(`
function process_message()
  local seq = read_message("Fields[seq]")
  if seq % 3 == 0 then
    write_message("Tags[load]", "high")
  elseif seq % 3 == 1 then
    write_message("Fields[value]", -seq)
  end
  inject_message()
end
`), 0o644); err != nil {
		t.Fatal(err)
	}
	const sent = 3000
	_, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
name = "s1"
publish = "in"
mode = "metric"
rate = 0
count = %d
[[filters.lua]]
subscribe = ["in"]
publish = "tagged"
script = %q
[[outputs.file]]
subscribe = ["tagged"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), sent, script, out))
	if err := wait(false); err != nil { // the generator's count ends the pipeline
		t.Fatal(err)
	}
	msgs := jsonMessages(t, out)
	if len(msgs) != sent {
		t.Fatalf("%d messages written, want %d", len(msgs), sent)
	}
	for i, m := range msgs {
		seq := i + 1
		fields, _ := m["fields"].([]any)
		names := make([]string, len(fields))
		for j, f := range fields {
			names[j], _ = f.(map[string]any)["name"].(string)
		}
		want := []string{"name", "series", "value", "seq"}
		if seq%3 == 0 {
			want = append(want, "load")
		}
		if field(m, "seq") != float64(seq) || !slices.Equal(names, want) || m["type"] != "metric" ||
			field(m, "series") != "s1" || field(m, "name") != "generator" {
			t.Fatalf("message %d: %v, want seq %d with fields %v", i, m, seq, want)
		}
		switch v, _ := field(m, "value").(float64); seq % 3 {
		case 0:
			if field(m, "load") != "high" {
				t.Fatalf("message %d: load = %v, want high", i, field(m, "load"))
			}
		case 1:
			if v != float64(-seq) {
				t.Fatalf("message %d: value = %v, want %d", i, v, -seq)
			}
		default:
			if v < -50 || v > 150 { // the generator's level and noise
				t.Fatalf("message %d: value = %v, want the generator's", i, v)
			}
		}
	}
}
