package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// Two SIGTERMs at once, as `timeout` sends them (to the process, then to
// its group), are one request to stop: the pipeline still drains, loses
// nothing and exits 0. The drain is held (InfluxDB does not answer) until
// the second signal has arrived, so that it cannot end before it.
func TestTwoSignalsAtOnceStillDrain(t *testing.T) {
	var asked atomic.Bool
	release := make(chan struct{})
	influx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(true)
		select {
		case <-release:
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
		}
	}))
	defer influx.Close()
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	defer releaseAll()
	dir := t.TempDir()
	p := start(t, exec.Command(binary, "run", "-log-format", "json", "-config", writeFile(t, filepath.Join(dir, "p.toml"), fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "gen"
mode = "metric"
rate = 500
[[outputs.influxdb]]
subscribe = ["gen"]
url = %q
bucket = "b"
flush_interval = "10ms"
timeout = "1m"
`, filepath.Join(dir, "var"), influx.URL))))
	p.waitRunning(t)
	pipelinetest.WaitUntil(t, 15*time.Second, "a write to InfluxDB", func() error {
		if !asked.Load() {
			return errors.New("none asked for")
		}
		return nil
	})
	p.signal(t, syscall.SIGTERM)
	p.signal(t, syscall.SIGTERM)
	// The kernel may merge two signals sent this close; a second one sent
	// once the first is handled is the case that used to skip the drain.
	pipelinetest.WaitUntil(t, 15*time.Second, "the first signal handled", p.logHas(`"msg":"signal received`))
	p.signal(t, syscall.SIGTERM)
	pipelinetest.WaitUntil(t, 15*time.Second, "the second signal ignored (or an exit)", func() error {
		select {
		case <-p.done:
			return nil
		default:
			return p.logHas(`"msg":"signal ignored`)()
		}
	})
	releaseAll()
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit %d after two SIGTERMs, want 0 (a drain)", code)
	}
	// Delivered, or kept in the disk buffer if InfluxDB took too long:
	// either way nothing is dropped.
	log := p.stderr.String()
	gen := stoppedCounters(t, log, "inputs.generator[generator]")
	out := stoppedCounters(t, log, "outputs.influxdb[influxdb]")
	if gen["out"] == 0 || out["in"] != gen["out"] || out["dropped"] != 0 {
		t.Errorf("generator emitted %v; InfluxDB output took %v and dropped %v", gen["out"], out["in"], out["dropped"])
	}
}

// A second signal after the grace period still means "exit now", for a
// drain that would take long (an InfluxDB that does not answer).
func TestLaterSignalExitsAtOnce(t *testing.T) {
	var asked atomic.Bool
	hang := make(chan struct{})
	influx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(true)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer influx.Close()
	defer close(hang)
	dir := t.TempDir()
	p := runPipeline(t, dir, "p", fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "gen"
mode = "metric"
rate = 100
[[outputs.influxdb]]
subscribe = ["gen"]
url = %q
bucket = "b"
flush_interval = "10ms"
timeout = "1m"
disk_buffer_bytes = 0
`, filepath.Join(dir, "var"), influx.URL))
	p.waitRunning(t)
	pipelinetest.WaitUntil(t, 15*time.Second, "a write to InfluxDB", func() error {
		if !asked.Load() {
			return errors.New("none asked for")
		}
		return nil
	})
	p.signal(t, syscall.SIGTERM)
	// Signal until it gives up draining: the ones within the grace period
	// are ignored, the first after it ends the process.
	pipelinetest.WaitUntil(t, 30*time.Second, "an exit without draining", func() error {
		select {
		case <-p.done:
			return nil
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		return fmt.Errorf("still running; its log ends:\n%s", lastLines(p.stderr.String(), 3))
	})
	log := p.stderr.String()
	if code := p.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(log, "second signal: exiting without draining") ||
		!strings.Contains(log, `"msg":"signal ignored`) || strings.Contains(log, `"msg":"stopped"`) {
		t.Fatalf("exit %d; log:\n%s", code, lastLines(log, 10))
	}
}
