package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// writeConfigReload writes the section of the config-reload scenario.
func (rep *report) writeConfigReload(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Config reload\n\n")
	r := rep.configReload
	if r == nil {
		w("Not run.\n\n")
		return
	}
	w("The whole TOML config reloaded in place ([pipeline/reload.go](../pipeline/reload.go)) while messages flow. One\n")
	w("process: `[[inputs.generator]] rate = %d` → `[[filters.lua]]` (`preserve_data = true`, a `[filters.lua.config]`\n", crRate)
	w("table with a `tag`) → `[[outputs.file]] name = \"base\"`, `admin_addr = \"127.0.0.1:0\"`. The script passes every\n")
	w("message on, its payload prefixed with the tag:\n\n")
	w("```lua\n%s```\n\n", strings.TrimPrefix(crScript, "-- written by bench/cmd/benchrun for the config-reload scenario\n"))
	w("**This machine has %s cores**, shared by everything here: the generator runs inside the pipeline process, and\n", rep.machine.nproc)
	w("benchrun polls the output files (every %s) and sends the reloads on the same cores. The process used %.2f CPU s\n",
		pollEvery, (r.user + r.sys).Seconds())
	w("in the %.1f s of the run (peak RSS %.1f MiB).\n\n", r.elapsed.Seconds(), float64(r.maxRSS)/(1<<20))

	w("### Latency: SIGHUP → the new pipeline live\n\n")
	w("%d times: benchrun rewrites the config (a temporary file renamed over it, as editors do) with a new\n", crSignals)
	w("`[[outputs.file]] name = \"new-i\"` in place of `new-(i-1)` and a new `tag`, and sends SIGHUP to the interoceptor\n")
	w("process. **Live** is from just before the signal until the first line is in new-i's file (polled every %s, which\n", pollEvery)
	w("bounds its error). **took** is the runtime's own figure, in its `config reloaded` record: loading and checking the\n")
	w("files, building the new and changed plugins, and applying the difference (the Lua filter takes its new table in\n")
	w("place; new-i is added and new-(i-1) drained and removed). %s between two reloads, once both were seen.\n\n", crPause)
	var live, took []time.Duration
	for _, s := range r.signals {
		live, took = append(live, s.live), append(took, s.took)
	}
	w("| %d reloads | min ms | median ms | p90 ms | max ms |\n|---|--:|--:|--:|--:|\n", len(r.signals))
	statsRow(b, "SIGHUP → first line in the new output (live)", live)
	statsRow(b, "the runtime's `took`", took)
	w("\nThe median is, for an even count, the slower middle value; p90 is the nearest rank.\n\n")

	w("### Memory after %s reloads\n\n", group(crPosts, 0))
	w("Next, in the same process, two configs alternate %s times through `POST /api/reload`, each request waited\n", group(crPosts, 0))
	w("for and checked (200, every plugin OK). They differ in an added or removed output (`spare`), the path of another\n")
	w("(`moving`: moving-a.log or moving-b.log) and the Lua filter's `tag`. The reloads' actions, counted over all of\n")
	w("them: %s.\n\n", actionCounts(r.actions))
	w("| %d reloads | min ms | median ms | p90 ms | max ms |\n|---|--:|--:|--:|--:|\n", len(r.posts))
	statsRow(b, "`POST /api/reload` round trip", r.posts)
	statsRow(b, "the runtime's `took`", r.postTook)
	slow := func(ds []time.Duration) int {
		return len(slices.DeleteFunc(slices.Clone(ds), func(d time.Duration) bool { return d < 100*time.Millisecond }))
	}
	if n, m := slow(took), slow(r.postTook); n+m > 0 {
		w("\n%d of the %d SIGHUP reloads and %d of the %s POST ones took 100 ms or more. A reload waits for what a\n",
			n, len(took), m, group(float64(len(r.postTook)), 0))
		w("removed or replaced plugin was sent to be handled (`drainSubs`, pipeline/reload.go): a backlog behind a\n")
		w("filter or output that goes, on cores the generator and benchrun share, makes that reload longer.\n")
	}
	w("\n`/metrics` is read after the reloads below (0: before the first, after the %d SIGHUP reloads; the others\n", crSignals)
	w("after an even count, so with the same config), %d times %s apart, and the least of each value kept (so\n", crSampleReads, 50*time.Millisecond)
	w("that the scrape's own goroutine or a batch in flight does not look like a leak).\n\n")
	w("| reloads | RSS MiB | Go heap in use MiB | goroutines | open fds |\n|--:|--:|--:|--:|--:|\n")
	for _, s := range r.samples {
		v := s.values
		w("| %s | %.1f | %.1f | %.0f | %.0f |\n", group(float64(s.reloads), 0), v["process_resident_memory_bytes"]/(1<<20),
			v["go_memstats_heap_inuse_bytes"]/(1<<20), v["go_goroutines"], v["process_open_fds"])
	}
	if len(r.samples) >= 2 {
		writeGrowth(b, r.samples[1], r.samples[len(r.samples)-1])
	}
	w("Checked at the end: SIGTERM, exit code 0; one `config reloaded` record per reload (%s) and no `reload refused`;\n",
		group(float64(crSignals+crPosts), 0))
	w("the generator sent %s messages, the filter took and passed on every one, and base's `stopped` record shows\n", group(float64(r.generated), 0))
	w("out = %s with dropped = 0 and errors = 0, as many as the lines in its file (%s): nothing lost or doubled across the\n",
		group(float64(r.generated), 0), group(float64(r.baseLines), 0))
	w("%s reloads.\n\n", group(float64(crSignals+crPosts), 0))
}

