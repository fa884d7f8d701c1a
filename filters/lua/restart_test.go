package lua_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/interoceptor/interoceptor/filters/lua"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// poisonScript tags each line it passes on, and spins forever on a line
// that says "poison", so that the time limit terminates it.
const poisonScript = `function process_message()
  local line = read_message("Payload")
  if line == "poison" then while true do end end
  inject_message({Type = "passed", Payload = line})
  return 0
end`

// linesFile writes n numbered lines, with "poison" at the given line numbers.
func linesFile(t *testing.T, dir string, n int, poison ...int) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		line := fmt.Sprint(i)
		for _, p := range poison {
			if p == i {
				line = "poison"
			}
		}
		b.WriteString(line + "\n")
	}
	path := filepath.Join(dir, "lines.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// poisonPipeline runs a file of lines through the poison script; what it
// passes on goes to passed.jsonl, its dead letters to dead.jsonl.
func poisonPipeline(t *testing.T, dir, lines, keys string) (rt *pipeline.Runtime, wait func(bool) error, passed, dead string) {
	passed, dead = filepath.Join(dir, "passed.jsonl"), filepath.Join(dir, "dead.jsonl")
	rt, wait = pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.file]]
publish = "in"
path = %q
[[filters.lua]]
name = "poisoned"
subscribe = ["in"]
publish = "out"
dead_letter = "dead"
script = %q
%s
[[outputs.file]]
name = "passed"
subscribe = ["out"]
matcher = "Type == 'passed'"
path = %q
format = "json"
[[outputs.file]]
name = "dead"
subscribe = ["dead"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), lines, writeScript(t, dir, "poisoned", poisonScript), keys, passed, dead))
	return rt, wait, passed, dead
}

func payloads(t *testing.T, path string) []string {
	var out []string
	for _, m := range jsonMessages(t, path) {
		p, _ := m["payload"].(string)
		out = append(out, p)
	}
	return out
}

// Messages that arrive while a terminated script waits for its restart
// wait with it (the input holds back) instead of being dropped; the one it
// was handling when it was terminated goes to dead_letter.
// A generator at 2,000 messages/s goes on while the script waits 500 ms
// for its restart: every message but the poison passes, in order.
func TestRestartHoldsMessagesBack(t *testing.T) {
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "dead.jsonl")
	rt, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "in"
rate = 2000
[[filters.lua]]
name = "poisoned"
subscribe = ["in"]
publish = "out"
dead_letter = "dead"
script = %q
restart_backoff = "500ms"
[[outputs.file]]
subscribe = ["out"]
matcher = "Type == 'passed'"
path = %q
format = "json"
[[outputs.file]]
name = "dead"
subscribe = ["dead"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), writeScript(t, dir, "poisoned", `function process_message()
  local seq = read_message("Fields[seq]")
  if seq == 100 then while true do end end
  inject_message({Type = "passed", Fields = {seq = seq}})
  return 0
end`), out, dead))
	// Well past the restart: 1,000 messages arrived during the wait.
	pipelinetest.WaitUntil(t, time.Minute, "3000 messages in", func() error {
		if n := pluginStatus(rt, "poisoned").Counters.In; n < 3000 {
			return fmt.Errorf("%d so far", n)
		}
		return nil
	})
	if err := wait(true); err != nil {
		t.Fatal(err)
	}
	msgs := jsonMessages(t, out)
	next := 1.0
	for _, m := range msgs {
		if next == 100 {
			next++
		}
		if seq := field(m, "seq"); seq != next {
			t.Fatalf("after seq %v came %v: a message was lost while the script waited for its restart", next-1, seq)
		}
		next++
	}
	st := pluginStatus(rt, "poisoned")
	if st.Counters.Dropped != 0 || st.Status["restarts"] != 1 || int(st.Counters.In) != len(msgs)+1 {
		t.Errorf("%d passed; counters %+v, status %v: want all but the poison, no drop, one restart", len(msgs), st.Counters, st.Status)
	}
	if d := jsonMessages(t, dead); len(d) != 1 || field(d[0], "seq") != 100.0 {
		t.Errorf("dead letters %v, want the poison (seq 100)", d)
	}
}

