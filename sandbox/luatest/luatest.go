// Package luatest runs Lua plugins against fixture messages and compares what
// they inject with what a test case expects: the engine of `interoceptor
// test`, as `vector test` is for Vector.
//
// A case is a TOML file NAME.test.toml naming the script, its config, an
// input file (messages and timer_event directives, one a line) and an
// expected file (the messages the script must inject, one a line). Load
// reads a case, Run runs it in a fresh sandbox, RunPaths finds and runs
// every case under a set of paths and prints PASS/FAIL lines. The format and
// the comparison rules are in README.md.
package luatest

// Where to find what:
//
//	luatest.go  RunPaths and RunFile, what `interoceptor test` calls; Options,
//	            Status, Result
//	cases.go    reading a case: the case file (Load, Find), the input file,
//	            the expected file; ConfigError
//	run.go      Run: one case in a fresh sandbox, recording what the script
//	            injects and the calls that fail
//	compare.go  injected against expected: the comparison rules, the
//	            alignment, the diff and its notes
//	render.go   messages and failures written as JSON lines, for the diff,
//	            -v and -update
//	update.go   -update: rewriting the expected file

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Options change how cases run.
type Options struct {
	// Update rewrites each case's expected file from what the script
	// injects instead of comparing. What it writes must be reviewed: it is
	// whatever the script does, right or wrong.
	Update bool
	// Verbose, when set, receives each injected message (and failed call)
	// as it happens, and what the script prints.
	Verbose io.Writer
}

// Status is how a case ended.
type Status int

// The statuses of a case.
const (
	Pass    Status = iota // the script injected what was expected
	Fail                  // it did not, or the script does not compile
	Updated               // -update wrote the expected file
	Error                 // the case cannot be run as written (a ConfigError)
)

func (s Status) String() string {
	return [...]string{"PASS", "FAIL", "UPDATED", "ERROR"}[s]
}

// Result is the outcome of one case.
type Result struct {
	Case     *Case // nil when the case file did not load
	Name     string
	Status   Status
	Messages int    // messages the script injected
	Report   string // why it failed (with the diff) or the error; "" on success
	Err      error  // the error, for Error
}

// RunPaths finds the cases under paths, runs each, writes a PASS, FAIL,
// UPDATED or ERROR line per case (FAIL and ERROR followed by the report) to
// w and returns the exit code: 0 when all pass, 1 when a case failed, 2 when
// a case or a path could not be used.
func RunPaths(w io.Writer, paths []string, opts Options) int {
	files, err := Find(paths)
	if err != nil {
		fmt.Fprintf(w, "ERROR %v\n", err)
		return 2
	}
	code := 0
	var counts [4]int
	for _, f := range files {
		r := RunFile(f, opts)
		counts[r.Status]++
		switch r.Status {
		case Pass, Updated:
			fmt.Fprintf(w, "%s %s (%s)\n", r.Status, r.Name, plural(r.Messages, "message"))
		case Fail:
			fmt.Fprintf(w, "FAIL %s\n%s", r.Name, indent(r.Report))
			code = max(code, 1)
		case Error:
			fmt.Fprintf(w, "ERROR %s\n%s", r.Name, indent(r.Report))
			code = 2
		}
	}
	if len(files) > 1 {
		fmt.Fprintf(w, "%d passed, %d failed, %d errors", counts[Pass], counts[Fail], counts[Error])
		if counts[Updated] > 0 {
			fmt.Fprintf(w, ", %d updated", counts[Updated])
		}
		fmt.Fprintln(w)
	}
	return code
}

// RunFile loads and runs one case file.
func RunFile(path string, opts Options) *Result {
	c, err := Load(path)
	if err != nil {
		return &Result{Name: strings.TrimSuffix(filepath.Clean(path), CaseSuffix), Status: Error,
			Report: err.Error() + "\n", Err: err}
	}
	return Run(c, opts)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for line := range strings.SplitAfterSeq(s, "\n") {
		if line != "" && line != "\n" {
			b.WriteString("    ")
		}
		b.WriteString(line)
	}
	if !strings.HasSuffix(s, "\n") {
		b.WriteByte('\n')
	}
	return b.String()
}
