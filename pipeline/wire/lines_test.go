package wire_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

// lineCollector is a LineEmitter that keeps a copy of every line: the line
// given to EmitLine is only valid during the call.
type lineCollector struct {
	lines []string
	err   error // returned by EmitLine, to stop the reader
}

func (c *lineCollector) EmitLine(line []byte) error {
	c.lines = append(c.lines, string(line))
	return c.err
}

func (c *lineCollector) Emit(*pipeline.Message) error {
	return errors.New("lineCollector: Emit not expected")
}

func TestReadLines(t *testing.T) {
	long := strings.Repeat("a", 200<<10) // longer than ReadLines' read buffer
	cases := []struct {
		name      string
		input     string
		maxLine   int
		want      []string
		truncated uint64
	}{
		{name: "newline terminated", input: "a\nbb\n", want: []string{"a", "bb"}},
		{name: "CRLF terminated", input: "a\r\nbb\r\n", want: []string{"a", "bb"}},
		{name: "last line without newline", input: "a\nbb", want: []string{"a", "bb"}},
		{name: "empty lines are kept", input: "\n\na\n\n", want: []string{"", "", "a", ""}},
		{name: "CR inside a line is kept", input: "a\rb\n", want: []string{"a\rb"}},
		{name: "empty input", input: "", want: nil},
		{name: "line of exactly max_line_bytes", input: "abcd\r\nef\n", maxLine: 4, want: []string{"abcd", "ef"}},
		{name: "long line truncated, next line intact", input: "abcdefgh\nxy\n", maxLine: 4, want: []string{"abcd", "xy"}, truncated: 1},
		{name: "CRLF does not count toward the limit", input: "abcde\r\n", maxLine: 4, want: []string{"abcd"}, truncated: 1},
		{name: "truncated last line without newline", input: "a\nabcdefgh", maxLine: 4, want: []string{"a", "abcd"}, truncated: 1},
		{name: "line longer than the read buffer", input: long + "\r\nnext\n", want: []string{long, "next"}},
		{name: "line longer than buffer and limit", input: long + "\nnext\n", maxLine: 100 << 10, want: []string{long[:100<<10], "next"}, truncated: 1},
		{name: "CR at the end of the read buffer", input: strings.Repeat("b", 64<<10-1) + "\r\nc", want: []string{strings.Repeat("b", 64<<10-1), "c"}},
		{name: "long line of exactly max_line_bytes, CRLF kept out of the limit", input: long[:100<<10] + "\r\nnext\n", maxLine: 100 << 10,
			want: []string{long[:100<<10], "next"}},
		{name: "long line one byte over max_line_bytes", input: long[:100<<10+1] + "\nnext\n", maxLine: 100 << 10,
			want: []string{long[:100<<10], "next"}, truncated: 1},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader, // every line crosses read boundaries
		"halves":   iotest.HalfReader,
	}
	for _, tc := range cases {
		for rname, wrap := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				var out lineCollector
				var stats pipeline.PluginStats
				err := wire.ReadLines(wrap(strings.NewReader(tc.input)), tc.maxLine, &out, &stats, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatalf("ReadLines: %v", err)
				}
				if !slices.Equal(out.lines, tc.want) {
					t.Errorf("lines:\n got %q\nwant %q", clip(out.lines), clip(tc.want))
				}
				if got := stats.Errors.Load(); got != tc.truncated {
					t.Errorf("Errors = %d, want %d truncated lines", got, tc.truncated)
				}
			})
		}
	}
}

func TestReadLinesReadErrorEmitsCompleteLines(t *testing.T) {
	boom := errors.New("connection reset")
	cases := []struct {
		name        string
		before      string // read before the error
		want        []string
		wantDropped uint64
	}{
		{name: "after a newline", before: "one\ntwo\n", want: []string{"one", "two"}},
		{name: "incomplete line dropped and counted", before: "one\ntwo\nthr", want: []string{"one", "two"}, wantDropped: 1},
		{name: "incomplete long line", before: "one\n" + strings.Repeat("x", 100<<10), want: []string{"one"}, wantDropped: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := io.MultiReader(strings.NewReader(tc.before), iotest.ErrReader(boom))
			var out lineCollector
			var stats pipeline.PluginStats
			err := wire.ReadLines(r, 0, &out, &stats, slog.New(slog.DiscardHandler))
			if !errors.Is(err, boom) {
				t.Fatalf("ReadLines returned %v, want the read error", err)
			}
			if !slices.Equal(out.lines, tc.want) {
				t.Errorf("lines = %q, want %q", out.lines, tc.want)
			}
			if got := stats.Dropped.Load(); got != tc.wantDropped {
				t.Errorf("Dropped = %d, want %d", got, tc.wantDropped)
			}
		})
	}
}

func TestReadLinesStopsOnEmitError(t *testing.T) {
	closed := errors.New("pipeline closed")
	out := lineCollector{err: closed}
	err := wire.ReadLines(strings.NewReader("one\ntwo\n"), 0, &out, nil, nil)
	if !errors.Is(err, closed) {
		t.Fatalf("ReadLines returned %v, want the EmitLine error", err)
	}
	if len(out.lines) != 1 {
		t.Errorf("emitted %d lines after EmitLine failed, want 1", len(out.lines))
	}
}

func TestReadLinesWarnsAtMostOncePerSecond(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var stats pipeline.PluginStats
	input := strings.Repeat("far too long\n", 5)
	for range 2 { // two connections of one plugin share its throttle
		if err := wire.ReadLines(strings.NewReader(input), 3, &lineCollector{}, &stats, log); err != nil {
			t.Fatal(err)
		}
	}
	if got := stats.Errors.Load(); got != 10 {
		t.Errorf("Errors = %d, want 10 truncated lines", got)
	}
	if n := strings.Count(logs.String(), "truncated"); n != 1 {
		t.Errorf("%d warnings logged, want 1:\n%s", n, logs.String())
	}
}

type nopLines struct{}

func (nopLines) EmitLine([]byte) error        { return nil }
func (nopLines) Emit(*pipeline.Message) error { return nil }

func TestReadLinesDoesNotAllocatePerLine(t *testing.T) {
	input := strings.Repeat(strings.Repeat("x", 99)+"\n", 10000)
	r := strings.NewReader(input)
	allocs := testing.AllocsPerRun(5, func() {
		r.Reset(input)
		if err := wire.ReadLines(r, 0, nopLines{}, nil, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 10 { // the read buffer, not one per line
		t.Errorf("%.0f allocations to read 10000 lines", allocs)
	}
}

// clip shortens long lines so that a failure message stays readable.
func clip(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > 40 {
			l = l[:20] + "..." + l[len(l)-10:]
		}
		out[i] = l
	}
	return out
}

func BenchmarkReadLines(b *testing.B) {
	input := strings.Repeat(strings.Repeat("x", 99)+"\n", 10000)
	r := strings.NewReader(input)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(input)
		if err := wire.ReadLines(r, 0, nopLines{}, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
