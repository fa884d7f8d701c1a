package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// scenario is one end-to-end pipeline, measured by driving the real binary.
type scenario struct {
	key    string // short name used in progress lines
	title  string // as it appears in the report
	input  string // "tcp", "stdin" or "tail"
	influx bool   // decoder = "influx" on the input, format = "influx" on the output
	lua    bool   // a Lua filter between the input and the output: see lua.go
	// luaCase, with lua, is a one-for-one Lua scenario (lua_cases.go)
	// instead of the lua scenario's script.
	luaCase *luaCase
	// durable: durable = true on the input and the output, so every batch is
	// stored in a JetStream stream and acked (pipeline/durable.go).
	durable bool
	// influxdb: outputs.influxdb into a real InfluxDB 1.8 instead of
	// outputs.file (influxdb.go); influx then sets the input's decoder only.
	influxdb bool
	about    string // one line for the report: what the clock covers
}

func scenarios() []scenario {
	return []scenario{
		{key: "tcp-raw", title: "tcp→file (raw)", input: "tcp",
			about: "one TCP connection; clock from the first write until the file holds every byte"},
		{key: "tcp-influx", title: "tcp→file (influx decode + encode)", input: "tcp", influx: true,
			about: "as above, each line parsed into a metric and written back as line protocol; clock until the file holds every line"},
		{key: "stdin-raw", title: "stdin→file (raw)", input: "stdin",
			about: "lines piped into stdin; clock from the first write until the process exits by itself (startup included)"},
		{key: "tail", title: "tail→file", input: "tail",
			about: "`inputs.tail` reading a file of N lines written before the process starts (`from_beginning = true`); clock from the process's start until the output file holds every line (startup included)"},
		{key: "tail-durable", title: "tail→file (durable, JetStream)", input: "tail", durable: true,
			about: "the same with `durable = true` on the input and the output: each batch is stored (S2-compressed) in the embedded JetStream (files under data_dir) before the input goes on, and acked by the output once written, which removes it from the stream (kept by interest once a durable subscriber reads it)"},
		{key: "tcp-durable", title: "tcp→file (durable, JetStream)", input: "tcp", durable: true,
			about: "tcp→file (raw) with `durable = true` on the input and the output, as tail→file (durable) is; clock from the first write until the file holds every byte"},
		{key: "lua", title: "tcp→lua→file (influx decode, Lua filter)", input: "tcp", influx: true, lua: true,
			about: "one TCP connection, lines parsed into metrics, a Lua filter reading two fields of each and injecting one message per 100; clock from the first write until the file holds N/100 lines"},
		{key: "lua-raw", title: "tcp→lua→file (raw lines, a field added)", input: "tcp", lua: true, luaCase: luaCases["lua-raw"],
			about: luaCases["lua-raw"].about + "; clock until the file holds N lines"},
		{key: "lua-metric", title: "tcp→lua→file (influx decode, a tag added)", input: "tcp", influx: true, lua: true, luaCase: luaCases["lua-metric"],
			about: luaCases["lua-metric"].about + "; clock until the file holds N lines"},
		{key: "lua-metric-table", title: "tcp→lua→file (influx decode, a tag added, inject of a table)", input: "tcp", influx: true, lua: true, luaCase: luaCases["lua-metric-table"],
			about: luaCases["lua-metric-table"].about + "; clock until the file holds N lines"},
		{key: "lua-decoder", title: "tcp→file (Lua decoder)", input: "tcp", lua: true, luaCase: luaCases["lua-decoder"],
			about: luaCases["lua-decoder"].about + "; clock until the file holds N lines"},
		{key: "tcp-influxdb", title: "tcp→InfluxDB 1.8 (influx decode, outputs.influxdb)", input: "tcp", influx: true, influxdb: true,
			about: "one TCP connection, lines parsed into metrics and written to a real InfluxDB 1.8 on this machine (its ingest shares the cores); clock from the first write until the output reports every point written (`influxdb_written_points`); lines/s here is points/s"},
	}
}

// reloadKey names the reload scenario (reload.go), which is not a throughput
// scenario and so not in scenarios().
const reloadKey = "reload"

