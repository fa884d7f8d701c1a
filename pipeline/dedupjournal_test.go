package pipeline

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// journaled is a durable subscription's window with its journal in dir, as
// a process starting on that data_dir opens it.
type journaled struct {
	t    *testing.T
	w    *originWindow
	info journalRestore
	errs atomic.Uint64
}

func openJournaled(t *testing.T, path string) *journaled {
	t.Helper()
	jw := &journaled{t: t, w: &originWindow{}}
	j, info, err := openOriginJournal(path, jw.w, slog.New(slog.NewTextHandler(io.Discard, nil)), &jw.errs)
	if err != nil {
		t.Fatal(err)
	}
	jw.w.journal, jw.info = j, info
	return jw
}

// write hands lines [from, to) of source 1 to an output the way handle
// does and returns how many were dropped as had and how many counted as in
// doubt. crash stops before the output has the batch written.
func (jw *journaled) write(from, to int, crash bool) (had, suspect int) {
	_, had, _ = jw.w.filter("s", lines(1, from, to))
	jw.w.intend()
	if crash {
		jw.w.journal.f.Close() // kill -9: nothing more reaches the file
		return had, 0
	}
	suspect = jw.w.taken()
	jw.w.commit()
	return had, suspect
}

// A process killed while its output wrote a batch: started again on the same
// data_dir, its subscription drops the lines it had written (delivered
// again by the stream, or read again by the input), and writes the batch it
// was writing, counting its lines as possible duplicates, once.
func TestOriginJournalSurvivesACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dedup", "sub.origins")
	a := openJournaled(t, path)
	if a.info.existed {
		t.Fatal("a new journal said it existed")
	}
	for i := 0; i < 10; i++ {
		a.write(10*i, 10*i+10, false)
	}
	a.write(100, 130, true) // killed while writing lines 100-129

	b := openJournaled(t, path)
	if b.info.sources != 1 || b.info.doubtLines != 30 {
		t.Fatalf("restored %+v; want 1 source, 30 lines in doubt", b.info)
	}
	// The input read again from its checkpoint at line 50.
	had, suspect := b.write(50, 115, false)
	if had != 50 || suspect != 15 {
		t.Fatalf("lines 50-114 again: %d had, %d in doubt; want 50 and 15", had, suspect)
	}
	b.w.close() // killed again: the lines in doubt that did not come yet still are

	b = openJournaled(t, path)
	if b.info.doubtLines != 15 {
		t.Fatalf("%d lines in doubt after a second crash, want the 15 that had not come again", b.info.doubtLines)
	}
	had, suspect = b.write(115, 140, false)
	if had != 0 || suspect != 15 {
		t.Fatalf("lines 115-139: %d had, %d in doubt; want 0 and 15", had, suspect)
	}
	// The stream delivers the batch again after its ack wait: all had now.
	if had, suspect = b.write(100, 130, false); had != 30 || suspect != 0 {
		t.Fatalf("lines 100-129 redelivered: %d had, %d in doubt; want 30 and 0", had, suspect)
	}
	b.w.close()

	// A clean restart: nothing in doubt, everything had.
	c := openJournaled(t, path)
	if c.info.doubtLines != 0 {
		t.Fatalf("%d lines in doubt after a clean stop", c.info.doubtLines)
	}
	if had, _ := c.write(0, 140, false); had != 140 {
		t.Fatalf("lines 0-139 after the restart: %d had, want 140", had)
	}
	if c.errs.Load() != 0 {
		t.Fatalf("%d errors", c.errs.Load())
	}
}

// A batch the output did not take before the stop (held at shutdown, or
// dropped) leaves a gap that the journal keeps: after the restart a later
// batch is not merged across it, so the batch, when it comes again, is
// taken. Without a gap a restart merges as if there had been none: the
// consumer delivers again, in order, what it had not acked.
func TestOriginJournalKeepsGaps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.origins")
	a := openJournaled(t, path)
	a.write(0, 50, false)
	a.w.filter("s", lines(1, 50, 80))
	a.w.intend()
	a.w.missed() // the output failed at shutdown: lines 50-79 stay in the stream
	a.w.commit()
	a.w.close()

	b := openJournaled(t, path)
	b.write(80, 100, false)
	if had, suspect := b.write(50, 80, false); had != 0 || suspect != 30 {
		t.Fatalf("lines 50-79 after the restart: %d dropped as had, %d in doubt; want 0 and 30 (the output may have written part of them)", had, suspect)
	}
	if had, _ := b.write(0, 100, false); had != 100 {
		t.Fatalf("lines 0-99 again: %d had, want 100", had)
	}
	b.w.close()

	c := openJournaled(t, path)
	spans := func() int {
		for _, src := range c.w.sources {
			return len(src.spans)
		}
		return 0
	}
	before := spans()
	for i := 0; i < 3*originSpans; i++ { // many restarts, each after one batch
		c.write(100+10*i, 110+10*i, false)
		c.w.close()
		c = openJournaled(t, path)
	}
	if n := spans(); n != before {
		t.Fatalf("%d spans after %d restarts, %d before: a restart must not split a span", n, 3*originSpans, before)
	}
	if had, _ := c.write(0, 100+30*originSpans, false); had != 100+30*originSpans {
		t.Fatalf("everything again: %d had, want %d", had, 100+30*originSpans)
	}
}

