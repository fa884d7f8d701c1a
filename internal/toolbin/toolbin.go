// Package toolbin finds the real services the tests run (influxd,
// alertmanager), each a binary that `go install` builds from one version of
// its module: on PATH or in GOBIN/GOPATH/bin when `make tools` put it
// there, else installed once per test process.
//
// A test that needs such a tool says so loudly: when it cannot be found,
// installed or started the test is skipped with the reason, except under CI
// (CI set in the environment), where it fails (see Need).
package toolbin

import (
	"debug/buildinfo"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Tool is one Go-installed binary of one module version.
type Tool struct {
	Name    string // the binary's name: "alertmanager"
	Package string // what `go install` builds: "github.com/prometheus/alertmanager/cmd/alertmanager"
	Version string // the module version: "v0.27.0"
	// EnvVar, when set in the environment, is the binary's path, taken as
	// it is ("INFLUXD").
	EnvVar string
	// Accept reports whether the binary at path is the one wanted; nil
	// means its build information names the module version Version.
	Accept func(path string) bool

	once sync.Once
	path string
	err  error
}

// Path returns the binary's path, installing it once per process if it is
// neither in GOBIN/GOPATH/bin nor on PATH (or is another version there).
func (t *Tool) Path() (string, error) {
	t.once.Do(func() { t.path, t.err = t.findOrInstall() })
	return t.path, t.err
}

func (t *Tool) findOrInstall() (string, error) {
	if t.EnvVar != "" {
		if p := os.Getenv(t.EnvVar); p != "" {
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
		return "", fmt.Errorf("%s installed, but %s is not %s", t.Name, p, t.Version)
	}
	return p, nil
}

func (t *Tool) accept(path string) bool {
	if t.Accept != nil {
		return t.Accept(path)
	}
	bi, err := buildinfo.ReadFile(path)
	return err == nil && bi.Main.Version == t.Version
}

// GoBin is where `go install` puts binaries: GOBIN, else the first
// GOPATH's bin.
func GoBin() string {
	if b, err := exec.Command("go", "env", "GOBIN").Output(); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	if b, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		return filepath.Join(strings.Split(strings.TrimSpace(string(b)), string(os.PathListSeparator))[0], "bin")
	}
	return ""
}

// Need ends the test when err says that what it needs (what, "InfluxDB
// v1.8.10") could not run: a skip that says so, or under CI a failure.
// It does nothing when err is nil.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("this test needs %s and it could not start: %v", what, err)
	}
	t.Skipf("SKIPPED: this test needs %s and it could not start (CI would fail here): %v", what, err)
}

// FreePort returns a TCP port free on the loopback interface just now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LastLines returns the last n lines of s, for a server's log in a failed
// test.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
