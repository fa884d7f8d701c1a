package main

import (
	"fmt"
	"slices"
	"strings"
)

// writeAnomaly writes the anomaly detector's section: points/s through it
// in the pipeline, and memory per watched series.
func (rep *report) writeAnomaly(b *strings.Builder) {
	a := rep.anomaly
	if len(a.throughput) == 0 && a.many == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Anomaly detection\n\n")
	w("The targets for the shipped detector, [plugins/filters/anomaly.lua](../plugins/filters/anomaly.lua) (the\n")
	w("[anomaly module](../sandbox/modules/anomaly/README.md) in Go, a detector per series): **≥ %s points/s\n", group(targetAnomalyPointsPerSec, 0))
	w("through the detector inside the pipeline** on this %s-core machine, and **≤ %d KiB per watched series**, so\n", rep.machine.nproc, targetSeriesBytes>>10)
	w("that 100,000 series fit in under 1 GiB. Both scenarios run `[[inputs.tcp]] decoder = \"influx\"` →\n")
	w("`[[filters.lua]]` with the script as [its sample](../plugins/filters/anomaly.toml) configures it\n")
	w("(`preserve_data = true`, `ticker_interval = \"60s\"`, the sample's matcher, every detector option at its\n")
	w("default; `field = \"%s\"`, and the series are all a message's tags) → `[[outputs.file]] format = \"json\"`\n", anomalyField)
	w("for the anomalies it injects. See [the README](README.md#anomaly-detection).\n\n")

	w("### Throughput: tcp→anomaly.lua→file\n\n")
	if len(a.throughput) == 0 {
		w("Not run.\n\n")
	} else {
		rep.writeAnomalyThroughput(b, a.throughput)
	}
	w("### Memory per watched series\n\n")
	if a.many == nil {
		w("Not run.\n\n")
	} else {
		writeAnomalyMemory(b, *a.few, *a.many)
	}
}

