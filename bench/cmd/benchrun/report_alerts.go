package main

import (
	"fmt"
	"strings"
	"time"
)

// writeAlerts writes the section of the alerting scenarios: points/s
// through 1,000 rules, and the time from a crossing point to the mail.
func (rep *report) writeAlerts(b *strings.Builder) {
	if rep.alertRules == nil && rep.alertMail == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Alerting\n\n")
	w("The speed targets: **≥ %s points/s through 1,000 threshold rules over 100k series** on this\n", group(targetAlertPointsPerSec, 0))
	w("%s-core machine, and **a crossing point's mail in mailpit within group_wait + 1 s**. Both run the real binary\n", rep.machine.nproc)
	w("([filters/alert](../filters/alert/README.md) → [outputs.notify](../outputs/notify/README.md)); see\n")
	w("[the README](README.md#alerting).\n\n")
	w("### Throughput: tcp→filters.alert (1,000 rules)→file\n\n")
	if rep.alertRules == nil {
		w("Not run.\n\n")
	} else {
		rep.writeAlertRules(b, *rep.alertRules)
	}
	w("### Latency: a crossing point → its mail in mailpit\n\n")
	if rep.alertMail == nil {
		w("Not run.\n\n")
	} else {
		rep.writeAlertMail(b, *rep.alertMail)
	}
}

func (rep *report) writeAlertRules(b *strings.Builder, res alertRulesResult) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	r0 := res.runs[0]
	w("`go run ./bench/cmd/benchrun -only %s -lines %d -runs %d`: N = %s points (%d × `-lines`) of %s series,\n",
		alertRulesKey, rep.opts.lines, rep.opts.runs, group(float64(r0.points), 0), alertPointsPerLine, group(alertSeries, 0))
	w("%d hosts × %s measurements `m0` … `m%d`, round after round (in a round every host sends its %s\n",
		alertHosts, group(alertMeasurements, 0), alertMeasurements-1, group(alertMeasurements, 0))
	w("measurements, all at the round's timestamp; rounds are %s of data time apart). The first line sent:\n\n", alertPeriod)
	w("```\n%s\n```\n\n", res.first)
	w("One rule per measurement, `R<k>`: `m<k>.value > %d`, `group_by = [\"host\"]`, so each point evaluates the\n", alertThreshold)
	w("one rule that reads its measurement, for its host. Every value is %d except one point per host and round,\n", alertBaseValue)
	w("%d (1 in %s points, as in the Go benchmark): it fires its rule for that host, and the series' next point\n", alertPlantValue, group(alertMeasurements, 0))
	w("resolves it (`for` and `keep_firing_for` 0). So the filter emits %s alerts in this load (%s firing, as many\n",
		group(float64(r0.firing+r0.resolved), 0), group(float64(r0.firing), 0))
	w("resolved; %s of the rules fire at least once), written by `[[outputs.file]] format = \"json\"`.\n", group(float64(res.rules), 0))
	w("`ticker_interval = \"1h\"` so that no tick falls within a run: every alert is said by a point, and the count\n")
	w("is exact.\n\n")
	w("The clock runs from the first write on the TCP connection until `GET /api/plugins` (read every %d ms)\n", anomalyPollEvery.Milliseconds())
	w("shows the filter's `in` = N. **points/s** = N / clock: the whole pipeline (reading, decoding, NATS, the\n")
	w("filter, the output of the alerts), with the load generator on the same cores. **This machine has %s cores**:\n", rep.machine.nproc)
	w("**points per CPU-second** divides N by the CPU (user + sys, whole life, `getrusage`) of the interoceptor\n")
	w("process instead, what one core fully used would do; it is not points/s ÷ %s. **The filter's own** rate is\n", rep.machine.nproc)
	w("N / `process_seconds` of `%s`, the wall time the runtime measured around the batches it handed the\n", alertRulesPlugin)
	w("filter, which runs on one goroutine: one core's work in the rules alone.\n\n")

	w("| run | clock s | points/s | CPU s | points per CPU-second | filter s | filter points/s (one core) | peak RSS MiB | startup ms | drain ms | benchrun CPU s | other CPU s | load average at start |\n")
	w("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for k, r := range res.runs {
		w("| %d | %.3f | %s | %.2f | %s | %.3f | %s | %.1f | %.0f | %.0f | %.2f | %.2f | %s |\n", k+1, r.elapsed.Seconds(),
			group(r.pointsPerSec(), 0), r.cpu().Seconds(), group(float64(r.points)/r.cpu().Seconds(), 0),
			r.filter.ProcessSeconds, group(r.filter.msgsPerSec(), 0), float64(r.maxRSS)/(1<<20), ms(r.startup), ms(r.drain),
			r.selfCPU.Seconds(), r.otherCPU.Seconds(), r.load)
	}
	w("\n\"other CPU s\" is what the rest of the machine used during the run (all CPUs' busy time from /proc/stat,\n")
	w("minus interoceptor and benchrun): well above zero means other jobs competed for the two cores.\n\n")

	med := res.median()
	pps := med.pointsPerSec()
	w("**Against the target** (median run by throughput, for an even count the slower middle one): %s points/s\n", group(pps, 0))
	if pps >= targetAlertPointsPerSec {
		w("**meets** ≥ %s points/s", group(targetAlertPointsPerSec, 0))
	} else {
		w("does **not** meet ≥ %s points/s (%.0f%% of it)", group(targetAlertPointsPerSec, 0), 100*pps/targetAlertPointsPerSec)
	}
	w("; %s points per CPU-second of the process; the filter alone %s points/s on one core; peak RSS %.1f MiB.\n",
		group(float64(med.points)/med.cpu().Seconds(), 0), group(med.filter.msgsPerSec(), 0), float64(med.maxRSS)/(1<<20))
	if g, ok := rep.alertGoBench(); ok {
		w("The Go benchmark of the filter alone (`BenchmarkRules1000x100k`, the same rules and series, the messages\n")
		w("already decoded, one goroutine: so per core) gives **%s points/s**: see [the Go micro-benchmarks](#filtersalert-rules).\n", group(g, 0))
	}
	w("\nChecked, every run: exit code 0; the `stopped` records show input in = filter in = N, filter out = output\n")
	w("in = out = the alerts expected, dropped = 0 and errors = 0 everywhere; and the output holds exactly the\n")
	w("alerts expected, in order (status, `alertname` and `host` of each; the planted value in each firing one).\n\n")
	w("<details><summary>The config (of the last run; %s rules, of which the first three and the last are shown)</summary>\n\n", group(alertMeasurements, 0))
	w("```toml\n%s```\n\n</details>\n\n", abbreviateRules(res.config, 3))
}

