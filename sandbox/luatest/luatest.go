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

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/sandbox"
	_ "github.com/interoceptor/interoceptor/sandbox/modules/all" // require "change", "circular_buffer", "json"
)

// CaseSuffix ends the name of every test case file.
const CaseSuffix = ".test.toml"

// FloatTolerance is the relative difference under which two floats compare
// equal: |a−b| ≤ FloatTolerance·max(|a|, |b|). It absorbs the last-bit noise
// of a sum taken in another order, not a wrong result.
const FloatTolerance = 1e-9

// Case is one test case, read from NAME.test.toml by Load. Paths are
// resolved against the case file's directory.
type Case struct {
	Name        string // the case file's path without CaseSuffix
	Path        string // the case file
	Description string
	Script      string
	ModulePath  []string
	Input       string // the input file (JSON lines)
	Expect      string // the expected file (JSON lines)
	Config      map[string]any
	Limits      sandbox.Limits
}

// caseFile is the TOML form of a case; every key is optional but script.
type caseFile struct {
	Description string         `toml:"description"`
	Script      string         `toml:"script"`
	ModulePath  []string       `toml:"module_path"`
	Input       string         `toml:"input"`
	Expect      string         `toml:"expect"`
	Config      map[string]any `toml:"config"`
	MemoryLimit int64          `toml:"memory_limit"`
	TimeLimit   string         `toml:"time_limit"`
	OutputLimit int            `toml:"output_limit"`
	InjectLimit int            `toml:"inject_limit"`
}

var caseKeys = []string{"config", "description", "expect", "inject_limit", "input", "memory_limit",
	"module_path", "output_limit", "script", "time_limit"}

// ConfigError is a case that cannot be run as written: a case file, an input
// line or an expected line that does not parse, a file that is missing.
// `interoceptor test` exits 2 for it, 1 for a case that runs and fails.
type ConfigError struct {
	Path string
	Line int // 0 when the error is not about one line
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

func configErrorf(path string, line int, format string, args ...any) *ConfigError {
	return &ConfigError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Load reads a case file. Unknown keys are an error naming them.
func Load(path string) (*Case, error) {
	var cf caseFile
	md, err := toml.DecodeFile(path, &cf)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, configErrorf(path, pe.Position.Line, "%s", pe.Message)
		}
		return nil, configErrorf(path, 0, "%v", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var bad []string
		for _, k := range und {
			if len(k) > 0 && k[0] != "config" {
				bad = append(bad, strconv.Quote(k.String()))
			}
		}
		if len(bad) > 0 {
			return nil, configErrorf(path, 0, "unknown key %s (known keys: %s)", strings.Join(bad, ", "), strings.Join(caseKeys, ", "))
		}
	}
	dir := filepath.Dir(path)
	base := strings.TrimSuffix(filepath.Base(path), CaseSuffix)
	resolve := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c := &Case{
		Name:        strings.TrimSuffix(filepath.Clean(path), CaseSuffix),
		Path:        path,
		Description: cf.Description,
		Script:      resolve(cf.Script),
		Input:       resolve(cf.Input),
		Expect:      resolve(cf.Expect),
		Config:      cf.Config,
		Limits: sandbox.Limits{MemoryBytes: cf.MemoryLimit, OutputBytes: cf.OutputLimit,
			InjectsPerCall: cf.InjectLimit},
	}
	switch {
	case cf.Script == "":
		return nil, configErrorf(path, 0, `key "script": required (the Lua file, relative to this file)`)
	case cf.MemoryLimit < 0, cf.OutputLimit < 0, cf.InjectLimit < 0:
		return nil, configErrorf(path, 0, "limits must not be negative")
	}
	if cf.TimeLimit != "" {
		d, err := time.ParseDuration(cf.TimeLimit)
		if err != nil || d <= 0 {
			return nil, configErrorf(path, 0, `key "time_limit": %q is not a positive duration such as "100ms"`, cf.TimeLimit)
		}
		c.Limits.CallTime = d
	}
	if c.Input == "" {
		c.Input = filepath.Join(dir, base+".input.jsonl")
	}
	if c.Expect == "" {
		c.Expect = filepath.Join(dir, base+".expected.jsonl")
	}
	if md.IsDefined("module_path") {
		c.ModulePath = []string{}
		for _, p := range cf.ModulePath {
			c.ModulePath = append(c.ModulePath, resolve(p))
		}
	} else if root := moduleRoot(dir); root != "" {
		if st, err := os.Stat(filepath.Join(root, "plugins", "modules")); err == nil && st.IsDir() {
			c.ModulePath = []string{filepath.Join(root, "plugins", "modules")}
		}
	}
	if _, err := os.Stat(c.Script); err != nil {
		return nil, configErrorf(path, 0, `key "script": %v`, err)
	}
	return c, nil
}

// moduleRoot returns the nearest directory at or above dir that holds a
// go.mod, or "".
func moduleRoot(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Find expands paths into case files: a file is taken as it is, a directory
// is searched recursively for *.test.toml (in lexical order). A path that
// does not exist, or a directory without cases, is an error.
func Find(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		n := len(out)
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), CaseSuffix) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s: no *%s files", p, CaseSuffix)
		}
	}
	return out, nil
}

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