// With a backoff of an hour the drain does not wait for it: once the input
// is done, the script restarts at once and the rest is processed; the
// message in hand when it was terminated goes to dead_letter.
func TestDrainDoesNotWaitForABackoff(t *testing.T) {
	dir := t.TempDir()
	const n = 3000
	rt, wait, passed, dead := poisonPipeline(t, dir, linesFile(t, dir, n, 100), `restart_backoff = "1h"`)
	if err := wait(false); err != nil {
		t.Fatal(err)
	}
	got := payloads(t, passed)
	if len(got) != n-1 {
		t.Errorf("%d lines passed, want %d: every line but the poison", len(got), n-1)
	}
	if d := payloads(t, dead); len(d) != 1 || d[0] != "poison" {
		t.Errorf("dead letters %q, want the poison line", d)
	}
	st := pluginStatus(rt, "poisoned")
	if st.Counters.Dropped != 0 || st.Status["restarts"] != 1 {
		t.Errorf("counters %+v, status %v: want no drop and one restart", st.Counters, st.Status)
	}
	for _, m := range jsonMessages(t, dead) {
		if e, _ := field(m, "dead_letter_error").(string); !strings.Contains(e, "time") {
			t.Errorf("dead letter error %q, want the termination", e)
		}
	}
}

// More than max_restarts terminations within restart_window stop the script
// until it is reloaded: every message from then on goes to dead_letter, and
// the plugin says it is stopped. Nothing is lost: passed + dead = all.
func TestStoppedScriptSendsToDeadLetter(t *testing.T) {
	dir := t.TempDir()
	const n = 1000
	rt, wait, passed, dead := poisonPipeline(t, dir, linesFile(t, dir, n, 100, 200),
		`max_restarts = 1
restart_window = "1h"
restart_backoff = "10ms"`)
	if err := wait(false); err != nil {
		t.Fatal(err)
	}
	got, d := payloads(t, passed), payloads(t, dead)
	if len(got) != 198 || len(d) != n-198 {
		t.Errorf("%d passed and %d dead letters; want 198 (lines 1-199 but the poison) and %d", len(got), len(d), n-198)
	}
	if len(d) > 2 && (d[0] != "poison" || d[1] != "poison" || d[2] != "201") {
		t.Errorf("dead letters begin %q, want the two poisons then 201", d[:3])
	}
	st := pluginStatus(rt, "poisoned")
	if st.State != "stopped" || st.Status["state"] != "stopped" {
		t.Errorf("state %q, status %v; want stopped", st.State, st.Status)
	}
	if st.Counters.Dropped != 0 {
		t.Errorf("counters %+v: want no drop, all in dead_letter", st.Counters)
	}
}

