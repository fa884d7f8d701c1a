package luatest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/sandbox"
	_ "github.com/interoceptor/interoceptor/sandbox/modules/all" // require "change", "circular_buffer", "json"
)

// An event is one thing the script did: inject a message, or fail a call.
type event struct {
	msg  *pipeline.Message
	fail *failure
}

// failure is a call of the script that failed: an error, or a negative status.
type failure struct {
	Call       string // "process_message" or "timer_event"
	Line       int    // the input line of the call
	Status     int    // what process_message returned; 0 for timer_event
	Terminated string // the sandbox's reason when the script was stopped
	Error      string
}

// Run runs a case in a fresh sandbox and compares, or with opts.Update
// rewrites the expected file.
func Run(c *Case, opts Options) *Result {
	r := &Result{Case: c, Name: c.Name}
	fail := func(err error) *Result {
		r.Status, r.Err, r.Report = Error, err, err.Error()+"\n"
		return r
	}
	steps, err := readInput(c.Input)
	if err != nil {
		return fail(err)
	}
	var want []*expectation
	var head []byte // the expected file's leading comments, kept by -update
	if !opts.Update {
		if want, err = readExpected(c.Expect); err != nil {
			return fail(err)
		}
	} else if head, err = leadingComments(c.Expect); err != nil {
		return fail(err)
	}

	var logBuf bytes.Buffer
	var logW io.Writer = &logBuf
	if opts.Verbose != nil {
		logW = io.MultiWriter(&logBuf, opts.Verbose)
	}
	log := slog.New(slog.NewTextHandler(logW, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // the same output on every run
			}
			return a
		},
	}))
	var got []*event
	record := func(ev *event) {
		got = append(got, ev)
		if opts.Verbose != nil {
			fmt.Fprintf(opts.Verbose, "%s > %s\n", c.Name, renderEvent(ev, nil))
		}
	}
	sb, err := sandbox.New(sandbox.Options{
		Name: "filters.lua[" + strings.TrimSuffix(filepath.Base(c.Script), ".lua") + "]", Script: c.Script, Config: c.Config,
		ModulePath: c.ModulePath, Limits: c.Limits, Log: log,
		Inject: func(m *pipeline.Message) error {
			record(&event{msg: m.Clone()})
			return nil
		},
	})
	if err != nil {
		var ce *sandbox.CompileError
		var te *sandbox.TerminatedError
		switch {
		case errors.As(err, &ce):
			r.Report = fmt.Sprintf("script does not compile: %v\n", err)
		case errors.As(err, &te):
			r.Report = fmt.Sprintf("script stopped while initialising: %v\n", err)
		default:
			return fail(configErrorf(c.Path, 0, "%v", err))
		}
		r.Status = Fail
		return r
	}
	for _, s := range steps {
		var f *failure
		if s.timer {
			f = callFailure("timer_event", s.line, 0, sb.TimerEvent(s.ns))
		} else {
			status, err := sb.ProcessMessage(s.msg)
			f = callFailure("process_message", s.line, status, err)
		}
		if f != nil {
			record(&event{fail: f})
			if f.Terminated != "" {
				break // the sandbox refuses every later call
			}
		}
	}
	sb.Close()
	for _, ev := range got {
		if ev.msg != nil {
			r.Messages++
		}
	}

	if opts.Update {
		if err := writeExpected(c.Expect, head, got); err != nil {
			return fail(err)
		}
		r.Status = Updated
		return r
	}
	report, ok := compare(c, want, got)
	if ok {
		r.Status = Pass
		return r
	}
	r.Status = Fail
	if logBuf.Len() > 0 {
		report += "script output:\n" + indentBy(logBuf.String(), "  ")
	}
	r.Report = report
	return r
}

func indentBy(s, prefix string) string {
	var b strings.Builder
	for line := range strings.SplitAfterSeq(s, "\n") {
		if line != "" {
			b.WriteString(prefix + line)
		}
	}
	return b.String()
}

// callFailure turns what a call returned into a failure, or nil for success
// (as in a pipeline, a positive status is not a failure).
func callFailure(call string, line, status int, err error) *failure {
	if err == nil && status >= 0 {
		return nil
	}
	f := &failure{Call: call, Line: line, Status: status}
	var te *sandbox.TerminatedError
	switch {
	case errors.As(err, &te):
		f.Terminated, f.Error = te.Reason, te.Msg
	case err != nil:
		f.Error = err.Error()
	}
	return f
}
