package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The config-reload scenario: generator → filters.lua → outputs.file[base],
// the whole config (pipeline/reload.go) reloaded while messages flow, in
// one process and two parts:
//
//   - latency: crSignals times, the config is rewritten (a temporary file
//     renamed over it, as editors do) with outputs.file[new-i] in place of
//     new-(i-1) and a new value in the Lua filter's config table, and the
//     pipeline gets SIGHUP. Measured: SIGHUP → the first line in new-i's
//     file, and the "took" of the runtime's "config reloaded" record;
//   - memory: two configs alternated crPosts times through POST /api/reload,
//     /metrics read at crCheckpoints.
//
// At the end SIGTERM: base must hold every message the generator sent.

const (
	configReloadKey = "config-reload"
	crRate          = 10_000 // generator messages per second
	crSignals       = 50
	crPosts         = 1000
	crPause         = 100 * time.Millisecond // after a SIGHUP reload was seen through, before the next
	crWait          = 30 * time.Second       // for any one condition, before the run fails
	// crLeakMargin is how many goroutines or open fds more at the last
	// checkpoint than at the second the run allows before it fails.
	crLeakMargin = 5
	crBase       = "outputs.file[base]"
)

// crCheckpoints are the POST reloads after which /metrics is read (0:
// before the first). The ones after the first are even: the same config.
var crCheckpoints = []int{0, 100, 500, crPosts}

// crScript passes every message on, its payload prefixed with the config's
// tag; seen is a global, so preserve_data carries it across reloads.
const crScript = `-- written by bench/cmd/benchrun for the config-reload scenario
seen = 0
function process_message()
  seen = seen + 1
  inject_message({Type = "log", Payload = read_config("tag") .. " " .. read_message("Payload")})
  return 0
end
`

// crMetrics are the /metrics gauges read at each checkpoint.
var crMetrics = []string{"process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_goroutines", "process_open_fds"}

// signalReload is one SIGHUP reload of the latency part.
type signalReload struct {
	live time.Duration // SIGHUP → the first line in the new output's file
	took time.Duration // the runtime's "took" in its "config reloaded" record
}

// metricsSample is /metrics at a checkpoint: each gauge the least of
// crSampleReads reads.
type metricsSample struct {
	reloads int
	values  map[string]float64
}

type configReloadResult struct {
	signals   []signalReload
	posts     []time.Duration // POST /api/reload round trips
	postTook  []time.Duration // the "took" of those reloads
	actions   map[string]int  // the POST reloads' results, by action
	samples   []metricsSample
	generated int64 // the generator's out, from its "stopped" record
	baseLines int64
	elapsed   time.Duration
	user, sys time.Duration
	maxRSS    int64
}

// crOutput is an outputs.file besides base.
type crOutput struct{ name, path string }

// crConfig is the pipeline's TOML: [agent] and [nats] stay the same in
// every version, or the reload would be refused.
func crConfig(dir, script, tag string, outs ...crOutput) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# written by bench/cmd/benchrun for the config-reload scenario
[agent]
name = "bench"
data_dir = %q
admin_addr = "127.0.0.1:0"

[nats]
url = ""  # the embedded server

[[inputs.generator]]
publish = "bench.generated"
rate = %d
size = 0

[[filters.lua]]
subscribe = ["bench.generated"]
publish = "bench.passed"
script = %q
module_path = []
preserve_data = true
  [filters.lua.config]
  tag = %q
