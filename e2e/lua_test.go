package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// check names a Lua script that does not compile, with its line.
func TestCheckReportsALuaSyntaxError(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, filepath.Join(dir, "bad.lua"), "function process_message()\n  return 0\nedn\n")
	cfg := writeFile(t, filepath.Join(dir, "p.toml"), fmt.Sprintf(`[[inputs.stdin]]
publish = "in"
[[filters.lua]]
subscribe = ["in"]
script = %q
`, script))
	cmd := exec.Command(binary, "check", "-config", cfg)
	b, _ := cmd.CombinedOutput()
	want := cfg + `:5: filters.lua[lua]: key "script": ` + script + `:3:`
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(b), want) {
		t.Fatalf("exit %d, output:\n%s\nwant it to contain %s", cmd.ProcessState.ExitCode(), b, want)
	}
}

// SIGHUP and `interoceptor reload` reload a running script; a broken edit
// makes `reload` exit 1 with the reason while the old version keeps running.
func TestReloadBySignalAndCommand(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, filepath.Join(dir, "v.lua"), "function process_message() inject_message({Type = 'v1'}) return 0 end\n")
	out := filepath.Join(dir, "out.jsonl")
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := runPipeline(t, dir, "p", fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = %q
[[inputs.generator]]
publish = "in"
rate = 100
[[filters.lua]]
name = "v"
subscribe = ["in"]
publish = "out"
script = %q
watch = false
[[outputs.file]]
subscribe = ["out"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), admin, script, out))
	p.waitRunning(t)
	has := func(typ string) func() error {
		return func() error {
			b, _ := os.ReadFile(out)
			if !strings.Contains(string(b), `"type":"`+typ+`"`) {
				return fmt.Errorf("none in %d lines", bytes.Count(b, []byte{'\n'}))
			}
			return nil
		}
	}
	pipelinetest.WaitUntil(t, 10*time.Second, "v1 messages", has("v1"))

	writeFile(t, script, "function process_message() inject_message({Type = 'v2'}) return 0 end\n")
	p.signal(t, syscall.SIGHUP)
	pipelinetest.WaitUntil(t, 10*time.Second, "v2 messages after SIGHUP", has("v2"))

	writeFile(t, script, "function process_message() inject_message({Type = 'v3'} return 0 end\n")
	cmd := exec.Command(binary, "reload", "-admin", admin, "-plugin", "v")
	b, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(b), "filters.lua[v]: FAILED, the previous version keeps running") ||
		!strings.Contains(string(b), "v.lua:1") {
		t.Fatalf("reload of a broken script: exit %d\n%s", cmd.ProcessState.ExitCode(), b)
	}
	writeFile(t, script, "function process_message() inject_message({Type = 'v3'}) return 0 end\n")
	b, err := exec.Command(binary, "reload", "-admin", admin).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "filters.lua[v]: reloaded") {
		t.Fatalf("reload: %v\n%s", err, b)
	}
	pipelinetest.WaitUntil(t, 10*time.Second, "v3 messages", has("v3"))
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// A healthy Lua filter on a busy machine: other processes keep every core
// busy and the pipeline's own process is paused (SIGSTOP) a dozen times for
// 250 ms, longer than the script's 100 ms time limit. The script is charged
// only its own running time, so it is never stopped, and every message
// arrives.
func TestHealthyLuaFilterSurvivesABusyMachine(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	// About 100 µs of work per message on an idle core.
	script := writeFile(t, filepath.Join(dir, "work.lua"), `function process_message()
  local x = 0
  for i = 1, 3000 do x = x + i % 7 end
  inject_message({Type = "worked", Payload = read_message("Payload")})
  return 0
end
`)
	const n = 20000
	p := runPipeline(t, dir, "p", fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "in"
rate = 5000
count = %d
[[filters.lua]]
name = "work"
subscribe = ["in"]
publish = "out"
script = %q
watch = false
[[outputs.file]]
subscribe = ["out"]
path = %q
format = "payload"
`, filepath.Join(dir, "var"), n, script, out))
	p.waitRunning(t)

	for range 3 {
		hog := exec.Command("sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = hog.Process.Kill(); _ = hog.Wait() })
	}
	for i := 0; i < 12; i++ {
		select {
		case <-p.done:
			t.Logf("the pipeline ended after %d pauses", i)
			i = 12
			continue
		default:
		}
		p.signal(t, syscall.SIGSTOP)
		time.Sleep(250 * time.Millisecond) // the pause itself
		p.signal(t, syscall.SIGCONT)
		time.Sleep(100 * time.Millisecond) // let it run between pauses
	}
	if code := p.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d", code)
	}
	log := p.stderr.String()
	if strings.Contains(log, "script terminated") {
		t.Errorf("the healthy script was terminated:\n%s", lastLines(log, 20))
	}
	c := stoppedCounters(t, log, "filters.lua[work]")
	if c["in"] != n || c["errors"] != 0 || c["dropped"] != 0 {
		t.Errorf("filter counters %v, want %d in, no error, no drop", c, n)
	}
	if got := countLines(t, out); got != n {
		t.Errorf("%d of %d messages arrived", got, n)
	}
}
