package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

const million = 1_000_000

// stdinToFile runs stdin → NATS → file with n lines and checks that exactly
// those lines come out, in order, and that the process ends by itself.
func stdinToFile(t *testing.T, natsTable string, n int) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	cfg := fmt.Sprintf(`
[agent]
name = "e2e"
data_dir = %q
admin_addr = "off"

%s

[[inputs.stdin]]
publish = "e2e.lines"

[[outputs.file]]
subscribe = ["e2e.lines"]
path = %q
`, filepath.Join(dir, "var"), natsTable, out)
	path := writeFile(t, filepath.Join(dir, "p.toml"), cfg)
	cmd := exec.Command(binary, "run", "-config", path, "-log-format", "json")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, cmd)
	go func() {
		w := bufio.NewWriterSize(stdin, 1<<20)
		for i := 0; i < n; i++ {
			w.WriteString(seqLine(i))
			w.WriteByte('\n')
		}
		w.Flush()
		stdin.Close()
	}()
	if code := p.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("exit code %d, want 0 (the pipeline ends by itself at the end of stdin)", code)
	}
	lines := readLines(t, out)
	if len(lines) != n {
		t.Fatalf("got %d lines out, want exactly %d", len(lines), n)
	}
	for i, l := range lines {
		if l != seqLine(i) {
			t.Fatalf("line %d is %q, want %q (out of order or corrupted)", i, l, seqLine(i))
		}
	}
	c := stoppedCounters(t, p.stderr.String(), "outputs.file[file]")
	if c["in"] != float64(n) || c["out"] != float64(n) || c["dropped"] != 0 {
		t.Fatalf("outputs.file counters %v, want in=out=%d, dropped=0", c, n)
	}
}

func TestStdinToFileMillionLinesEmbeddedNATS(t *testing.T) {
	stdinToFile(t, "[nats]\nurl = \"\"", million)
}

func TestStdinToFileMillionLinesExternalNATS(t *testing.T) {
	url, _ := startNatsServer(t)
	stdinToFile(t, fmt.Sprintf("[nats]\nurl = %q", url), million)
}

// Two `run` processes in one queue group on an external server share the
// work: every message is written exactly once across both.
func TestQueueGroupDeliversEachMessageOnce(t *testing.T) {
	url, _ := startNatsServer(t)
	dir := t.TempDir()
	const n = 200_000
	var outs []string
	var workers []*proc
	for i := 0; i < 2; i++ {
		out := filepath.Join(dir, fmt.Sprintf("worker%d.log", i))
		admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		outs = append(outs, out)
		workers = append(workers, runPipeline(t, dir, fmt.Sprintf("worker%d", i), fmt.Sprintf(`
[agent]
name = "worker%d"
data_dir = %q
admin_addr = %q
[nats]
url = %q
[[outputs.file]]
subscribe = ["e2e.work"]
external = true
queue = "workers"
path = %q
`, i, filepath.Join(dir, fmt.Sprintf("var%d", i)), admin, url, out)))
		workers[i].waitRunning(t)
	}
	src := filepath.Join(dir, "src.log")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < n; i++ {
		fmt.Fprintln(w, seqLine(i))
	}
	w.Flush()
	f.Close()
	producer := runPipeline(t, dir, "producer", fmt.Sprintf(`
[agent]
name = "producer"
data_dir = %q
admin_addr = "off"
[nats]
url = %q
[[inputs.file]]
publish = "e2e.work"
path = %q
`, filepath.Join(dir, "varp"), url, src))
	if code := producer.wait(t, time.Minute); code != 0 {
		t.Fatalf("producer exit code %d", code)
	}
	pipelinetest.WaitUntil(t, time.Minute, "all messages written by the workers", func() error {
		if a, b := countLines(t, outs[0]), countLines(t, outs[1]); a+b < n {
			return fmt.Errorf("%d + %d lines of %d", a, b, n)
		}
		return nil
	})
	for _, w := range workers {
		w.signal(t, syscall.SIGTERM)
	}
	for _, w := range workers {
		if code := w.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("worker exit code %d", code)
		}
	}
	var all []string
	per := []int{}
	for _, o := range outs {
		lines := readLines(t, o)
		per = append(per, len(lines))
		all = append(all, lines...)
	}
	if per[0] == 0 || per[1] == 0 {
		t.Fatalf("work was not shared: worker line counts %v", per)
	}
	sort.Strings(all)
	if len(all) != n {
		t.Fatalf("got %d lines across both workers (%v), want exactly %d", len(all), per, n)
	}
	for i, l := range all {
		if l != seqLine(i) {
			t.Fatalf("after sorting, line %d is %q, want %q (a duplicate or a loss)", i, l, seqLine(i))
		}
	}
	t.Logf("worker shares: %v", per)
}