// The scenarios that are not in scenarios(): each has a runner of its own.
var extraScenarios = []string{anomalyKey, anomalyMemoryKey, reloadKey, configReloadKey, crashKey, alertRulesKey, alertMailKey, evalKey}

// chooseScenarios returns the throughput scenarios -only names, in their
// usual order, and which of extraScenarios it names (all of them without
// -only).
func chooseScenarios(only string) (chosen []scenario, extra map[string]bool, err error) {
	all := scenarios()
	extra = map[string]bool{}
	if only == "" {
		for _, k := range extraScenarios {
			extra[k] = true
		}
		return all, extra, nil
	}
	want := map[string]bool{}
	for _, k := range strings.Split(only, ",") {
		want[strings.TrimSpace(k)] = true
	}
	for _, sc := range all {
		if want[sc.key] {
			chosen = append(chosen, sc)
			delete(want, sc.key)
		}
	}
	for _, k := range extraScenarios {
		extra[k] = want[k]
		delete(want, k)
	}
	delete(want, "none")
	for k := range want {
		return nil, nil, fmt.Errorf("no scenario %q", k)
	}
	return chosen, extra, nil
}

// runResult is what one run of a scenario measured.
type runResult struct {
	elapsed   time.Duration // the clock: see scenario.about
	startup   time.Duration // process start → its "pipeline running" log record
	drain     time.Duration // SIGTERM → exit (zero for stdin, which ends by itself)
	user, sys time.Duration // CPU of the interoceptor process, whole life
	maxRSS    int64         // bytes
	selfCPU   time.Duration // CPU benchrun itself used meanwhile (the load generator shares the machine)
	otherCPU  time.Duration // CPU the rest of the machine used meanwhile (other jobs)
	inputIn   int64         // the input's "in" counter from its "stopped" record
	outputOut int64         // the output's "out" counter
	filter    filterStats   // the Lua filter's counters (lua scenario only)
	influxdb  influxStats   // InfluxDB's side (tcp-influxdb only)
	// storeBytes is what the JetStream store under data_dir held once the
	// process had exited (durable scenarios only).
	storeBytes int64
	duplicates int64  // the input's and the output's "duplicates" (durable mode)
	profile    string // the CPU profile the binary wrote (-cpuprofile), or ""
}

func (r runResult) cpu() time.Duration { return r.user + r.sys }

// scenarioResult is every run of one scenario.
type scenarioResult struct {
	sc    scenario
	lines int
	bytes int
	runs  []runResult
	// profile is the CPU profile of one more run, after the measured ones
	// (-cpuprofile): profiling costs CPU and memory, so no figure above
	// comes from a profiled run.
	profile string
}

// byThroughput returns the runs, slowest first.
func (s scenarioResult) byThroughput() []runResult {
	runs := append([]runResult(nil), s.runs...)
	sort.Slice(runs, func(i, j int) bool { return runs[i].elapsed > runs[j].elapsed })
	return runs
}

// median is the median run by throughput (for an even count, the slower of the
// two middle runs).
func (s scenarioResult) median() runResult {
	runs := s.byThroughput()
	return runs[(len(runs)-1)/2]
}

