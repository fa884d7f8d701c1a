package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// writeLua writes the Lua section: the filter's throughput end to end, the
// sandbox's micro-benchmarks and the reload latency.
func (rep *report) writeLua(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	i := slices.IndexFunc(rep.scenarios, func(s scenarioResult) bool { return s.sc.lua && s.sc.luaCase == nil })
	cases := slices.ContainsFunc(rep.scenarios, func(s scenarioResult) bool { return s.sc.luaCase != nil })
	if i < 0 && !cases && rep.reload == nil && rep.opts.skipGo {
		return
	}
	w("## Lua filters\n\n")
	w("The peer: Fluent Bit 5.1's LuaJIT filter adding a field to every raw line, tcp → file, ≈ %s lines/s on this\n",
		group(fluentBitLuaRecordsPerSec, 0))
	w("machine (a side-by-side run); only the one-for-one scenarios below do that work. The targets:\n")
	w("**≥ %s messages/s per core** through a Lua filter, **≤ %d KiB per idle sandbox** (Heka's took %d KiB), and\n",
		group(targetLuaMsgsPerSec, 0), targetIdleSandboxBytes>>10, hekaIdleSandboxBytes>>10)
	w("**a reload in ≤ %g s**.\n\n", reloadTarget.Seconds())

	if cases {
		rep.writeLuaCases(b)
	}
	w("### Throughput: tcp→lua→file, one inject per 100 messages\n\n")
	if i < 0 {
		w("Not run.\n\n")
	} else {
		rep.writeLuaThroughput(b, rep.scenarios[i])
	}
	w("### An idle sandbox, and one call of process_message\n\n")
	rep.writeSandboxBench(b)
	w("### Reload latency\n\n")
	if rep.reload == nil {
		w("Not run.\n\n")
	} else {
		writeReload(b, *rep.reload)
	}
}