// Without dead_letter, what a stopped script could not process is counted
// as dropped.
func TestStoppedScriptWithoutDeadLetterCounts(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	rt, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.file]]
publish = "in"
path = %q
[[filters.lua]]
name = "poisoned"
subscribe = ["in"]
publish = "out"
script = %q
max_restarts = 0
[[outputs.file]]
subscribe = ["out"]
matcher = "Type == 'passed'"
path = %q
`, filepath.Join(dir, "var"), linesFile(t, dir, 500, 100), writeScript(t, dir, "p", poisonScript), out))
	if err := wait(false); err != nil {
		t.Fatal(err)
	}
	st := pluginStatus(rt, "poisoned")
	if st.Counters.In != 500 || st.Counters.Dropped != 401 {
		t.Errorf("counters %+v: want 500 in, 401 dropped (the poison and all after it)", st.Counters)
	}
}

// Terminations older than restart_window are forgiven: a script that is
// healthy for a while gets its restarts back.
func TestRestartsAreForgivenAfterTheWindow(t *testing.T) {
	dir := t.TempDir()
	p := lua.New()
	p.Script = writeScript(t, dir, "p", poisonScript)
	p.MaxRestarts = 1
	p.RestartWindow = pipeline.Duration(time.Second)
	p.RestartBackoff = pipeline.Duration(10 * time.Millisecond)
	p.TimeLimit = pipeline.Duration(20 * time.Millisecond)
	p.Watch = false
	env := pipelinetest.Env(pipeline.KindFilter, "lua", "p")
	pipelinetest.Init(t, p, env)
	out := &pipelinetest.Collector{}
	send := func(payload string) error {
		return p.Process(&pipeline.Message{Type: "log", Payload: []byte(payload)}, out)
	}
	poison := func(what string) time.Time {
		t.Helper()
		if err := send("poison"); !pipeline.IsNotProcessed(err) {
			t.Fatalf("%s: %v, want a termination", what, err)
		}
		return time.Now()
	}
	first := poison("first poison")
	if err := send("1"); err != nil {
		t.Fatalf("after one termination: %v, want a restart", err)
	}
	// Healthy for longer than the window.
	time.Sleep(time.Until(first.Add(1100 * time.Millisecond)))
	poison("second poison")
	if err := send("2"); err != nil {
		t.Fatalf("the first termination was not forgiven: %v", err)
	}
	poison("third poison, within the window of the second")
	err := send("3")
	if !pipeline.IsNotProcessed(err) || !strings.Contains(err.Error(), "max_restarts") {
		t.Fatalf("after two terminations within the window: %v, want the script stopped", err)
	}
	if st := p.Status(); st["state"] != "stopped" {
		t.Errorf("status %v", st)
	}
	// A reload starts it again.
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := send("4"); err != nil {
		t.Fatalf("after a reload: %v", err)
	}
	if st := p.Status(); st["state"] != "running" {
		t.Errorf("status after reload %v", st)
	}
}

// A script without process_message cannot be a filter: check refuses it,
// and a reload into one fails and keeps the running version.
func TestScriptWithoutProcessMessage(t *testing.T) {
	dir := t.TempDir()
	p := lua.New()
	p.Script = writeScript(t, dir, "none", `function timer_event() end`)
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "process_message") {
		t.Fatalf("Validate: %v, want an error naming process_message", err)
	}
	p.Script = writeScript(t, dir, "some", poisonScript)
	p.Watch = false
	pipelinetest.Init(t, p, pipelinetest.Env(pipeline.KindFilter, "lua", "some"))
	writeScript(t, dir, "some", `-- process_message deleted by mistake`)
	if err := p.Reload(); err == nil || !strings.Contains(err.Error(), "process_message") {
		t.Fatalf("Reload: %v, want an error naming process_message", err)
	}
	out := &pipelinetest.Collector{}
	if err := p.Process(&pipeline.Message{Type: "log", Payload: []byte("1")}, out); err != nil || out.Len() != 1 {
		t.Fatalf("after the failed reload: %v, %d injected; want the old version running", err, out.Len())
	}
}

// A stop does not wait for a restart backoff, here an hour long, even when
// the ticker is the one waiting (timer_event was terminated): the drain
// starts at once.
func TestStopDoesNotWaitForABackoff(t *testing.T) {
	dir := t.TempDir()
	rt, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "in"
rate = 100
[[filters.lua]]
name = "spinner"
subscribe = ["in"]
publish = "out"
script = %q
ticker_interval = "50ms"
time_limit = "20ms"
restart_backoff = "1h"
`, filepath.Join(dir, "var"), writeScript(t, dir, "spinner", `function process_message() return 0 end
function timer_event() while true do end end`)))
	pipelinetest.WaitUntil(t, time.Minute, "the spinner restarting", func() error {
		if s := pluginStatus(rt, "spinner").State; s != "restarting" {
			return fmt.Errorf("its state is %q", s)
		}
		return nil
	})
	// wait fails the test after pipelinetest.RunTimeout if the drain waits
	// for the backoff.
	if err := wait(true); err != nil {
		t.Fatal(err)
	}
}