// SIGTERM while a TCP client is streaming: every line the input accepted
// reaches the file, in order, and the process exits 0.
func TestSIGTERMDuringStreamLosesNothingAccepted(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	port := freePort(t)
	p := runPipeline(t, dir, "p", fmt.Sprintf(`
[agent]
name = "e2e"
data_dir = %q
admin_addr = "off"
[[inputs.tcp]]
publish = "e2e.tcp"
address = "127.0.0.1:%d"
[[outputs.file]]
subscribe = ["e2e.tcp"]
path = %q
`, filepath.Join(dir, "var"), port, out))
	var conn net.Conn
	pipelinetest.WaitUntil(t, 15*time.Second, "tcp input to listen", func() error {
		var err error
		conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	})
	sent := make(chan int)
	go func() {
		w := bufio.NewWriter(conn)
		i := 0
		for ; ; i++ {
			if _, err := w.WriteString(seqLine(i) + "\n"); err != nil {
				break
			}
		}
		sent <- i
	}()
	pipelinetest.WaitUntil(t, 30*time.Second, "some lines written", hasLines(t, out, 50_001))
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	conn.Close()
	total := <-sent
	c := stoppedCounters(t, p.stderr.String(), "inputs.tcp[tcp]")
	accepted := int(c["in"])
	lines := readLines(t, out)
	t.Logf("client wrote ~%d lines, input accepted %d, file has %d", total, accepted, len(lines))
	if accepted == 0 || len(lines) != accepted {
		t.Fatalf("file has %d lines, input accepted %d: lost %d", len(lines), accepted, accepted-len(lines))
	}
	for i, l := range lines {
		if l != seqLine(i) {
			t.Fatalf("line %d is %q, want %q", i, l, seqLine(i))
		}
	}
}

// A broken config is reported by check and by run, with file, line and key,
// and nothing starts.
func TestCheckAndRunReportConfigErrors(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "bad.toml"), `[[inputs.stdin]]
publish = "a"

[[outputs.file]]
subscribe = ["a"]
path = "/tmp/x"
formt = "json"
`)
	want := path + `:7: outputs.file[file]: key "formt": unknown key`
	for _, sub := range []string{"check", "run"} {
		cmd := exec.Command(binary, sub, "-config", path)
		cmd.Stdin = strings.NewReader("")
		b, err := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 1 {
			t.Fatalf("%s: exit %v, want 1; output:\n%s", sub, err, b)
		}
		if !strings.Contains(string(b), want) {
			t.Fatalf("%s output:\n%s\nwant it to contain:\n%s", sub, b, want)
		}
	}
}

// Every example pipeline in configs/, and every sample of a shipped Lua
// plugin, passes check, run from the project root as the README does.
func TestShippedConfigsPassCheck(t *testing.T) {
	configs, _ := filepath.Glob("../configs/*.toml")
	samples, _ := filepath.Glob("../plugins/filters/*.toml")
	if len(configs) == 0 || len(samples) == 0 {
		t.Fatalf("configs %v, samples %v", configs, samples)
	}
	for _, f := range append(configs, samples...) {
		cmd := exec.Command(binary, "check", "-config", strings.TrimPrefix(f, "../"))
		cmd.Dir = ".."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("check %s: %v\n%s", f, err, b)
		}
	}
}