// A batch held at shutdown (its output failing) is missed and not
// committed: closing the journal writes its gap all the same, so that after
// the restart the batch, when it comes again, is taken, not merged into
// the spans around it.
func TestOriginJournalWritesAMissedBatchAtClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.origins")
	a := openJournaled(t, path)
	a.write(0, 50, false)
	a.w.filter("s", lines(1, 50, 80))
	a.w.intend()
	a.w.missed() // held at shutdown: lines 50-79 stay in the stream
	a.w.close()

	b := openJournaled(t, path)
	b.write(80, 100, false)
	if had, _ := b.write(50, 80, false); had != 0 {
		t.Fatalf("lines 50-79 after the restart: %d dropped as had, want 0: the gap was lost at close", had)
	}
	if a.errs.Load()+b.errs.Load() != 0 {
		t.Fatalf("%d errors", a.errs.Load()+b.errs.Load())
	}
}

// A crash can cut the last record short; a damaged file, or one that is not
// a journal, is set aside with an error: in neither case does it stop the
// start, and it never makes a line look had that was not.
func TestOriginJournalCutOrDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.origins")
	a := openJournaled(t, path)
	a.write(0, 50, false)
	a.write(50, 60, false)
	a.w.close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The last record (the "C" of lines 50-59) cut in the middle.
	if err := os.WriteFile(path, b[:len(b)-4], 0o644); err != nil {
		t.Fatal(err)
	}
	c := openJournaled(t, path)
	if c.info.ignoredBytes == 0 || c.info.doubtLines != 10 || c.errs.Load() != 0 {
		t.Fatalf("cut journal: %+v, %d errors; want bytes ignored, 10 lines in doubt, no error", c.info, c.errs.Load())
	}
	if had, suspect := c.write(0, 60, false); had != 60 || suspect != 0 {
		t.Fatalf("lines 0-59 again: %d had, %d in doubt; want 60 had (their spans were recorded)", had, suspect)
	}
	c.w.close()

	if err := os.WriteFile(path, []byte("something else entirely"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := openJournaled(t, path)
	if d.errs.Load() != 1 || d.info.sources != 0 {
		t.Fatalf("not a journal: %d errors, %d sources; want 1 error and nothing restored", d.errs.Load(), d.info.sources)
	}
	if had, _ := d.write(0, 10, false); had != 0 {
		t.Fatal("lines taken for copies after a damaged journal")
	}
}

// The journal is rewritten whole once it has grown: it stays small however
// long the subscription runs, and says the same.
func TestOriginJournalCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.origins")
	a := openJournaled(t, path)
	a.w.journal.compactMin, a.w.journal.compactAt = 4096, 4096
	for i := 0; i < 2000; i++ {
		a.write(2*i, 2*i+2, false)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 8192 {
		t.Fatalf("journal of %d bytes after 2000 batches; compacted at 4096 it should stay under 8192", fi.Size())
	}
	a.write(4000, 4010, true)
	b := openJournaled(t, path)
	if b.info.doubtLines != 10 {
		t.Fatalf("%d lines in doubt, want 10", b.info.doubtLines)
	}
	if had, _ := b.write(0, 4000, false); had != 4000 {
		t.Fatalf("lines 0-3999 again: %d had, want 4000", had)
	}
	if left, _ := filepath.Glob(path + ".tmp*"); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// A journal that cannot be written is an error at the start, naming it.
func TestOriginJournalUnwritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "dedup")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil { // a file where the directory goes
		t.Fatal(err)
	}
	_, _, err := openOriginJournal(filepath.Join(blocker, "s.origins"), &originWindow{},
		slog.New(slog.NewTextHandler(io.Discard, nil)), new(atomic.Uint64))
	if err == nil {
		t.Fatal("no error")
	}
	t.Log(err)
}
