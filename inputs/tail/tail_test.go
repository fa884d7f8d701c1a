package tail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

const wait = 10 * time.Second

func TestTailFollowsAppends(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "one\r\ntwo\n")
	p := newTail(path)
	p.FromBeginning = true
	out, _, _ := start(t, p, dir)
	out.WaitFor(t, 2, wait)
	appendTo(t, path, "thr")    // no newline yet: not a line
	appendTo(t, path, "ee\n\n") // completed, then an empty line
	appendTo(t, path, "four\n")
	out.WaitFor(t, 5, wait)
	want := []string{"one", "two", "three", "", "four"}
	if got := out.Lines(); !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

func TestTailFromBeginning(t *testing.T) {
	for _, fromBeginning := range []bool{false, true} {
		t.Run(fmt.Sprint("from_beginning=", fromBeginning), func(t *testing.T) {
			dir := t.TempDir()
			present := filepath.Join(dir, "a.log")
			writeFile(t, present, "old 1\nold 2\n")
			p := newTail(filepath.Join(dir, "*.log"))
			p.FromBeginning = fromBeginning
			out, _, _ := start(t, p, dir)
			waitOpen(t, p, 1)
			appendTo(t, present, "new 1\n")
			// A file that appears later is read from its start either way.
			writeFile(t, filepath.Join(dir, "b.log"), "later 1\n")
			want := []string{"new 1", "later 1"}
			if fromBeginning {
				want = []string{"old 1", "old 2", "new 1", "later 1"}
			}
			out.WaitFor(t, len(want), wait)
			got := out.Lines()
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("lines = %q, want %q", got, want)
			}
		})
	}
}

// TestTailRenameRotation rotates as logrotate without copytruncate does,
// while a writer keeps writing: rename app.log to app.log.N, create a new
// app.log. Every line must arrive once, in order within each file.
//
// With files = ["app.log"], a file that is created and renamed away between
// two polls is never seen, so there the writer rotates only once the input
// has read from the current file. With ["app.log*"] the renamed files stay
// in the globs, and even a file never seen at app.log is read whole.
func TestTailRenameRotation(t *testing.T) {
	cases := []struct {
		name, glob    string
		paced         bool
		wantRotations uint64
	}{
		{name: "path only", glob: "app.log", paced: true, wantRotations: 5},
		{name: "rotated names in the glob", glob: "app.log*", paced: false, wantRotations: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			writeFile(t, path, "")
			p := newTail(filepath.Join(dir, tc.glob))
			out, _, _ := start(t, p, dir)
			waitOpen(t, p, 1)

			const total, perFile = 3000, 500
			done := make(chan struct{})
			go func() {
				defer close(done)
				f := openAppend(t, path)
				for i := range total {
					if i > 0 && i%perFile == 0 {
						for tc.paced && out.Len() <= i-perFile && !t.Failed() {
							time.Sleep(time.Millisecond) // rotate once the current file was seen
						}
						f.Close()
						if err := os.Rename(path, fmt.Sprintf("%s.%d", path, i/perFile)); err != nil {
							t.Error(err)
							return
						}
						f = openAppend(t, path)
					}
					fmt.Fprintf(f, "line %d\n", i)
				}
				f.Close()
			}()
			out.WaitFor(t, total, wait)
			<-done
			checkEachOnceInOrder(t, out.Lines(), total, perFile)
			if tc.wantRotations > 0 {
				waitOpen(t, p, 1) // the renamed files are closed once read to their end and quiet
			}
			if r := p.rotations.Load(); r != tc.wantRotations {
				t.Errorf("rotations = %d, want %d", r, tc.wantRotations)
			}
		})
	}
}

// TestTailCopyTruncate rotates as logrotate's copytruncate does: the file is
// copied, then truncated in place, and the writer goes on at offset 0.
func TestTailCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "")
	p := newTail(path)
	out, _, _ := start(t, p, dir)
	waitOpen(t, p, 1)
	f := openAppend(t, path) // O_APPEND: after the truncation, writes go to the new end
	defer f.Close()
	n := 0
	for round := range 3 {
		for range 100 + round*50 { // each round longer than the last: size alone would miss it
			fmt.Fprintf(f, "line %d\n", n)
			n++
		}
		out.WaitFor(t, n, wait)
		copyFile(t, path, fmt.Sprintf("%s.%d", path, round+1))
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		want := uint64(round + 1)
		pipelinetest.WaitUntil(t, wait, "the truncation seen", func() error {
			if n := p.truncations.Load(); n < want {
				return fmt.Errorf("%d truncations so far, want %d", n, want)
			}
			return nil
		})
	}
	fmt.Fprintf(f, "line %d\n", n)
	n++
	out.WaitFor(t, n, wait)
	checkEachOnceInOrder(t, out.Lines(), n, n)
	if got := p.truncations.Load(); got != 3 {
		t.Errorf("truncations = %d, want 3", got)
	}
}