func (rep *report) writeAnomalyThroughput(b *strings.Builder, runs []anomalyRun) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	r0 := runs[0]
	w("N = %s points of %s hosts (one series each), interleaved: every round each host sends one point, 10 s\n",
		group(float64(r0.points), 0), group(float64(r0.series), 0))
	w("of data time after the last; `memory_limit` %d MiB (the sample's). The first line sent:\n\n", anomalyMemoryLimit>>20)
	w("```\n%s\n```\n\n", rep.anomalyFirst)
	w("A host's `%s` is a level of its own with Gaussian noise of its own; in one host of every %d a spike\n", anomalyField, anomalyEvery)
	w("(+%dσ) is planted at round %d, in another a dip, in a third a lasting shift of +%dσ from round %d, in a\n",
		anomalySpikeSigmas, anomalySpikeRound, anomalyShiftSigmas, anomalyShiftRound)
	w("fourth a flat line of %d points from round %d. The clock runs from the first write until `GET /api/plugins`\n",
		anomalyFlatRounds, anomalyFlatRound)
	w("(read every %d ms) shows the filter's `in` = N: the runtime counts a message just before the filter\n", anomalyPollEvery.Milliseconds())
	w("takes it. **points/s** = N / clock: the whole pipeline (reading, decoding, NATS, the matcher, the filter,\n")
	w("the output) with the load generator on the same cores. \"per CPU-second\" divides N by the CPU of the whole\n")
	w("interoceptor process instead. **The filter's own** rate is N / `process_seconds` of `%s`: the\n", anomalyPlugin)
	w("wall time the runtime measured around the batches it handed the filter (the matcher, `process_message` with\n")
	w("`set:process()`, publishing the injects), one core's work.\n\n")

	w("| run | clock s | points/s | CPU s | points per CPU-second | peak RSS MiB | filter s | filter points/s (one core) | filter busy | other CPU s |\n")
	w("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for k, r := range runs {
		w("| %d | %.3f | %s | %.2f | %s | %.1f | %.3f | %s | %.0f%% | %.2f |\n", k+1, r.elapsed.Seconds(), group(r.pointsPerSec(), 0),
			r.cpu().Seconds(), group(float64(r.points)/r.cpu().Seconds(), 0), float64(r.maxRSS)/(1<<20),
			r.filter.ProcessSeconds, group(r.filter.msgsPerSec(), 0), 100*r.filter.ProcessSeconds/r.elapsed.Seconds(), r.otherCPU.Seconds())
	}
	w("\n")

	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(x, y anomalyRun) int { return int(y.elapsed - x.elapsed) }) // slowest first
	med := sorted[(len(sorted)-1)/2]
	rates := make([]float64, 0, len(runs))
	for _, r := range runs {
		rates = append(rates, r.filter.msgsPerSec())
	}
	slices.Sort(rates)
	own := rates[(len(rates)-1)/2]
	if len(runs) > 1 {
		w("Medians over the %d runs (for an even count, the slower middle one):\n\n", len(runs))
	}
	pps := med.pointsPerSec()
	verdict := "**meets**"
	if pps < targetAnomalyPointsPerSec {
		verdict = "does **not** meet"
	}
	w("- **%s points/s through the detector in the pipeline.** It %s the target of ≥ %s points/s (%.0f%% of it);\n",
		group(pps, 0), verdict, group(targetAnomalyPointsPerSec, 0), 100*pps/targetAnomalyPointsPerSec)
	w("  range over the runs: %s – %s points/s.\n", group(sorted[0].pointsPerSec(), 0), group(sorted[len(sorted)-1].pointsPerSec(), 0))
	w("- Per CPU-second of the whole process: %s points (%.2f CPU s for %s points). The filter's own rate: %s\n",
		group(float64(med.points)/med.cpu().Seconds(), 0), med.cpu().Seconds(), group(float64(med.points), 0), group(own, 0))
	w("  points/s on one core (range %s – %s); it was busy %.0f%% of the median run's clock, ",
		group(rates[0], 0), group(rates[len(rates)-1], 0), 100*med.filter.ProcessSeconds/med.elapsed.Seconds())
	if med.filter.ProcessSeconds/med.elapsed.Seconds() < 0.8 {
		w("so the rest of the\n  pipeline, sharing the %s cores with it, sets the rate as much as the filter does.\n", rep.machine.nproc)
	} else {
		w("so the filter is what limits\n  the rate.\n")
	}
	if ns, ok := rep.anomalyBench("SetProcess", "ns/op"); ok {
		w("- In the [micro-benchmarks](#sandboxmodulesanomaly-the-detector), `set:process()`'s Go side alone (`Set.Process`,\n")
		w("  10,000 series) takes %.0f ns a point: %s points/s on one core.\n", ns, group(1e9/ns, 0))
	}
	kinds := make([]string, 0, len(med.byKind))
	for k := range med.byKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", med.byKind[k], k))
	}
	w("- The output: %d anomalies (%s). %d of the %d anomalies planted within the load are among them; %d\n",
		med.events, strings.Join(parts, ", "), med.found, med.planted, med.quietEvents)
	w("  are on the %s points of the hosts with nothing planted (%.2f per 1,000 points) and %d more on the\n",
		group(float64(med.quietPoints), 0), 1000*float64(med.quietEvents)/float64(max(med.quietPoints, 1)),
		med.events-med.found-med.quietEvents)
	w("  planted hosts (such as the new high where a shift begins, before the shift itself is reported). How well\n")
	w("  the detector scores is `make eval`'s business; here they show that the filter reports what its\n")
	w("  detectors find.\n")
	w("\nEvery run was checked: the input's \"stopped\" record shows in = N, the filter's in = N and out = the number\n")
	w("of anomalies, the output's in = out = that number, all with dropped = 0 and errors = 0; the output holds\n")
	w("exactly the anomalies that a detector per series with the default options (`anomaly.New`, in benchrun) finds\n")
	w("in the same points, in order, each well formed: Type `anomaly`, the time of the point (a level shift: where it\n")
	w("began), the series' tags with `series` and `field`, kind, score in [0.9, 1], value, levels before and after,\n")
	w("difference, percent, direction, `change_time` for level shifts, a summary and a payload naming the series.\n\n")
}