// abbreviateRules keeps the first keep and the last [[filters.alert.rules]]
// tables of cfg, and says how many were left out between them.
func abbreviateRules(cfg string, keep int) string {
	const table = "\n[[filters.alert.rules]]\n"
	parts := strings.Split(cfg, table)
	if len(parts) <= keep+2 {
		return cfg
	}
	head := strings.Join(parts[:keep+1], table)
	return fmt.Sprintf("%s\n\n# … %d more rules, one per measurement, the same …\n%s%s", strings.TrimRight(head, "\n"),
		len(parts)-keep-2, table, parts[len(parts)-1])
}

// alertGoBench returns the points/s of BenchmarkRules1000x100k, if it ran.
func (rep *report) alertGoBench() (float64, bool) {
	for _, r := range rep.goBench.results {
		if shortPkg(r.pkg) == "filters/alert" && r.name == "Rules1000x100k" {
			v, ok := r.metrics["points/s"]
			return v, ok
		}
	}
	return 0, false
}

func (rep *report) writeAlertMail(b *strings.Builder, res alertMailResult) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	target := alertMailGroupWait + targetAlertMailSlack
	w("`go run ./bench/cmd/benchrun -only %s`: one process, `[[inputs.tcp]] decoder = \"influx\"` → `[[filters.alert]]`\n", alertMailKey)
	w("(one rule, `for = \"0s\"`, `ticker_interval = \"1s\"`) → `[[outputs.notify]]` (`group_wait = \"%s\"`, `group_by =\n", alertMailGroupWait)
	w("[\"alertname\", \"host\"]`, an email receiver) → a real mailpit %s on this machine (SMTP and its HTTP API on\n", res.mailpit)
	w("loopback); an `[[outputs.file]]` on the alerts' subject as well, to see when the alert was emitted. benchrun\n")
	w("waits until the notify output holds the lease (`notify_leader` = 1 in `/api/plugins`), then, %d times, one\n", len(res.samples))
	w("after the other: T0 = the wall clock, it writes one crossing point of a new host (so a new group), stamped\n")
	w("T0, on the open TCP connection, such as `lat,host=lat-01 value=95 <T0 in ns>`, and polls mailpit's\n")
	w("`GET /api/v1/messages` every %d ms until the mail is there. The next point goes once the mail was seen.\n\n", alertMailPollEvery.Milliseconds())
	w("- **mail created** = mailpit's `Created` of the mail (stamped by mailpit as it stores it, ms) − T0: the latency.\n")
	w("- **seen** = the poll that first listed it − T0 (its error is the poll's %d ms).\n", alertMailPollEvery.Milliseconds())
	w("- **alert emitted** = the alert's line in the file output (polled every %s) − T0: the point through the TCP\n", pollEvery)
	w("  input, the decoder, NATS, the rule and NATS again to an output; outputs.notify takes the alert at the same\n")
	w("  moment, and its group_wait counts from there.\n")
	w("- **after group_wait** = mail created − alert emitted − group_wait: the notify loop waking at the group's\n")
	w("  deadline, rendering the mail, the SMTP exchange with mailpit, and mailpit storing it. \"Emitted\" is seen a\n")
	w("  little late (the file output's batch and its poll) and `Created` is in whole ms, so this may show -1 … 0 ms\n")
	w("  where it is near 0.\n\n")
	var alerted, created, seen, rest []time.Duration
	for _, s := range res.samples {
		alerted, created, seen = append(alerted, s.alerted), append(created, s.created), append(seen, s.seen)
		rest = append(rest, s.created-s.alerted-alertMailGroupWait)
	}
	w("| %d mails | min ms | median ms | p90 ms | max ms |\n|---|--:|--:|--:|--:|\n", len(res.samples))
	statsRow(b, "T0 → mail created (mailpit's `Created`)", created)
	statsRow(b, "T0 → mail seen (API poll)", seen)
	statsRow(b, "T0 → alert emitted (file output)", alerted)
	statsRow(b, "after group_wait (created − emitted − group_wait)", rest)
	w("\nThe median is, for an even count, the slower middle value; p90 is the nearest rank.\n\n")
	_, med, p90, hi := durationStats(created)
	w("**Against the target** (≤ group_wait + 1 s = %s): median %.0f ms, p90 %.0f ms, max %.0f ms: ", target, ms(med), ms(p90), ms(hi))
	if hi <= target {
		w("**every mail meets it**")
	} else {
		w("**not every mail meets it**")
	}
	w("; the latency above group_wait is at most %.0f ms. Load average as the run began: %s; the process used\n", ms(hi-alertMailGroupWait), res.load)
	w("%.2f CPU s in the %.1f s of the run (peak RSS %.1f MiB).\n\n", (res.user + res.sys).Seconds(), res.elapsed.Seconds(), float64(res.maxRSS)/(1<<20))
	w("| host | alert emitted ms | mail created ms | seen ms | subject |\n|---|--:|--:|--:|---|\n")
	for _, s := range res.samples {
		w("| %s | %.1f | %.1f | %.1f | `%s` |\n", s.host, ms(s.alerted), ms(s.created), ms(s.seen), s.subject)
	}
	w("\nChecked: each mail's subject says FIRING and names its host; at the end mailpit holds exactly %d mails\n", len(res.samples))
	w("(no repeat), the process exits 0 and the `stopped` records show in = %d at the input, the filter (out = %d),\n", len(res.samples), len(res.samples))
	w("the file output and the notify output, dropped = 0 and errors = 0.\n\n")
	w("<details><summary>The config (paths and ports of the run)</summary>\n\n```toml\n%s```\n\n</details>\n\n", res.config)
}
