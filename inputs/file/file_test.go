package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/interoceptor/interoceptor/pipeline"
)

func TestFileEmitsEveryLineThenEnds(t *testing.T) {
	many := make([]string, 100000)
	for i := range many {
		many[i] = fmt.Sprintf("line %d", i)
	}
	cases := []struct {
		name      string
		content   string
		maxLine   int
		want      []string
		truncated uint64
	}{
		{name: "lines", content: "GET /a 200\nGET /b 404\n", want: []string{"GET /a 200", "GET /b 404"}},
		{name: "CRLF and a last line without newline", content: "one\r\ntwo", want: []string{"one", "two"}},
		{name: "empty file", content: "", want: nil},
		{name: "many lines", content: strings.Join(many, "\n") + "\n", want: many},
		{name: "over-long line cut to max_line_bytes", content: "0123456789\nok\n", maxLine: 4, want: []string{"0123", "ok"}, truncated: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			p := newDefault()
			p.Path = path
			if tc.maxLine > 0 {
				p.MaxLineBytes = tc.maxLine
			}
			env := initFile(t, p)
			var out collector
			if err := p.Run(context.Background(), &out); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := out.Lines(); !slices.Equal(got, tc.want) {
				t.Errorf("emitted %d lines %.80q, want %d lines %.80q", len(got), got, len(tc.want), tc.want)
			}
			if got := env.Stats.Errors.Load(); got != tc.truncated {
				t.Errorf("Errors = %d, want %d", got, tc.truncated)
			}
		})
	}
}

func TestFileMissingStopsStartup(t *testing.T) {
	p := newDefault()
	p.Path = filepath.Join(t.TempDir(), "nope.log")
	err := p.Init(testEnv())
	if err == nil || !strings.Contains(err.Error(), p.Path) {
		t.Fatalf("Init = %v, want an error naming %s", err, p.Path)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close after a failed Init: %v", err)
	}
}

func TestFileStopsWhenThePipelineStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.log")
	if err := os.WriteFile(path, bytes.Repeat([]byte("some line\n"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newDefault()
	p.Path = path
	initFile(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	out := &cancellingCollector{after: 1000, cancel: cancel}
	if err := p.Run(ctx, out); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := len(out.Lines()); n < 1000 || n >= 1<<20 {
		t.Errorf("emitted %d lines, want it to stop soon after 1000", n)
	}
}

func TestFileValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*File)
		wantKey string
	}{
		{name: "path set", edit: func(p *File) { p.Path = "/var/log/app.log" }},
		{name: "path missing", edit: func(p *File) {}, wantKey: "path"},
		{name: "negative max_line_bytes", edit: func(p *File) { p.Path = "x"; p.MaxLineBytes = -1 }, wantKey: "max_line_bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newDefault()
			tc.edit(p)
			err := p.Validate()
			var ke *pipeline.KeyError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantKey != "" && (!errors.As(err, &ke) || ke.Key != tc.wantKey):
				t.Errorf("Validate = %v, want an error on key %q", err, tc.wantKey)
			}
		})
	}
}

// TestSampleSetsEveryKeyToItsDefault keeps sample.toml and the code in step.
func TestSampleSetsEveryKeyToItsDefault(t *testing.T) {
	reg, ok := pipeline.Lookup(pipeline.KindInput, "file")
	if !ok {
		t.Fatal("inputs.file is not registered")
	}
	var doc map[string]map[string][]map[string]any
	if _, err := toml.Decode(reg.Sample, &doc); err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	tables := doc["inputs"]["file"]
	if len(tables) != 1 {
		t.Fatalf("sample.toml has %d [[inputs.file]] tables, want 1", len(tables))
	}
	keys := tables[0]
	for _, k := range []string{"name", "publish"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("sample.toml lacks the shared key %q", k)
		}
	}
	for _, k := range []string{"name", "publish", "decoder", "dead_letter"} {
		delete(keys, k)
	}
	var src bytes.Buffer
	if err := toml.NewEncoder(&src).Encode(keys); err != nil {
		t.Fatal(err)
	}
	got := new(File)
	md, err := toml.Decode(src.String(), got)
	if err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("sample.toml has keys the plugin does not know: %v", u)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("sample.toml does not validate: %v", err)
	}
	got.Path = "" // required: the sample shows an example, the default is empty
	if want := reg.New(); !reflect.DeepEqual(got, want) {
		t.Errorf("sample.toml decodes to %+v, want the defaults %+v", got, want)
	}
	typ := reflect.TypeFor[File]()
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("toml"); key != "" {
			if _, ok := keys[key]; !ok {
				t.Errorf("sample.toml lacks key %q", key)
			}
		}
	}
}

func newDefault() *File {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "file")
	return reg.New().(*File)
}

func testEnv() *pipeline.Env {
	return &pipeline.Env{Kind: pipeline.KindInput, Type: "file", Name: "file",
		Log: slog.New(slog.DiscardHandler), Stats: new(pipeline.PluginStats)}
}

func initFile(t *testing.T, p *File) *pipeline.Env {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	env := testEnv()
	if err := p.Init(env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return env
}

// collector is a LineEmitter that keeps a copy of every line (a line is only
// valid during EmitLine).
type collector struct {
	mu    sync.Mutex
	lines []string
}

func (c *collector) EmitLine(line []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, string(line))
	return nil
}

func (c *collector) Emit(*pipeline.Message) error {
	return errors.New("file emits lines, not messages")
}

func (c *collector) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// cancellingCollector ends the pipeline after a number of lines.
type cancellingCollector struct {
	collector
	after  int
	cancel func()
}

func (c *cancellingCollector) EmitLine(line []byte) error {
	if len(c.Lines()) == c.after {
		c.cancel()
	}
	return c.collector.EmitLine(line)
}