// tally says "3 messages", or "3 messages and 1 failed call".
func tally(msgs, fails int) string {
	if fails == 0 {
		return plural(msgs, "message")
	}
	return plural(msgs, "message") + " and " + plural(fails, "failed call")
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

// A step is one line of the input: a message for process_message, or a
// timer_event.
type step struct {
	line  int
	msg   *pipeline.Message
	timer bool
	ns    int64
}

// jsonLines calls fn for every line of path that is not blank or a comment.
func jsonLines(path string, fn func(line int, text []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return configErrorf(path, 0, "%v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		if err := fn(n, text); err != nil {
			return configErrorf(path, n, "%v", err)
		}
	}
	if err := sc.Err(); err != nil {
		return configErrorf(path, n+1, "%v", err)
	}
	return nil
}

// readInput reads an input file: messages in the JSON form, and directives.
func readInput(path string) ([]step, error) {
	var steps []step
	err := jsonLines(path, func(line int, text []byte) error {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(text, &probe); err != nil {
			return fmt.Errorf("not a JSON object: %v", err)
		}
		if raw, ok := probe["timer_event"]; ok {
			if len(probe) != 1 {
				return fmt.Errorf(`a "timer_event" line has no other key`)
			}
			ns, err := parseTime(raw)
			if err != nil {
				return fmt.Errorf("timer_event: %v", err)
			}
			steps = append(steps, step{line: line, timer: true, ns: ns})
			return nil
		}
		m := &pipeline.Message{}
		if raw, ok := probe["influx"]; ok {
			var lp string
			if len(probe) != 1 || json.Unmarshal(raw, &lp) != nil {
				return fmt.Errorf(`an "influx" line is {"influx": "LINE PROTOCOL"} and nothing else`)
			}
			if err := pipeline.ParseLineProtocol([]byte(lp), m); err != nil {
				return err
			}
		} else if err := pipeline.ParseJSON(text, m); err != nil {
			return err
		}
		steps = append(steps, step{line: line, msg: m})
		return nil
	})
	return steps, err
}

// parseTime reads a time as RFC 3339 text or integer nanoseconds.
func parseTime(raw json.RawMessage) (int64, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("%q is not RFC 3339 (2026-01-01T00:01:00Z)", s)
		}
		return t.UnixNano(), nil
	}
	ns, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is neither RFC 3339 text nor integer nanoseconds", raw)
	}
	return ns, nil
}

// expectation is one line of an expected file: a message, or a failure.
type expectation struct {
	line int
	// A message: only the headers in has are compared; fields as form says.
	msg    *pipeline.Message
	has    map[string]bool
	form   byte // how "fields" was written: '[' array (roles compared), '{' object, 0 absent
	subset bool // "fields_subset": other fields may be present
	// A failure: only the keys in has are compared.
	fail *failure
}

// headerKeys are the message keys, in the order of the JSON form.
var headerKeys = []string{"uuid", "timestamp", "type", "logger", "severity", "hostname", "pid", "payload", "fields"}

var failureKeys = []string{"failed", "line", "status", "terminated", "error"}

func readExpected(path string) ([]*expectation, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, configErrorf(path, 0, "missing; write it, or create it from what the script injects with -update (and review it)")
	}
	var out []*expectation
	err := jsonLines(path, func(line int, text []byte) error {
		e, err := parseExpectation(text)
		if err != nil {
			return err
		}
		e.line = line
		out = append(out, e)
		return nil
	})
	return out, err
}

