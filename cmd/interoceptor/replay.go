package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

const replayHelp = `Runs the filters of a pipeline over recorded data at full speed, on the
data's own clock, and writes what they emit: what a detector would have
said last week. The config's inputs and outputs are not run; its NATS
server is replaced by an in-process one, and preserve_data state is neither
read nor written. The records are published to -subject (by default the one
subject the filters subscribe to that none of them publishes), and
everything the filters publish, dead_letter included, is written to -out.
Ticks follow the data: a filter gets timer_event(t) at every
ticker_interval boundary its messages' timestamps cross, before the first
message at or after t, and a final one after the last. The same input gives
the same output. A summary of the counters goes to stderr.

With -alerts, what the alert rules (filters.alert) would have done is
printed instead, one line per alert message, on the data's clock:
  2026-01-05T10:05:00Z FIRING   HighCPU host=web-1 severity=critical  since 2026-01-05T10:00:00Z  cpu_usage_user=97  CPU at 97%
  2026-01-05T10:17:00Z RESOLVED HighCPU host=web-1 severity=critical  since 2026-01-05T10:00:00Z  (lasted 17m0s)
and then a count of alerts fired and resolved; the other messages the
filters emit are written only if -out names a file. Re-sends of a firing
alert (resend_interval) are not printed.

Formats of -from (-format auto picks by extension, else by content):
  influx  InfluxDB line protocol, ns timestamps, # comments
  json    messages in the JSON form of 'interoceptor cat', one per line
  csv     a header, a time column (-time-column, -time-format), and numeric
          columns that become the float fields of one metric point per row
          (measurement -measurement); an empty cell is a missing value
`

func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("replay", "", stderr)
	config := fs.String("config", "", "pipeline `file` or directory whose filters run (required)")
	from := fs.String("from", "", "recorded data `file` (- for stdin) (required)")
	format := fs.String("format", "auto", "format of -from: auto, influx, json or csv")
	timeColumn := fs.String("time-column", "timestamp", "CSV: the `column` holding the time")
	timeFormat := fs.String("time-format", "auto", "CSV: a Go time `layout` read as UTC (\"2006-01-02 15:04:05\"), or s, ms, us, ns since the epoch; auto: RFC 3339 or 2006-01-02 15:04:05")
	measurement := fs.String("measurement", "", "CSV: the points' `measurement` (default: the file's name without extension)")
	subject := fs.String("subject", "", "`subject`(s), comma-separated, the records are published to (default: the filters' one input subject)")
	out := fs.String("out", "-", "`file` the filters' messages are written to (- for stdout)")
	formatOut := fs.String("format-out", "json", "format of -out: json, payload or influx")
	level := fs.String("log-level", "warn", "the filters' logs on stderr: debug, info, warn or error")
	alerts := fs.Bool("alerts", false, "print the alerts the rules fire and resolve, one a line, on stdout; other messages go to -out only if it is a file")
	fs.Usage = commandUsage(fs, "replay", replayHelp)
	if code, done := parse(fs, args); done {
		return code
	}
	if *config == "" || *from == "" {
		fmt.Fprintln(stderr, "interoceptor replay: -config and -from are required")
		fs.Usage()
		return 2
	}
	if !isFormatOK(*formatOut) {
		fmt.Fprintf(stderr, "interoceptor replay: -format-out %q: use json, payload or influx\n", *formatOut)
		return 2
	}
	log, err := newLogger(stderr, *level, "text")
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor replay:", err)
		return 2
	}
	cfg, err := pipeline.LoadConfig(*config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	src, err := pipeline.OpenRecords(*from, pipeline.RecordOptions{Format: *format, TimeColumn: *timeColumn,
		TimeLayout: *timeFormat, Measurement: *measurement})
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor replay:", err)
		return 1
	}
	defer src.Close()
	w := io.Writer(stdout)
	outName := "stdout"
	var file *os.File
	if *out != "-" {
		file, err = os.Create(*out)
		if err != nil {
			fmt.Fprintln(stderr, "interoceptor replay:", err)
			return 1
		}
		defer file.Close()
		w, outName = file, *out
	}
	sink := &lineSink{w: bufio.NewWriterSize(w, 64<<10), format: *formatOut}
	if *alerts {
		sink.alerts = &alertPrinter{w: bufio.NewWriter(stdout), firing: map[string]bool{}}
		sink.discard = *out == "-"
	}
	var subjects []string
	if *subject != "" {
		subjects = strings.Split(*subject, ",")
	}
	ctx, cancel := signalContext()
	defer cancel()
	stats, err := pipeline.Replay(ctx, cfg, src, sink, pipeline.ReplayOptions{Subjects: subjects,
		Log: slog.New(cfg.Redactor().Handler(log.Handler()))})
	if sink.alerts != nil {
		sink.alerts.summary()
		if ferr := sink.alerts.w.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("write stdout: %w", ferr)
		}
	}
	if ferr := sink.w.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("write %s: %w", outName, ferr)
	}
	if file != nil {
		if cerr := file.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("write %s: %w", outName, cerr)
		}
	}
	fmt.Fprintf(stderr, "replayed %d records of %s (%s)", stats.Records, *from, src.Format())
	if n := src.Skipped(); n > 0 {
		fmt.Fprintf(stderr, ", %d rows without a value skipped", n)
	}
	fmt.Fprintf(stderr, "; wrote %d messages to %s (%s)", sink.written, outName, *formatOut)
	if sink.skipped > 0 {
		fmt.Fprintf(stderr, ", %d not written: not metrics, which -format-out influx cannot carry", sink.skipped)
	}
	fmt.Fprintf(stderr, "; %d ticks", stats.Ticks)
	if stats.TicksSkipped > 0 {
		fmt.Fprintf(stderr, " (%d empty ticks in long gaps left out)", stats.TicksSkipped)
	}
	fmt.Fprintln(stderr)
	for _, f := range stats.Filters {
		fmt.Fprintf(stderr, "  %s: received %d, in %d, out %d, errors %d, dropped %d, ticks %d\n",
			f.ID, f.Received, f.In, f.Out, f.Errors, f.Dropped, f.Ticks)
	}
	if err != nil {
		if !errors.Is(err, ctx.Err()) || ctx.Err() == nil {
			fmt.Fprintln(stderr, "interoceptor replay:", err)
		} else {
			fmt.Fprintln(stderr, "interoceptor replay: interrupted")
		}
		return 1
	}
	return 0
}

