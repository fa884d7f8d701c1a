package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The comparison context and the targets the project gives (measured by the
// project on this same 2-core machine, tcp→file; the peers' configurations
// are in peers below).
const (
	fluentBitLinesPerSec = 744_000 // Fluent Bit 5.1.1, raw lines tcp→file (see peers)
	telegrafLinesPerSec  = 190_000 // Telegraf 1.37.2
	targetLinesPerSec    = 650_000
	targetRSSBytes       = 40_000_000 // 40 MB, read strictly as 10^6 bytes
	// targetDurableRSSBytes is durable mode's (issue 13), for the tail and
	// tcp → file runs with durable = true.
	targetDurableRSSBytes = 80 << 20

	// The Lua issue's: Fluent Bit's LuaJIT filter on this machine, and the
	// targets for a Lua filter and an idle sandbox (Heka's took 16 KiB).
	fluentBitLuaRecordsPerSec = 345_000 // one for one: a field added to every raw line, tcp → file
	targetLuaMsgsPerSec       = 300_000
	targetIdleSandboxBytes    = 200 << 10
	hekaIdleSandboxBytes      = 16 << 10

	// The Fluent Bit figures come from one side-by-side window (interleaved
	// runs) in which this project's tcp→file (raw) ran this fast. The
	// machine's speed moves (other jobs, another host under the VM), so a
	// report scales them by how fast tcp-raw runs now: see peerScale.
	peerWindowTCPRawLinesPerSec = 1_160_000
)

// peer is another tool's figure for the same work as one of the scenarios,
// with the configuration it ran with (issue 13: like for like, flush
// intervals stated).
type peer struct {
	name        string
	config      string
	linesPerSec float64
	window      bool // measured in the side-by-side window of peerWindowTCPRawLinesPerSec
}

// peers are the measured peers, by the kind of work.
var peers = []peer{
	{name: "Fluent Bit 5.1.1, raw lines",
		config: "its tcp input, raw lines → its file output, `Flush 0.5` (its default): ≈ 744,000 lines/s, 952,000 per " +
			"CPU-second, 90 MiB (a side-by-side run, 1M lines × 100 B). With `Flush 0.1` it ran ≈ 898,000 lines/s: " +
			"its flush interval holds records back, where ours writes each batch as it comes, so the 0.5 s figure is not all it can do",
		linesPerSec: fluentBitLinesPerSec, window: true},
	{name: "Telegraf 1.37.2, line protocol",
		config: "its socket listener → its file output, ≈ 190,000 lines/s: Telegraf parses every line into a metric and " +
			"serializes it again whatever the format, which is the work of our influx scenario, not of a raw one; the flush " +
			"settings of that run were not recorded",
		linesPerSec: telegrafLinesPerSec},
	{name: "Fluent Bit 5.1.1, filesystem buffering",
		config: "raw lines as above with `storage.type filesystem`: ≈ 701,000 lines/s, 649,000 per CPU-second, 76 MiB " +
			"(the same side-by-side run), the peer of our durable (JetStream) scenarios",
		linesPerSec: 701_000, window: true},
}

// peerOf returns the peer that does a scenario's work, if one was measured.
func peerOf(sc scenario) (peer, bool) {
	switch {
	case sc.lua || sc.influxdb:
		return peer{}, false
	case sc.durable:
		return peers[2], true
	case sc.influx:
		return peers[1], true
	}
	return peers[0], true
}

// peerScale is how much faster this run's tcp→file (raw) went than in the
// window the Fluent Bit figures come from, and its lines/s; 0 without a
// tcp-raw run. A peer's figure times it estimates what the peer would do on
// the machine as it is now, and from above: part of what tcp-raw gained
// since that window is this project's own code, not the machine.
func (rep *report) peerScale() (scale, tcpRaw float64) {
	i := slices.IndexFunc(rep.scenarios, func(s scenarioResult) bool { return s.sc.key == "tcp-raw" })
	if i < 0 {
		return 0, 0
	}
	s := rep.scenarios[i]
	tcpRaw = s.linesPerSec(s.median())
	return tcpRaw / peerWindowTCPRawLinesPerSec, tcpRaw
}

// writePeerScale says how the Fluent Bit figures are scaled to this run,
// and with telegraf that Telegraf's is not; it returns the scale (see
// peerScale).
func (rep *report) writePeerScale(b *strings.Builder, telegraf bool) float64 {
	scale, tcpRaw := rep.peerScale()
	if scale == 0 {
		fmt.Fprintf(b, "Without a tcp→file (raw) run, the Fluent Bit figures are not scaled to this run: the ratios to them\n"+
			"compare with a machine that may have run slower or faster than now.\n\n")
		return 0
	}
	fmt.Fprintf(b, "The Fluent Bit figures come from one side-by-side window in which this project's tcp→file (raw) ran\n"+
		"%s lines/s; in this run it ran %s, **×%.2f**. The machine's speed moves (other jobs, another host under\n"+
		"the VM), so each Fluent Bit figure is also given times %.2f, with the ratio to that: an estimate from above of\n"+
		"what Fluent Bit would do on the machine as it is now (part of what tcp→file (raw) gained since that window is\n"+
		"this project's own code), so the scaled ratio is the cautious one.",
		group(peerWindowTCPRawLinesPerSec, 0), group(tcpRaw, 0), scale, scale)
	if telegraf {
		fmt.Fprintf(b, " The Telegraf figure's window was not recorded: it is not scaled.")
	}
	fmt.Fprintf(b, "\n\n")
	return scale
}

type report struct {
	opts      options
	started   time.Time
	elapsed   time.Duration
	machine   machine
	scenarios []scenarioResult
	reload    *reloadResult // nil when not run
	// configReload is the config-reload scenario's run; nil when not run.
	configReload *configReloadResult
	crash        *crashResult // nil when not run
	// alertRules and alertMail are the alerting scenarios' runs; nil when
	// not run.
	alertRules *alertRulesResult
	alertMail  *alertMailResult
	eval       *evalResult   // nil when not run
	anomaly    anomalyResult // what of it was run
	// anomalyFirst is the first line of the anomaly scenario's load.
	anomalyFirst string
	goBench      goBench
	// sandboxBench is the sandbox's go test run, which the Lua section reports.
	sandboxBench goBench
	firstLine    string // of the generated load
}

func (rep *report) markdown() string {
	var b strings.Builder
	m := rep.machine
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("# Benchmark results\n\n")
	w("Measured on %s by `make bench` (`go run ./bench/cmd/benchrun -out %s -runs %d -lines %d`), which took %s.\n",
		rep.started.UTC().Format("2006-01-02 15:04 MST"), rep.opts.out, rep.opts.runs, rep.opts.lines, rep.elapsed.Round(time.Second))
	w("What each scenario does and how to read the figures: [README.md](README.md). ")
	w("These figures are measured, not asserted: nothing fails when they move.\n\n")

	w("## Machine\n\n")
	w("| | |\n|---|---|\n")
	w("| CPU | %s |\n", m.cpuModel)
	w("| cores (`nproc`) | **%s** |\n", m.nproc)
	w("| memory | %s |\n", m.memTotal)
	w("| kernel | %s |\n", m.kernel)
	w("| Go | %s |\n", m.goVersion)
	w("| binary | `%s` (`version`: %s; tree: %s) |\n", rep.opts.bin, m.binVersion, m.gitRev)
	switch m.binPGO {
	case "":
		w("| profile-guided optimization | none: built without a profile (`-pgo=off`) |\n")
	case "?":
		w("| profile-guided optimization | unknown: the binary's `version -json` does not say |\n")
	default:
		w("| profile-guided optimization | built with `%s` (`cmd/interoceptor/default.pgo`, `make pgo`'s) |\n", m.binPGO)
	}
	w("| run files | %s, a fresh directory per run |\n", m.tempDir)
	w("| load average before (1, 5, 15 min) | %s; %.0f%% of the CPUs idle in the second before the first run |\n", m.loadBefore, m.idleBefore)
	w("| load average after | %s |\n\n", m.loadAfter)
	w("**This machine has %s cores**, and the load generator (benchrun: the TCP client or the stdin writer, and the\n", m.nproc)
	w("poller that watches the output file) runs on the same cores as the pipeline. Other jobs may run on the machine\n")
	w("too: the \"other CPU s\" column of [every run](#every-run) shows how much CPU the rest of the machine used\n")
	w("during each run. **\"Per core\"** below means throughput divided by the CPU seconds the interoceptor process\n")
	w("actually used (user + sys, whole process life, from `getrusage`): lines per CPU-second. It is not lines/s\n")
	w("divided by the number of cores.\n\n")

	rep.writeE2E(&b)
	rep.writeProfiles(&b)
	rep.writeTail(&b)
	rep.writeCrash(&b)
	rep.writeInfluxDB(&b)
	rep.writeLua(&b)
	rep.writeConfigReload(&b)
	rep.writeAnomaly(&b)
	rep.writeAlerts(&b)
	rep.writeEval(&b)
	rep.writeDecoders(&b)
	rep.writeGoBench(&b)
	return b.String()
}

func (rep *report) writeE2E(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## End to end\n\n")
	if len(rep.scenarios) == 0 {
		w("Not run.\n\n")
		return
	}
	sr := rep.scenarios[0]
	w("Each scenario sends N = %s lines of InfluxDB line protocol, 100 bytes + newline each (%s bytes), through\n",
		group(float64(sr.lines), 0), group(float64(sr.bytes), 0))
	w("the real binary and the embedded NATS server; runs per scenario: %d, in rounds (run 1 of every scenario, then run 2, ...).\n", rep.opts.runs)
	w("The table shows the **median run** by throughput\n")
	w("(for an even count, the slower of the two middle ones), with the min–max throughput of all runs. MB/s is\n")
	w("10^6 bytes of input per second; RSS is the peak resident set of the interoceptor process alone (`getrusage`\n")
	w("maxrss, taken through a small wrapper: see the README). The first line sent:\n\n")
	w("```\n%s\n```\n\n", rep.firstLine)
	w("| scenario | lines/s | min – max lines/s | MB/s | CPU s | CPU s per 1M lines | lines per CPU-second | peak RSS MiB | startup ms |\n")
	w("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range rep.scenarios {
		r := s.median()
		runs := s.byThroughput()
		lo, hi := runs[0], runs[len(runs)-1]
		w("| %s | **%s** | %s – %s | %.1f | %.2f | %.2f | %s | %.1f | %.0f |\n",
			s.sc.title, group(s.linesPerSec(r), 0), group(s.linesPerSec(lo), 0), group(s.linesPerSec(hi), 0),
			float64(s.bytes)/r.elapsed.Seconds()/1e6, r.cpu().Seconds(),
			r.cpu().Seconds()/(float64(s.lines)/1e6), group(float64(s.lines)/r.cpu().Seconds(), 0),
			float64(r.maxRSS)/(1<<20), ms(r.startup))
	}
	w("\n")
	for _, s := range rep.scenarios {
		w("- **%s**: %s.\n", s.sc.title, s.sc.about)
	}
	for _, s := range rep.scenarios {
		if s.sc.input != "stdin" {
			continue
		}
		r := s.median()
		if net := r.elapsed - r.startup; net > 0 {
			w("- %s with its startup (%.0f ms, process start → \"pipeline running\") taken out: %s lines/s.\n",
				s.sc.title, ms(r.startup), group(float64(s.lines)/net.Seconds(), 0))
		}
	}
	w("- CPU seconds cover the whole life of the process (startup, the run and the drain at exit), so they are a\n")
	w("  little above what the lines alone cost. Startup is also in the TCP runs' CPU, not in their clock.\n\n")

	w("### Against the targets\n\n")
	w("The targets: **≥ %s lines/s tcp→file** with **peak RSS ≤ 40 MB** (read strictly as 40 × 10^6 bytes =\n", group(targetLinesPerSec, 0))
	w("38.1 MiB). They are set for tcp→file; the other file scenarios without a Lua filter are held to them for\n")
	w("reference. The Lua scenarios have their own: see [Lua filters](#lua-filters); the InfluxDB scenario, whose\n")
	w("figures include InfluxDB's own ingest, is compared with Telegraf in [its own section](#into-influxdb).\n\n")
	w("Each scenario is set beside the peer that does **the same work end to end** (one record in, one out; the\n")
	w("same input, parsing or not, the same output), measured by the project on this same machine, not in this\n")
	w("run (neither peer is installed here); no peer, no ratio. The peers' configurations:\n\n")
	for _, p := range peers {
		w("- **%s**: %s\n", p.name, p.config)
	}
	w("\n")
	scale := rep.writePeerScale(b, true)
	w("| scenario | lines/s (median) | the same work in | its lines/s | × it | its lines/s scaled to this run | × it scaled | ≥ 650k lines/s? | peak RSS (median run; worst run) | ≤ 40 MB? |\n")
	w("|---|--:|---|--:|--:|--:|--:|---|--:|---|\n")
	for _, s := range rep.scenarios {
		if s.sc.lua || s.sc.influxdb {
			continue
		}
		r := s.median()
		lps := s.linesPerSec(r)
		worst := slices.MaxFunc(s.runs, func(a, b runResult) int { return cmp.Compare(a.maxRSS, b.maxRSS) })
		peer, peerLPS, ratio, scaledLPS, scaledRatio := "—", "—", "—", "—", "—"
		if p, ok := peerOf(s.sc); ok {
			peer, peerLPS, ratio = p.name, group(p.linesPerSec, 0), fmt.Sprintf("%.2f×", lps/p.linesPerSec)
			if p.window && scale > 0 {
				scaledLPS, scaledRatio = group(p.linesPerSec*scale, 0), fmt.Sprintf("%.2f×", lps/(p.linesPerSec*scale))
			}
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %.1f MB; %.1f MB | %s |\n", s.sc.title, group(lps, 0), peer, peerLPS, ratio,
			scaledLPS, scaledRatio, yesNo(lps >= targetLinesPerSec), float64(r.maxRSS)/1e6, float64(worst.maxRSS)/1e6, yesNo(worst.maxRSS <= targetRSSBytes))
	}
	w("\n")
	for _, s := range rep.scenarios {
		if s.sc.lua || s.sc.influxdb {
			continue
		}
		lps := s.linesPerSec(s.median())
		worst := slices.MaxFunc(s.runs, func(a, b runResult) int { return cmp.Compare(a.maxRSS, b.maxRSS) })
		speed := fmt.Sprintf("**meets** the throughput target (%s ≥ %s lines/s)", group(lps, 0), group(targetLinesPerSec, 0))
		if lps < targetLinesPerSec {
			speed = fmt.Sprintf("does **not** meet the throughput target (%s lines/s, %.0f%% of %s)",
				group(lps, 0), 100*lps/targetLinesPerSec, group(targetLinesPerSec, 0))
		}
		mem := fmt.Sprintf("**meets** the memory target (worst peak RSS %.1f MB ≤ 40 MB)", float64(worst.maxRSS)/1e6)
		if worst.maxRSS > targetRSSBytes {
			mem = fmt.Sprintf("does **not** meet the memory target (worst peak RSS %.1f MB > 40 MB)", float64(worst.maxRSS)/1e6)
		}
		w("- %s %s and %s.", s.sc.title, speed, mem)
		if s.sc.durable {
			verdict := "**meets** it"
			if worst.maxRSS > targetDurableRSSBytes {
				verdict = "does **not** meet it"
			}
			w(" Durable mode's own memory target is peak RSS ≤ 80 MiB (Fluent Bit's filesystem buffering took 76 MiB):\n"+
				"  worst run %.1f MiB, with the defaults: it %s.", float64(worst.maxRSS)/(1<<20), verdict)
		}
		w("\n")
	}
	w("\n")

	w("### Every run\n\n")
	w("\"benchrun CPU s\" is the load generator's own CPU during the run; \"other CPU s\" is what the rest of the\n")
	w("machine used (all CPUs busy time from /proc/stat, minus interoceptor and benchrun): well above zero means\n")
	w("another job competed for the cores. \"drain ms\" is SIGTERM → exit (the stdin runs end by themselves).")
	if slices.ContainsFunc(rep.scenarios, func(s scenarioResult) bool { return s.sc.influxdb }) {
		w(" For the\nInfluxDB scenario both CPU columns cover InfluxDB's whole life (its start, the run, the check queries, its\n")
		w("stop), and \"other\" leaves influxd's CPU out as well.")
	}
	w("\n\n")
	w("| scenario | run | clock s | lines/s | user s | sys s | peak RSS MiB | startup ms | drain ms | benchrun CPU s | other CPU s |\n")
	w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range rep.scenarios {
		for i, r := range s.runs {
			w("| %s | %d | %.3f | %s | %.2f | %.2f | %.1f | %.0f | %.0f | %.2f | %.2f |\n", s.sc.title, i+1,
				r.elapsed.Seconds(), group(s.linesPerSec(r), 0), r.user.Seconds(), r.sys.Seconds(),
				float64(r.maxRSS)/(1<<20), ms(r.startup), ms(r.drain), r.selfCPU.Seconds(), r.otherCPU.Seconds())
		}
	}
	w("\nEvery run was checked: the output file holds exactly the N lines sent, byte for byte and in order (the\n")
	w("generated lines are canonical line protocol, so the influx round trip gives back the same bytes), and the\n")
	w("input's and the output's \"stopped\" records show in = out = N, dropped = 0, errors = 0.")
	if slices.ContainsFunc(rep.scenarios, func(s scenarioResult) bool { return s.sc.lua }) {
		w(" The Lua scenario is\nchecked in its own way: see [Lua filters](#lua-filters).")
	}
	if slices.ContainsFunc(rep.scenarios, func(s scenarioResult) bool { return s.sc.influxdb }) {
		w(" The InfluxDB scenario is\nchecked against what InfluxDB holds: see [its section](#into-influxdb).")
	}
	w("\n\n")
}

func (s scenarioResult) linesPerSec(r runResult) float64 {
	return float64(s.lines) / r.elapsed.Seconds()
}

func (rep *report) writeGoBench(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Go micro-benchmarks\n\n")
	g := rep.goBench
	if rep.opts.skipGo {
		w("Skipped (`-skip-go`).\n")
		return
	}
	w("`go %s` (%s). One goroutine per benchmark unless it says otherwise; the `-%d` suffix go test adds\n",
		shellJoin(g.args), g.elapsed.Round(time.Second), procsOf(g.results))
	w("(GOMAXPROCS) is left out of the names.\n\n")
	if g.err != nil {
		w("**go test failed: %v.** The tables hold what it printed before failing; the raw output is below.\n\n", g.err)
	}

	var codec, pipelineOther, matcher, decoders, detector, rules []benchResult
	for _, r := range g.results {
		switch p := shortPkg(r.pkg); {
		case p == "pipeline" && strings.HasPrefix(r.name, "Codec/") && strings.Count(r.name, "/") == 3:
			codec = append(codec, r)
		case p == "pipeline":
			pipelineOther = append(pipelineOther, r)
		case p == "pipeline/matcher":
			matcher = append(matcher, r)
		case strings.HasPrefix(p, "decoders/"):
			decoders = append(decoders, r)
		case p == "sandbox/modules/anomaly":
			detector = append(detector, r)
		case p == "filters/alert":
			rules = append(rules, r)
		default:
			pipelineOther = append(pipelineOther, r)
		}
	}

	if len(codec) > 0 {
		w("### The NATS message codec: ours (`binary`) against encoding/json and encoding/gob\n\n")
		w("`Codec/<message>/<codec>/<op>`; \"× binary\" is ns/op relative to our codec doing the same thing;\n")
		w("B/msg is the encoded size of one message.\n\n")
		w("| message | codec | op | ns/op | × binary | B/msg | B/op | allocs/op |\n|---|---|---|--:|--:|--:|--:|--:|\n")
		ours := map[string]float64{}
		size := map[string]benchResult{} // message/codec → the row that reports B/msg
		for _, r := range codec {
			p := strings.Split(r.name, "/")
			if p[2] == "binary" {
				ours[p[1]+"/"+p[3]] = r.metrics["ns/op"]
			}
			if _, ok := r.metrics["B/msg"]; ok {
				size[p[1]+"/"+p[2]] = r
			}
		}
		for _, r := range codec {
			p := strings.Split(r.name, "/")
			rel := "–"
			if base := ours[p[1]+"/"+p[3]]; base > 0 {
				rel = fmt.Sprintf("%.1f×", r.metrics["ns/op"]/base)
			}
			w("| %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], p[3], metric(r, "ns/op"), rel,
				metric(size[p[1]+"/"+p[2]], "B/msg"), metric(r, "B/op"), metric(r, "allocs/op"))
		}
		w("\n")
	}
	if len(pipelineOther) > 0 {
		w("### pipeline and pipeline/wire: JSON form, line protocol, line reading and output formatting\n\n")
		benchTable(b, pipelineOther)
	}
	if len(matcher) > 0 {
		w("### pipeline/matcher: message matchers\n\n")
		benchTable(b, matcher)
	}
	if len(detector) > 0 {
		w("### sandbox/modules/anomaly: the detector\n\n")
		w("`Add`: one point into one detector (Gaussian noise). `SetProcess`: one metric message into a set of\n")
		w("10,000 series (a detector per series, the series found from the message's tags), as `set:process()` does\n")
		w("in Go; `bytes/series` is the set's own size estimate per series. Neither includes the Lua call around it:\n")
		w("see [Anomaly detection](#anomaly-detection) for the filter in the pipeline.\n\n")
		benchTable(b, detector)
	}
	if len(rules) > 0 {
		w("### filters/alert: rules\n\n")
		w("`Rules1000x100k`: %s threshold rules, one per measurement, over %s series (%d hosts × %s measurements);\n",
			group(alertMeasurements, 0), group(alertSeries, 0), alertHosts, group(alertMeasurements, 0))
		w("each point, already decoded, goes through `Process` on one goroutine, so points/s is one core's. 1 point in\n")
		w("1,000 crosses its rule's threshold. See [Alerting](#alerting) for the filter in the pipeline.\n\n")
		benchTable(b, rules)
	}
	if len(decoders) > 0 {
		w("### decoders\n\n")
		w("In [their own section](#decoders), with lines/s per core and what each line is.\n\n")
	}
	w("<details><summary>Raw output of go test</summary>\n\n```\n%s\n```\n\n</details>\n", strings.TrimRight(g.raw, "\n"))
}

// benchTable writes a table whose columns are the units the rows use.
func benchTable(b *strings.Builder, rows []benchResult) {
	order := []string{"ns/op", "MB/s", "B/msg", "B/op", "allocs/op"}
	var cols []string
	for _, u := range order {
		if slices.ContainsFunc(rows, func(r benchResult) bool { _, ok := r.metrics[u]; return ok }) {
			cols = append(cols, u)
		}
	}
	for _, r := range rows {
		for _, u := range r.units {
			if !slices.Contains(cols, u) {
				cols = append(cols, u)
			}
		}
	}
	multiPkg := slices.ContainsFunc(rows, func(r benchResult) bool { return r.pkg != rows[0].pkg })
	b.WriteString("| benchmark |")
	align := "|---|"
	for _, c := range cols {
		b.WriteString(" " + c + " |")
		align += "--:|"
	}
	b.WriteString("\n" + align + "\n")
	for _, r := range rows {
		name := r.name
		if multiPkg {
			name = shortPkg(r.pkg) + " " + name
		}
		b.WriteString("| " + name + " |")
		for _, c := range cols {
			b.WriteString(" " + metric(r, c) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func metric(r benchResult, unit string) string {
	v, ok := r.metrics[unit]
	if !ok {
		return "–"
	}
	switch {
	case unit == "ns/op" && v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case unit == "ns/op" && v < 1000:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v == math.Trunc(v) || v >= 1000:
		return group(v, 0)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

// shellJoin joins args for a command line a reader can paste.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.ContainsAny(a, "^$*?[]{}()|&;<>'\"\\ ") {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

func procsOf(rs []benchResult) int {
	for _, r := range rs {
		if r.procs > 0 {
			return r.procs
		}
	}
	return 0
}

// group formats v with the given decimals and a comma between thousands.
func group(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var out []byte
	for i := range len(intPart) {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, intPart[i])
	}
	s = string(out)
	if neg {
		s = "-" + s
	}
	if frac != "" {
		s += "." + frac
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func yesNo(ok bool) string {
	if ok {
		return "**yes**"
	}
	return "**no**"
}