func (rep *report) writeLuaThroughput(b *strings.Builder, s scenarioResult) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("`[[inputs.tcp]]` (`decoder = \"influx\"`) → `[[filters.lua]]` → `[[outputs.file]]` (`format = \"influx\"`) on the\n")
	w("filter's publish subject. The N = %s lines of the other scenarios go over one TCP connection; the script reads\n", group(float64(s.lines), 0))
	w("two fields of each message (`Fields[user]`, a float, and `Fields[host]`, a tag), adds up the first and injects one\n")
	w("metric per %d messages:\n\n```lua\n%s```\n\n", luaEvery, strings.TrimPrefix(luaScript, "-- written by bench/cmd/benchrun for the lua scenario\n"))
	w("The clock runs from the first write until the output file holds N/%d = %s lines. Two rates:\n\n",
		luaEvery, group(float64(s.lines/luaEvery), 0))
	w("- **end to end**, N / clock: the whole pipeline (reading, decoding, NATS, the filter, the output) on the\n")
	w("  machine's %s cores, with the load generator on them too. \"lines per CPU-second\" divides N by the CPU\n", rep.machine.nproc)
	w("  the whole interoceptor process used instead.\n")
	w("- **the filter's own**, N / the time the filter spent: `process_seconds` of `filters.lua[lua]` from\n")
	w("  `GET /api/plugins`, read once the output is complete and before SIGTERM (so the final `timer_event` of the\n")
	w("  drain is not in it; the \"stopped\" record carries no time). The runtime times each batch it hands the filter:\n")
	w("  the matcher, `process_message` for each message and publishing what it injects, not decoding the batch off\n")
	w("  NATS. The calls are serial, so this is what **one core** does; the time is wall time, so a moment the\n")
	w("  goroutine waited for a CPU counts too, and the rate is if anything low.\n\n")

	w("| run | clock s | lines/s end to end | CPU s | lines per CPU-second | peak RSS MiB | filter s | filter msgs/s (per core) |\n")
	w("|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for k, r := range s.runs {
		w("| %d | %.3f | %s | %.2f | %s | %.1f | %.3f | %s |\n", k+1, r.elapsed.Seconds(), group(s.linesPerSec(r), 0),
			r.cpu().Seconds(), group(float64(s.lines)/r.cpu().Seconds(), 0), float64(r.maxRSS)/(1<<20),
			r.filter.ProcessSeconds, group(r.filter.msgsPerSec(), 0))
	}
	w("\n")

	med := s.median()
	rates := make([]float64, 0, len(s.runs))
	for _, r := range s.runs {
		rates = append(rates, r.filter.msgsPerSec())
	}
	slices.Sort(rates)
	filterRate := rates[(len(rates)-1)/2] // for an even count, the slower middle one
	e2e := s.linesPerSec(med)
	worst := slices.MaxFunc(s.runs, func(a, b runResult) int { return cmp.Compare(a.maxRSS, b.maxRSS) })
	if len(s.runs) > 1 {
		w("Medians over the %d runs (for an even count, the slower middle one):\n\n", len(s.runs))
	}
	verdict := "**meets**"
	if filterRate < targetLuaMsgsPerSec {
		verdict = "does **not** meet"
	}
	w("- **The filter's own rate: %s msgs/s on one core.** It %s the target of ≥ %s msgs/s per core (%.0f%% of it;\n",
		group(filterRate, 0), verdict, group(targetLuaMsgsPerSec, 0), 100*filterRate/targetLuaMsgsPerSec)
	w("  no ratio to Fluent Bit: this script injects one message per 100, not one for one). Range over the runs:\n")
	w("  %s – %s msgs/s.\n", group(rates[0], 0), group(rates[len(rates)-1], 0))
	w("- End to end: %s lines/s, %s lines per CPU-second of the whole process; worst\n",
		group(e2e, 0), group(float64(s.lines)/med.cpu().Seconds(), 0))
	w("  peak RSS %.1f MB (%s the 40 MB of the tcp→file target).\n", float64(worst.maxRSS)/1e6,
		map[bool]string{true: "within", false: "over"}[worst.maxRSS <= targetRSSBytes])
	perCPU := float64(s.lines) / med.cpu().Seconds()
	if perCPU < targetLuaMsgsPerSec {
		w("  Read as the whole process per CPU-second, %s is **below** %s: ", group(perCPU, 0), group(targetLuaMsgsPerSec, 0))
	} else {
		w("  Read as the whole process per CPU-second, %s is above %s too: ", group(perCPU, 0), group(targetLuaMsgsPerSec, 0))
	}
	if j := slices.IndexFunc(rep.scenarios, func(o scenarioResult) bool { return o.sc.influx && !o.sc.lua && !o.sc.influxdb }); j >= 0 {
		o := rep.scenarios[j]
		w("the same lines decoded and written back without a\n  filter (%s) take %s lines per CPU-second, so most of that CPU is decoding and carrying the lines.\n",
			o.sc.title, group(float64(o.lines)/o.median().cpu().Seconds(), 0))
	} else {
		w("that CPU includes reading, decoding and carrying the lines.\n")
	}
	busy := med.filter.ProcessSeconds / med.elapsed.Seconds()
	w("- In the median run the filter was busy %.0f%% of the clock: ", 100*busy)
	if busy < 0.8 {
		w("the rest of the time it waited for messages, so the end-to-end\n  rate is set by the whole pipeline sharing the cores, not by the filter alone.\n")
	} else {
		w("it is what limits the end-to-end rate.\n")
	}
	w("\nEvery run was checked: the output holds exactly N/%d lines, each the one the script must write for its %d\n", luaEvery, luaEvery)
	w("messages (host, count and average; all but the timestamp, which is the time of the inject), in order; the\n")
	w("input's \"stopped\" record shows in = N, the filter's in = N and out = N/%d, the output's out = N/%d, all with\n", luaEvery, luaEvery)
	w("dropped = 0 and errors = 0; and `/api/plugins` showed the filter's in = N when its time was read.\n\n")
}

func (rep *report) writeSandboxBench(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	if rep.opts.skipGo {
		w("Skipped (`-skip-go`).\n\n")
		return
	}
	g := rep.sandboxBench
	w("`go %s` (%s), sandbox/bench_test.go:\n\n", shellJoin(g.args), g.elapsed.Round(time.Second))
	w("- `IdleSandbox` creates 100 sandboxes running a small filter (sandbox/testdata/counter.lua) and reports the Go\n")
	w("  heap they hold, per sandbox, after two GCs (`heap-bytes/sandbox`), and the sandbox's own memory estimate for\n")
	w("  one of them (`estimate-bytes/sandbox`, what the memory limit is checked against).\n")
	w("- `ProcessMessage` is one call of a filter of the same shape as the end-to-end one (two `read_message`, a sum,\n")
	w("  one `inject_message` per 100 calls, counted but not sent anywhere), on one goroutine: `msgs/s` is one core.\n\n")
	if g.err != nil {
		w("**go test failed: %v.** The table holds what it printed before failing; the raw output is below.\n\n", g.err)
	}
	if len(g.results) > 0 {
		benchTable(b, g.results)
	}
	for _, r := range g.results {
		if v, ok := r.metrics["heap-bytes/sandbox"]; ok && strings.HasPrefix(r.name, "IdleSandbox") {
			verdict := "**meets**"
			if v > targetIdleSandboxBytes {
				verdict = "does **not** meet"
			}
			w("- **An idle sandbox holds %.1f KiB of heap.** It %s the target of ≤ %d KiB (%.1f× Heka's %d KiB)",
				v/1024, verdict, targetIdleSandboxBytes>>10, v/hekaIdleSandboxBytes, hekaIdleSandboxBytes>>10)
			if e, ok := r.metrics["estimate-bytes/sandbox"]; ok {
				w("; the sandbox's estimate of it: %.1f KiB", e/1024)
			}
			w(".\n")
		}
		if v, ok := r.metrics["msgs/s"]; ok && strings.HasPrefix(r.name, "ProcessMessage") {
			verdict := "above"
			if v < targetLuaMsgsPerSec {
				verdict = "below"
			}
			w("- process_message alone: %s msgs/s on one core (%s ns/op), %s the %s msgs/s target; the end-to-end filter\n",
				group(v, 0), metric(r, "ns/op"), verdict, group(targetLuaMsgsPerSec, 0))
			w("  rate above adds reading a real message's fields, the matcher and publishing.\n")
		}
	}
	w("\n<details><summary>Raw output of go test</summary>\n\n```\n%s\n```\n\n</details>\n\n", strings.TrimRight(g.raw, "\n"))
}

