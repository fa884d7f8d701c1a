package decodertest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/decoders/decodertest"
	"github.com/interoceptor/interoceptor/pipeline"
)

// words is a decoder for these tests: each line is a message of Type
// decoder_config.type ("words") with a field per word, but "skip" is
// skipped, a line starting with "bad" fails, and a line starting with
// "sloppy" fails after adding a field, which a decoder must not do.
type words struct{ typ string }

func (w *words) Configure(table map[string]any) error {
	for k, v := range table {
		if k != "type" {
			return pipeline.InvalidKey(k, "unknown key")
		}
		w.typ, _ = v.(string)
	}
	return nil
}

func (w *words) Decode(line []byte, m *pipeline.Message) error {
	s := string(line)
	switch {
	case s == "skip":
		return pipeline.ErrSkipLine
	case strings.HasPrefix(s, "bad"):
		return errors.New("bad line")
	case strings.HasPrefix(s, "sloppy"):
		m.AddString("half", "done")
		return errors.New("sloppy line")
	}
	for i, f := range strings.Fields(s) {
		m.AddString(string(rune('a'+i)), f)
	}
	m.Type = w.typ
	return nil
}

var reg = pipeline.DecoderRegistration{Name: "words", Description: "words",
	New: func() pipeline.Decoder { return &words{typ: "words"} }}

// writeCase writes the files of a case, name → content, into a new directory.
func writeCase(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUpdateWritesWhatCheckThenAccepts(t *testing.T) {
	dir := writeCase(t, map[string]string{
		"input":       "hello world\nskip\nbad one\n\r\n",
		"config.toml": `type = "greeting"`,
	})
	if p := decodertest.Check(reg, dir, true); len(p) > 0 {
		t.Fatal(p)
	}
	wantMessages := `{"type":"greeting","severity":6,"payload":"hello world","fields":[{"name":"a","type":"string","value":"hello"},{"name":"b","type":"string","value":"world"}]}
{"type":"greeting","severity":6,"payload":"\r","fields":[]}
`
	if got := read(t, filepath.Join(dir, "expected.jsonl")); got != wantMessages {
		t.Errorf("expected.jsonl:\n%s\nwant\n%s", got, wantMessages)
	}
	if got, want := read(t, filepath.Join(dir, "expected_error")), "2: skip line\n3: bad line\n"; got != want {
		t.Errorf("expected_error:\n%s\nwant\n%s", got, want)
	}
	if p := decodertest.Check(reg, dir, false); len(p) > 0 {
		t.Errorf("after -update: %v", p)
	}
}

// A golden case fails when the decoder's output changes: here the expected
// files say otherwise.
func TestCheckFailsOnAnyDifference(t *testing.T) {
	for name, c := range map[string]struct {
		files map[string]string
		want  string
	}{
		"another value": {map[string]string{"input": "a b\n",
			"expected.jsonl": `{"type":"words","severity":0,"payload":"a b","fields":[{"name":"a","type":"string","value":"a"},{"name":"b","type":"string","value":"c"}]}` + "\n"},
			"message 1 (input line 1)"},
		"a message more": {map[string]string{"input": "a\n"}, "message 1 (input line 1) is not expected"},
		"a message less": {map[string]string{"input": "bad\n",
			"expected.jsonl": `{"type":"words","severity":0,"payload":"bad","fields":[]}` + "\n", "expected_error": "1: bad line\n"},
			"message 1 is missing"},
		"another error": {map[string]string{"input": "bad\n", "expected_error": "1: good line\n"}, "errors differ"},
		"not JSON form": {map[string]string{"input": "a\n", "expected.jsonl": `{"kind":"words"}` + "\n"}, "is not a message in JSON form"},
		"a config error": {map[string]string{"config.toml": `colour = "red"`, "expected_error": "decoder_config: nothing\n"},
			"errors differ"},
		"input with a config error": {map[string]string{"input": "a\n", "config.toml": `colour = "red"`,
			"expected_error": "decoder_config: key \"colour\": unknown key\n"}, "remove it"},
		"no input":          {map[string]string{}, "no input file"},
		"an empty input":    {map[string]string{"input": ""}, "input has no lines"},
		"a bad config.toml": {map[string]string{"input": "a\n", "config.toml": "type = "}, "config.toml"},
		"a sloppy decoder":  {map[string]string{"input": "sloppy\n", "expected_error": "1: sloppy line\n"}, "the failed decode changed the message"},
	} {
		t.Run(name, func(t *testing.T) {
			p := decodertest.Check(reg, writeCase(t, c.files), false)
			if !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Errorf("got problems %q, want one with %q", p, c.want)
			}
		})
	}
}

func TestRenderLeavesOutWhatTheDecoderDidNotSet(t *testing.T) {
	m := &pipeline.Message{Timestamp: decodertest.Arrival, Type: "t"}
	if got, want := decodertest.Render(m), `{"type":"t","severity":0,"fields":[]}`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	m = &pipeline.Message{Timestamp: 1, Type: "t", Logger: "l", Hostname: "h", Pid: 10, Severity: 3, Payload: []byte(`,"pid":0`)}
	m.AddInt("pid", 0)
	want := `{"timestamp":"1970-01-01T00:00:00.000000001Z","type":"t","logger":"l","severity":3,"hostname":"h","pid":10,` +
		`"payload":",\"pid\":0","fields":[{"name":"pid","type":"int","value":0}]}`
	if got := decodertest.Render(m); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
