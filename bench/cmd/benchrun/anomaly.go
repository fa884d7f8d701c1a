package main

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The anomaly scenarios: tcp (influx decoder) → filters.lua running
// plugins/filters/anomaly.lua, the shipped detector, with its defaults →
// file (json) for the anomalies it injects.
//
//   - anomaly: N points of 1,000 hosts, interleaved; points/s through the
//     detector, CPU and RSS (issue 10: ≥ 200,000 points/s).
//   - anomaly-memory: 100,000 distinct series of a few points each against
//     a handful of series with as many points; memory per series (issue 10:
//     ≤ 8 KiB each).

const (
	anomalyKey       = "anomaly"
	anomalyMemoryKey = "anomaly-memory"
	anomalyPlugin    = "filters.lua[anomaly]"
	anomalySubject   = "bench.anomalies" // where the filter publishes
	anomalyScript    = "plugins/filters/anomaly.lua"
	anomalyHosts     = 1000 // series of the anomaly scenario
	// anomalyPollEvery is how often /api/plugins is read for the filter's
	// "in" counter; it bounds the error of the clock's stop.
	anomalyPollEvery = 10 * time.Millisecond
	// anomalyMemoryLimit is the filter's memory_limit for 1,000 series, as
	// plugins/filters/anomaly.toml sets it for its max_series.
	anomalyMemoryLimit = 16 << 20

	memoryManySeries = 100_000
	memoryFewSeries  = 10
	memoryPoints     = 500_000 // per memory run: 5 per series of the many
	// memoryManyLimit is the filter's memory_limit in the memory runs: the
	// most filters.lua accepts, so that the limit is not what is measured.
	memoryManyLimit = 1 << 30

	targetAnomalyPointsPerSec = 200_000
	targetSeriesBytes         = 8 << 10
)

// anomalySetup is what differs between the runs of the two scenarios.
type anomalySetup struct {
	maxSeries   int // the filter's max_series; 0 leaves it at its default
	memoryLimit int64
}

// anomalyRun is what one run measured.
type anomalyRun struct {
	filterLoadRun // maxRSS includes the drain's preserve_data
	series        int
	// Memory once the filter had taken every point, before the drain: the
	// sandbox's estimate (gauges lua_memory_bytes, lua_memory_max_bytes),
	// the process's VmRSS and VmHWM, and the Go heap in use.
	luaMemory, luaMemoryMax float64
	vmRSS, vmHWM            int64
	heapInuse               float64
	events                  int            // anomalies in the output
	byKind                  map[string]int // of those, per kind
	planted, found          int            // anomalies planted in the load, and found
	// quietEvents is the anomalies of the hosts with nothing planted, and
	// quietPoints their points.
	quietEvents, quietPoints int
}

// anomalyResult is every run of the two scenarios.
type anomalyResult struct {
	throughput []anomalyRun // anomaly
	few, many  *anomalyRun  // anomaly-memory
}

// runAnomalyThroughput runs the anomaly scenario runs times on n points; it
// also returns the load's first line.
func runAnomalyThroughput(bin string, runs, n int) ([]anomalyRun, string, error) {
	load := generateAnomalyLoad(n, anomalyHosts)
	progress("%-10s generated %d points of %d series, %d bytes; %d anomalies expected (%d of %d planted)",
		anomalyKey, n, anomalyHosts, len(load.buf), len(load.events), load.found, load.planted)
	var out []anomalyRun
	for i := 1; i <= runs; i++ {
		r, err := runAnomaly(bin, load, anomalySetup{memoryLimit: anomalyMemoryLimit})
		if err != nil {
			return nil, "", fmt.Errorf("run %d: %w", i, err)
		}
		progress("%-10s run %d/%d: %8.0f points/s, %.2fs, CPU %.2fs, RSS %.1f MiB; the filter spent %.2fs: %.0f points/s",
			anomalyKey, i, runs, r.pointsPerSec(), r.elapsed.Seconds(), r.cpu().Seconds(), float64(r.maxRSS)/(1<<20),
			r.filter.ProcessSeconds, r.filter.msgsPerSec())
		out = append(out, r)
	}
	return out, load.first, nil
}

