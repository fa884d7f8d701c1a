// Package decodertest runs the golden cases of a decoder, one suite for
// every decoder: each case is a directory of input lines, an optional
// decoder_config and the expected messages and errors (see README.md for
// the layout). A decoder's test is one line:
//
//	func TestGolden(t *testing.T) { decodertest.Run(t, "regex", "testdata") }
//
// `go test ./decoders/... -update` rewrites the expected files from what the
// decoders produce; review the diff before committing it.
package decodertest

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

var update = flag.Bool("update", false, "rewrite the expected files of the decoder golden cases from what the decoders produce")

// The files of a case directory.
const (
	InputFile    = "input"
	ConfigFile   = "config.toml"
	ExpectedFile = "expected.jsonl"
	ErrorFile    = "expected_error"
)

// Arrival is the Timestamp of the message handed to the decoder with each
// line, as the runtime sets it to the time the line arrived. A message that
// still has it after decoding is written without "timestamp".
var Arrival = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).UnixNano()

// Run runs every case under dir (each subdirectory but fuzz, Go's fuzz
// corpus) as a subtest, with the decoder name, as an input's decoder key
// names it: a registered name, or the path of a Lua script. The decoder must
// be registered with a description and a sample.
func Run(t *testing.T, name, dir string) {
	t.Helper()
	reg, ok := pipeline.LookupDecoder(name)
	if !ok {
		t.Fatalf("decoder %q is not registered", name)
	}
	if reg.Description == "" || reg.Sample == "" {
		t.Errorf("decoder %q is registered without a description or a sample", name)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "fuzz" {
			continue
		}
		n++
		caseDir := filepath.Join(dir, e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			problems := Check(reg, caseDir, *update)
			for _, p := range problems {
				t.Error(p)
			}
			if len(problems) > 0 && !*update {
				t.Logf("if the decoder is right, rewrite the expected files with -update and review the diff")
			}
		})
	}
	if n == 0 {
		t.Fatalf("no cases in %s", dir)
	}
}

// result is what a case's decoder did.
type result struct {
	messages []string // rendered
	lineOf   []int    // the input line of each message, from 1
	errors   []string // "N: error", or "decoder_config: error"
	outcome  []string // per input line: the message, or "error: " and the text
}

