package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run -once gathers the polled inputs once and a generator's one message,
// passes them through a filter (whose final tick counts them), prints what
// the outputs would get and what goes to a subject nothing reads, skips
// the listener, writes nothing (no file output, no data_dir) and exits 0.
func TestRunOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "once.toml")
	src := `
[agent]
name = "once-host"
data_dir = "` + filepath.Join(dir, "var") + `"
admin_addr = "127.0.0.1:0"

[[inputs.system]]
publish = "metrics.system"
collect = ["mem"]

[[inputs.internal]]
publish = "metrics.internal"

[[inputs.generator]]
name = "series"
publish = "metrics.series"
mode = "metric"
rate = 1000

[[inputs.generator]]
name = "weblog"
publish = "logs.web"
rate = 1000

[[inputs.generator]]
name = "to_central"
publish = "central.logs"
rate = 1

[[inputs.tcp]]
publish = "logs.tcp"
address = "127.0.0.1:0"

[[filters.counter]]
subscribe = ["logs.>"]
publish = "metrics.counter"
ticker_interval = "1h"

[[outputs.influxdb]]
subscribe = ["metrics.>"]
url = "http://127.0.0.1:1"
bucket = "never"

[[outputs.file]]
subscribe = ["logs.>"]
path = "` + filepath.Join(dir, "out.log") + `"
format = "payload"
`
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := cmdRun([]string{"-once", "-config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		`(?m)^outputs\.influxdb\[influxdb\] mem,host=once-host total=\d+u,.* \d+$`,
		`(?m)^outputs\.influxdb\[influxdb\] interoceptor_runtime,host=once-host goroutines=\d+i`,
		`(?m)^outputs\.influxdb\[influxdb\] generator,series=series value=[0-9.]+,seq=1i \d+$`,
		`(?m)^outputs\.file\[file\] \{"uuid":.*"type":"log","logger":"weblog".*"payload":"seq=1 x+"`,
		`(?m)^outputs\.influxdb\[influxdb\] counter,subject=logs\.web total=1i,delta=1i,rate=`,
		`(?m)^nats\[central\.logs\] \{.*"logger":"to_central"`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("stdout lacks a line matching %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, " generator,series=series "); n != 1 {
		t.Errorf("the generator sent %d points, want 1", n)
	}
	if !strings.Contains(stderr.String(), "inputs.tcp[tcp] skipped") {
		t.Errorf("stderr does not say the listener is skipped:\n%s", stderr.String())
	}
	for _, p := range []string{"out.log", "var"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Errorf("%s exists (%v): -once wrote where the pipeline would", p, err)
		}
	}
}

func TestRunOnceErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ src, want string }{
		"nothing to gather": {`
[[inputs.tcp]]
publish = "logs.tcp"
address = "127.0.0.1:0"
[[outputs.stdout]]
subscribe = ["logs.>"]
`, "no input can be gathered once"},
		"bad config": {`
[[inputs.system]]
publish = "metrics.system"
colect = ["mem"]
`, `"colect"`},
		"input fails": {`
[agent]
data_dir = "` + filepath.Join(dir, "var") + `"
[[inputs.file]]
publish = "logs.file"
path = "` + dir + `"
`, "inputs.file[file]"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "once.toml")
			if err := os.WriteFile(cfg, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if code := cmdRun([]string{"-once", "-config", cfg}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q, want 1 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}