// runAnomalyMemory runs the memory scenario: a handful of series, then
// 100,000, the same number of points each time.
func runAnomalyMemory(bin string) (few, many anomalyRun, err error) {
	for _, c := range []struct {
		series int
		into   *anomalyRun
	}{{memoryFewSeries, &few}, {memoryManySeries, &many}} {
		load := generateAnomalyLoad(memoryPoints, c.series)
		r, err := runAnomaly(bin, load, anomalySetup{maxSeries: memoryManySeries, memoryLimit: memoryManyLimit})
		if err != nil {
			return few, many, fmt.Errorf("%d series: %w", c.series, err)
		}
		progress("%-10s %6d series: %8.0f points/s; Lua estimate %.1f MiB, VmRSS %.1f MiB, VmHWM %.1f MiB, Go heap in use %.1f MiB",
			anomalyMemoryKey, c.series, r.pointsPerSec(), r.luaMemory/(1<<20), float64(r.vmRSS)/(1<<20),
			float64(r.vmHWM)/(1<<20), r.heapInuse/(1<<20))
		*c.into = r
	}
	return few, many, nil
}

// moduleRoot is the directory of the go.mod benchrun was run in.
func moduleRoot() (string, error) {
	mod := command("go", "env", "GOMOD")
	if mod == "?" || mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the module: run benchrun from the repository (make bench)")
	}
	return filepath.Dir(mod), nil
}

// writeAnomalyConfig writes the pipeline's configuration: the filter as
// plugins/filters/anomaly.toml has it, but for its subjects, the watched
// field and the limits of the setup.
func writeAnomalyConfig(dir string, port int, setup anomalySetup) (cfgPath, outPath string, err error) {
	root, err := moduleRoot()
	if err != nil {
		return "", "", err
	}
	script := filepath.Join(root, anomalyScript)
	if _, err := os.Stat(script); err != nil {
		return "", "", err
	}
	outPath = filepath.Join(dir, "out.jsonl")
	maxSeries := ""
	if setup.maxSeries > 0 {
		maxSeries = fmt.Sprintf("  max_series = %d\n", setup.maxSeries)
	}
	cfg := fmt.Sprintf(`# written by bench/cmd/benchrun for the anomaly scenarios
[agent]
name = "bench"
data_dir = %q
admin_addr = "127.0.0.1:0"  # to read the filter's counters and memory

[nats]
url = ""  # the embedded server

[[inputs.tcp]]
publish = %q
address = "127.0.0.1:%d"
decoder = "influx"

[[filters.lua]]
name = "anomaly"
subscribe = [%q]
matcher = "Type == 'metric' && Fields[name] == 'cpu'"
publish = %q
script = %q
module_path = []
ticker_interval = "60s"
preserve_data = true
memory_limit = %d
  [filters.lua.config]
  field = %q
%s
[[outputs.file]]
subscribe = [%q]
path = %q
format = "json"
`, filepath.Join(dir, "var"), subject, port, subject, anomalySubject, script, setup.memoryLimit, anomalyField,
		maxSeries, anomalySubject, outPath)
	cfgPath = filepath.Join(dir, "pipeline.toml")
	return cfgPath, outPath, os.WriteFile(cfgPath, []byte(cfg), 0o644)
}

// runAnomaly runs the pipeline once on load, in a fresh temporary directory.
func runAnomaly(bin string, load anomalyLoad, setup anomalySetup) (r anomalyRun, err error) {
	r.series, r.planted = load.series, load.planted
	r.quietEvents, r.quietPoints = load.quietEvents, load.quietPoints
	dir, keep, err := runDir()
	if err != nil {
		return r, err
	}
	defer keep(&err)
	port, err := freePort()
	if err != nil {
		return r, err
	}
	cfgPath, outPath, err := writeAnomalyConfig(dir, port, setup)
	if err != nil {
		return r, err
	}
	var log string
	r.filterLoadRun, log, err = runFilterLoad(bin, dir, cfgPath, port, load.buf, anomalyPlugin, load.n, r.readMemory)
	if err != nil {
		return r, err
	}
	return r, verifyAnomaly(&r, log, outPath, load)
}