`, filepath.Join(dir, "var"), crRate, script, tag)
	for _, o := range append([]crOutput{{"base", filepath.Join(dir, "base.log")}}, outs...) {
		fmt.Fprintf(&b, "\n[[outputs.file]]\nname = %q\nsubscribe = [\"bench.passed\"]\npath = %q\n", o.name, o.path)
	}
	return b.Bytes()
}

// replaceFile writes b to a temporary file next to path and renames it over
// path, as editors do.
func replaceFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// runConfigReload runs the config-reload scenario once, in a fresh
// temporary directory.
func runConfigReload(bin string) (res configReloadResult, err error) {
	dir, keep, err := runDir()
	if err != nil {
		return res, err
	}
	defer keep(&err)
	script := filepath.Join(dir, "pass.lua")
	if err := os.WriteFile(script, []byte(crScript), 0o644); err != nil {
		return res, err
	}
	cfgPath := filepath.Join(dir, "pipeline.toml")
	if err := os.WriteFile(cfgPath, crConfig(dir, script, "v0"), 0o644); err != nil {
		return res, err
	}
	began := time.Now()
	proc, url, err := startRunning(bin, dir, cfgPath, crWait)
	if err != nil {
		return res, err
	}
	defer proc.end(&err)
	// SIGHUP goes to interoceptor itself: the wrapper forwards only
	// SIGTERM and SIGINT, and a hop through it would be timed too.
	pid, err := childPID(proc.cmd.Process.Pid, "") // interoceptor, the wrapper's child
	if err != nil {
		return res, err
	}
	if _, err := waitNonEmpty(filepath.Join(dir, "base.log"), proc.exited); err != nil {
		return res, err
	}
	records := &reloadRecords{}

	for i := 1; i <= crSignals; i++ {
		out := filepath.Join(dir, fmt.Sprintf("new-%d.log", i))
		cfg := crConfig(dir, script, fmt.Sprintf("v%d", i), crOutput{fmt.Sprintf("new-%d", i), out})
		if err := replaceFile(cfgPath, cfg); err != nil {
			return res, err
		}
		sent := time.Now()
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			return res, err
		}
		seen, err := waitNonEmpty(out, proc.exited)
		if err != nil {
			return res, fmt.Errorf("reload %d: %w", i, err)
		}
		took, err := records.wait(proc.log, i, proc.exited)
		if err != nil {
			return res, err
		}
		r := signalReload{live: seen.Sub(sent), took: took}
		res.signals = append(res.signals, r)
		progress("%-13s SIGHUP %2d: new output live after %s, reload took %s", configReloadKey, i,
			r.live.Round(10*time.Microsecond), r.took.Round(10*time.Microsecond))
		time.Sleep(crPause)
	}

	client := &http.Client{Timeout: crWait}
	defer client.CloseIdleConnections() // so that the drain does not wait for them
	configs := [2][]byte{
		crConfig(dir, script, "b", crOutput{"moving", filepath.Join(dir, "moving-b.log")}),
		crConfig(dir, script, "a", crOutput{"moving", filepath.Join(dir, "moving-a.log")},
			crOutput{"spare", filepath.Join(dir, "spare.log")}),
	}
	res.actions = map[string]int{}
	for k := 0; k <= crPosts; k++ {
		if slices.Contains(crCheckpoints, k) {
			s, err := sampleMetrics(client, url)
			if err != nil {
				return res, err
			}
			s.reloads = k
			res.samples = append(res.samples, s)
			progress("%-13s after %4d reloads: RSS %.1f MiB, heap in use %.1f MiB, %.0f goroutines, %.0f open fds", configReloadKey, k,
				s.values["process_resident_memory_bytes"]/(1<<20), s.values["go_memstats_heap_inuse_bytes"]/(1<<20),
				s.values["go_goroutines"], s.values["process_open_fds"])
		}
		if k == crPosts {
			break
		}
		if err := replaceFile(cfgPath, configs[(k+1)%2]); err != nil {
			return res, err
		}
		d, err := postReload(client, url, res.actions)
		if err != nil {
			return res, fmt.Errorf("POST reload %d: %w", k+1, err)
		}
		res.posts = append(res.posts, d)
	}

	if _, err := terminate(proc.cmd, proc.exited); err != nil {
		return res, err
	}
	res.elapsed = time.Since(began)
	s, err := readSpawned(proc.result)
	if err != nil {
		return res, err
	}
	if s.ExitCode != 0 {
		return res, fmt.Errorf("exit code %d, want 0", s.ExitCode)
	}
	res.user, res.sys, res.maxRSS = time.Duration(s.UserNs), time.Duration(s.SysNs), s.MaxRSSKiB*1024
	if err := verifyConfigReload(&res, proc.log.String(), filepath.Join(dir, "base.log")); err != nil {
		return res, err
	}
	return res, checkLeaks(res.samples)
}

// waitNonEmpty waits until the file at path holds something, and returns
// when it saw it.
func waitNonEmpty(path string, exited <-chan struct{}) (time.Time, error) {
	deadline := time.Now().Add(crWait)
	for {
		fi, err := os.Stat(path)
		if err == nil && fi.Size() > 0 {
			return time.Now(), nil
		}
		if err != nil && !os.IsNotExist(err) {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("nothing in %s within %s", path, crWait)
		}
		if err := sleepOrExit(exited); err != nil {
			return time.Time{}, err
		}
	}
}

// reloadRecords reads the "config reloaded" records of the log as it grows.
type reloadRecords struct {
	off  int             // of the log, up to the end of the last line read
	took []time.Duration // of each record, in order
}

// wait waits for the n-th "config reloaded" record and returns its "took";
// a "reload refused" record fails it.
func (r *reloadRecords) wait(log *logWatch, n int, exited <-chan struct{}) (time.Duration, error) {
	deadline := time.Now().Add(crWait)
	for {
		if err := r.read(log.String()); err != nil {
			return 0, err
		}
		if len(r.took) >= n {
			return r.took[n-1], nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no \"config reloaded\" record for reload %d within %s", n, crWait)
		}
		select {
		case <-exited:
			return 0, errors.New("the process exited during a reload")
		case <-time.After(pollEvery):
		}
	}
}

func (r *reloadRecords) read(log string) error {
	for {
		i := strings.IndexByte(log[r.off:], '\n')
		if i < 0 {
			return nil
		}
		line := log[r.off : r.off+i]
		r.off += i + 1
		var rec struct {
			Msg  string
			Took int64 // slog writes a time.Duration as ns
			Err  string
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "config reloaded":
			r.took = append(r.took, time.Duration(rec.Took))
		case "reload refused":
			return fmt.Errorf("reload %d was refused: %s", len(r.took)+1, rec.Err)
		}
	}
}

// postReload asks for a reload, checks that every plugin's result is OK and
// counts the actions; it returns the round trip.
func postReload(client *http.Client, url string, actions map[string]int) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodPost, url+"api/reload", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(pipeline.AdminRequestHeader, "benchrun") // as `interoceptor reload` does
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var results []pipeline.ReloadResult
	if err := json.Unmarshal(body, &results); err != nil {
		return 0, fmt.Errorf("the response %q: %w", body, err)
	}
	for _, r := range results {
		if !r.OK {
			return 0, fmt.Errorf("%s: %s", r.Plugin, r.Error)
		}
		actions[r.Action]++
	}
	return took, nil
}

// crSampleReads is how many times /metrics is read at a checkpoint; the
// least of each gauge is kept, so that a goroutine of the moment (the
// scrape's own, a batch in flight) is not taken for a leak.
const crSampleReads = 3

func sampleMetrics(client *http.Client, url string) (metricsSample, error) {
	s := metricsSample{values: map[string]float64{}}
	for i := range crSampleReads {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		resp, err := client.Get(url + "metrics")
		if err != nil {
			return s, err
		}
		v, err := parseMetrics(resp.Body, crMetrics...)
		resp.Body.Close()
		if err != nil {
			return s, fmt.Errorf("/metrics: %w", err)
		}
		for name, x := range v {
			if old, ok := s.values[name]; !ok || x < old {
				s.values[name] = x
			}
		}
	}
	return s, nil
}

// parseMetrics reads the value of each named metric, a gauge, counter or
// untyped metric without labels, from the Prometheus text format.
func parseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(names))
	for _, name := range names {
		f, ok := families[name]
		if !ok {
			return nil, fmt.Errorf("no metric %s", name)
		}
		if len(f.GetMetric()) != 1 {
			return nil, fmt.Errorf("%s has %d series, want 1", name, len(f.GetMetric()))
		}
		m := f.GetMetric()[0]
		switch {
		case m.Gauge != nil:
			out[name] = m.GetGauge().GetValue()
		case m.Counter != nil:
			out[name] = m.GetCounter().GetValue()
		case m.Untyped != nil:
			out[name] = m.GetUntyped().GetValue()
		default:
			return nil, fmt.Errorf("%s is a %s, not a single value", name, f.GetType())
		}
	}
	return out, nil
}

// verifyConfigReload checks that base holds exactly what the generator
// sent, that nothing was dropped or failed, and that every reload logged
// its record.
func verifyConfigReload(res *configReloadResult, log, basePath string) error {
	gen, filter, base, err := cleanChain(log, luaPlugin, crBase)
	if err != nil {
		return err
	}
	if filter.In != gen.Out || filter.Out != gen.Out || base.Out != gen.Out {
		return fmt.Errorf("counters: generator out=%d, filter in=%d out=%d, base out=%d; want them equal", gen.Out, filter.In, filter.Out, base.Out)
	}
	if res.baseLines, err = countLines(basePath); err != nil {
		return err
	}
	if res.baseLines != gen.Out {
		return fmt.Errorf("%s holds %d lines, the generator sent %d", basePath, res.baseLines, gen.Out)
	}
	res.generated = gen.Out

	records := &reloadRecords{}
	if err := records.read(log); err != nil {
		return err
	}
	if want := crSignals + crPosts; len(records.took) != want {
		return fmt.Errorf("%d \"config reloaded\" records, want %d", len(records.took), want)
	}
	res.postTook = records.took[crSignals:]
	return nil
}

func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// checkLeaks fails the run when goroutines or open fds grew by more than
// crLeakMargin from the second checkpoint to the last.
func checkLeaks(samples []metricsSample) error {
	if len(samples) < 2 {
		return nil
	}
	from, to := samples[1], samples[len(samples)-1]
	var errs []error
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if grew := to.values[name] - from.values[name]; grew > crLeakMargin {
			errs = append(errs, fmt.Errorf("%s grew from %.0f after %d reloads to %.0f after %d (more than %d)",
				name, from.values[name], from.reloads, to.values[name], to.reloads, crLeakMargin))
		}
	}
	return errors.Join(errs...)
}

// durationStats returns the min, median (for an even count the slower
// middle one), p90 (nearest rank) and max of ds.
func durationStats(ds []time.Duration) (lo, med, p90, hi time.Duration) {
	s := slices.Sorted(slices.Values(ds))
	if len(s) == 0 {
		return
	}
	rank := int(math.Ceil(0.9*float64(len(s)))) - 1
	return s[0], s[len(s)/2], s[rank], s[len(s)-1]
}
