package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/interoceptor/interoceptor/internal/influxtest"
)

// writeInfluxDB writes the section of the tcp-influxdb scenario: points/s into
// a real InfluxDB, with InfluxDB's own CPU beside the pipeline's.
func (rep *report) writeInfluxDB(b *strings.Builder) {
	i := slices.IndexFunc(rep.scenarios, func(s scenarioResult) bool { return s.sc.influxdb })
	if i < 0 {
		return
	}
	s := rep.scenarios[i]
	med := s.median()
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Into InfluxDB\n\n")
	w("tcp→InfluxDB 1.8: `[[inputs.tcp]]` (`decoder = \"influx\"`) → `[[outputs.influxdb]]` with `url` = a local InfluxDB %s and\n", influxtest.Version)
	w("`bucket = %q`, every other key at its default (`batch_size` 5000, `gzip = true`, 16 MiB of memory buffer and\n", influxDB)
	w("then the disk buffer). For each run benchrun starts InfluxDB with its files in the run's temporary directory\n")
	w("(`internal/influxtest`), creates the database, starts the pipeline and sends the same N = %s lines over one\n", group(float64(s.lines), 0))
	w("TCP connection. The clock runs from the first write until the output's `influxdb_written_points` gauge (points\n")
	w("InfluxDB acknowledged), read from `GET /api/plugins` every %d ms, reaches N. Every line is a point of its own\n", influxPollEvery.Milliseconds())
	w("(30,000 series, and all timestamps differ, 1 ms apart, so no point overwrites another), so once the pipeline\n")
	w("has exited benchrun checks that InfluxDB holds exactly N: `SELECT count(seq), sum(seq), min(seq), max(seq)\n")
	w("FROM cpu` gives N, N(N−1)/2, 0 and N−1, and the first and last lines sent read back the same. Then InfluxDB is\n")
	w("stopped and the directory removed. **points/s** is N / clock.\n\n")
	w("**InfluxDB's own ingest is inside these figures**, unlike the file scenarios: influxd runs on the same %s\n", rep.machine.nproc)
	w("cores as the pipeline and the load generator, and every point waits for it (parsing the line protocol again,\n")
	w("its WAL, index and cache). Its CPU is given beside interoceptor's: **influxd CPU s** is its user + sys from its\n")
	w("start until the pipeline exited (`/proc/PID/stat`; its startup, before the clock, is in it: %.2f s in the\n", med.influxdb.cpuAtClock.Seconds())
	w("median run), **whole life** its `getrusage` once stopped, which adds benchrun's check queries and anything\n")
	w("InfluxDB did in the background meanwhile (%.2f s more in the median run).\n\n", (med.influxdb.cpu - med.influxdb.cpuRun).Seconds())

	w("| run | clock s | points/s | interoceptor CPU s | points per interoceptor CPU-second | peak RSS MiB | influxd CPU s | influxd CPU s, whole life | most points waiting | disk buffer peak MB |\n")
	w("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for k, r := range s.runs {
		w("| %d | %.3f | %s | %.2f | %s | %.1f | %.2f | %.2f | %s | %.1f |\n", k+1, r.elapsed.Seconds(), group(s.linesPerSec(r), 0),
			r.cpu().Seconds(), group(float64(s.lines)/r.cpu().Seconds(), 0), float64(r.maxRSS)/(1<<20),
			r.influxdb.cpuRun.Seconds(), r.influxdb.cpu.Seconds(), group(r.influxdb.maxBuffered, 0), r.influxdb.maxDiskBytes/1e6)
	}
	w("\n\"most points waiting\" and \"disk buffer peak\" are the output's `influxdb_buffered_points` and\n")
	w("`influxdb_disk_bytes` gauges, the highest seen while polling.\n\n")

	runs := s.byThroughput()
	pps := s.linesPerSec(med)
	influxCPU, ourCPU := med.influxdb.cpuRun.Seconds(), med.cpu().Seconds()
	worst := slices.MaxFunc(s.runs, func(a, b runResult) int { return cmp.Compare(a.maxRSS, b.maxRSS) })
	if len(s.runs) > 1 {
		w("The median run by throughput (for an even count, the slower middle one):\n\n")
	}
	w("- **%s points/s** into InfluxDB (runs: %s – %s): **%.2f×** Telegraf 1.37.2's ≈ %s lines/s, the project's\n",
		group(pps, 0), group(s.linesPerSec(runs[0]), 0), group(s.linesPerSec(runs[len(runs)-1]), 0),
		pps/telegrafLinesPerSec, group(telegrafLinesPerSec, 0))
	w("  comparison. Not like for like: Telegraf's figure is tcp→**file** on this machine, with no database; this one\n")
	w("  includes InfluxDB's own ingest, on the same cores.\n")
	w("- **interoceptor: %.2f CPU s** (%.2f per 1M points, %s points per CPU-second), **peak RSS %.1f MiB**\n",
		ourCPU, ourCPU/(float64(s.lines)/1e6), group(float64(s.lines)/ourCPU, 0), float64(med.maxRSS)/(1<<20))
	w("  (%.1f MB; the worst run %.1f MB, %s the 40 MB of the tcp→file target).", float64(med.maxRSS)/1e6, float64(worst.maxRSS)/1e6,
		map[bool]string{true: "within", false: "over"}[worst.maxRSS <= targetRSSBytes])
	if j := slices.IndexFunc(rep.scenarios, func(o scenarioResult) bool { return o.sc.influx && !o.sc.lua && !o.sc.influxdb }); j >= 0 {
		o := rep.scenarios[j]
		om := o.median()
		w(" Decoding the same lines and writing\n  them back to a file (%s, above) took %.2f CPU s per 1M lines and %.1f MiB.", o.sc.key,
			om.cpu().Seconds()/(float64(o.lines)/1e6), float64(om.maxRSS)/(1<<20))
	}
	if med.influxdb.maxDiskBytes > 0 {
		w(" InfluxDB took the points more slowly\n  than the input read them, so the output held up to %s of them waiting (`buffer_bytes`, 16 MiB, in memory,\n", group(med.influxdb.maxBuffered, 0))
		w("  the rest in its disk buffer, up to %.1f MB).\n", med.influxdb.maxDiskBytes/1e6)
	} else {
		w(" The output held up to %s points\n  waiting, all in memory.\n", group(med.influxdb.maxBuffered, 0))
	}
	w("- **influxd: %.2f CPU s** until the pipeline exited (%.2f s whole life), %.0f%% of the CPU the two processes\n",
		influxCPU, med.influxdb.cpu.Seconds(), 100*influxCPU/(influxCPU+ourCPU))
	w("  used. Together, %.2f CPU s over the %.2f s clock: %.1f of the %s cores busy on average; %s points per\n",
		influxCPU+ourCPU, med.elapsed.Seconds(), (influxCPU+ourCPU)/med.elapsed.Seconds(), rep.machine.nproc,
		group(float64(s.lines)/(influxCPU+ourCPU), 0))
	w("  CPU-second of the pair.\n\n")
	w("Every run was checked: InfluxDB held exactly N points, as above; the output's gauges showed no point rejected\n")
	w("or dropped; the input's \"stopped\" record shows in = N and the output's in = out = N, all with dropped = 0 and\n")
	w("errors = 0; the exit code was 0.\n\n")
}
