// Package influxtest runs a real InfluxDB 1.8 for tests: installed with
// `go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10` when it is
// not there yet (1.8 serves the /api/v2/write API that influxdb-client-go/v2
// uses; Debian's 1.6 does not), started on free loopback ports with its data
// in a temporary directory.
//
// A test that needs InfluxDB says so loudly: when influxd cannot be installed
// or started it is skipped with the reason, except under CI (CI set in the
// environment), where it fails.
package influxtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/internal/testtool"
)

// Version is the InfluxDB release the tests run.
const Version = "v1.8.10"

// Tool is influxd, found or installed by testtool. One built by `go
// install` says "vunknown" to `influxd version`, so its module version is
// read from the binary's build information first.
var Tool = &testtool.Tool{Name: "influxd", Package: "github.com/influxdata/influxdb/cmd/influxd", Version: Version, Env: "INFLUXD",
	Accept: func(path string) bool {
		if strings.HasPrefix(testtool.ModuleVersion(path), "v1.8.") {
			return true
		}
		out, err := exec.Command(path, "version").Output()
		return err == nil && strings.Contains(string(out), "v1.8")
	}}

// Binary returns the path of influxd, installing it once per process if it
// is not on PATH or in GOBIN/GOPATH/bin.
func Binary() (string, error) { return Tool.Path() }

// Server is a running influxd.
type Server struct {
	URL string // http://127.0.0.1:PORT
	Dir string

	bin, config string
	proc        *testtool.Process // nil before the first start
}

// Start starts influxd with its data in dir (a fresh temporary directory
// when empty) and waits until it answers /ping.
func Start(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "influxd-"); err != nil {
			return nil, err
		}
	}
	httpPort, err := testtool.FreePort()
	if err != nil {
		return nil, err
	}
	rpcPort, err := testtool.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), Dir: dir, bin: bin,
		config: filepath.Join(dir, "influxdb.conf")}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
  flux-enabled = false
[monitor]
  store-enabled = false
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
	if err := os.WriteFile(s.config, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return s, s.Restart()
}

// Restart starts the server again after Stop, on the same port and data.
func (s *Server) Restart() (err error) {
	s.proc, err = testtool.StartProcess(s.bin, []string{"run", "-config", s.config}, s.URL+"/ping", http.StatusNoContent)
	return err
}

// Stop stops the server (its data stays for Restart).
func (s *Server) Stop() { s.proc.Stop() }

// Log returns what influxd printed (since its last start).
func (s *Server) Log() string { return s.proc.Log() }

// CreateDB creates a database.
func (s *Server) CreateDB(name string) error {
	_, err := s.Query("", fmt.Sprintf("CREATE DATABASE %q", name))
	return err
}

// Series is one series of a query result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs InfluxQL against db (nanosecond epoch timestamps, numbers as
// json.Number) and returns the series of its first statement.
func (s *Server) Query(db, q string) ([]Series, error) {
	form := url.Values{"q": {q}, "epoch": {"ns"}}
	if db != "" {
		form.Set("db", db)
	}
	resp, err := http.PostForm(s.URL+"/query", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: %s: %w", q, resp.Status, err)
	}
	if body.Error != "" {
		return nil, fmt.Errorf("query %q: %s", q, body.Error)
	}
	if len(body.Results) == 0 {
		return nil, nil
	}
	if e := body.Results[0].Error; e != "" {
		return nil, fmt.Errorf("query %q: %s", q, e)
	}
	return body.Results[0].Series, nil
}

// New starts a server for a test, with a database named db, and stops it
// when the test ends. Without influxd it skips the test, loudly; under CI it
// fails it.
func New(t testing.TB, db string) *Server {
	t.Helper()
	s, err := Start(t.TempDir())
	if err != nil {
		testtool.Unavailable(t, "InfluxDB "+Version, err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("influxd log:\n%s", testtool.LastLines(s.Log(), 30))
		}
	})
	if db != "" {
		if err := s.CreateDB(db); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