// Check runs the case in dir with the decoder of reg and returns what
// differs from the expected files, or with rewrite, rewrites them and
// returns only what it could not do. Each problem is a sentence to report.
func Check(reg pipeline.DecoderRegistration, dir string, rewrite bool) (problems []string) {
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	path := func(f string) string { return filepath.Join(dir, f) }

	d := reg.New()
	var table map[string]any
	if _, err := os.Stat(path(ConfigFile)); err == nil {
		if _, err := toml.DecodeFile(path(ConfigFile), &table); err != nil {
			fail("%s: %v", ConfigFile, err)
			return problems
		}
	}
	input, inputErr := os.ReadFile(path(InputFile))
	if inputErr != nil && !errors.Is(inputErr, fs.ErrNotExist) {
		fail("%v", inputErr)
		return problems
	}
	var got result
	configErr := configure(d, table)
	if configErr != nil {
		// On the key the config reports it on: "decoder" for a script
		// that cannot be used, "decoder_config" for the rest.
		key := "decoder_config"
		if _, ok := errors.AsType[*pipeline.DecoderScriptError](configErr); ok {
			key = "decoder"
		}
		got.errors = []string{key + ": " + configErr.Error()}
		if inputErr == nil {
			fail("Configure fails, so %s is not decoded: remove it, or fix %s", InputFile, ConfigFile)
		}
	} else {
		if inputErr != nil {
			fail("no %s file", InputFile)
			return problems
		}
		if i, ok := d.(pipeline.Initializer); ok {
			if err := i.Init(pipelinetest.Env(pipeline.KindInput, "decodertest", "in")); err != nil {
				fail("Init: %v", err)
			}
		}
		if c, ok := d.(pipeline.Closer); ok {
			defer func() {
				if err := c.Close(); err != nil {
					fail("Close: %v", err)
				}
			}()
		}
		if len(problems) > 0 {
			return problems
		}
		lines := splitLines(input)
		if len(lines) == 0 {
			fail("%s has no lines", InputFile)
			return problems
		}
		got = decodeAll(d, lines, fail)
		decodeConcurrently(d, lines, got.outcome, fail)
	}

	if rewrite {
		if err := writeExpected(path(ExpectedFile), got.messages); err != nil {
			fail("%v", err)
		}
		if err := writeExpected(path(ErrorFile), got.errors); err != nil {
			fail("%v", err)
		}
		return problems
	}
	wantMessages, err := readLines(path(ExpectedFile))
	if err != nil {
		fail("%v", err)
	}
	for i, w := range wantMessages {
		if err := pipeline.ParseJSON([]byte(w), new(pipeline.Message)); err != nil {
			fail("%s line %d is not a message in JSON form: %v", ExpectedFile, i+1, err)
		}
	}
	for i := range max(len(got.messages), len(wantMessages)) {
		switch {
		case i >= len(wantMessages):
			fail("message %d (input line %d) is not expected:\n got  %s", i+1, got.lineOf[i], got.messages[i])
		case i >= len(got.messages):
			fail("message %d is missing:\n want %s", i+1, wantMessages[i])
		case got.messages[i] != wantMessages[i]:
			fail("message %d (input line %d):\n got  %s\n want %s", i+1, got.lineOf[i], got.messages[i], wantMessages[i])
		}
	}
	wantErrors, err := os.ReadFile(path(ErrorFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		fail("%v", err)
	}
	if g := joinLines(got.errors); g != string(wantErrors) {
		fail("errors differ from %s:\n got\n%s want\n%s", ErrorFile, indent(g), indent(string(wantErrors)))
	}
	return problems
}

// configure calls Configure, as the config does, on a decoder that takes
// options; table is nil without config.toml.
func configure(d pipeline.Decoder, table map[string]any) error {
	cd, ok := d.(pipeline.ConfigurableDecoder)
	if !ok {
		if table != nil {
			return fmt.Errorf("the decoder takes no options, but the case has %s", ConfigFile)
		}
		return nil
	}
	return cd.Configure(table)
}

// decodeAll decodes each line into a message as the runtime hands it to a
// decoder (Payload the line, Timestamp the arrival time, Severity
// pipeline.DefaultSeverity). A line that fails
// is decoded once more, into a message that already has a field: a failed
// decode must leave the message as it was, and fail the same way.
func decodeAll(d pipeline.Decoder, lines [][]byte, fail func(string, ...any)) result {
	var r result
	for i, line := range lines {
		n := i + 1
		m := &pipeline.Message{Timestamp: Arrival, Severity: pipeline.DefaultSeverity, Payload: line}
		err := d.Decode(line, m)
		if err == nil {
			s := Render(m)
			r.messages = append(r.messages, s)
			r.lineOf = append(r.lineOf, n)
			r.outcome = append(r.outcome, s)
			continue
		}
		r.errors = append(r.errors, fmt.Sprintf("%d: %v", n, err))
		r.outcome = append(r.outcome, "error: "+err.Error())
		if !m.Equal(&pipeline.Message{Timestamp: Arrival, Severity: pipeline.DefaultSeverity, Payload: line}) {
			fail("line %d: the failed decode changed the message: %s", n, Render(m))
		}
		before := &pipeline.Message{Timestamp: Arrival, Severity: pipeline.DefaultSeverity, Payload: line, Fields: []pipeline.Field{
			{Name: "set_before", Kind: pipeline.KindString, Str: "by the input"}}}
		m = before.Clone()
		if err2 := d.Decode(line, m); err2 == nil || err2.Error() != err.Error() {
			fail("line %d: decoded again, into a message with a field: %v, first %v", n, err2, err)
		} else if !m.Equal(before) {
			fail("line %d: the failed decode changed a message with a field: %s", n, Render(m))
		}
	}
	return r
}

// decodeConcurrently decodes the lines again from several goroutines at
// once, as an input with several connections does with its one decoder,
// each starting at another line, and checks that each gives what it gave
// alone (run with -race).
func decodeConcurrently(d pipeline.Decoder, lines [][]byte, want []string, fail func(string, ...any)) {
	const goroutines, decodesEach = 4, 20
	rounds := (decodesEach + len(lines) - 1) / len(lines)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for j := range rounds * len(lines) {
				i := (j + g) % len(lines)
				line := bytes.Clone(lines[i])
				m := &pipeline.Message{Timestamp: Arrival, Severity: pipeline.DefaultSeverity, Payload: line}
				got := ""
				if err := d.Decode(line, m); err != nil {
					got = "error: " + err.Error()
				} else {
					got = Render(m)
				}
				if got != want[i] {
					mu.Lock()
					fail("line %d decoded concurrently with others:\n got  %s\n alone %s", i+1, got, want[i])
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
}

// Render writes m in the JSON form of `interoceptor cat` (pipeline.AppendJSON)
// without what the decoder did not set: "uuid" when it is zero,
// "timestamp" when it is Arrival, "logger" and "hostname" when empty, "pid"
// when 0. "type", "severity" and "fields" are always there, "payload" when
// the message has one.
func Render(m *pipeline.Message) string {
	s := string(pipeline.AppendJSON(nil, m))
	// The headers (and payload) come first, in a fixed order, before
	// "fields"; a JSON string holds no unescaped '"', so these cuts, which
	// all have one, cannot fall inside a value.
	end := strings.Index(s, `,"fields":[`)
	head, rest := s[:end], s[end:]
	var zero pipeline.UUID
	drop := []string{`"uuid":"` + zero.String() + `",`, `,"logger":""`, `,"hostname":""`, `,"pid":0`}
	if m.Timestamp == Arrival {
		drop = append(drop, `"timestamp":"`+time.Unix(0, Arrival).UTC().Format("2006-01-02T15:04:05.000000000Z")+`",`)
	}
	for _, d := range drop {
		head = strings.Replace(head, d, "", 1) // `"pid":0` is whole: integers have no leading zeros
	}
	return head + rest
}

// splitLines splits input at "\n"; a "\r" before it stays in the line, and a
// "\n" at the very end ends the last line rather than starting an empty one.
func splitLines(input []byte) [][]byte {
	if len(input) == 0 {
		return nil
	}
	parts := bytes.Split(bytes.TrimSuffix(input, []byte("\n")), []byte("\n"))
	for i, p := range parts {
		parts[i] = bytes.Clone(p) // the decoder sees the line and nothing after it
	}
	return parts
}

// readLines returns the lines of a file, none when it does not exist.
func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil || len(b) == 0 {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), nil
}

// joinLines writes lines one per line; the continuation lines of a
// multi-line entry (errors.Join) are indented with a tab.
func joinLines(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.ReplaceAll(l, "\n", "\n\t"))
		b.WriteByte('\n')
	}
	return b.String()
}

// writeExpected writes lines to path, or removes path when there are none.
func writeExpected(path string, lines []string) error {
	if len(lines) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return os.WriteFile(path, []byte(joinLines(lines)), 0o644)
}

func indent(s string) string {
	if s == "" {
		return "  (none)\n"
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