// runScenarios runs the end-to-end scenarios o.runs times each, round by
// round: run 1 of every scenario, then run 2 of every one, and so on. A
// drift of the machine's speed during the bench (another job, the CPU's
// clock) then falls on all scenarios alike, and the runs of one round are
// minutes closer than a scenario's runs are to the next scenario's: the
// comparisons between scenarios (lua-metric against tcp-influx) pair the
// runs of a round. The profiled runs come after, one per scenario.
func runScenarios(chosen []scenario, o options, data lineData) ([]scenarioResult, error) {
	res := make([]scenarioResult, len(chosen))
	for j, sc := range chosen {
		res[j] = scenarioResult{sc: sc, lines: data.n, bytes: len(data.buf)}
	}
	for i := 1; i <= o.runs; i++ {
		for j, sc := range chosen {
			r, err := runOnce(sc, o.bin, data, "")
			if err != nil {
				return nil, fmt.Errorf("%s: run %d: %w", sc.title, i, err)
			}
			progress("%-10s run %d/%d: %8.0f lines/s, %.2fs, CPU %.2fs, RSS %.1f MiB, startup %s",
				sc.key, i, o.runs, float64(data.n)/r.elapsed.Seconds(), r.elapsed.Seconds(),
				r.cpu().Seconds(), float64(r.maxRSS)/(1<<20), r.startup.Round(time.Millisecond))
			if sc.lua && (sc.luaCase == nil || !sc.luaCase.decoder) {
				progress("%-10s run %d/%d: the Lua filter spent %.2fs: %.0f msgs/s", sc.key, i, o.runs,
					r.filter.ProcessSeconds, r.filter.msgsPerSec())
			}
			if sc.influxdb {
				progress("%-10s run %d/%d: influxd used %.2fs CPU (%.2fs until the pipeline exited); the output held up to %.0f points waiting (%.1f MB on disk)",
					sc.key, i, o.runs, r.influxdb.cpu.Seconds(), r.influxdb.cpuRun.Seconds(), r.influxdb.maxBuffered, r.influxdb.maxDiskBytes/1e6)
			}
			res[j].runs = append(res[j].runs, r)
		}
	}
	for j, sc := range chosen {
		path := o.profilePath(sc)
		if path == "" {
			continue
		}
		r, err := runOnce(sc, o.bin, data, path)
		if err != nil {
			return nil, fmt.Errorf("%s: profiled run: %w", sc.title, err)
		}
		progress("%-10s profiled run: %8.0f lines/s (not counted)", sc.key, float64(data.n)/r.elapsed.Seconds())
		res[j].profile = r.profile
	}
	return res, nil
}

const (
	inputPlugin  = "inputs.%s[%s]"
	outputPlugin = "outputs.file[file]"
	subject      = "bench.lines"
)

// tailFile is the file the tail scenarios read, in the run's directory.
const tailFile = "in.log"

// writeConfig writes the pipeline's configuration; influxURL is InfluxDB's
// for the influxdb scenario.
func writeConfig(sc scenario, dir string, port int, influxURL string, loadBytes int) (cfgPath, outPath string, err error) {
	outPath = filepath.Join(dir, "out.log")
	natsExtra := ""
	var input string
	switch sc.input {
	case "tcp":
		input = fmt.Sprintf("[[inputs.tcp]]\npublish = %q\naddress = \"127.0.0.1:%d\"\n", subject, port)
	case "tail":
		input = fmt.Sprintf("[[inputs.tail]]\npublish = %q\nfiles = [%q]\nfrom_beginning = true\n",
			subject, filepath.Join(dir, tailFile))
	default:
		input = fmt.Sprintf("[[inputs.stdin]]\npublish = %q\n", subject)
	}
	format := "payload"
	if sc.influx {
		input += "decoder = \"influx\"\n"
		format = "influx"
	}
	admin, filter, outSubject := "off", "", subject
	if sc.lua {
		// The admin API is on (a port the kernel picks) to read the filter's
		// process_seconds before the drain.
		admin, outSubject = "127.0.0.1:0", luaSubject
		if sc.luaCase != nil {
			var extra string
			if extra, filter, outSubject, err = luaCaseConfig(sc.luaCase, dir); err != nil {
				return "", "", err
			}
			input += extra
			format = sc.luaCase.format
		} else if filter, err = writeLuaFilter(dir); err != nil {
			return "", "", err
		}
	}
	output := fmt.Sprintf("[[outputs.file]]\nsubscribe = [%q]\npath = %q\nformat = %q\n", outSubject, outPath, format)
	if sc.durable {
		// The stream's limits stay at their defaults (1 GiB, a day) unless
		// the load could come near the size limit.
		input += "durable = true\n"
		output += "durable = true\n"
		// The stream of a durable run holds about twice the bytes sent
		// (each batch with its messages' headers), so from a quarter of the
		// default benchrun sets 4 × the load: the stream must never discard
		// lines the output has not had yet.
		if limit := 4 * int64(loadBytes); limit > pipeline.DefaultStreamMaxBytes {
			natsExtra = fmt.Sprintf("stream_max_bytes = %d\n", limit)
		}
	}
	if sc.influxdb {
		// The admin API is on to watch influxdb_written_points.
		admin, output = "127.0.0.1:0", influxOutputConfig(influxURL)
	}
	cfg := fmt.Sprintf(`# written by bench/cmd/benchrun for the %q scenario
[agent]
name = "bench"
data_dir = %q
admin_addr = %q

[nats]
url = ""  # the embedded server
%s
%s%s
%s`, sc.key, filepath.Join(dir, "var"), admin, natsExtra, input, filter, output)
	cfgPath = filepath.Join(dir, "pipeline.toml")
	return cfgPath, outPath, os.WriteFile(cfgPath, []byte(cfg), 0o644)
}

