package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/interoceptor/interoceptor/internal/eval"
)

const evalHelp = `Scores a detector filter on labelled series: the Numenta Anomaly Benchmark
(-nab: NAB's normalised score for its three profiles, from NAB-format result
files written under -out) and the Turing Change Point Dataset (-tcpd: mean
F1 with a margin of 5 rows, and segmentation covering). Every series runs
through the real pipeline with 'interoceptor replay': its rows, with their
own timestamps, go to the filters of -config, which must follow eval's
contract (internal/eval/README.md): with emit_scores = true (which eval
sets, with field = "value", dropping the matcher) a filter injects an
"anomaly.score" message with a score in [0, 1] for every point, and an
"anomaly" message for each event, with change_time when it is a change
point (a level shift; a spike is not). A line per series goes
to stderr; a table, or with -json one object, to stdout.
`

func cmdEval(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("eval", "", stderr)
	nab := fs.String("nab", "", "NAB `directory` (data/, labels/combined_windows.json)")
	tcpd := fs.String("tcpd", "", "TCPD `directory` (datasets/, annotations.json)")
	out := fs.String("out", "", "`directory` for the NAB result files (<detector>/<category>/<detector>_<file>.csv); required with -nab")
	config := fs.String("config", "plugins/filters/anomaly.toml", "the detector's config `file` (or directory): its filters run")
	name := fs.String("name", "", "the detector's `name` in result paths (default: the config's file name without extension)")
	subject := fs.String("subject", "", "`subject`(s), comma-separated, the points are published to (default: the filters' one input subject)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the table")
	parallel := fs.Int("parallel", runtime.NumCPU(), "series run at once")
	level := fs.String("log-level", "warn", "the filters' logs on stderr: debug, info, warn or error")
	fs.Usage = commandUsage(fs, "eval", evalHelp)
	if code, done := parse(fs, args); done {
		return code
	}
	if *nab == "" && *tcpd == "" {
		fmt.Fprintln(stderr, "interoceptor eval: give -nab DIR, -tcpd DIR or both")
		fs.Usage()
		return 2
	}
	if *nab != "" && *out == "" {
		fmt.Fprintln(stderr, "interoceptor eval: -nab needs -out DIR for its result files")
		return 2
	}
	if *parallel < 1 {
		fmt.Fprintln(stderr, "interoceptor eval: -parallel must be at least 1")
		return 2
	}
	log, err := newLogger(stderr, *level, "text")
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor eval:", err)
		return 2
	}
	if _, err := os.Stat(*config); err != nil {
		fmt.Fprintf(stderr, "interoceptor eval: -config %s: %v\n", *config, errors.Unwrap(err))
		return 1
	}
	var subjects []string
	if *subject != "" {
		subjects = strings.Split(*subject, ",")
	}
	ctx, cancel := signalContext()
	defer cancel()
	res, err := eval.Run(ctx, eval.Options{NABDir: *nab, TCPDDir: *tcpd, OutDir: *out, Config: *config,
		Detector: *name, Subjects: subjects, Parallel: *parallel, Progress: stderr, Log: log})
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor eval:", err)
		return 1
	}
	if *asJSON {
		b, err := res.JSON()
		if err != nil {
			fmt.Fprintln(stderr, "interoceptor eval:", err)
			return 1
		}
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	if err := res.WriteTable(stdout); err != nil {
		fmt.Fprintln(stderr, "interoceptor eval:", err)
		return 1
	}
	return 0
}
