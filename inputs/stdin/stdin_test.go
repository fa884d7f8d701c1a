package stdin

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestStdinEmitsEveryLineThenEnds(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  []string
	}{
		{name: "lines", input: "GET /a 200\nGET /b 404\n", want: []string{"GET /a 200", "GET /b 404"}},
		{name: "CRLF and a last line without newline", input: "one\r\ntwo", want: []string{"one", "two"}},
		{name: "empty lines are messages too", input: "a\n\nb\n", want: []string{"a", "", "b"}},
		{name: "nothing", input: "", want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStdin(strings.NewReader(tc.input))
			pipelinetest.Init(t, s, pipelinetest.Env(pipeline.KindInput, "stdin", "stdin"))
			out := &pipelinetest.Collector{LinesOnly: true}
			if err := s.Run(context.Background(), out); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := out.Lines(); !slices.Equal(got, tc.want) {
				t.Errorf("emitted %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStdinStopsWhenThePipelineStops(t *testing.T) {
	cases := []struct {
		name        string
		source      func(t *testing.T) (io.Reader, io.Writer)
		want        []string // after cancel
		wantDropped uint64
	}{
		// An os pipe can be interrupted: the complete lines read are
		// emitted before Run returns; a line without its newline is
		// incomplete, dropped and counted.
		{name: "pollable pipe", source: osPipe, want: []string{"a", "b"}, wantDropped: 1},
		// A reader that cannot be interrupted: Run returns anyway, and the
		// read left blocked emits nothing after that.
		{name: "blocking reader", source: ioPipe, want: []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, w := tc.source(t)
			env, out := pipelinetest.Env(pipeline.KindInput, "stdin", "stdin"), &pipelinetest.Collector{LinesOnly: true}
			stop := pipelinetest.StartInput(t, newStdin(r), env, out)
			go func() {
				// One write, so that one read takes it all in: once "a" and
				// "b" are out, "partial" is in the reader's buffer.
				if _, err := io.WriteString(w, "a\nb\npartial"); err != nil {
					t.Error(err)
				}
			}()
			out.WaitFor(t, 2, 5*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := out.Lines(); !slices.Equal(got, tc.want) {
				t.Errorf("emitted %q, want %q", got, tc.want)
			}
			if got := env.Stats.Dropped.Load(); got != tc.wantDropped {
				t.Errorf("Dropped = %d, want %d", got, tc.wantDropped)
			}
		})
	}
}

func TestStdinValidate(t *testing.T) {
	cases := []struct {
		name    string
		s       Stdin
		wantKey string
	}{
		{name: "defaults", s: *newDefault()},
		{name: "zero max_line_bytes", s: Stdin{MaxLineBytes: 0}, wantKey: "max_line_bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
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

// TestSample keeps sample.toml and the code in step.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindInput, "stdin") }

func newDefault() *Stdin {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "stdin")
	return reg.New().(*Stdin)
}

// newStdin returns the input with its defaults, reading in instead of the
// real standard input.
func newStdin(in io.Reader) *Stdin {
	s := newDefault()
	s.in = in
	return s
}

func osPipe(t *testing.T) (io.Reader, io.Writer) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func ioPipe(t *testing.T) (io.Reader, io.Writer) {
	r, w := io.Pipe()
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}
