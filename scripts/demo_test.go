// Package scripts holds the tests of scripts/demo.sh, what `make run` runs:
// its port check and its banner, without InfluxDB or mailpit.
package scripts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/decoders/all"
	_ "github.com/interoceptor/interoceptor/filters/all"
	_ "github.com/interoceptor/interoceptor/inputs/all"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	"github.com/interoceptor/interoceptor/pipeline"
	_ "github.com/interoceptor/interoceptor/pipeline/matcher"
)

// demo runs scripts/demo.sh with args and env (on top of this process's),
// and returns its exit code, stdout and stderr.
func demo(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"demo.sh"}, args...)...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("demo.sh %v: %v\n%s", args, err, stderr.String())
	return 0, "", ""
}

// freePort returns a port nothing listens on (nor, with plus2, on the port
// two above it: InfluxDB's RPC).
func freePort(t *testing.T, plus2 bool) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !plus2 {
			return p
		}
		if l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+2)); err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// freeEnv is the demo's variables set to free ports, mailpit wanted, so
// that the port check has every port to check and finds none taken.
func freeEnv(t *testing.T) map[string]string {
	return map[string]string{
		"INFLUX_PORT":      strconv.Itoa(freePort(t, true)),
		"INFLUX_URL":       "", // derived from INFLUX_PORT
		"DEMO_ADMIN_ADDR":  fmt.Sprintf("127.0.0.1:%d", freePort(t, false)),
		"DEMO_NATS_LISTEN": fmt.Sprintf("127.0.0.1:%d", freePort(t, false)),
		"SMTP_ADDR":        fmt.Sprintf("127.0.0.1:%d", freePort(t, false)),
		"MAILPIT_UI":       fmt.Sprintf("127.0.0.1:%d", freePort(t, false)),
		"DEMO_MAILPIT":     "1",
	}
}

// A port the demo needs that something else holds is named, with its
// holder when ss or lsof can tell, and with the variable that moves it;
// nothing is started.
func TestDemoPortCheckNamesTheVariable(t *testing.T) {
	if code, stdout, stderr := demo(t, freeEnv(t), "--check-ports"); code != 0 || stdout+stderr != "" {
		t.Fatalf("every port free: exit %d\n%s%s", code, stdout, stderr)
	}
	_, ss := exec.LookPath("ss")
	_, lsof := exec.LookPath("lsof")
	knowsPID := ss == nil || lsof == nil
	for _, c := range []struct {
		variable, what string
		port           func(env map[string]string) string // the port the test takes
	}{
		{"DEMO_NATS_LISTEN", "NATS", func(env map[string]string) string { return portOf(env["DEMO_NATS_LISTEN"]) }},
		{"DEMO_ADMIN_ADDR", "the admin API", func(env map[string]string) string { return portOf(env["DEMO_ADMIN_ADDR"]) }},
		{"INFLUX_PORT", "InfluxDB's HTTP API", func(env map[string]string) string { return env["INFLUX_PORT"] }},
		{"INFLUX_PORT", "InfluxDB's RPC, INFLUX_PORT+2", func(env map[string]string) string {
			p, _ := strconv.Atoi(env["INFLUX_PORT"])
			return strconv.Itoa(p + 2)
		}},
		{"SMTP_ADDR", "mailpit's SMTP", func(env map[string]string) string { return portOf(env["SMTP_ADDR"]) }},
		{"MAILPIT_UI", "mailpit's web UI", func(env map[string]string) string { return portOf(env["MAILPIT_UI"]) }},
	} {
		t.Run(c.what, func(t *testing.T) {
			env := freeEnv(t)
			port := c.port(env)
			l, err := net.Listen("tcp", "127.0.0.1:"+port)
			if err != nil {
				t.Skipf("port %s was taken meanwhile: %v", port, err)
			}
			defer l.Close()
			code, _, stderr := demo(t, env, "--check-ports")
			want := fmt.Sprintf("demo: port %s (%s) is taken", port, c.what)
			if knowsPID {
				want += fmt.Sprintf(" (by pid %d", os.Getpid())
			}
			if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "; set "+c.variable+"=") {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and %q ... \"set %s=...\"", code, stderr, want, c.variable)
			}
		})
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// The banner shows the addresses the running demo pipeline reports, those
// of the DEMO_* variables, not the defaults, and the commands that reach
// them.
func TestDemoBannerShowsBoundAddresses(t *testing.T) {
	env := map[string]string{
		"DEMO_DATA_DIR":    t.TempDir(),
		"DEMO_ADMIN_ADDR":  fmt.Sprintf("127.0.0.1:%d", freePort(t, false)),
		"DEMO_NATS_LISTEN": fmt.Sprintf("127.0.0.1:%d", freePort(t, false)),
		"INFLUX_URL":       fmt.Sprintf("http://127.0.0.1:%d", freePort(t, false)), // nothing: writes are retried
		"SMTP_ADDR":        fmt.Sprintf("127.0.0.1:%d", freePort(t, false)),        // not mailpit's default: none is wanted
		"MAILPIT_UI":       fmt.Sprintf("127.0.0.1:%d", freePort(t, false)),
		"ALERT_MAIL_TO":    "oncall@example.com",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(here, "..")) // as `make run` runs it, from the project root
	cfg, err := pipeline.LoadConfig("configs/demo.toml")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := pipeline.Start(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo run: %v", err)
		}
	}()
	t.Chdir(here)
	code, stdout, stderr := demo(t, nil, "--banner")
	if code != 0 {
		t.Fatalf("demo.sh --banner: exit %d\n%s", code, stderr)
	}
	nats := "nats://" + env["DEMO_NATS_LISTEN"]
	for _, want := range []string{
		"  Admin API   http://" + env["DEMO_ADMIN_ADDR"] + "/   ",
		"  NATS        " + nats + "   (./bin/interoceptor cat -server " + nats + " -subject 'demo.>')",
		"  InfluxDB    " + env["INFLUX_URL"] + "   (not answering)",
		"  Alert mails to oncall@example.com through SMTP " + env["SMTP_ADDR"],
		"  Alerts      ./bin/interoceptor alerts -admin " + env["DEMO_ADMIN_ADDR"] + "   ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the banner has no %q:\n%s", want, stdout)
		}
	}
	if stale := regexp.MustCompile(`:(8377|4222)\b`).FindString(stdout); stale != "" {
		t.Errorf("the banner shows the default port %s:\n%s", stale, stdout)
	}
}