// lineSink writes what a replay emits, one message a line.
type lineSink struct {
	alerts  *alertPrinter // -alerts
	discard bool          // -alerts without -out: only the alerts are printed
	w       *bufio.Writer
	format  string
	buf     []byte
	written uint64
	skipped uint64 // not metrics, in the influx format
}

func (s *lineSink) Write(_ string, _ int64, m *pipeline.Message) error {
	if s.alerts != nil {
		if err := s.alerts.print(m); err != nil {
			return err
		}
		if s.discard {
			return nil
		}
	}
	var err error
	s.buf, err = wire.AppendFormatted(s.buf[:0], m, s.format)
	if errors.Is(err, wire.ErrNotMetric) {
		s.skipped++
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.w.Write(s.buf); err != nil {
		return err
	}
	s.written++
	return nil
}

// commandUsage is a usage function with a description before the flags.
func commandUsage(fs *flag.FlagSet, name, help string) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "Usage: interoceptor %s [flags]\n\n%s\nFlags:\n", name, help)
		fs.PrintDefaults()
	}
}

// alertPrinter prints the alert messages of a replay, one a line: the
// changes of state only, not the re-sends of a firing alert.
type alertPrinter struct {
	w               *bufio.Writer
	firing          map[string]bool // by fingerprint
	fired, resolved int
}

func (p *alertPrinter) print(m *pipeline.Message) error {
	a, err := pipeline.AlertFromMessage(m)
	if errors.Is(err, pipeline.ErrNotAlert) {
		return nil
	}
	if err != nil {
		return err
	}
	switch a.Status {
	case pipeline.AlertFiring:
		if p.firing[a.Fingerprint] {
			return nil // a re-send
		}
		p.firing[a.Fingerprint] = true
		p.fired++
	case pipeline.AlertResolved:
		delete(p.firing, a.Fingerprint)
		p.resolved++
	}
	const layout = "2006-01-02T15:04:05Z07:00"
	fmt.Fprintf(p.w, "%s %-8s %s", a.At.Format(layout), strings.ToUpper(a.Status), a.Name())
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		if k != "alertname" {
			fmt.Fprintf(p.w, " %s=%s", k, a.Labels[k])
		}
	}
	fmt.Fprintf(p.w, "  since %s ", a.StartsAt.Format(layout))
	if a.Status == pipeline.AlertResolved {
		fmt.Fprintf(p.w, " (lasted %s)", a.EndsAt.Sub(a.StartsAt))
	} else {
		for _, k := range slices.Sorted(maps.Keys(a.Values)) {
			fmt.Fprintf(p.w, " %s=%g", k, a.Values[k])
		}
		if s := a.Annotations["summary"]; s != "" {
			fmt.Fprintf(p.w, "  %s", s)
		}
	}
	_, err = p.w.WriteString("\n")
	return err
}

func (p *alertPrinter) summary() {
	fmt.Fprintf(p.w, "%d alerts fired, %d resolved, %d still firing at the end\n", p.fired, p.resolved, len(p.firing))
}