// waitForFilter polls /api/plugins until the filter has taken n messages.
// The runtime counts a message just before the filter processes it, so the
// clock stops with at most the last message in progress.
func waitForFilter(url, plugin string, n int, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections() // so that the drain does not wait for them
	var last uint64
	lastChange := time.Now()
	for {
		p, err := fetchPlugin(client, url, plugin)
		if err != nil {
			return err
		}
		c := p.Counters
		switch {
		case c.Errors != 0 || c.Dropped != 0:
			return fmt.Errorf("%s: errors=%d dropped=%d (in=%d)", plugin, c.Errors, c.Dropped, c.In)
		case c.In == uint64(n):
			return nil
		case c.In > uint64(n):
			return fmt.Errorf("%s took %d messages, more than the %d sent", plugin, c.In, n)
		}
		if c.In != last {
			last, lastChange = c.In, time.Now()
		} else if time.Since(lastChange) > stallAfter {
			return fmt.Errorf("%s stalled at %d of %d messages for %s", plugin, c.In, n, stallAfter)
		}
		select {
		case <-exited:
			return errors.New("the process exited before the filter had taken every point")
		case <-time.After(anomalyPollEvery):
		}
	}
}

// readMemory reads what the process holds once the filter has taken every
// point: the sandbox's estimate, the Go heap in use and the resident set.
func (r *anomalyRun) readMemory(url string, pid int) error {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	p, err := fetchPlugin(client, url, anomalyPlugin)
	if err != nil {
		return err
	}
	var ok bool
	if r.luaMemory, ok = p.Gauges["lua_memory_bytes"]; !ok {
		return fmt.Errorf("/api/plugins: %s has no lua_memory_bytes gauge (gauges %v)", anomalyPlugin, p.Gauges)
	}
	r.luaMemoryMax = p.Gauges["lua_memory_max_bytes"]
	if r.heapInuse, err = fetchMetric(client, url, "go_memstats_heap_inuse_bytes"); err != nil {
		return err
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, _ := strings.Cut(line, ":")
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &r.vmRSS
		case "VmHWM":
			dst = &r.vmHWM
		default:
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return fmt.Errorf("/proc/%d/status: %q", pid, line)
		}
		*dst = kib << 10
	}
	if r.vmRSS == 0 || r.vmHWM == 0 {
		return fmt.Errorf("/proc/%d/status has no VmRSS or VmHWM", pid)
	}
	return nil
}

// fetchMetric reads one unlabelled metric from /metrics.
func fetchMetric(client *http.Client, url, name string) (float64, error) {
	resp, err := client.Get(url + "metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/metrics has no %s", name)
}

// checkChainCounters checks the "stopped" records of a tcp input → filter
// → output chain: nothing dropped or failed, the n points taken by the
// input and the filter, the want messages the filter emitted written by
// the output.
func checkChainCounters(log, filterID, outputID string, n, want int64) error {
	in, err := stoppedRecord(log, fmt.Sprintf(inputPlugin, "tcp", "tcp"))
	if err != nil {
		return err
	}
	filter, err := stoppedRecord(log, filterID)
	if err != nil {
		return err
	}
	out, err := stoppedRecord(log, outputID)
	if err != nil {
		return err
	}
	for _, c := range []counters{in, filter, out} {
		if c.Dropped != 0 || c.Errors != 0 {
			return fmt.Errorf("counters: input %+v, filter %+v, output %+v; want dropped=0 errors=0", in, filter, out)
		}
	}
	if in.In != n || filter.In != n || filter.Out != want || out.In != want || out.Out != want {
		return fmt.Errorf("counters: input in=%d, filter in=%d out=%d, output in=%d out=%d; want %d, %d, %d, %d, %d",
			in.In, filter.In, filter.Out, out.In, out.Out, n, n, want, want, want)
	}
	return nil
}

