package stdin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/interoceptor/interoceptor/pipeline"
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
			s := newStdin(t, strings.NewReader(tc.input))
			var out collector
			if err := s.Run(context.Background(), &out); err != nil {
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
			s := newStdin(t, r)
			stats := s.env.Stats
			var out collector
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				// One write, so that one read takes it all in: once "a" and
				// "b" are out, "partial" is in the reader's buffer.
				if _, err := io.WriteString(w, "a\nb\npartial"); err != nil {
					t.Error(err)
				}
			}()
			go func() { done <- s.Run(ctx, &out) }()
			waitFor(t, func() bool { return len(out.Lines()) == 2 })
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after the context ended")
			}
			if got := out.Lines(); !slices.Equal(got, tc.want) {
				t.Errorf("emitted %q, want %q", got, tc.want)
			}
			if got := stats.Dropped.Load(); got != tc.wantDropped {
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

// TestSampleSetsEveryKeyToItsDefault keeps sample.toml and the code in step.
func TestSampleSetsEveryKeyToItsDefault(t *testing.T) {
	reg, ok := pipeline.Lookup(pipeline.KindInput, "stdin")
	if !ok {
		t.Fatal("inputs.stdin is not registered")
	}
	var doc map[string]map[string][]map[string]any
	if _, err := toml.Decode(reg.Sample, &doc); err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	tables := doc["inputs"]["stdin"]
	if len(tables) != 1 {
		t.Fatalf("sample.toml has %d [[inputs.stdin]] tables, want 1", len(tables))
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
	got := new(Stdin)
	md, err := toml.Decode(src.String(), got)
	if err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("sample.toml has keys the plugin does not know: %v", u)
	}
	if want := reg.New(); !reflect.DeepEqual(got, want) {
		t.Errorf("sample.toml decodes to %+v, want the defaults %+v", got, want)
	}
	typ := reflect.TypeFor[Stdin]()
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("toml"); key != "" {
			if _, ok := keys[key]; !ok {
				t.Errorf("sample.toml lacks key %q", key)
			}
		}
	}
}

func newDefault() *Stdin {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "stdin")
	return reg.New().(*Stdin)
}

func newStdin(t *testing.T, in io.Reader) *Stdin {
	t.Helper()
	s := newDefault()
	s.in = in
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &pipeline.Env{Kind: pipeline.KindInput, Type: "stdin", Name: "stdin",
		Log: slog.New(slog.DiscardHandler), Stats: new(pipeline.PluginStats)}
	if err := s.Init(env); err != nil {
		t.Fatal(err)
	}
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
	return errors.New("stdin emits lines, not messages")
}

func (c *collector) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
