// Command benchrun is what `make bench` runs: it measures the built binary end
// to end (real processes, sockets and files) and runs the Go micro-benchmarks,
// then writes everything to a Markdown report (bench/RESULTS.md).
//
// It only measures and writes: no figure is compared against a threshold
// except to say, in the report, whether a target is met. It fails (exit 1)
// when a scenario does not deliver exactly what was sent, because a speed
// measured on a wrong result means nothing.
//
//	go run ./bench/cmd/benchrun -out bench/RESULTS.md [-runs 3] [-lines 1000000] [-bin ./bin/interoceptor] [-skip-go] [-cpuprofile DIR] [-only tcp-raw,lua,anomaly,tcp-influxdb,reload,config-reload,kill9,alert-rules,alert-mail-latency,...]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"
)

type options struct {
	out    string
	runs   int
	lines  int
	bin    string
	skipGo bool
	only   string
	// cpuprofile: a directory where each run of the throughput scenarios
	// writes the binary's CPU profile (profile.go); "" for none.
	cpuprofile string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == spawnFlag {
		os.Exit(spawnMain(os.Args[2:]))
	}
	var o options
	flag.StringVar(&o.out, "out", "bench/RESULTS.md", "Markdown `file` to write the results to")
	flag.IntVar(&o.runs, "runs", 3, "runs of each end-to-end scenario (the median run is reported)")
	flag.IntVar(&o.lines, "lines", 1_000_000, "lines sent through each end-to-end scenario")
	flag.StringVar(&o.bin, "bin", "./bin/interoceptor", "the interoceptor `binary` to measure (build it first: make build)")
	flag.BoolVar(&o.skipGo, "skip-go", false, "skip the Go micro-benchmarks")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of each run of the throughput scenarios (tcp-raw, tcp-influx, ...) into `dir`, and a summary of each scenario's median run into the report")
	flag.StringVar(&o.only, "only", "", "run only these end-to-end `scenarios` (comma-separated: tcp-raw, tcp-influx, stdin-raw, tail, tail-durable, tcp-durable, lua, lua-raw, lua-metric, lua-metric-table, lua-decoder, tcp-influxdb, anomaly, anomaly-memory, reload, config-reload, kill9, eval, alert-rules, alert-mail-latency; \"none\" for none)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail("unexpected arguments: %v", flag.Args())
	}
	if o.runs < 1 || o.lines < 1 {
		fail("-runs and -lines must be positive")
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		fail("%v", err)
	}
	if _, err := os.Stat(bin); err != nil {
		fail("%v (run `make build` first)", err)
	}
	o.bin = bin
	if o.cpuprofile != "" {
		if o.cpuprofile, err = filepath.Abs(o.cpuprofile); err == nil {
			err = os.MkdirAll(o.cpuprofile, 0o755)
		}
		if err != nil {
			fail("-cpuprofile: %v", err)
		}
	}
	chosen, extra, err := chooseScenarios(o.only)
	if err != nil {
		fail("-only: %v", err)
	}
	if slices.ContainsFunc(chosen, func(sc scenario) bool { return sc.lua && sc.luaCase == nil }) && o.lines%luaEvery != 0 {
		fail("-lines must be a multiple of %d for the lua scenario (its script injects one message per %d)", luaEvery, luaEvery)
	}
	if slices.ContainsFunc(chosen, func(sc scenario) bool { return sc.influxdb }) {
		if err := checkInfluxd(); err != nil {
			fail("%v", err)
		}
	}

	began := time.Now()
	rep := &report{opts: o, started: began}
	rep.machine = describeMachine(bin) // load average and idle CPU are read here, before any work
	progress("machine: %s, %s CPUs, load %s, %.0f%% idle", rep.machine.cpuModel, rep.machine.nproc, rep.machine.loadBefore, rep.machine.idleBefore)

	data := generateLines(o.lines)
	debug.FreeOSMemory() // benchrun shares the machine: give back what generating took
	rep.firstLine = data.first
	progress("generated %d lines, %d bytes", o.lines, len(data.buf))
	if rep.scenarios, err = runScenarios(chosen, o, data); err != nil {
		fail("%v", err)
	}
	data = lineData{} // the anomaly scenarios have loads of their own
	if extra[anomalyKey] {
		runs, first, err := runAnomalyThroughput(o.bin, o.runs, o.lines)
		if err != nil {
			fail("%s: %v", anomalyKey, err)
		}
		rep.anomaly.throughput, rep.anomalyFirst = runs, first
	}
	if extra[anomalyMemoryKey] {
		few, many, err := runAnomalyMemory(o.bin)
		if err != nil {
			fail("%s: %v", anomalyMemoryKey, err)
		}
		rep.anomaly.few, rep.anomaly.many = &few, &many
	}
	debug.FreeOSMemory()
	if extra[reloadKey] {
		res, err := runReload(o.bin)
		if err != nil {
			fail("%s: %v", reloadKey, err)
		}
		rep.reload = &res
	}
	if extra[configReloadKey] {
		res, err := runConfigReload(o.bin)
		if err != nil {
			fail("%s: %v", configReloadKey, err)
		}
		rep.configReload = &res
	}
	if extra[crashKey] {
		res, err := runCrash(o.bin)
		if err != nil {
			fail("%s: %v", crashKey, err)
		}
		rep.crash = &res
	}
	if extra[alertRulesKey] {
		res, err := runAlertRules(o.bin, o.runs, alertPointsPerLine*o.lines)
		if err != nil {
			fail("%s: %v", alertRulesKey, err)
		}
		rep.alertRules = &res
		debug.FreeOSMemory()
	}
	if extra[alertMailKey] {
		res, err := runAlertMail(o.bin)
		if err != nil {
			fail("%s: %v", alertMailKey, err)
		}
		rep.alertMail = &res
	}
	if extra[evalKey] {
		progress("eval: the shipped detector on NAB and TCPD")
		res, err := runEval(o.bin)
		if err != nil {
			fail("%s: %v", evalKey, err)
		}
		rep.eval = &res
	}

	goFailed := false
	if !o.skipGo {
		rep.sandboxBench = runGoTest(sandboxBenchArgs)
		rep.goBench = runGoBenchmarks()
		goFailed = rep.goBench.err != nil || rep.sandboxBench.err != nil
	}
	rep.machine.loadAfter = readLoadavg()
	rep.elapsed = time.Since(began)

	if err := os.WriteFile(o.out, []byte(rep.markdown()), 0o644); err != nil {
		fail("%v", err)
	}
	progress("wrote %s in %s", o.out, rep.elapsed.Round(time.Second))
	if goFailed {
		fail("go test failed (its output is in %s): %v", o.out, errors.Join(rep.sandboxBench.err, rep.goBench.err))
	}
}

// progress prints a status line to stderr, so a long run shows where it is.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchrun: "+format+"\n", args...)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchrun: FAILED: "+format+"\n", args...)
	os.Exit(1)
}