func parseExpectation(text []byte) (*expectation, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(text, &probe); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	e := &expectation{has: map[string]bool{}}
	if _, ok := probe["failed"]; ok {
		return e, parseFailure(probe, e)
	}
	if raw, ok := probe["fields_subset"]; ok {
		if err := json.Unmarshal(raw, &e.subset); err != nil {
			return nil, fmt.Errorf(`"fields_subset": expected true or false, found %s`, raw)
		}
		delete(probe, "fields_subset")
		// ParseJSON knows no such key: give it the rest (numbers stay as written).
		var err error
		if text, err = json.Marshal(probe); err != nil {
			return nil, err
		}
	}
	e.msg = &pipeline.Message{}
	if err := pipeline.ParseJSON(text, e.msg); err != nil {
		return nil, err
	}
	for k, raw := range probe {
		k = strings.TrimSuffix(k, "_base64")
		e.has[k] = true
		if k == "fields" {
			if t := bytes.TrimSpace(raw); len(t) > 0 && (t[0] == '[' || t[0] == '{') {
				e.form = t[0]
			} else {
				e.form = '[' // null: no fields at all
			}
		}
	}
	if e.subset && e.form == 0 {
		return nil, fmt.Errorf(`"fields_subset" without "fields"`)
	}
	return e, nil
}

func parseFailure(probe map[string]json.RawMessage, e *expectation) error {
	e.fail = &failure{}
	for k, raw := range probe {
		var err error
		switch k {
		case "failed":
			err = json.Unmarshal(raw, &e.fail.Call)
			if err == nil && e.fail.Call != "process_message" && e.fail.Call != "timer_event" {
				err = fmt.Errorf("want process_message or timer_event")
			}
		case "line":
			err = json.Unmarshal(raw, &e.fail.Line)
		case "status":
			err = json.Unmarshal(raw, &e.fail.Status)
		case "terminated":
			err = json.Unmarshal(raw, &e.fail.Terminated)
		case "error":
			err = json.Unmarshal(raw, &e.fail.Error)
		default:
			return fmt.Errorf("unknown key %q in a failure line (known keys: %s)", k, strings.Join(failureKeys, ", "))
		}
		if err != nil {
			return fmt.Errorf("key %q: %s: %v", k, raw, err)
		}
		e.has[k] = true
	}
	return nil
}

// mismatch says why ev does not meet e, or returns "" when it does.
func (e *expectation) mismatch(ev *event) string {
	if e.fail != nil {
		return e.failureMismatch(ev)
	}
	g, w := ev.msg, e.msg
	if g == nil {
		return fmt.Sprintf("expected a message, got a failed %s call (input line %d)", ev.fail.Call, ev.fail.Line)
	}
	switch {
	case e.has["uuid"] && g.UUID != w.UUID:
		return fmt.Sprintf("uuid: expected %s, got %s", w.UUID, g.UUID)
	case e.has["timestamp"] && g.Timestamp != w.Timestamp:
		return fmt.Sprintf("timestamp: expected %s (%d), got %s (%d)", formatTime(w.Timestamp), w.Timestamp,
			formatTime(g.Timestamp), g.Timestamp)
	case e.has["type"] && g.Type != w.Type:
		return fmt.Sprintf("type: expected %q, got %q", w.Type, g.Type)
	case e.has["logger"] && g.Logger != w.Logger:
		return fmt.Sprintf("logger: expected %q, got %q", w.Logger, g.Logger)
	case e.has["severity"] && g.Severity != w.Severity:
		return fmt.Sprintf("severity: expected %d, got %d", w.Severity, g.Severity)
	case e.has["hostname"] && g.Hostname != w.Hostname:
		return fmt.Sprintf("hostname: expected %q, got %q", w.Hostname, g.Hostname)
	case e.has["pid"] && g.Pid != w.Pid:
		return fmt.Sprintf("pid: expected %d, got %d", w.Pid, g.Pid)
	case e.has["payload"] && !bytes.Equal(g.Payload, w.Payload):
		return fmt.Sprintf("payload: expected %q, got %q", w.Payload, g.Payload)
	case !e.has["fields"]:
		return ""
	}
	seen := map[string]int{}
	for i := range w.Fields {
		wf := &w.Fields[i]
		k := seen[wf.Name]
		seen[wf.Name]++
		name := strconv.Quote(wf.Name)
		if k > 0 {
			name = fmt.Sprintf("%s[%d]", name, k)
		}
		gf := g.FieldAt(wf.Name, k)
		switch {
		case gf == nil:
			return fmt.Sprintf("field %s: missing", name)
		case gf.Kind != wf.Kind:
			return fmt.Sprintf("field %s: expected %s, got %s (%s)", name, article(wf.Kind), article(gf.Kind), valueText(gf))
		case e.form == '[' && gf.Role != wf.Role:
			return fmt.Sprintf("field %s: expected role %s, got %s", name, wf.Role, gf.Role)
		case !valuesMatch(wf, gf):
			return fmt.Sprintf("field %s: expected %s, got %s", name, valueText(wf), valueText(gf))
		}
	}
	if !e.subset && len(g.Fields) > len(w.Fields) {
		var extra []string
		n := map[string]int{}
		for i := range g.Fields {
			f := &g.Fields[i]
			if n[f.Name] >= seen[f.Name] {
				extra = append(extra, strconv.Quote(f.Name))
			}
			n[f.Name]++
		}
		return fmt.Sprintf("unexpected field %s (list it, or add \"fields_subset\": true)", strings.Join(extra, ", "))
	}
	return ""
}