// runOnce runs a scenario once, in a fresh temporary directory, and checks
// that the output holds exactly the lines sent, in order.
// With profile, the binary writes its CPU profile there.
func runOnce(sc scenario, bin string, data lineData, profile string) (r runResult, err error) {
	dir, keep, err := runDir()
	if err != nil {
		return r, err
	}
	defer keep(&err)
	port := 0
	if sc.input == "tcp" {
		if port, err = freePort(); err != nil {
			return r, err
		}
	}
	if sc.input == "tail" {
		// The whole file is there before the process starts: the input reads
		// a file that is complete, from the page cache.
		if err := os.WriteFile(filepath.Join(dir, tailFile), data.buf, 0o644); err != nil {
			return r, err
		}
	}
	// The window of benchrun's and the machine's CPU opens before anything
	// the run starts (InfluxDB, for the influxdb scenario).
	selfBefore, machineBefore := selfCPU(), machineBusy()
	var influx *influxRun
	influxURL := ""
	if sc.influxdb {
		if influx, err = startInflux(filepath.Join(dir, "influxdb")); err != nil {
			return r, err
		}
		influxURL = influx.srv.URL
		// Registered before the pipeline's, so it runs after it: InfluxDB is
		// stopped whatever happens, and its log is shown on a failure.
		defer func() {
			influx.stop()
			if err != nil {
				err = fmt.Errorf("%w\nlast lines of influxd's log:\n%s", err, lastLines(influx.srv.Log(), 10))
			}
		}()
	}
	cfgPath, outPath, err := writeConfig(sc, dir, port, influxURL, len(data.buf))
	if err != nil {
		return r, err
	}

	var extra []string
	if profile != "" {
		extra = []string{"-cpuprofile", profile}
		r.profile = profile
	}
	proc, stdin, err := startPipeline(bin, dir, cfgPath, sc.input == "stdin", extra...)
	if err != nil {
		return r, err
	}
	defer proc.end(&err)
	cmd, log, exited, resultPath := proc.cmd, proc.log, proc.exited, proc.result

	var clock time.Time // wall clock, to compare with the wrapper's
	var stopped time.Time
	var stdinErr error
	switch sc.input {
	case "tail":
		// The input starts reading as soon as it runs, which may be before
		// "pipeline running" is logged: the clock starts with the process
		// (the wrapper's StartedNs, read once it has exited), startup
		// included, and stops when the output holds every line.
		err = waitForSize(outPath, int64(len(data.buf)), exited)
		stopped = time.Now()
		if err != nil {
			return r, err
		}
		if r.drain, err = terminate(cmd, exited); err != nil {
			return r, err
		}
	case "stdin":
		// The clock starts at the first write, right after the process starts,
		// as in `cat file | interoceptor run`: startup is inside it.
		clock = time.Now()
		writeErr := make(chan error, 1)
		go func() { writeErr <- writeChunks(stdin, data.buf) }()
		select {
		case <-exited:
		case <-time.After(5 * time.Minute):
			return r, errors.New("the process did not exit within 5m of the end of stdin")
		}
		stdinErr = <-writeErr // reported after the exit code, which says more
	default:
		if err := waitRunning(log, exited, 30*time.Second); err != nil {
			return r, err
		}
		admin := ""
		if sc.influxdb {
			if admin, err = adminURL(log.String()); err != nil {
				return r, err
			}
		}
		conn, err := dialUntil(fmt.Sprintf("127.0.0.1:%d", port), exited, 30*time.Second)
		if err != nil {
			return r, err
		}
		defer conn.Close()
		if influx != nil {
			if r.influxdb.cpuAtClock, err = procCPU(influx.pid); err != nil {
				return r, err
			}
		}
		clock = time.Now()
		writeErr := make(chan error, 1)
		go func() {
			err := writeChunks(conn, data.buf)
			if err == nil {
				err = conn.(*net.TCPConn).CloseWrite()
			}
			writeErr <- err
		}()
		switch {
		case sc.luaCase != nil:
			err = waitForLines(outPath, data.n, exited)
		case sc.lua:
			err = waitForLines(outPath, data.n/luaEvery, exited)
		case sc.influxdb:
			err = waitForPoints(admin, data.n, exited, &r.influxdb)
		case sc.influx:
			err = waitForLines(outPath, data.n, exited)
		default:
			err = waitForSize(outPath, int64(len(data.buf)), exited)
		}
		r.elapsed = time.Since(clock)
		if err != nil {
			return r, err
		}
		if err := <-writeErr; err != nil {
			return r, fmt.Errorf("writing to the TCP input: %w", err)
		}
		if sc.lua && (sc.luaCase == nil || !sc.luaCase.decoder) {
			// Before the drain, whose final timer_event would count too.
			if r.filter, err = readFilterStats(log.String(), luaPlugin, data.n, exited); err != nil {
				return r, err
			}
		}
		if r.drain, err = terminate(cmd, exited); err != nil {
			return r, err
		}
	}
	var influxChildren time.Duration // influxd's CPU and the wrapper's
	if influx != nil {
		if influxChildren, err = influx.finish(&r.influxdb, data); err != nil {
			return r, err
		}
	}
	r.selfCPU = selfCPU() - selfBefore
	busy := machineBusy() - machineBefore

	s, err := readSpawned(resultPath)
	if err != nil {
		return r, err
	}
	if s.ExitCode != 0 {
		return r, fmt.Errorf("exit code %d, want 0", s.ExitCode)
	}
	if stdinErr != nil {
		return r, fmt.Errorf("writing stdin: %w", stdinErr)
	}
	switch sc.input {
	case "stdin":
		r.elapsed = time.Duration(s.ExitedNs - clock.UnixNano())
	case "tail":
		r.elapsed = time.Duration(stopped.UnixNano() - s.StartedNs)
	}
	if sc.durable {
		if r.storeBytes, err = dirSize(filepath.Join(dir, "var", "jetstream")); err != nil {
			return r, err
		}
	}
	r.user, r.sys = time.Duration(s.UserNs), time.Duration(s.SysNs)
	r.maxRSS = s.MaxRSSKiB * 1024
	// The wrapper's own CPU (its rusage includes the pipeline's) counts with
	// the load generator's.
	var wrapped time.Duration // the wrapper's CPU, the pipeline's included
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		wrapped = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		r.selfCPU += max(wrapped-r.cpu(), 0)
	}
	if influx != nil {
		r.influxdb.cpu = max(influxChildren-wrapped, 0)
	}
	if busy > 0 {
		r.otherCPU = max(busy-r.cpu()-r.selfCPU-r.influxdb.cpu, 0)
	}
	if at := log.runningAt(); !at.IsZero() {
		r.startup = time.Duration(at.UnixNano() - s.StartedNs)
	}
	return r, verify(sc, &r, log.String(), outPath, data)
}