// TestTailManyFiles follows 20 files at once through one glob, half of them
// created after the start, each written by its own goroutine.
func TestTailManyFiles(t *testing.T) {
	dir := t.TempDir()
	const files, lines = 20, 300
	for i := range files / 2 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%02d.log", i)), "")
	}
	writeFile(t, filepath.Join(dir, "other.txt"), "not matched\n")
	p := newTail(filepath.Join(dir, "*.log"))
	out, _, _ := start(t, p, dir)
	waitOpen(t, p, files/2)
	var wg sync.WaitGroup
	for i := range files {
		wg.Go(func() {
			f := openAppend(t, filepath.Join(dir, fmt.Sprintf("f%02d.log", i)))
			defer f.Close()
			for j := range lines {
				fmt.Fprintf(f, "f%02d %d\n", i, j)
			}
		})
	}
	wg.Wait()
	out.WaitFor(t, files*lines, wait)
	byFile := map[string][]string{}
	for _, l := range out.Lines() {
		name, _, _ := strings.Cut(l, " ")
		byFile[name] = append(byFile[name], l)
	}
	if len(byFile) != files {
		t.Fatalf("lines from %d files, want %d", len(byFile), files)
	}
	for name, got := range byFile {
		want := make([]string, lines)
		for j := range want {
			want[j] = fmt.Sprintf("%s %d", name, j)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d lines, not each once in order", name, len(got))
		}
	}
}

// TestTailRestartResumesFromCheckpoint stops and starts the input again:
// lines written while it was down are read, none twice.
func TestTailRestartResumesFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	replaced := filepath.Join(dir, "replaced.log")
	writeFile(t, path, "before start\n")
	writeFile(t, replaced, "first file\n")
	glob := filepath.Join(dir, "*.log")

	p := newTail(glob)
	out, stop, _ := start(t, p, dir)
	waitOpen(t, p, 2)
	appendTo(t, path, "run 1\n")
	out.WaitFor(t, 1, wait)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkpoint := readCheckpoint(t, dir)
	if len(checkpoint.Files) != 2 {
		t.Errorf("checkpoint has %d files, want 2: %+v", len(checkpoint.Files), checkpoint)
	}

	appendTo(t, path, "while down\n")
	// Replaced while down: a new file (a new inode) at a known path is read
	// from its start, whatever from_beginning says.
	if err := os.Remove(replaced); err != nil {
		t.Fatal(err)
	}
	writeFile(t, replaced, "second file\n")

	p2 := newTail(glob)
	out2, _, _ := start(t, p2, dir)
	waitOpen(t, p2, 2)
	appendTo(t, path, "run 2\n")
	out2.WaitFor(t, 3, wait)
	got := out2.Lines()
	slices.Sort(got)
	if want := []string{"run 2", "second file", "while down"}; !slices.Equal(got, want) {
		t.Errorf("after the restart: %q, want %q", got, want)
	}
}

