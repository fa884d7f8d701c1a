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

// `interoceptor reload` talks to an admin API that wants a token over
// HTTPS: it takes address, token and certificate from the pipeline's file,
// or the token from INTEROCEPTOR_ADMIN_TOKEN; without it, it is refused and
// says how to give it.
func TestReloadWithTokenAndTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	script := writeFile(t, filepath.Join(dir, "v.lua"), "function process_message() return 0 end\n")
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := writeFile(t, filepath.Join(dir, "p.toml"), fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = %q
admin_token = "${ICP_E2E_ADMIN_TOKEN}"
admin_tls_cert = %q
admin_tls_key = %q
[[inputs.generator]]
publish = "in"
rate = 10
[[filters.lua]]
name = "v"
subscribe = ["in"]
script = %q
watch = false
`, filepath.Join(dir, "var"), admin, cert, key, script))
	env := append(os.Environ(), "ICP_E2E_ADMIN_TOKEN=e2e-token-0123")
	run := exec.Command(binary, "run", "-config", cfg, "-log-format", "json")
	run.Env = env
	p := start(t, run)
	p.waitRunning(t)
	if !strings.Contains(p.stderr.String(), `"admin":"https://`+admin+`/"`) {
		t.Errorf("the log does not give the https admin URL:\n%s", lastLines(p.stderr.String(), 5))
	}
	reload := func(extraEnv []string, args ...string) (string, int) {
		cmd := exec.Command(binary, append([]string{"reload"}, args...)...)
		cmd.Env = append(append([]string{}, os.Environ()...), extraEnv...)
		b, _ := cmd.CombinedOutput()
		return string(b), cmd.ProcessState.ExitCode()
	}
	if out, code := reload([]string{"ICP_E2E_ADMIN_TOKEN=e2e-token-0123"}, "-config", cfg); code != 0 || !strings.Contains(out, "filters.lua[v]: unchanged") {
		t.Errorf("reload -config: exit %d\n%s", code, out)
	}
	url := "https://" + admin
	if out, code := reload(nil, "-admin", url, "-cacert", cert); code != 1 || !strings.Contains(out, "401 Unauthorized") ||
		!strings.Contains(out, "INTEROCEPTOR_ADMIN_TOKEN") {
		t.Errorf("reload without a token: exit %d\n%s", code, out)
	}
	if out, code := reload([]string{"INTEROCEPTOR_ADMIN_TOKEN=e2e-token-0123"}, "-admin", url, "-cacert", cert); code != 0 ||
		!strings.Contains(out, "filters.lua[v]: unchanged") {
		t.Errorf("reload with INTEROCEPTOR_ADMIN_TOKEN: exit %d\n%s", code, out)
	}
	if out, code := reload([]string{"INTEROCEPTOR_ADMIN_TOKEN=e2e-token-0123"}, "-admin", url); code != 1 || !strings.Contains(out, "certificate") {
		t.Errorf("reload without trusting the certificate: exit %d\n%s", code, out)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// An admin API open to the network without credentials is an error of
// `check` (and `run`), unless asked for in so many words.
func TestCheckRefusesAnOpenAdminAPI(t *testing.T) {
	dir := t.TempDir()
	const plugins = "[[inputs.stdin]]\npublish = \"x\"\n[[outputs.stdout]]\nsubscribe = [\"x\"]\n"
	open := writeFile(t, filepath.Join(dir, "open.toml"), "[agent]\nadmin_addr = \"0.0.0.0:8377\"\n"+plugins)
	b, _ := exec.Command(binary, "check", "-config", open).CombinedOutput()
	if want := open + `:2: agent: key "admin_addr": "0.0.0.0:8377" listens beyond this host, and the admin API has no authentication`; !strings.Contains(string(b), want) {
		t.Errorf("check of an open admin API:\n%s\nwant %s", b, want)
	}
	allowed := writeFile(t, filepath.Join(dir, "allowed.toml"), "[agent]\nadmin_addr = \"0.0.0.0:8377\"\nadmin_allow_unauthenticated = true\n"+plugins)
	if b, err := exec.Command(binary, "check", "-config", allowed).CombinedOutput(); err != nil {
		t.Errorf("check with admin_allow_unauthenticated: %v\n%s", err, b)
	}
}