// terminate sends SIGTERM and waits for the exit; it returns how long the
// drain took.
func terminate(cmd *exec.Cmd, exited <-chan struct{}) (time.Duration, error) {
	sigterm := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-exited:
	case <-time.After(time.Minute):
		return 0, errors.New("no exit within 1m of SIGTERM")
	}
	return time.Since(sigterm), nil
}

// dirSize adds up the sizes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

// verify checks the output file against what was sent, and the plugins'
// "stopped" records: nothing dropped, nothing failed, every line counted.
func verify(sc scenario, r *runResult, log, outPath string, data lineData) error {
	if sc.luaCase != nil {
		return verifyLuaCase(sc.luaCase, r, log, outPath, data)
	}
	if sc.lua {
		return verifyLua(r, log, outPath, data)
	}
	if sc.influxdb {
		return verifyInfluxDB(r, log, data)
	}
	// Both formats must give back the very bytes sent (the lines are canonical
	// line protocol), in order: one connection keeps its order.
	same, lines, err := compareFile(outPath, data.buf)
	if err != nil {
		return err
	}
	if lines != data.n {
		return fmt.Errorf("the output has %d lines, want exactly %d", lines, data.n)
	}
	if !same {
		out, err := os.ReadFile(outPath)
		if err != nil {
			return err
		}
		if sc.influx {
			first, last := firstLastLine(out)
			if first != data.first || last != data.last {
				return fmt.Errorf("line protocol did not round-trip:\nfirst line %q\n      want %q\nlast line  %q\n      want %q", first, data.first, last, data.last)
			}
		}
		return fmt.Errorf("the output differs from the input at %s", firstDifference(out, data.buf))
	}
	in, err := stoppedRecord(log, fmt.Sprintf(inputPlugin, sc.input, sc.input))
	if err != nil {
		return err
	}
	outRec, err := stoppedRecord(log, outputPlugin)
	if err != nil {
		return err
	}
	if outRec.Dropped != 0 || outRec.Errors != 0 || in.Dropped != 0 || in.Errors != 0 {
		return fmt.Errorf("counters: input %+v, output %+v; want dropped=0 errors=0", in, outRec)
	}
	if in.In != int64(data.n) || outRec.Out != int64(data.n) {
		return fmt.Errorf("counters: input in=%d, output out=%d; want %d", in.In, outRec.Out, data.n)
	}
	r.inputIn, r.outputOut = in.In, outRec.Out
	r.duplicates = in.Duplicates + outRec.Duplicates
	return nil
}