func (e *expectation) failureMismatch(ev *event) string {
	w, g := e.fail, ev.fail
	if g == nil {
		return fmt.Sprintf("expected a failed %s call, got a message", w.Call)
	}
	switch {
	case g.Call != w.Call:
		return fmt.Sprintf("expected a failed %s call, got a failed %s call", w.Call, g.Call)
	case e.has["line"] && g.Line != w.Line:
		return fmt.Sprintf("line: expected input line %d, got %d", w.Line, g.Line)
	case e.has["status"] && g.Status != w.Status:
		return fmt.Sprintf("status: expected %d, got %d", w.Status, g.Status)
	case e.has["terminated"] && g.Terminated != w.Terminated:
		return fmt.Sprintf("terminated: expected %q, got %q", w.Terminated, g.Terminated)
	case e.has["error"] && !strings.Contains(g.Error, w.Error):
		return fmt.Sprintf("error: expected it to contain %q, got %q", w.Error, g.Error)
	}
	return ""
}

// valuesMatch compares two fields of the same kind; floats within
// FloatTolerance, NaN equal to NaN.
func valuesMatch(w, g *pipeline.Field) bool {
	if w.Kind != pipeline.KindFloat {
		return w.Equal(&pipeline.Field{Name: w.Name, Kind: g.Kind, Role: w.Role, Str: g.Str, Bytes: g.Bytes,
			Int: g.Int, Uint: g.Uint, Bool: g.Bool})
	}
	a, b := w.Float, g.Float
	switch {
	case a == b:
		return true
	case math.IsNaN(a) || math.IsNaN(b):
		return math.IsNaN(a) && math.IsNaN(b)
	case math.IsInf(a, 0) || math.IsInf(b, 0):
		return false
	}
	return math.Abs(a-b) <= FloatTolerance*math.Max(math.Abs(a), math.Abs(b))
}

// valueText shows a value in a note; a whole float keeps its ".0".
func valueText(f *pipeline.Field) string {
	return string(appendValue(nil, f, '{'))
}

// article is "a" or "an" before a kind's name.
func article(k pipeline.FieldKind) string {
	if strings.ContainsRune("aeiou", rune(k.String()[0])) {
		return "an " + k.String()
	}
	return "a " + k.String()
}

func formatTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
}