func writeAnomalyMemory(b *strings.Builder, few, many anomalyRun) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("Two runs of the same pipeline with `max_series = %s` and `memory_limit` 1 GiB (the most `filters.lua`\n", group(memoryManySeries, 0))
	w("accepts, so that the limit is not what is measured): %s distinct series of %d points each, then %d series of\n",
		group(float64(many.series), 0), many.points/many.series, few.series)
	w("%s points each, the same %s points (the same load of the same shape as above: one host per series,\n",
		group(float64(few.points/few.series), 0), group(float64(many.points), 0))
	w("interleaved). Once the filter has taken every point, and before SIGTERM, benchrun reads the filter's\n")
	w("`lua_memory_bytes` gauge (the sandbox's own estimate of the script's memory, which the memory limit is checked\n")
	w("against, the detectors' `SizeBytes` included) from `/api/plugins`, `go_memstats_heap_inuse_bytes` from\n")
	w("`/metrics`, and VmRSS and VmHWM (the resident set now, and its peak so far) from `/proc/PID/status`. \"peak\n")
	w("RSS, whole life\" is `ru_maxrss`, which includes the drain, where `preserve_data` saves every detector.\n\n")
	w("| series | points | points/s | Lua estimate MiB | Go heap in use MiB | VmRSS MiB | VmHWM MiB | peak RSS, whole life MiB | drain ms |\n")
	w("|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range []anomalyRun{few, many} {
		w("| %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f |\n", group(float64(r.series), 0), group(float64(r.points), 0),
			group(r.pointsPerSec(), 0), r.luaMemory/(1<<20), r.heapInuse/(1<<20), float64(r.vmRSS)/(1<<20),
			float64(r.vmHWM)/(1<<20), float64(r.maxRSS)/(1<<20), ms(r.drain))
	}
	d := float64(many.series - few.series)
	per := func(x, y float64) float64 { return (x - y) / d }
	estimate := per(many.luaMemory, few.luaMemory)
	hwm := per(float64(many.vmHWM), float64(few.vmHWM))
	w("\nPer series, the difference between the two runs divided by the %s series more:\n\n", group(d, 0))
	w("| | bytes per series |\n|---|--:|\n")
	w("| the sandbox's estimate (`lua_memory_bytes`) | %s |\n", group(estimate, 0))
	w("| the same, %s series' estimate / %s (no difference taken) | %s |\n", group(float64(many.series), 0),
		group(float64(many.series), 0), group(many.luaMemory/float64(many.series), 0))
	w("| Go heap in use | %s |\n", group(per(many.heapInuse, few.heapInuse), 0))
	w("| VmRSS | %s |\n", group(per(float64(many.vmRSS), float64(few.vmRSS)), 0))
	w("| **VmHWM** (the peak resident set before the drain) | **%s** |\n", group(hwm, 0))
	w("| peak RSS, whole life (the drain's `preserve_data` included) | %s |\n\n", group(per(float64(many.maxRSS), float64(few.maxRSS)), 0))
	worst := max(estimate, hwm)
	verdict := "**meets**"
	if worst > targetSeriesBytes {
		verdict = "does **not** meet"
	}
	w("- **%.2f KiB of resident memory per series** (VmHWM), %.2f KiB by the sandbox's estimate: this %s the target\n",
		hwm/1024, estimate/1024, verdict)
	w("  of ≤ %d KiB per series. The %s-series process peaked at %.0f MiB before the drain and %.0f MiB over its whole\n",
		targetSeriesBytes>>10, group(float64(many.series), 0), float64(many.vmHWM)/(1<<20), float64(many.maxRSS)/(1<<20))
	w("  life, against 1 GiB.\n")
	w("- The estimate counts what the script holds as the Go runtime lays it out; the resident set adds the Go\n")
	w("  collector's headroom (garbage not yet collected: with GOGC 100 the heap may grow to about twice what is\n")
	w("  live before a collection) and the runtime's own structures, so it is the figure to plan memory with.\n")
	w("\nBoth runs were checked as the throughput runs are (every point taken, dropped = errors = 0, the output exactly\n")
	w("the anomalies a detector per series finds, well formed); the series count is below `max_series`, so no point was\n")
	w("ignored.\n\n")
}

// anomalyBench returns a metric of one of sandbox/modules/anomaly's benchmarks.
func (rep *report) anomalyBench(name, unit string) (float64, bool) {
	for _, r := range rep.goBench.results {
		if shortPkg(r.pkg) == "sandbox/modules/anomaly" && r.name == name {
			v, ok := r.metrics[unit]
			return v, ok
		}
	}
	return 0, false
}