// compareFile reads path in chunks (so benchrun stays small) and reports
// whether it equals want, and how many newlines it holds.
func compareFile(path string, want []byte) (same bool, lines int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	same = true
	off := 0
	for {
		n, err := f.Read(buf)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		if same && (off+n > len(want) || !bytes.Equal(buf[:n], want[off:off+n])) {
			same = false
		}
		off += n
		if err == io.EOF {
			return same && off == len(want), lines, nil
		}
		if err != nil {
			return false, lines, err
		}
	}
}

func firstLastLine(b []byte) (first, last string) {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		first = string(b[:i])
	} else {
		first = string(b)
	}
	return first, string(b[bytes.LastIndexByte(b, '\n')+1:])
}

type counters struct {
	In, Out, Dropped, Errors int64
	Duplicates               int64 // durable mode: batches stored or delivered twice, not written twice
}

// runDir makes a fresh temporary directory for one run of a scenario; call
// keep(&err) when the run ends: it removes the directory unless the run
// failed, so that a failed run's files can be looked into.
func runDir() (dir string, keep func(err *error), err error) {
	dir, err = os.MkdirTemp("", "interoceptor-bench-")
	return dir, func(err *error) {
		if *err == nil {
			os.RemoveAll(dir)
		}
	}, err
}

// cleanChain reads the "stopped" records of a generator → filter → output
// chain and checks that none of them dropped or failed anything.
func cleanChain(log, filter, output string) (gen, flt, out counters, err error) {
	if gen, err = stoppedRecord(log, "inputs.generator[generator]"); err != nil {
		return
	}
	if flt, err = stoppedRecord(log, filter); err != nil {
		return
	}
	if out, err = stoppedRecord(log, output); err != nil {
		return
	}
	for _, c := range []counters{gen, flt, out} {
		if c.Dropped != 0 || c.Errors != 0 {
			err = fmt.Errorf("counters: generator %+v, filter %+v, output %+v; want dropped=0 errors=0", gen, flt, out)
		}
	}
	return
}