// compare matches what the script did against the expectations and, when
// they differ, returns a report: a summary, a unified-style diff (one JSON
// line per message) and why each changed message differs.
func compare(c *Case, want []*expectation, got []*event) (string, bool) {
	ops := align(want, got)
	ok := len(want) == len(got)
	for _, o := range ops {
		if o.kind != ' ' {
			ok = false
		}
	}
	if ok {
		return "", true
	}
	var b strings.Builder
	if c.Description != "" {
		fmt.Fprintf(&b, "%s\n", c.Description)
	}
	wantFails := 0
	for _, e := range want {
		if e.fail != nil {
			wantFails++
		}
	}
	gotFails := 0
	for _, ev := range got {
		if ev.fail != nil {
			gotFails++
		}
	}
	fmt.Fprintf(&b, "expected %s, got %s\n", tally(len(want)-wantFails, wantFails), tally(len(got)-gotFails, gotFails))
	fmt.Fprintf(&b, "--- %s\n+++ injected by %s\n", c.Expect, c.Script)

	// Render every op; a '+' paired with a '-' of the same change block is
	// shown in the shape of that expectation, so that equal parts line up.
	type line struct {
		op   op
		text string
		why  string
	}
	var lines []line
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			lines = append(lines, line{op: ops[i], text: renderExpectation(want[ops[i].e])})
			i++
			continue
		}
		j := i
		var dels, ins []op
		for ; j < len(ops) && ops[j].kind != ' '; j++ {
			if ops[j].kind == '-' {
				dels = append(dels, ops[j])
			} else {
				ins = append(ins, ops[j])
			}
		}
		for k, d := range dels {
			l := line{op: d, text: renderExpectation(want[d.e])}
			if k < len(ins) {
				l.why = want[d.e].mismatch(got[ins[k].g])
			} else {
				l.why = "not injected"
			}
			lines = append(lines, l)
		}
		for k, a := range ins {
			l := line{op: a}
			if k < len(dels) {
				l.text = renderEvent(got[a.g], want[dels[k].e])
			} else {
				l.text = renderEvent(got[a.g], nearestShape(want, a.e, got[a.g]))
				l.why = "not expected"
			}
			lines = append(lines, l)
		}
		i = j
	}
	// Hunks with three lines of context, numbered by message (1-based).
	const context = 3
	var notes []string
	for i := 0; i < len(lines); {
		if lines[i].op.kind == ' ' {
			i++
			continue
		}
		start := max(0, i-context)
		end := i
		for end < len(lines) {
			if lines[end].op.kind != ' ' {
				end++
				continue
			}
			k := end
			for k < len(lines) && lines[k].op.kind == ' ' && k-end < 2*context {
				k++
			}
			if k < len(lines) && lines[k].op.kind != ' ' {
				end = k
				continue
			}
			end = min(len(lines), end+context)
			break
		}
		var eFrom, eN, gFrom, gN int
		eFrom, gFrom = -1, -1
		for _, l := range lines[start:end] {
			if l.op.kind != '+' {
				if eFrom < 0 {
					eFrom = l.op.e
				}
				eN++
			}
			if l.op.kind != '-' {
				if gFrom < 0 {
					gFrom = l.op.g
				}
				gN++
			}
		}
		fmt.Fprintf(&b, "@@ -%s +%s @@\n", hunkRange(eFrom, eN, lines[start].op.e), hunkRange(gFrom, gN, lines[start].op.g))
		for _, l := range lines[start:end] {
			fmt.Fprintf(&b, "%c%s\n", l.op.kind, l.text)
			switch {
			case l.why == "":
			case l.op.kind == '-':
				notes = append(notes, fmt.Sprintf("expected message %d (%s line %d): %s", l.op.e+1,
					filepath.Base(c.Expect), want[l.op.e].line, l.why))
			default:
				notes = append(notes, fmt.Sprintf("got message %d: %s", l.op.g+1, l.why))
			}
		}
		i = end
	}
	for _, n := range notes {
		b.WriteString(n + "\n")
	}
	return b.String(), false
}

// nearestShape returns the expectation nearest to position i (before it,
// then after) of the same kind as ev, to show an unexpected event in the
// shape of its neighbours; nil when there is none.
func nearestShape(want []*expectation, i int, ev *event) *expectation {
	same := func(e *expectation) bool { return (e.fail != nil) == (ev.fail != nil) }
	for k := min(i, len(want)) - 1; k >= 0; k-- {
		if same(want[k]) {
			return want[k]
		}
	}
	for k := i; k < len(want); k++ {
		if same(want[k]) {
			return want[k]
		}
	}
	return nil
}

func hunkRange(from, n, fallback int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", fallback)
	}
	return fmt.Sprintf("%d,%d", from+1, n)
}

// op is one step of an alignment: ' ' e and g match, '-' e was not met,
// '+' g was not expected.
type op struct {
	kind byte
	e, g int
}

// maxAlignCells bounds the longest-common-subsequence table; longer outputs
// are aligned message by message.
const maxAlignCells = 4 << 20

