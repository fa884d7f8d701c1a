package luatest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/sandbox"
)

// CaseSuffix ends the name of every test case file.
const CaseSuffix = ".test.toml"

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