func statsRow(b *strings.Builder, what string, ds []time.Duration) {
	lo, med, p90, hi := durationStats(ds)
	fmt.Fprintf(b, "| %s | %.1f | %.1f | %.1f | %.1f |\n", what, ms(lo), ms(med), ms(p90), ms(hi))
}

// writeGrowth says what grew from one checkpoint to another: goroutines
// and fds (the leak check), the Go heap in use and RSS, each judged alone.
func writeGrowth(b *strings.Builder, from, to metricsSample) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	d := func(name string) float64 { return to.values[name] - from.values[name] }
	pct := func(name string) float64 { return 100 * d(name) / from.values[name] }
	w("\nFrom %s to %s reloads (the run fails if goroutines or open fds grow by more than %d between these two):\n\n",
		group(float64(from.reloads), 0), group(float64(to.reloads), 0), crLeakMargin)
	if d("go_goroutines") <= 0 && d("process_open_fds") <= 0 {
		w("- goroutines %+.0f, open fds %+.0f: **no goroutine or file descriptor is left behind**;\n", d("go_goroutines"), d("process_open_fds"))
	} else {
		w("- goroutines %+.0f, open fds %+.0f: **they grew** (within the margin);\n", d("go_goroutines"), d("process_open_fds"))
	}
	heap := "within ±10%: **the heap does not grow**"
	if pct("go_memstats_heap_inuse_bytes") > 10 {
		heap = "**the heap grew**"
	}
	w("- Go heap in use %+.1f MiB (%+.0f%%), %s;\n", d("go_memstats_heap_inuse_bytes")/(1<<20), pct("go_memstats_heap_inuse_bytes"), heap)
	rss := "within ±10%"
	if pct("process_resident_memory_bytes") > 10 {
		rss = "**more than 10%**"
	}
	w("- RSS %+.1f MiB (%+.1f%%, %s). RSS also counts what the Go runtime keeps of freed memory until its\n",
		d("process_resident_memory_bytes")/(1<<20), pct("process_resident_memory_bytes"), rss)
	w("  scavenger returns it, and goroutine stacks; the heap in use is the figure a leak of Go objects would move.\n\n")
}

// actionCounts lists the actions in the order of ReloadResult's doc, then
// any other.
func actionCounts(actions map[string]int) string {
	order := []string{pipeline.ActionAdded, pipeline.ActionRemoved, pipeline.ActionReplaced,
		pipeline.ActionReconfigured, pipeline.ActionReloaded, pipeline.ActionUnchanged}
	for _, a := range slices.Sorted(maps.Keys(actions)) {
		if !slices.Contains(order, a) {
			order = append(order, a)
		}
	}
	var parts []string
	for _, a := range order {
		if n := actions[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", a, group(float64(n), 0)))
		}
	}
	return strings.Join(parts, ", ")
}