// verifyAnomaly checks the plugins' "stopped" records (every point taken,
// nothing dropped or failed) and that the output holds, in order, exactly
// the anomalies a detector per series finds in the load, each well formed.
func verifyAnomaly(r *anomalyRun, log, outPath string, load anomalyLoad) error {
	n, want := int64(load.n), int64(len(load.events))
	if err := checkChainCounters(log, anomalyPlugin, outputPlugin, n, want); err != nil {
		return err
	}

	b, err := os.ReadFile(outPath)
	if err != nil && !(os.IsNotExist(err) && want == 0) {
		return err
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(b) == 0 {
		lines = nil
	}
	if len(lines) != len(load.events) {
		return fmt.Errorf("the output has %d messages, want the %d anomalies a detector per series finds", len(lines), len(load.events))
	}
	r.byKind = map[string]int{}
	var m pipeline.Message
	for k, line := range lines {
		if err := pipeline.ParseJSON([]byte(line), &m); err != nil {
			return fmt.Errorf("output line %d: %w", k+1, err)
		}
		if err := checkAnomaly(&m, load.events[k]); err != nil {
			return fmt.Errorf("output line %d: %w\n  %s", k+1, err, line)
		}
		r.byKind[load.events[k].Kind]++
	}
	r.events, r.found = len(lines), load.found
	return nil
}

// checkAnomaly checks one injected message against the event it must
// report, as plugins/filters/anomaly.lua describes it.
func checkAnomaly(m *pipeline.Message, ev expectedEvent) error {
	at := ev.Time
	if ev.ChangePoint() {
		at = ev.ChangeTime
	}
	if m.Type != "anomaly" || m.Timestamp != at {
		return fmt.Errorf("type %q at %d, want \"anomaly\" at %d (%s of %s)", m.Type, m.Timestamp, at, ev.Kind, ev.host)
	}
	if m.Measurement() != "anomaly" {
		return fmt.Errorf("measurement %q, want \"anomaly\"", m.Measurement())
	}
	for name, want := range map[string]string{"cpu": "cpu-total", "host": ev.host, "series": "cpu", "field": anomalyField} {
		if f := m.Field(name); f == nil || f.Role != pipeline.RoleTag || f.Kind != pipeline.KindString || f.Str != want {
			return fmt.Errorf("tag %s is %v, want %q", name, f, want)
		}
	}
	for name, want := range map[string]string{"kind": ev.Kind, "direction": ev.Direction()} {
		if f := m.Field(name); f == nil || f.Kind != pipeline.KindString || f.Str != want {
			return fmt.Errorf("field %s is %v, want %q", name, f, want)
		}
	}
	nums := map[string]float64{"score": ev.Score, "value": ev.Value, "before": ev.Before, "after": ev.After,
		"difference": ev.After - ev.Before}
	if ev.Before != 0 {
		nums["percent"] = (ev.After - ev.Before) / math.Abs(ev.Before) * 100
	} else if m.Field("percent") != nil {
		return errors.New("a percent field, but the level before is 0")
	}
	for name, want := range nums {
		f := m.Field(name)
		if f == nil || f.Kind != pipeline.KindFloat || math.Abs(f.Float-want) > 1e-9*math.Max(1, math.Abs(want)) {
			return fmt.Errorf("field %s is %v, want %g", name, f, want)
		}
	}
	if s := m.Field("score"); s.Float < 0.9 || s.Float > 1 {
		return fmt.Errorf("score %g is outside [threshold 0.9, 1]", s.Float)
	}
	ct := m.Field("change_time")
	switch {
	case ev.ChangePoint() && (ct == nil || ct.Kind != pipeline.KindString || ct.Str != strconv.FormatInt(ev.ChangeTime, 10)):
		return fmt.Errorf("change_time is %v, want %q", ct, strconv.FormatInt(ev.ChangeTime, 10))
	case !ev.ChangePoint() && ct != nil:
		return fmt.Errorf("change_time %v on a %s", ct, ev.Kind)
	}
	// The summary names the series, then says before → after and the score.
	if f, prefix := m.Field("summary"), "cpu "+anomalyField+" cpu=cpu-total host="+ev.host+": "; f == nil || f.Kind != pipeline.KindString ||
		!strings.HasPrefix(f.Str, prefix) || !strings.Contains(f.Str, " → ") || !strings.Contains(f.Str, "(score ") {
		return fmt.Errorf("summary is %v, want %q, before → after and the score", f, prefix+"...")
	}
	if prefix := "cpu,cpu=cpu-total,host=" + ev.host + ": " + anomalyField + " "; !strings.HasPrefix(string(m.Payload), prefix) {
		return fmt.Errorf("payload %q, want it to start with %q", m.Payload, prefix)
	}
	return nil
}