func writeReload(b *strings.Builder, r reloadResult) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("`[[inputs.generator]] rate = %d` → `[[filters.lua]]` (`preserve_data = true`, the default `watch = true`) →\n", reloadRate)
	w("`[[outputs.file]] format = \"json\"`. The script injects one `version` message on the first message each\n")
	w("version handles (`VERSION` is a local, `last_version` a global carried across reloads). Version 1:\n\n")
	w("```lua\n%s```\n\n", strings.TrimPrefix(fmt.Sprintf(reloadScript, 1), "-- written by bench/cmd/benchrun for the reload scenario\n"))
	w("benchrun rewrites the script %d times, at least %d ms apart, as editors do: it writes a temporary file next to it\n", reloadCount, reloadInterval.Milliseconds())
	w("and renames it over the script. **Latency** is from just before the rename to the timestamp of that version's\n")
	w("first message, which the runtime sets when the script injects it. It includes the watcher's 50 ms debounce,\n")
	w("compiling and starting the new version, carrying the data over, and waiting for the next message to reach\n")
	w("the filter (the generator sends one per ms, and a publisher holds a message up to `nats.batch_linger`, 2 ms by\n")
	w("default). \"script reloaded\" is the plugin's log record of the swap. All times are this machine's wall clock.\n\n")
	w("| version | rename → \"script reloaded\" ms | rename → first message ms |\n|--:|--:|--:|\n")
	for _, v := range r.versions {
		rel := "–"
		if !v.reloaded.IsZero() {
			rel = fmt.Sprintf("%.1f", ms(v.reloaded.Sub(v.renamed)))
		}
		w("| %d | %s | %.1f |\n", v.version, rel, ms(v.latency()))
	}
	lat := r.latencies()
	lo, med, hi := lat[0], lat[len(lat)/2], lat[len(lat)-1]
	verdict := "**meets**"
	if hi > reloadTarget {
		verdict = "does **not** meet"
	}
	w("\n**Rename → first message of the new version: min %.1f ms, median %.1f ms, max %.1f ms** (for an even count the\n",
		ms(lo), ms(med), ms(hi))
	w("median is the slower middle one). Judged by the slowest, this %s the target of ≤ %g s.\n\n", verdict, reloadTarget.Seconds())
	w("Checked: each version's message came exactly once and in order (versions 0 … %d), the filter took every\n", reloadCount)
	w("message the generator sent (%s) with dropped = 0 and errors = 0, there was one \"script reloaded\" record per\n", group(float64(r.generated), 0))
	w("rewrite, and the process exited with 0. The process used %.2f CPU s in all and a peak RSS of %.1f MiB.\n\n",
		(r.user + r.sys).Seconds(), float64(r.maxRSS)/(1<<20))
}