// Each subcommand answers -h with its usage and exit code 0.
func TestEverySubcommandHasHelp(t *testing.T) {
	for _, sub := range []string{"run", "check", "cat", "inject", "flood", "reload", "plugins", "version"} {
		cmd := exec.Command(binary, sub, "-h")
		b, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 0 || !strings.Contains(string(b), "Usage: interoceptor "+sub) {
			t.Errorf("%s -h: exit %d, output:\n%s", sub, cmd.ProcessState.ExitCode(), b)
		}
	}
}

// A subscriber stopped while a remote publisher keeps sending hands every
// batch NATS had already given it to its output before exiting: NATS's
// drain, not an unsubscribe that would discard them.
func TestSIGTERMWhileRemotePublisherSendsDrainsWhatArrived(t *testing.T) {
	url, _ := startNatsServer(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	p := runPipeline(t, dir, "worker", fmt.Sprintf(`
[agent]
name = "worker"
data_dir = %q
admin_addr = "off"
[nats]
url = %q
[[outputs.file]]
subscribe = ["e2e.flood"]
external = true
path = %q
`, filepath.Join(dir, "var"), url, out))
	p.waitRunning(t)
	flood := start(t, exec.Command(binary, "flood", "-server", url, "-subject", "e2e.flood", "-rate", "200000", "-duration", "20s"))
	pipelinetest.WaitUntil(t, 20*time.Second, "messages arriving", hasLines(t, out, 20_001))
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	_ = flood.cmd.Process.Kill()
	log := p.stderr.String()
	var received, handled float64 = -1, -2
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "nats stopped" {
			received, _ = rec["received_batches"].(float64)
			handled, _ = rec["handled_batches"].(float64)
		}
	}
	if received <= 0 || received != handled {
		t.Fatalf("batches received %v, handled %v: every batch NATS delivered must be handled", received, handled)
	}
	c := stoppedCounters(t, log, "outputs.file[file]")
	lines := countLines(t, out)
	if c["dropped"] != 0 || c["in"] != c["out"] || int(c["out"]) != lines {
		t.Fatalf("counters %v, file has %d lines", c, lines)
	}
	t.Logf("%v batches, %d messages written before exit", received, lines)
}

// A batch size the server would refuse stops the pipeline at start, with
// the reason, instead of failing every publish later.
func TestBatchLargerThanServerMaxPayloadIsRefused(t *testing.T) {
	url, _ := startNatsServer(t) // nats-server's default max_payload: 1 MiB
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "p.toml"), fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
url = %q
batch_bytes = 2097152
[[inputs.stdin]]
publish = "x"
`, filepath.Join(dir, "var"), url))
	cmd := exec.Command(binary, "run", "-config", path)
	cmd.Stdin = strings.NewReader("")
	b, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(b), "nats.batch_bytes (2097152) is larger than the server's max_payload (1048576)") {
		t.Fatalf("exit %d:\n%s", cmd.ProcessState.ExitCode(), b)
	}
}

// A plugin that cannot start (its port is taken) stops the pipeline with
// the reason and exit code 1, after closing what had started.
func TestStartupFailureIsReported(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "p.toml"), fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.tcp]]
publish = "x"
address = %q
`, filepath.Join(dir, "var"), taken.Addr().String()))
	cmd := exec.Command(binary, "run", "-config", path)
	b, _ := cmd.CombinedOutput()
	want := path + `:5: inputs.tcp[tcp]: address "` + taken.Addr().String() + `": listen tcp`
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(b), want) || strings.Contains(string(b), "panic") {
		t.Fatalf("exit %d:\n%s\nwant %s", cmd.ProcessState.ExitCode(), b, want)
	}
}