// stoppedRecord finds the "stopped" record a plugin logs when it has drained.
func stoppedRecord(log, plugin string) (counters, error) {
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Msg, Plugin              string
			In, Out, Dropped, Errors int64
			Duplicates               int64
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "stopped" || rec.Plugin != plugin {
			continue
		}
		return counters{rec.In, rec.Out, rec.Dropped, rec.Errors, rec.Duplicates}, nil
	}
	return counters{}, fmt.Errorf("no \"stopped\" record for %s in the log", plugin)
}

// writeChunks writes b in 1 MiB writes, as a bufio.Writer of 1 MiB would.
func writeChunks(w io.WriteCloser, b []byte) error {
	const chunk = 1 << 20
	for len(b) > 0 {
		n := min(chunk, len(b))
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	if _, ok := w.(*net.TCPConn); ok {
		return nil // the caller half-closes it
	}
	return w.Close()
}

// pollEvery is how often the output file is looked at; it bounds the error of
// the clock's stop.
const pollEvery = 2 * time.Millisecond

// stallAfter is how long the output may stay the same before a run fails.
const stallAfter = 60 * time.Second

// waitForSize waits until the file is exactly want bytes long.
func waitForSize(path string, want int64, exited <-chan struct{}) error {
	var last int64
	lastChange := time.Now()
	for {
		fi, err := os.Stat(path)
		size := int64(0)
		if err == nil {
			size = fi.Size()
		} else if !os.IsNotExist(err) {
			return err
		}
		switch {
		case size == want:
			return nil
		case size > want:
			return fmt.Errorf("the output grew to %d bytes, past the %d sent", size, want)
		}
		if size != last {
			last, lastChange = size, time.Now()
		} else if time.Since(lastChange) > stallAfter {
			return fmt.Errorf("the output stalled at %d of %d bytes for %s", size, want, stallAfter)
		}
		if err := sleepOrExit(exited); err != nil {
			return err
		}
	}
}

// waitForLines waits until the file holds want newlines, reading only what
// was appended since the last look.
func waitForLines(path string, want int, exited <-chan struct{}) error {
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	buf := make([]byte, 1<<20)
	lines := 0
	lastChange := time.Now()
	for {
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		grew := false
		for f != nil {
			n, err := f.Read(buf)
			lines += bytes.Count(buf[:n], []byte{'\n'})
			grew = grew || n > 0
			if err == io.EOF || n == 0 {
				break
			}
			if err != nil {
				return err
			}
		}
		switch {
		case lines == want:
			return nil
		case lines > want:
			return fmt.Errorf("the output has %d lines, past the %d sent", lines, want)
		}
		if grew {
			lastChange = time.Now()
		} else if time.Since(lastChange) > stallAfter {
			return fmt.Errorf("the output stalled at %d of %d lines for %s", lines, want, stallAfter)
		}
		if err := sleepOrExit(exited); err != nil {
			return err
		}
	}
}

func sleepOrExit(exited <-chan struct{}) error {
	select {
	case <-exited:
		return errors.New("the process exited before the output was complete")
	case <-time.After(pollEvery):
		return nil
	}
}

func waitRunning(log *logWatch, exited <-chan struct{}, d time.Duration) error {
	select {
	case <-log.running:
		return nil
	case <-exited:
		return errors.New("the process exited before it logged \"pipeline running\"")
	case <-time.After(d):
		return fmt.Errorf("no \"pipeline running\" record within %s", d)
	}
}

// dialUntil connects to addr, retrying until it accepts.
func dialUntil(addr string, exited <-chan struct{}, d time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(d)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			return conn, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the TCP input did not accept within %s: %v", d, err)
		}
		select {
		case <-exited:
			return nil, errors.New("the process exited before the TCP input accepted")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// freePort returns a port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logWatch collects the process's stderr and notes when the "pipeline
// running" record appears.
type logWatch struct {
	mu      sync.Mutex
	b       bytes.Buffer
	at      time.Time
	running chan struct{}
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if w.at.IsZero() && bytes.Contains(w.b.Bytes(), []byte(`"msg":"pipeline running"`)) {
		w.at = time.Now()
		close(w.running)
	}
	return len(p), nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (w *logWatch) runningAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.at
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
