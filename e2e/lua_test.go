package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
	has := func(typ string) bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), `"type":"`+typ+`"`)
	}
	checkFor(t, 10*time.Second, "v1 messages", func() bool { return has("v1") })

	writeFile(t, script, "function process_message() inject_message({Type = 'v2'}) return 0 end\n")
	p.signal(t, syscall.SIGHUP)
	checkFor(t, 10*time.Second, "v2 messages after SIGHUP", func() bool { return has("v2") })

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
	checkFor(t, 10*time.Second, "v3 messages", func() bool { return has("v3") })
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