// Lines read again after a crash (the checkpoint behind what was sent) get
// the origins they had the first time, so that a subscriber knows them; a
// copytruncate starts a new source, so the new lines at old offsets do not
// pass for copies. Each line names its file.
func TestTailOriginsAreStableAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "one\ntwo\n")
	glob := filepath.Join(dir, "*.log")
	run := func(n int) (*pipelinetest.Collector, func() error) {
		t.Helper()
		p := newTail(glob)
		p.FromBeginning = true
		out, stop, _ := start(t, p, dir)
		out.WaitFor(t, n, wait)
		return out, stop
	}
	p := newTail(glob)
	p.FromBeginning = true
	p.CheckpointInterval = pipeline.Duration(time.Hour)
	out, stop, _ := start(t, p, dir)
	out.WaitFor(t, 2, wait)
	// Written when the file was opened, not after an interval: a crash
	// now would still find the file's source.
	for _, e := range readCheckpoint(t, dir).Files {
		if e.Since == 0 {
			t.Fatalf("checkpoint entry without its source's time: %+v", e)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	first := out.Origins()
	if first[0].Path != path || first[0].PathField != "path" || first[0].Offset != 0 || first[1].Offset != 4 {
		t.Fatalf("origins %+v: want %s at offsets 0 and 4", first, path)
	}
	// A crash before the checkpoint caught up: it still says offset 0.
	cp := readCheckpoint(t, dir)
	for k, e := range cp.Files {
		e.Offset = 0
		cp.Files[k] = e
	}
	b, _ := json.Marshal(cp)
	writeFile(t, filepath.Join(dir, "tail", "tail.json"), string(b))
	out, stop = run(2)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if again := out.Origins(); !slices.Equal(again, first) {
		t.Fatalf("read again after a rollback: origins %+v, first time %+v", again, first)
	}
	// With a checkpoint, the source stays: only new lines are read.
	appendTo(t, path, "three\n")
	out, stop, _ = start(t, newTail(glob), dir)
	out.WaitFor(t, 1, wait)
	if o := out.Origins()[0]; o.Source != first[0].Source || o.Offset != 8 {
		t.Fatalf("after a restart: %+v, want the first source at offset 8", o)
	}
	// copytruncate: the same inode starts again with other lines.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "new\n")
	out.WaitFor(t, 2, wait)
	if o := out.Origins()[1]; o.Source == first[0].Source || o.Offset != 0 {
		t.Fatalf("after copytruncate: %+v, want a new source at offset 0", o)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// The checkpoint moves right after the first read, not checkpoint_interval
// after the start: a pipeline killed over and over sooner than that would
// otherwise read (and store) the same lines again after every restart.
func TestTailCheckpointAfterFirstRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "one\ntwo\n")
	p := newTail(path)
	p.FromBeginning = true
	p.CheckpointInterval = pipeline.Duration(time.Hour)
	out, _, _ := start(t, p, dir)
	out.WaitFor(t, 2, wait)
	pipelinetest.WaitUntil(t, wait, "the checkpoint past the lines read", func() error {
		for _, e := range readCheckpoint(t, dir).Files {
			if e.Offset != int64(len("one\ntwo\n")) {
				return fmt.Errorf("checkpoint offset %d", e.Offset)
			}
			return nil
		}
		return errors.New("no file in the checkpoint")
	})
}

// TestTailCheckpointFollowsAcceptance: the offset moves only past lines that
// EmitLine accepted, so a restart after a refusal reads the refused line
// again, and nothing before it.
func TestTailCheckpointFollowsAcceptance(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "l0\nl1\nl2\nl3\nl4\n")
	p := newTail(path)
	p.FromBeginning = true
	env := pipelinetest.Env(pipeline.KindInput, "tail", "tail")
	env.Agent.DataDir = dir
	refusing := &refusingCollector{accept: 2}
	pipelinetest.Init(t, p, env)
	if err := p.Run(t.Context(), refusing); !errors.Is(err, errFull) {
		t.Fatalf("Run = %v, want %v", err, errFull)
	}
	for _, e := range readCheckpoint(t, dir).Files {
		if e.Offset != int64(len("l0\nl1\n")) {
			t.Errorf("checkpoint offset = %d, want the end of the 2 lines accepted", e.Offset)
		}
	}
	p2 := newTail(path)
	out, _, _ := start(t, p2, dir)
	out.WaitFor(t, 3, wait)
	if got, want := out.Lines(), []string{"l2", "l3", "l4"}; !slices.Equal(got, want) {
		t.Errorf("after the restart: %q, want %q", got, want)
	}
}