// align matches expectations to events in order, keeping as many matches as
// possible (a longest common subsequence), so that one missing message shows
// as one line of the diff rather than as every later line.
func align(want []*expectation, got []*event) []op {
	n, m := len(want), len(got)
	var ops []op
	if n*m > maxAlignCells {
		for i := 0; i < max(n, m); i++ {
			switch {
			case i < n && i < m && want[i].mismatch(got[i]) == "":
				ops = append(ops, op{' ', i, i})
			default:
				if i < n {
					ops = append(ops, op{'-', i, min(i, m)})
				}
				if i < m {
					ops = append(ops, op{'+', min(i, n), i})
				}
			}
		}
		return ops
	}
	match := make([]bool, n*m)
	for i := range n {
		for j := range m {
			match[i*m+j] = want[i].mismatch(got[j]) == ""
		}
	}
	// lcs[i][j]: the longest common subsequence of want[i:] and got[j:].
	lcs := make([]int32, (n+1)*(m+1))
	at := func(i, j int) *int32 { return &lcs[i*(m+1)+j] }
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			switch {
			case match[i*m+j]:
				*at(i, j) = *at(i+1, j+1) + 1
			default:
				*at(i, j) = max(*at(i+1, j), *at(i, j+1))
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && match[i*m+j]:
			ops = append(ops, op{' ', i, j})
			i++
			j++
		case j < m && (i == n || *at(i, j+1) > *at(i+1, j)):
			ops = append(ops, op{'+', i, j})
			j++
		default:
			ops = append(ops, op{'-', i, j})
			i++
		}
	}
	return ops
}

// renderExpectation writes an expected line in the canonical key order.
func renderExpectation(e *expectation) string {
	if e.fail != nil {
		return string(appendFailure(nil, e.fail, e.has))
	}
	buf := appendMessage(nil, e.msg, e.has, e.form, e.msg.Fields)
	if e.subset {
		buf = append(buf[:len(buf)-1], `,"fields_subset":true}`...)
	}
	return string(buf)
}

// updateKeys are the headers -update writes. uuid, hostname and pid differ
// from run to run and machine to machine, and the sandbox sets logger to
// the plugin instance's name, which a case does not have.
var updateKeys = map[string]bool{"timestamp": true, "type": true, "severity": true, "payload": true, "fields": true}

// renderEvent writes what the script did as one JSON line. With a shape,
// only the keys the shape compares are written, fields in the shape's order
// and form (then any others); without one, the form -update writes.
func renderEvent(ev *event, shape *expectation) string {
	if ev.fail != nil {
		has := map[string]bool{"failed": true, "line": true, "status": ev.fail.Status != 0,
			"terminated": ev.fail.Terminated != "", "error": ev.fail.Error != ""}
		if shape != nil && shape.fail != nil {
			has = shape.has
		}
		return string(appendFailure(nil, ev.fail, has))
	}
	m := ev.msg
	if shape == nil || shape.msg == nil {
		has := updateKeys
		if len(m.Payload) == 0 {
			has = maps(updateKeys, "payload")
		}
		return string(appendMessage(nil, m, has, '[', m.Fields))
	}
	fields := m.Fields
	if shape.has["fields"] {
		// The shape's fields first, in its order; the rest after, unless a subset is expected.
		fields = make([]pipeline.Field, 0, len(m.Fields))
		used := make([]bool, len(m.Fields))
		seen := map[string]int{}
		for i := range shape.msg.Fields {
			name := shape.msg.Fields[i].Name
			k := seen[name]
			seen[name]++
			for j := range m.Fields {
				if m.Fields[j].Name == name && !used[j] {
					if k == 0 {
						fields = append(fields, m.Fields[j])
						used[j] = true
						break
					}
					k--
				}
			}
		}
		if !shape.subset {
			for j := range m.Fields {
				if !used[j] {
					fields = append(fields, m.Fields[j])
				}
			}
		}
	}
	return string(appendMessage(nil, m, shape.has, shape.form, fields))
}

// maps returns a copy of m without the key drop.
func maps(m map[string]bool, drop string) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		if k != drop {
			out[k] = v
		}
	}
	return out
}

