package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// The tail issue's context: Hindsight's figure for tailing one file. Fluent
// Bit's tcp→file figure (fluentBitLinesPerSec) is the other one it names.
const hindsightTailLinesPerSec = 101_000

// writeTail writes the section on the tail scenarios: the input reading a
// file written before the start, with and without durable mode.
func (rep *report) writeTail(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	var tails []scenarioResult
	for _, s := range rep.scenarios {
		if s.sc.input == "tail" {
			tails = append(tails, s)
		}
	}
	if len(tails) == 0 {
		return
	}
	w("## Tailing a file\n\n")
	w("The project's context: Hindsight reports ≈ %s lines/s tailing one file; Fluent Bit 5.1.1 does ≈ %s lines/s\n",
		group(hindsightTailLinesPerSec, 0), group(fluentBitLinesPerSec, 0))
	w("tcp→file on this machine (a different input, so for scale only).\n\n")
	w("Before each run benchrun writes the N = %s lines (%s bytes, the load of the other scenarios) to a file in\n",
		group(float64(tails[0].lines), 0), group(float64(tails[0].bytes), 0))
	w("the run's temporary directory, so the input finds it complete and in the page cache. The pipeline is\n")
	w("`[[inputs.tail]] files = [that file], from_beginning = true` → subject `%s` → `[[outputs.file]] format = \"payload\"`,\n", subject)
	w("every other key at its default (`poll_interval` 250ms, `checkpoint_interval` 1s, the checkpoint under `data_dir`).\n")
	w("The durable scenario adds `durable = true` to both: the input's batches are stored in a JetStream stream of\n")
	w("the embedded server (its files under `data_dir/jetstream`) and the input waits for each store's ack; the output\n")
	w("reads through a durable consumer and acks a batch once it has written and flushed it.\n\n")
	w("**The clock starts with the process** (the wrapper's time just before it starts interoceptor) and stops when the\n")
	w("output file holds all N × 101 bytes (looked at every %s). The input starts reading as soon as it runs, which can\n", pollEvery)
	w("be before the \"pipeline running\" record, so the startup is inside the clock; it is shown on its own and taken\n")
	w("out below. Then SIGTERM; the drain is not in the clock.\n\n")

	w("| scenario | run | clock s | lines/s | MB/s | CPU s | lines per CPU-second | peak RSS MiB | startup ms | drain ms | JetStream store MB |\n")
	w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range tails {
		for i, r := range s.runs {
			store := "–"
			if s.sc.durable {
				store = fmt.Sprintf("%.1f", float64(r.storeBytes)/1e6)
			}
			w("| %s | %d | %.3f | %s | %.1f | %.2f | %s | %.1f | %.0f | %.0f | %s |\n", s.sc.title, i+1,
				r.elapsed.Seconds(), group(s.linesPerSec(r), 0), float64(s.bytes)/r.elapsed.Seconds()/1e6,
				r.cpu().Seconds(), group(float64(s.lines)/r.cpu().Seconds(), 0), float64(r.maxRSS)/(1<<20),
				ms(r.startup), ms(r.drain), store)
		}
	}
	w("\n")
	if len(tails[0].runs) > 1 {
		w("The median run of each by throughput (for an even count, the slower middle one):\n\n")
	}
	var plain *scenarioResult
	for i, s := range tails {
		r := s.median()
		lps := s.linesPerSec(r)
		worst := slices.MaxFunc(s.runs, func(a, b runResult) int { return cmp.Compare(a.maxRSS, b.maxRSS) })
		w("- **%s: %s lines/s** (%.1f MB/s), %.2f× Hindsight's %s and %.2f× Fluent Bit's %s tcp→file.\n",
			s.sc.title, group(lps, 0), float64(s.bytes)/r.elapsed.Seconds()/1e6,
			lps/hindsightTailLinesPerSec, group(hindsightTailLinesPerSec, 0), lps/fluentBitLinesPerSec, group(fluentBitLinesPerSec, 0))
		indent := "  "
		if net := r.elapsed - r.startup; net > 0 && r.startup > 0 {
			w("  Without its startup (%.0f ms): %s lines/s.", ms(r.startup), group(float64(s.lines)/net.Seconds(), 0))
			indent = " "
		}
		w(indent+"%.2f CPU s, %s lines per CPU-second;\n  peak RSS %.1f MiB (worst run %.1f MB: %s the 40 MB of the tcp→file target).\n",
			r.cpu().Seconds(), group(float64(s.lines)/r.cpu().Seconds(), 0), float64(r.maxRSS)/(1<<20),
			float64(worst.maxRSS)/1e6, map[bool]string{true: "within", false: "over"}[worst.maxRSS <= targetRSSBytes])
		if !s.sc.durable {
			plain = &tails[i]
			continue
		}
		w("  The stream held %.1f MB once the process had exited, %.0f bytes per line of 101", float64(r.storeBytes)/1e6,
			float64(r.storeBytes)/float64(s.lines))
		if d := slices.MaxFunc(s.runs, func(a, b runResult) int { return cmp.Compare(a.duplicates, b.duplicates) }); d.duplicates > 0 {
			w("; up to %s messages were published or delivered twice in a run (de-duplicated, not written twice)", group(float64(d.duplicates), 0))
		}
		w(".\n")
		if plain == nil {
			continue
		}
		p := plain.median()
		w("  Against the same without durable mode: %.0f%% of its throughput, %.1f× its CPU per line, %+.1f MiB of peak RSS\n",
			100*lps/plain.linesPerSec(p), r.cpu().Seconds()/p.cpu().Seconds(), float64(r.maxRSS-p.maxRSS)/(1<<20))
		w("  (the stream's size, for comparison: %.1f MiB; see the README on where that memory goes).\n", float64(r.storeBytes)/(1<<20))
	}
	w("\nEvery run was checked as the other file scenarios are: the output equals the file, byte for byte and in\n")
	w("order; the input's and the output's \"stopped\" records show in = out = N, dropped = 0, errors = 0; exit code 0.\n\n")
}
