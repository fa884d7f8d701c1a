// Package e2e drives the built interoceptor binary the way a user does: real
// processes, a real embedded or external nats-server, real files, sockets and
// signals.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

var (
	binary     string // the interoceptor binary under test
	natsServer string // a nats-server binary built from the module
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "interoceptor-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "interoceptor")
	natsServer = filepath.Join(dir, "nats-server")
	for _, b := range [][]string{
		{"build", "-o", binary, "github.com/interoceptor/interoceptor/cmd/interoceptor"},
		{"build", "-o", natsServer, "github.com/nats-io/nats-server/v2"},
	} {
		cmd := exec.Command("go", b...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go %s: %v\n", strings.Join(b, " "), err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// proc is a running interoceptor (or nats-server) process.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(cmd.Path), lastLines(p.stderr.String(), 40))
		}
	})
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("process did not exit within %s", d)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// waitRunning waits for the "pipeline running" log record, written once every
// subscription is in place: before it, a remote publisher's messages have
// no subscriber (core NATS keeps nothing).
func (p *proc) waitRunning(t *testing.T) {
	t.Helper()
	pipelinetest.WaitUntil(t, 15*time.Second, "the pipeline to be running", p.logHas(`"msg":"pipeline running"`))
}

// logHas is a condition for WaitUntil: p's log holds each of subs.
func (p *proc) logHas(subs ...string) func() error {
	return func() error {
		log := p.stderr.String()
		for _, s := range subs {
			if !strings.Contains(log, s) {
				return fmt.Errorf("no %s in the log, which ends:\n%s", s, lastLines(log, 5))
			}
		}
		return nil
	}
}

// runPipeline starts `interoceptor run` on a config written to dir.
func runPipeline(t *testing.T, dir, name, config string) *proc {
	t.Helper()
	path := writeFile(t, filepath.Join(dir, name+".toml"), config)
	return start(t, exec.Command(binary, "run", "-config", path, "-log-format", "json"))
}

// startNatsServer starts an external nats-server process on a free port.
func startNatsServer(t *testing.T, args ...string) (url string, p *proc) {
	t.Helper()
	port := freePort(t)
	p = start(t, exec.Command(natsServer, append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...))
	url = fmt.Sprintf("nats://127.0.0.1:%d", port)
	pipelinetest.WaitUntil(t, 10*time.Second, "nats-server to accept connections", func() error {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err
	})
	return url, p
}

// countLines counts the lines of a file (0 if it does not exist yet).
func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte{'\n'})
}

// hasLines is a condition for WaitUntil: the file at path has at least n lines.
func hasLines(t *testing.T, path string, n int) func() error {
	return func() error {
		if got := countLines(t, path); got < n {
			return fmt.Errorf("%d lines in %s", got, filepath.Base(path))
		}
		return nil
	}
}

// hasExactLines is hasLines for exactly n lines.
func hasExactLines(t *testing.T, path string, n int) func() error {
	return func() error {
		if got := countLines(t, path); got != n {
			return fmt.Errorf("%d lines in %s", got, filepath.Base(path))
		}
		return nil
	}
}

// readLines returns a file's lines.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stoppedCounters finds the "stopped" log record of a plugin in a JSON log
// and returns its counters.
func stoppedCounters(t *testing.T, log, plugin string) map[string]float64 {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec["msg"] == "stopped" && rec["plugin"] == plugin {
			out := map[string]float64{}
			for _, k := range []string{"in", "out", "dropped", "errors", "duplicates"} {
				out[k], _ = rec[k].(float64)
			}
			return out
		}
	}
	t.Fatalf("no \"stopped\" record for %s in the log:\n%s", plugin, lastLines(log, 20))
	return nil
}

// seqLine is the n-th line the tests send: a sequence number padded to ~100 bytes.
func seqLine(n int) string {
	s := fmt.Sprintf("line %09d ", n)
	return s + strings.Repeat("x", 99-len(s))
}