// writeLuaCases writes the one-for-one Lua scenarios (lua_cases.go): each
// line in gives one record out, as Fluent Bit's Lua filter does.
func (rep *report) writeLuaCases(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("### One record in, one out\n\n")
	w("Each line sent gives one record in the output, changed by the script, as in Fluent Bit's Lua filter\n")
	w("(Fluent Bit 5.1's LuaJIT filter adding a field to each raw line, tcp → file, ran ≈ %s lines/s on this machine,\n", group(fluentBitLuaRecordsPerSec, 0))
	w("measured side by side with this project). Every run is checked: N lines out, each with the change; every\n")
	w("plugin's \"stopped\" record with out = N, dropped = 0, errors = 0. Medians over the runs; lines per CPU-second\n")
	w("divide N by the CPU of the whole interoceptor process.\n\n")
	scale := rep.writePeerScale(b, false)
	w("| scenario | lines/s | lines per CPU-second | peak RSS MiB (worst run) | filter msgs/s (its own time, one core) |\n")
	w("|---|--:|--:|--:|--:|\n")
	var without *scenarioResult // tcp-influx: lua-metric's pipeline without the filter
	if j := slices.IndexFunc(rep.scenarios, func(o scenarioResult) bool { return o.sc.influx && !o.sc.lua && !o.sc.influxdb }); j >= 0 {
		without = &rep.scenarios[j]
	}
	for _, s := range rep.scenarios {
		if s.sc.luaCase == nil {
			continue
		}
		med := s.median()
		worst := slices.MaxFunc(s.runs, func(a, b runResult) int { return cmp.Compare(a.maxRSS, b.maxRSS) })
		own := "—"
		if !s.sc.luaCase.decoder {
			own = group(med.filter.msgsPerSec(), 0)
		}
		w("| `%s`: %s | %s | %s | %.1f | %s |\n", s.sc.key, s.sc.title, group(s.linesPerSec(med), 0),
			group(float64(s.lines)/med.cpu().Seconds(), 0), float64(worst.maxRSS)/(1<<20), own)
	}
	w("\n")
	for _, s := range rep.scenarios {
		if s.sc.luaCase == nil {
			continue
		}
		lps := s.linesPerSec(s.median())
		w("`%s`: %s.", s.sc.key, s.sc.luaCase.about)
		switch s.sc.key {
		case "lua-raw":
			w(" %.2f× Fluent Bit's %s", lps/fluentBitLuaRecordsPerSec, group(fluentBitLuaRecordsPerSec, 0))
			if scale > 0 {
				w("; **%.2f×** its figure scaled to this run (%s)", lps/(fluentBitLuaRecordsPerSec*scale), group(fluentBitLuaRecordsPerSec*scale, 0))
			}
			w(" (target ≥ 1×, stretch 1.5×).")
		case "lua-metric":
			w(" Target ≥ 300,000 lines/s: %s.", yesNo(lps >= 300_000))
			if without != nil {
				wlps := without.linesPerSec(without.median())
				w(" %.2f× the same pipeline without the filter (`tcp-influx`, %s lines/s, this run; target ≥ 0.6×).", lps/wlps, group(wlps, 0))
				if ratios := pairedRatios(s, *without); len(ratios) > 0 {
					w(" Run by run, each against the `tcp-influx` run of its round (the rounds interleave the scenarios): %s;\n", joinRatios(ratios))
					w("median **%.2f×**.", median(ratios))
				}
				cpu, withoutCPU := s.cpuPerLine(), without.cpuPerLine()
				w(" Per line the process used %.2f µs of CPU, `tcp-influx` %.2f µs: the filter stage (decoding the batch,\n", cpu, withoutCPU)
				w("the script, encoding what it passes on, one more NATS hop) adds %.2f µs. Where both pipelines keep the\n", cpu-withoutCPU)
				w("machine's cores busy, the ratio cannot exceed %.2f / %.2f = %.2f.", withoutCPU, cpu, withoutCPU/cpu)
			}
		}
		w("\n\n```lua\n%s```\n\n", s.sc.luaCase.script)
	}
}

// cpuPerLine is the median run's CPU per line, in µs.
func (s scenarioResult) cpuPerLine() float64 {
	return s.median().cpu().Seconds() * 1e6 / float64(s.lines)
}

// pairedRatios is a's lines/s over b's, run by run: the runs of one round
// of runScenarios were made one after the other. None when the counts
// differ.
func pairedRatios(a, b scenarioResult) []float64 {
	if len(a.runs) != len(b.runs) {
		return nil
	}
	var r []float64
	for i := range a.runs {
		r = append(r, a.linesPerSec(a.runs[i])/b.linesPerSec(b.runs[i]))
	}
	return r
}

func joinRatios(r []float64) string {
	parts := make([]string, len(r))
	for i, x := range r {
		parts[i] = fmt.Sprintf("%.2f×", x)
	}
	return strings.Join(parts, ", ")
}

// median of r; for an even count the lower of the two middle ones, as the
// report's other medians (for a ratio of rates, the cautious one).
func median(r []float64) float64 {
	s := slices.Sorted(slices.Values(r))
	return s[(len(s)-1)/2]
}
