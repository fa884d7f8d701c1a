package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
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
			out := &pipelinetest.Collector{LinesOnly: true}
			if err := p.Run(context.Background(), out); err != nil {
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
	pipelinetest.CheckInitFails(t, p, pipelinetest.Env(pipeline.KindInput, "file", "file"), p.Path)
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
	out := &cancellingCollector{Collector: pipelinetest.Collector{LinesOnly: true}, after: 1000, cancel: cancel}
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

// TestSample keeps sample.toml and the code in step. The path is required:
// the sample shows an example, the default is empty.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindInput, "file", "path") }

func newDefault() *File {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "file")
	return reg.New().(*File)
}

func initFile(t *testing.T, p *File) *pipeline.Env {
	t.Helper()
	env := pipelinetest.Env(pipeline.KindInput, "file", "file")
	pipelinetest.Init(t, p, env)
	return env
}

// cancellingCollector ends the pipeline after a number of lines.
type cancellingCollector struct {
	pipelinetest.Collector
	after  int
	cancel func()
}

func (c *cancellingCollector) EmitLine(line []byte) error {
	if c.Len() == c.after {
		c.cancel()
	}
	return c.Collector.EmitLine(line)
}
