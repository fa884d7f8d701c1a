// Package testtool finds the programs that tests run beside the code
// (influxd, mailpit...): on PATH or in GOBIN/GOPATH/bin, installed with
// `go install` when missing, at the version the tests were written for.
// It also holds what the harnesses around them share: a free port, the
// skip-or-fail rule, the tail of a log.
package testtool

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tool is a program a test runs, installed with `go install
// Package@Version` into GOBIN when it is not there.
type Tool struct {
	Name    string // the binary: "mailpit"
	Package string // what go install takes: "github.com/axllent/mailpit"
	Version string // "v1.33.1"
	Env     string // a variable naming the binary to use instead ("MAILPIT"), if any
	// Accept reports whether the binary at path is the right one; nil
	// accepts a binary whose module version (its build information) is
	// Version.
	Accept func(path string) bool
}

var found sync.Map // Tool.Name → *result

type result struct {
	once sync.Once
	path string
	err  error
}

// Path returns the path of the tool's binary, looking for it (and
// installing it if needed) once per process.
func (t *Tool) Path() (string, error) {
	v, _ := found.LoadOrStore(t.Name, &result{})
	r := v.(*result)
	r.once.Do(func() { r.path, r.err = t.findOrInstall() })
	return r.path, r.err
}

func (t *Tool) accept(path string) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	if t.Accept != nil {
		return t.Accept(path)
	}
	return ModuleVersion(path) == t.Version
}

func (t *Tool) findOrInstall() (string, error) {
	if t.Env != "" {
		if p := os.Getenv(t.Env); p != "" {
			return p, nil
		}
	}
	if p := filepath.Join(GoBin(), t.Name); t.accept(p) {
		return p, nil
	}
	if p, err := exec.LookPath(t.Name); err == nil && t.accept(p) {
		return p, nil
	}
	cmd := exec.Command("go", "install", t.Package+"@"+t.Version)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %v\n%s", t.Package, t.Version, err, out)
	}
	p := filepath.Join(GoBin(), t.Name)
	if !t.accept(p) {
		return "", fmt.Errorf("%s installed, but %s is not %s %s", t.Name, p, t.Name, t.Version)
	}
	return p, nil
}

// ModuleVersion returns the main module version written in a Go binary's
// build information ("v1.33.1"), or "" if it has none.
func ModuleVersion(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	return bi.Main.Version
}

// GoBin is where `go install` puts binaries: GOBIN, or GOPATH's first
// entry's bin.
func GoBin() string {
	if b, err := exec.Command("go", "env", "GOBIN").Output(); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	if b, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		return filepath.Join(strings.Split(strings.TrimSpace(string(b)), string(os.PathListSeparator))[0], "bin")
	}
	return ""
}

// Unavailable ends a test that needs what could not start: a loud skip
// with the reason, or, under CI (CI set in the environment), a failure.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("this test needs %s and it could not start: %v", what, err)
	}
	t.Skipf("SKIPPED: this test needs %s and it could not start (CI would fail here): %v", what, err)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LastLines returns the last n lines of s, for a log shown on failure.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Process is a service a test runs (influxd, mailpit, alertmanager): the
// running command and what it printed.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	log    bytes.Buffer
}

// StartProcess starts bin with args and waits, up to 30 s, until a GET of
// readyURL answers with the status want. If the process exits or is not
// ready in time, it is stopped and the error holds what it printed.
func StartProcess(bin string, args []string, readyURL string, want int) (*Process, error) {
	p := &Process{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = (*processLog)(p), (*processLog)(p)
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	name := filepath.Base(bin)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s %v exited:\n%s", name, args, p.Log())
		default:
		}
		if resp, err := http.Get(readyURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return p, nil
			}
		}
		time.Sleep(50 * time.Millisecond) // a poll interval
	}
	p.Stop()
	return nil, fmt.Errorf("%s was not ready (%s) within 30s:\n%s", name, readyURL, p.Log())
}

// processLog is the process's output, written by exec's copying goroutines
// while a test may read it.
type processLog Process

func (w *processLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.Write(b)
}

// Log returns what the process printed; "" for a nil Process (one that
// never started).
func (p *Process) Log() string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Stop interrupts the process and waits for it to exit, killing it after
// 10 s. A nil Process (one that never started) has nothing to stop.
func (p *Process) Stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