func TestTailMultiline(t *testing.T) {
	cases := []struct {
		name, start, cont string
		content           string
		want              []string
	}{
		{
			name:    "start pattern",
			start:   `^\d{4}-`,
			content: "orphan\n2024-01-01 boom\n  at a()\n  at b()\n2024-01-01 ok\n2024-01-02 last\n  at c()\n",
			want:    []string{"orphan", "2024-01-01 boom\n  at a()\n  at b()", "2024-01-01 ok", "2024-01-02 last\n  at c()"},
		},
		{
			name:    "continue pattern",
			cont:    `^\s`,
			content: "Exception: x\n\tat a\n\tat b\nnext\nlast\n  more\n",
			want:    []string{"Exception: x\n\tat a\n\tat b", "next", "last\n  more"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			writeFile(t, path, "")
			p := newTail(path)
			p.MultilineStart, p.MultilineContinue = tc.start, tc.cont
			p.MultilineTimeout = pipeline.Duration(100 * time.Millisecond)
			out, _, _ := start(t, p, dir)
			waitOpen(t, p, 1)
			appendTo(t, path, tc.content)
			// The last record has no successor: the timeout emits it.
			out.WaitFor(t, len(tc.want), wait)
			if got := out.Lines(); !slices.Equal(got, tc.want) {
				t.Errorf("records = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTailMultilineResumesAtRecordStart: a record pending at shutdown is not
// emitted; the checkpoint points at its start, so the next run emits it whole.
func TestTailMultilineResumesAtRecordStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "")
	p := newTail(path)
	p.MultilineStart, p.MultilineTimeout = `^\S`, pipeline.Duration(time.Hour)
	out, stop, _ := start(t, p, dir)
	waitOpen(t, p, 1)
	appendTo(t, path, "one\n  1\ntwo\n  2\n")
	out.WaitFor(t, 1, wait)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "  2b\nthree\n")
	p2 := newTail(path)
	p2.MultilineStart, p2.MultilineTimeout = `^\S`, pipeline.Duration(50*time.Millisecond)
	out2, _, _ := start(t, p2, dir)
	out2.WaitFor(t, 2, wait)
	if got, want := append(out.Lines(), out2.Lines()...), []string{"one\n  1", "two\n  2\n  2b", "three"}; !slices.Equal(got, want) {
		t.Errorf("records = %q, want %q", got, want)
	}
}

func TestTailTruncatesLongLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "")
	p := newTail(path)
	p.MaxLineBytes = 8
	out, _, env := start(t, p, dir)
	waitOpen(t, p, 1)
	appendTo(t, path, "short\n0123456789abcdef\n")
	appendTo(t, path, "01234567")
	appendTo(t, path, "89 in pieces\n12345678\r\nok\n")
	out.WaitFor(t, 5, wait)
	if got, want := out.Lines(), []string{"short", "01234567", "01234567", "12345678", "ok"}; !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	if got := env.Stats.Errors.Load(); got != 2 {
		t.Errorf("Errors = %d, want 2 truncated lines", got)
	}
}

func TestTailValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*Tail)
		wantKey string
	}{
		{name: "files set", edit: func(p *Tail) {}},
		{name: "files missing", edit: func(p *Tail) { p.Files = nil }, wantKey: "files"},
		{name: "bad glob", edit: func(p *Tail) { p.Files = []string{"/var/log/[a.log"} }, wantKey: "files"},
		{name: "zero poll_interval", edit: func(p *Tail) { p.PollInterval = 0 }, wantKey: "poll_interval"},
		{name: "zero max_line_bytes", edit: func(p *Tail) { p.MaxLineBytes = 0 }, wantKey: "max_line_bytes"},
		{name: "bad multiline_start", edit: func(p *Tail) { p.MultilineStart = "(" }, wantKey: "multiline_start"},
		{name: "both multiline patterns", edit: func(p *Tail) { p.MultilineStart, p.MultilineContinue = "a", "b" }, wantKey: "multiline_continue"},
		{name: "zero checkpoint_interval", edit: func(p *Tail) { p.CheckpointInterval = 0 }, wantKey: "checkpoint_interval"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newDefault()
			p.Files = []string{"/var/log/*.log"}
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

// TestSample keeps sample.toml and the code in step; files is required.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindInput, "tail", "files") }

func newDefault() *Tail {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "tail")
	return reg.New().(*Tail)
}

// newTail returns the input with its defaults, made quick for tests.
func newTail(files ...string) *Tail {
	p := newDefault()
	p.Files = files
	p.PollInterval = pipeline.Duration(10 * time.Millisecond)
	p.CheckpointInterval = pipeline.Duration(20 * time.Millisecond)
	return p
}

// start runs p with data_dir set to dataDir.
func start(t *testing.T, p *Tail, dataDir string) (*pipelinetest.Collector, func() error, *pipeline.Env) {
	t.Helper()
	env := pipelinetest.Env(pipeline.KindInput, "tail", "tail")
	env.Agent.DataDir = dataDir
	out := &pipelinetest.Collector{LinesOnly: true}
	stop := pipelinetest.StartInput(t, p, env, out)
	return out, stop, env
}

// waitOpen waits until p follows n files.
func waitOpen(t *testing.T, p *Tail, n int64) {
	t.Helper()
	pipelinetest.WaitUntil(t, wait, fmt.Sprintf("%d files followed", n), func() error {
		if got := p.open.Load(); got != n {
			return fmt.Errorf("%d followed", got)
		}
		return nil
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, content string) {
	t.Helper()
	f := openAppend(t, path)
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// openAppend opens path for appending, creating it; safe off the test's
// goroutine (it reports with Error, not Fatal).
func openAppend(t *testing.T, path string) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Error(err)
		f, _ = os.Open(os.DevNull)
	}
	return f
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

func readCheckpoint(t *testing.T, dataDir string) checkpointFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "tail", "tail.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c checkpointFile
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkEachOnceInOrder checks that got holds "line 0" to "line total-1",
// each once, and in order among the lines of each file (perFile lines each).
func checkEachOnceInOrder(t *testing.T, got []string, total, perFile int) {
	t.Helper()
	if len(got) != total {
		t.Errorf("%d lines, want %d", len(got), total)
	}
	seen := make([]bool, total)
	last := map[int]int{}
	for _, l := range got {
		var i int
		if _, err := fmt.Sscanf(l, "line %d", &i); err != nil || i < 0 || i >= total {
			t.Fatalf("unexpected line %q", l)
		}
		if seen[i] {
			t.Fatalf("line %d emitted twice", i)
		}
		seen[i] = true
		if prev, ok := last[i/perFile]; ok && prev > i {
			t.Fatalf("line %d after line %d of the same file", i, prev)
		}
		last[i/perFile] = i
	}
}

var errFull = errors.New("pipeline full")

// refusingCollector accepts a number of lines, then refuses every one.
type refusingCollector struct {
	pipelinetest.Collector
	accept   int
	accepted atomic.Int64
}

// EmitLineAt is what the tail calls: the refusal must be there.
func (c *refusingCollector) EmitLineAt(line []byte, at *pipeline.LineOrigin) error {
	if c.accepted.Add(1) > int64(c.accept) {
		return errFull
	}
	return c.Collector.EmitLineAt(line, at)
}

func (c *refusingCollector) EmitLine(line []byte) error { return c.EmitLineAt(line, nil) }

// TestTailCheckpointWaitsForFlush: with an emitter that batches (the
// runtime's, durable mode), the checkpoint records only lines a Flush
// delivered, and does not move while Flush fails.
func TestTailCheckpointWaitsForFlush(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "l0\nl1\n")
	p := newTail(path)
	p.FromBeginning = true
	out := &flushingCollector{}
	out.failing.Store(true)
	stop := startWith(t, p, dir, out)
	pipelinetest.WaitUntil(t, wait, "a failed flush", func() error {
		if n := out.flushes.Load(); n <= 1 {
			return fmt.Errorf("%d flushes", n)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dir, "tail", "tail.json")); err == nil {
		t.Fatalf("a checkpoint was written though every Flush failed: %+v", readCheckpoint(t, dir))
	}
	out.failing.Store(false)
	pipelinetest.WaitUntil(t, wait, "a checkpoint", func() error {
		_, err := os.Stat(filepath.Join(dir, "tail", "tail.json"))
		return err
	})
	for _, e := range readCheckpoint(t, dir).Files {
		if e.Offset != int64(len("l0\nl1\n")) {
			t.Errorf("checkpoint offset = %d, want the end of the 2 lines", e.Offset)
		}
	}
	if got := out.delivered.Load(); got != 2 {
		t.Errorf("%d lines delivered when the checkpoint was written, want 2", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// flushingCollector holds lines until Flush, which fails while failing is set.
type flushingCollector struct {
	pipelinetest.Collector
	failing   atomic.Bool
	pending   atomic.Int64
	delivered atomic.Int64
	flushes   atomic.Int64
}

var _ pipeline.LineEmitter = (*flushingCollector)(nil)

func (c *flushingCollector) EmitLineAt(line []byte, at *pipeline.LineOrigin) error {
	c.pending.Add(1)
	return c.Collector.EmitLineAt(line, at)
}

func (c *flushingCollector) EmitLine(line []byte) error { return c.EmitLineAt(line, nil) }

func (c *flushingCollector) Flush() error {
	c.flushes.Add(1)
	if c.failing.Load() {
		return errFull
	}
	c.delivered.Add(c.pending.Swap(0))
	return nil
}

// startWith runs p with data_dir set to dataDir, emitting to out; stop
// ends Run and returns its error.
func startWith(t *testing.T, p *Tail, dataDir string, out pipeline.LineEmitter) (stop func() error) {
	t.Helper()
	env := pipelinetest.Env(pipeline.KindInput, "tail", "tail")
	env.Agent.DataDir = dataDir
	pipelinetest.Init(t, p, env)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, out) }()
	stop = sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { _ = stop() }) // before TempDir's removal: Run writes there
	return stop
}
