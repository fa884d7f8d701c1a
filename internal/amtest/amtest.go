// Package amtest runs a real Alertmanager for tests: v0.27.0, installed with
// `go install github.com/prometheus/alertmanager/cmd/alertmanager@v0.27.0`
// when `make tools` has not put it in GOBIN/GOPATH/bin yet (newer tags do
// not build from the module), started on a free loopback port, without
// clustering, with its storage in a temporary directory and the
// configuration the test gives.
//
// A test that needs Alertmanager is skipped with the reason when it cannot
// be installed or started, except under CI (CI set), where it fails.
package amtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/internal/testtool"
)

// Version is the Alertmanager release the tests run.
const Version = "v0.27.0"

var tool = &testtool.Tool{Name: "alertmanager", Package: "github.com/prometheus/alertmanager/cmd/alertmanager",
	Version: Version, Env: "ALERTMANAGER"}

// Binary returns the path of alertmanager, installing it once per process
// if it is not on PATH or in GOBIN/GOPATH/bin.
func Binary() (string, error) { return tool.Path() }

// Config is an Alertmanager configuration that routes every alert to a
// receiver that sends nothing.
const Config = `route:
  receiver: "null"
receivers:
  - name: "null"
`

// WebhookConfig is an Alertmanager configuration that sends every group of
// alerts, grouped by alertname, to url (send_resolved on): the first
// notification of a group 100ms after its first alert, changes 500ms
// apart, no repeat within the test.
func WebhookConfig(url string) string {
	return fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 500ms
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %q
        send_resolved: true
`, url)
}

// Server is a running alertmanager.
type Server struct {
	URL string // http://127.0.0.1:PORT
	Dir string // its storage and configuration

	bin, config string
	addr        string
	proc        *testtool.Process // nil before the first start
}

// Start starts alertmanager with config (YAML), its storage in dir (a
// fresh temporary directory when empty), and waits until it is ready.
func Start(dir, config string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "alertmanager-"); err != nil {
			return nil, err
		}
	}
	port, err := testtool.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir, bin: bin,
		config: filepath.Join(dir, "alertmanager.yml"), addr: fmt.Sprintf("127.0.0.1:%d", port)}
	if err := os.WriteFile(s.config, []byte(config), 0o644); err != nil {
		return nil, err
	}
	return s, s.Restart()
}

// Restart starts the server again after Stop, on the same port, storage
// and configuration.
func (s *Server) Restart() (err error) {
	s.proc, err = testtool.StartProcess(s.bin, []string{
		"--config.file=" + s.config,
		"--storage.path=" + filepath.Join(s.Dir, "data"),
		"--web.listen-address=" + s.addr,
		"--cluster.listen-address=", // no HA gossip: nothing else to bind
		"--log.level=debug"}, s.URL+"/-/ready", http.StatusOK)
	return err
}

// Stop stops the server (its storage stays for Restart).
func (s *Server) Stop() { s.proc.Stop() }

// Log returns what alertmanager printed (since its last start).
func (s *Server) Log() string { return s.proc.Log() }

// Alert is an alert as GET /api/v2/alerts shows it.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Status       struct {
		State string `json:"state"` // "active", "suppressed", "unprocessed"
	} `json:"status"`
}

// Alerts returns the alerts Alertmanager holds, resolved ones included.
func (s *Server) Alerts() ([]Alert, error) {
	resp, err := http.Get(s.URL + "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v2/alerts: %s", resp.Status)
	}
	var alerts []Alert
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		return nil, fmt.Errorf("GET /api/v2/alerts: %w", err)
	}
	return alerts, nil
}

// New starts a server with config for a test and stops it when the test
// ends, printing the end of its log if the test failed. Without
// alertmanager it skips the test, loudly; under CI it fails it.
func New(t testing.TB, config string) *Server {
	t.Helper()
	s, err := Start(t.TempDir(), config)
	if err != nil {
		testtool.Unavailable(t, "Alertmanager "+Version, err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", testtool.LastLines(s.Log(), 30))
		}
	})
	return s
}