// appendMessage writes the headers in has, in the JSON form's order, and
// fields in form ('[' the array form, '{' the object form).
func appendMessage(buf []byte, m *pipeline.Message, has map[string]bool, form byte, fields []pipeline.Field) []byte {
	buf = append(buf, '{')
	first := true
	key := func(k string) {
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendString(buf, k)
		buf = append(buf, ':')
	}
	text := func(k, s string) {
		if utf8.ValidString(s) {
			key(k)
			buf = appendString(buf, s)
			return
		}
		key(k + "_base64")
		buf = appendString(buf, base64.StdEncoding.EncodeToString([]byte(s)))
	}
	for _, k := range headerKeys {
		if !has[k] {
			continue
		}
		switch k {
		case "uuid":
			key(k)
			buf = appendString(buf, m.UUID.String())
		case "timestamp":
			key(k)
			buf = appendString(buf, formatTime(m.Timestamp))
		case "type":
			text(k, m.Type)
		case "logger":
			text(k, m.Logger)
		case "severity":
			key(k)
			buf = strconv.AppendInt(buf, int64(m.Severity), 10)
		case "hostname":
			text(k, m.Hostname)
		case "pid":
			key(k)
			buf = strconv.AppendInt(buf, int64(m.Pid), 10)
		case "payload":
			text(k, string(m.Payload))
		case "fields":
			key(k)
			buf = appendFields(buf, fields, form)
		}
	}
	return append(buf, '}')
}

func appendFields(buf []byte, fields []pipeline.Field, form byte) []byte {
	if form == '{' {
		buf = append(buf, '{')
		for i := range fields {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, fields[i].Name)
			buf = append(buf, ':')
			buf = appendValue(buf, &fields[i], '{')
		}
		return append(buf, '}')
	}
	buf = append(buf, '[')
	for i := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = pipeline.AppendJSONField(buf, &fields[i])
	}
	return append(buf, ']')
}

// appendValue writes a field's value. In the object form, where the kind
// comes from the literal, a whole float keeps a ".0" so that it reads back a
// float.
func appendValue(buf []byte, f *pipeline.Field, form byte) []byte {
	switch f.Kind {
	case pipeline.KindString:
		return appendString(buf, f.Str)
	case pipeline.KindBytes:
		return appendString(buf, base64.StdEncoding.EncodeToString(f.Bytes))
	case pipeline.KindInt:
		return strconv.AppendInt(buf, f.Int, 10)
	case pipeline.KindUint:
		return strconv.AppendUint(buf, f.Uint, 10)
	case pipeline.KindBool:
		return strconv.AppendBool(buf, f.Bool)
	case pipeline.KindFloat:
		switch {
		case math.IsNaN(f.Float):
			return append(buf, `"NaN"`...)
		case math.IsInf(f.Float, 1):
			return append(buf, `"+Inf"`...)
		case math.IsInf(f.Float, -1):
			return append(buf, `"-Inf"`...)
		}
		n := len(buf)
		buf = strconv.AppendFloat(buf, f.Float, 'g', -1, 64)
		if form == '{' && !bytes.ContainsAny(buf[n:], ".e") {
			buf = append(buf, ".0"...)
		}
		return buf
	}
	return append(buf, "null"...)
}

func appendFailure(buf []byte, f *failure, has map[string]bool) []byte {
	buf = append(buf, `{"failed":`...)
	buf = appendString(buf, f.Call)
	if has["line"] {
		buf = append(buf, `,"line":`...)
		buf = strconv.AppendInt(buf, int64(f.Line), 10)
	}
	if has["status"] {
		buf = append(buf, `,"status":`...)
		buf = strconv.AppendInt(buf, int64(f.Status), 10)
	}
	if has["terminated"] {
		buf = append(buf, `,"terminated":`...)
		buf = appendString(buf, f.Terminated)
	}
	if has["error"] {
		buf = append(buf, `,"error":`...)
		buf = appendString(buf, f.Error)
	}
	return append(buf, '}')
}

// appendString writes s as a JSON string, as the JSON form does.
func appendString(buf []byte, s string) []byte {
	return pipeline.AppendJSONString(buf, s)
}

// leadingComments returns the comment lines at the top of an expected file,
// which -update keeps; nothing when the file does not exist yet.
func leadingComments(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, configErrorf(path, 0, "%v", err)
	}
	var head []byte
	for line := range bytes.SplitAfterSeq(data, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) == 0 || t[0] != '#' {
			break
		}
		head = append(head, line...)
	}
	if len(head) > 0 && head[len(head)-1] != '\n' {
		head = append(head, '\n')
	}
	return head, nil
}

// writeExpected writes what the script did as an expected file.
func writeExpected(path string, head []byte, got []*event) error {
	buf := slices.Clone(head)
	for _, ev := range got {
		buf = append(buf, renderEvent(ev, nil)...)
		buf = append(buf, '\n')
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return configErrorf(path, 0, "%v", err)
	}
	return nil
}
