package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A config that would break run once started (a buffer that panics in
// makeslice or exhausts memory, a generator payload of 2 GB, timers of 1ns,
// a checkpoint written outside data_dir, an open NATS port without
// credentials) is refused by check and by run alike, every error with its
// file, line and key, three from one plugin; run starts nothing.
func TestHostileConfigIsRefusedByCheckAndRun(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "hostile.toml"), `[agent]
data_dir = "`+filepath.Join(dir, "var")+`"
admin_addr = "off"
[nats]
listen = "0.0.0.0:4222"
[[inputs.generator]]
publish = "a"
size = 2000000000
[[inputs.tail]]
name = "../../../x"
publish = "a"
files = ["/var/log/*.log"]
poll_interval = "1ns"
checkpoint_interval = "1ns"
[[outputs.file]]
subscribe = ["a"]
path = "`+filepath.Join(dir, "out.log")+`"
buffer_bytes = 9223372036854775807
`)
	want := []string{
		`:5: nats: key "listen": "0.0.0.0:4222" listens on every interface, and the embedded server asks no credentials`,
		`:8: inputs.generator[generator]: key "size": must be between 0 and 1048576 (1 MiB) bytes; got 2000000000`,
		`:10: inputs.tail[../../../x]: key "name": "../../../x" is not a valid name`,
		`:13: inputs.tail[../../../x]: key "poll_interval": must be between 10ms and 1m; got 1ns`,
		`:14: inputs.tail[../../../x]: key "checkpoint_interval": must be between 10ms and 1h; got 1ns`,
		`:18: outputs.file[file]: key "buffer_bytes": must be between 1 and 67108864 (64 MiB) bytes; got 9223372036854775807`,
	}
	for _, sub := range []string{"check", "run"} {
		cmd := exec.Command(binary, sub, "-config", path)
		b, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 1 || strings.Contains(string(b), "panic") {
			t.Fatalf("%s: exit %d, want 1; output:\n%s", sub, code, b)
		}
		for _, w := range want {
			if !strings.Contains(string(b), path+w) {
				t.Errorf("%s output:\n%s\nwant a line with:\n%s%s", sub, b, path, w)
			}
		}
	}
}
