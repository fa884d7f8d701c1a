package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The eval step: `interoceptor eval` of the shipped detector on the
// development splits of NAB and TCPD in ../shared/data, when they are there;
// its table (every NAB profile and category, every TCPD series) goes into
// RESULTS.md as printed.

const evalKey = "eval"

type evalResult struct {
	args    []string
	table   string
	elapsed time.Duration
	skipped string // why it did not run
}

func runEval(bin string) (evalResult, error) {
	data := filepath.Join("..", "shared", "data")
	nab, tcpd := filepath.Join(data, "nab-dev"), filepath.Join(data, "tcpd-dev")
	for _, d := range []string{nab, tcpd} {
		if _, err := os.Stat(d); err != nil {
			return evalResult{skipped: fmt.Sprintf("%s is absent", d)}, nil
		}
	}
	out, err := os.MkdirTemp("", "interoceptor-eval-")
	if err != nil {
		return evalResult{}, err
	}
	defer os.RemoveAll(out)
	args := []string{"eval", "-nab", nab, "-tcpd", tcpd, "-out", out}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		return evalResult{}, fmt.Errorf("interoceptor eval: %v\n%s", err, lastLinesOf(stderr.String(), 20))
	}
	args[len(args)-1] = "TMPDIR" // a temporary directory, removed after
	return evalResult{args: args, table: stdout.String(), elapsed: time.Since(began)}, nil
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (rep *report) writeEval(b *strings.Builder) {
	e := rep.eval
	if e == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Detection scores\n\n")
	if e.skipped != "" {
		w("Not measured: %s (the labelled series live in ../shared/data beside the project).\n\n", e.skipped)
		return
	}
	w("The shipped detector ([plugins/filters/anomaly.toml](../plugins/filters/anomaly.toml), every option at its\n")
	w("default, no label read at run time) on the development splits, each series through the real pipeline\n")
	w("(`interoceptor %s`, %s; what each figure means: [internal/eval/README.md](../internal/eval/README.md)).\n",
		strings.Join(e.args, " "), e.elapsed.Round(100*time.Millisecond))
	w("The targets: NAB standard ≥ 60 (HTM 71.2), reward-low-FP ≥ 50; TCPD mean F1 ≥ 0.72 (binseg 0.701, predict\n")
	w("nothing 0.647).\n\n```\n%s```\n\n", e.table)
}
