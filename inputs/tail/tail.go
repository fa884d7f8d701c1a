// Package tail is the inputs.tail plugin: it follows the files that globs
// match as they grow, across rotations, and resumes after a restart from a
// checkpoint.
package tail

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindInput,
		Type:        "tail",
		Description: "Follows files matched by globs as they grow, across rotations, with checkpoints",
		Sample:      sample,
		New: func() any {
			return &Tail{
				PollInterval:       pipeline.Duration(250 * time.Millisecond),
				MaxLineBytes:       wire.DefaultMaxLineBytes,
				MultilineTimeout:   pipeline.Duration(time.Second),
				CheckpointInterval: pipeline.Duration(time.Second),
				PathField:          "path",
			}
		},
	})
}

const (
	// readChunkBytes is what one read brings in; a file gets at most
	// chunksPerTurn of them before the other files get their turn.
	readChunkBytes = 64 << 10
	chunksPerTurn  = 16
	// minCloseRenamed is the least time a file that left the globs (renamed
	// away or deleted) is kept open without new data before it is closed: a
	// writer may still be writing to it until it reopens its path.
	minCloseRenamed = time.Second
)

// Tail follows every file that Files match. One goroutine (Run) scans the
// globs, reads the files in turn and emits; a second one only turns
// directory events into wake-ups.
type Tail struct {
	Files              []string          `toml:"files" path:"true"`
	FromBeginning      bool              `toml:"from_beginning"`
	PollInterval       pipeline.Duration `toml:"poll_interval"`
	MaxLineBytes       int               `toml:"max_line_bytes"`
	MultilineStart     string            `toml:"multiline_start"`
	MultilineContinue  string            `toml:"multiline_continue"`
	MultilineTimeout   pipeline.Duration `toml:"multiline_timeout"`
	CheckpointInterval pipeline.Duration `toml:"checkpoint_interval"`
	PathField          string            `toml:"path_field"`

	env            *pipeline.Env
	newSource      bool                // a file's incarnation began since the last checkpoint
	at             pipeline.LineOrigin // scratch for emit: one allocation less per line
	start, cont    *regexp.Regexp
	checkpointPath string                     // "" when data_dir is not set
	saved          map[string]checkpointEntry // the checkpoint read at Init, until the first scan
	lastSaved      []byte
	saveFailing    time.Time // when writing the checkpoint began to fail; zero while it works
	saveErr        string    // the last error writing it
	files          map[fileKey]*tailedFile
	readBuf        []byte
	watched        map[string]bool
	truncLog       pipeline.LogThrottle // copytruncate
	longLog        pipeline.LogThrottle // lines over max_line_bytes
	openLog        pipeline.LogThrottle

	open        atomic.Int64
	rotations   atomic.Uint64
	truncations atomic.Uint64
}

var (
	_ pipeline.Input           = (*Tail)(nil)
	_ pipeline.Validator       = (*Tail)(nil)
	_ pipeline.Initializer     = (*Tail)(nil)
	_ pipeline.Closer          = (*Tail)(nil)
	_ pipeline.GaugeReporter   = (*Tail)(nil)
	_ pipeline.CounterReporter = (*Tail)(nil)
)

// tailedFile is one open file and where reading it has got to.
type tailedFile struct {
	path string // where it was last seen; kept after it leaves the globs
	f    *os.File
	key  fileKey
	head fileHead

	readOff int64 // bytes read from the file
	doneOff int64 // end of the last line emitted: what the checkpoint records

	// since is when this incarnation of the file (its identity, until a
	// copytruncate) was first followed; kept in the checkpoint. With the
	// agent, the plugin and the identity it makes source: the lines' ids.
	since  int64
	source [8]byte

	partial []byte // a line read without its newline yet, at most max+1 bytes
	over    bool   // partial (or the line being read) lost bytes to max_line_bytes

	record     []byte // multiline: the record being assembled
	inRecord   bool
	recordOver bool
	recordEnd  int64     // end of the record's last line
	recordFrom int64     // where the record starts
	recordSrc  [8]byte   // the source when it started (a copytruncate may come between)
	recordAt   time.Time // when its last line was added

	gone     time.Time // when it was no longer found at any matched path
	lastData time.Time
}

// Ranges of the tail's timers: each wakes the input, and a line waits at
// most poll_interval when inotify says nothing (network filesystems).
var (
	pollIntervalRange = pipeline.DurationRange{Min: 10 * time.Millisecond, Max: time.Minute}
	timerRange        = pipeline.DurationRange{Min: 10 * time.Millisecond, Max: time.Hour} // multiline_timeout, checkpoint_interval
)

// Validate checks the decoded keys; it compiles the patterns but opens
// nothing.
func (p *Tail) Validate() error {
	var errs []error
	if len(p.Files) == 0 {
		errs = append(errs, pipeline.MissingKey("files"))
	}
	for _, pat := range p.Files {
		if pat == "" {
			errs = append(errs, pipeline.InvalidKey("files", "an empty pattern"))
		} else if _, err := filepath.Match(pat, ""); err != nil {
			errs = append(errs, pipeline.InvalidKey("files", "%q: %v", pat, err))
		}
	}
	errs = append(errs,
		pollIntervalRange.Check("poll_interval", time.Duration(p.PollInterval)),
		pipeline.LineBytesRange.Check("max_line_bytes", int64(p.MaxLineBytes)))
	if p.MultilineStart != "" && p.MultilineContinue != "" {
		errs = append(errs, pipeline.InvalidKey("multiline_continue", "set multiline_start or multiline_continue, not both"))
	}
	if _, err := regexp.Compile(p.MultilineStart); err != nil {
		errs = append(errs, pipeline.InvalidKey("multiline_start", "%v", err))
	}
	if _, err := regexp.Compile(p.MultilineContinue); err != nil {
		errs = append(errs, pipeline.InvalidKey("multiline_continue", "%v", err))
	}
	return errors.Join(append(errs,
		timerRange.Check("multiline_timeout", time.Duration(p.MultilineTimeout)),
		timerRange.Check("checkpoint_interval", time.Duration(p.CheckpointInterval)))...)
}

// Init compiles the patterns and reads the checkpoint. A checkpoint that
// cannot be read is logged, counted and set aside: the files are then
// treated as new, rather than the pipeline not starting.
func (p *Tail) Init(env *pipeline.Env) error {
	p.env = env
	if p.MultilineStart != "" {
		p.start = regexp.MustCompile(p.MultilineStart) // checked by Validate
	}
	if p.MultilineContinue != "" {
		p.cont = regexp.MustCompile(p.MultilineContinue)
	}
	p.files = map[fileKey]*tailedFile{}
	p.watched = map[string]bool{}
	p.readBuf = make([]byte, readChunkBytes)
	if env.Agent.DataDir == "" {
		env.Log.Warn("agent data_dir is not set: no checkpoints, every start is a first start")
		return nil
	}
	p.checkpointPath = env.DataPath("tail", ".json")
	return nil
}

// loadSaved reads the checkpoint when Run starts, not at Init: a reload
// that replaces this input inits the new instance while the old one still
// runs, and the new one must resume where the old one stopped.
func (p *Tail) loadSaved() {
	if p.checkpointPath == "" {
		return
	}
	saved, err := loadCheckpoint(p.checkpointPath)
	if err != nil {
		p.env.Stats.Errors.Add(1)
		p.env.Log.Error("checkpoint unreadable: starting without it", "path", p.checkpointPath, "error", err)
	}
	p.saved = saved
}

// Run follows the files until ctx ends, then writes the checkpoint and
// returns nil. It returns early only when EmitLine fails (the pipeline cannot
// take more), with that error, after writing the checkpoint.
func (p *Tail) Run(ctx context.Context, out pipeline.LineEmitter) error {
	p.loadSaved()
	wake := make(chan struct{}, 1)
	watcher, stopWatching := p.startWatcher(wake)
	defer stopWatching()

	poll := time.Duration(p.PollInterval)
	timer := time.NewTimer(poll)
	defer timer.Stop()
	// Zero: the first checkpoint follows the first read, so that a process
	// killed again and again within checkpoint_interval of its start still
	// moves it, instead of reading the same lines again after each crash.
	var lastCheckpoint time.Time
	startup := true
	for {
		p.scan(startup, watcher)
		startup = false
		if p.newSource {
			// Before its first line goes out, so that the line ids of a
			// file read again after a crash are the ones it had.
			p.saveCheckpoint(out)
			p.newSource = false
		}
		more, err := p.readAll(ctx, out)
		if err == nil {
			err = p.flushExpired(out)
		}
		if err != nil {
			p.saveCheckpoint(out)
			return err
		}
		if time.Since(lastCheckpoint) >= time.Duration(p.CheckpointInterval) {
			p.saveCheckpoint(out)
			lastCheckpoint = time.Now()
		}
		if ctx.Err() != nil {
			p.saveCheckpoint(out)
			return nil
		}
		if more {
			continue
		}
		timer.Reset(p.nextWait(poll))
		select {
		case <-ctx.Done():
			p.saveCheckpoint(out)
			return nil
		case <-wake:
		case <-timer.C:
		}
	}
}

// Close closes the files still open.
func (p *Tail) Close() error {
	for key, tf := range p.files {
		tf.f.Close()
		delete(p.files, key)
	}
	p.open.Store(0)
	return nil
}

// Gauges reports the open files, how many files that left the globs
// (rotated or removed) were read to their end and closed, and how many
// truncations were followed.
func (p *Tail) Gauges() map[string]float64 {
	return map[string]float64{
		"tail_files_open":  float64(p.open.Load()),
		"tail_rotations":   float64(p.rotations.Load()),
		"tail_truncations": float64(p.truncations.Load()),
	}
}

// IsCounter reports which of the Gauges keys only grow: rotations and
// truncations (pipeline.CounterReporter).
func (p *Tail) IsCounter(key string) bool {
	return key == "tail_rotations" || key == "tail_truncations"
}

// startWatcher watches directories for changes (added by scan) and wakes
// Run on each event. Polling goes on regardless: inotify misses changes on
// network and some container filesystems.
func (p *Tail) startWatcher(wake chan<- struct{}) (*fsnotify.Watcher, func()) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		p.env.Log.Warn("cannot watch directories; polling only", "error", err)
		return nil, func() {}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				p.env.Log.Debug("directory watch", "error", err)
			}
		}
	})
	return w, func() {
		w.Close()
		wg.Wait()
	}
}

// nextWait is how long Run may sleep: until the next poll or the first
// multiline record due to be flushed, whichever comes first.
func (p *Tail) nextWait(poll time.Duration) time.Duration {
	wait := poll
	now := time.Now()
	for _, tf := range p.files {
		if tf.inRecord {
			due := tf.recordAt.Add(time.Duration(p.MultilineTimeout)).Sub(now)
			wait = min(wait, max(due, time.Millisecond))
		}
	}
	return wait
}

// scan matches the globs, opens the files not yet followed, and notices the
// ones that were truncated or have left the globs.
func (p *Tail) scan(startup bool, watcher *fsnotify.Watcher) {
	now := time.Now()
	seen := make(map[fileKey]bool, len(p.files))
	for _, pattern := range p.Files {
		if watcher != nil {
			p.watchDirs(watcher, pattern)
		}
		paths, _ := filepath.Glob(pattern) // the only error, a bad pattern, is ruled out by Validate
		for _, path := range paths {
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			key, ok := keyOf(fi)
			if !ok || seen[key] {
				continue
			}
			seen[key] = true
			if tf := p.files[key]; tf != nil {
				tf.path, tf.gone = path, time.Time{} // renamed within the globs: still followed
				p.checkTruncated(tf, fi.Size())
				continue
			}
			p.openFile(path, startup)
		}
	}
	for key, tf := range p.files {
		if !seen[key] && tf.gone.IsZero() {
			tf.gone = now
			p.env.Log.Info("file rotated or removed: reading it to its end", "path", tf.path)
		}
	}
	if startup {
		p.saved = nil // only files present at the start resume from the checkpoint's entries
	}
}

// watchDirs adds the directories pattern's files are in to the watcher;
// those that do not exist yet are tried again on the next scan.
func (p *Tail) watchDirs(w *fsnotify.Watcher, pattern string) {
	dirs, _ := filepath.Glob(filepath.Dir(pattern))
	for _, dir := range dirs {
		if p.watched[dir] {
			continue
		}
		if err := w.Add(dir); err == nil {
			p.watched[dir] = true
		}
	}
}

// openFile starts following the file at path: from the checkpoint if it
// records this very file, else from its start, or from its end if it was
// there at startup and from_beginning is false.
func (p *Tail) openFile(path string, startup bool) {
	f, err := os.Open(path)
	if err != nil {
		if ok, suppressed := p.openLog.Allow(); ok {
			p.env.Log.Warn("cannot open file", "path", path, "error", err, "more_since_last_warning", suppressed)
		}
		return
	}
	fi, err := f.Stat()
	var key fileKey
	if err == nil {
		key, _ = keyOf(fi)
	}
	if err != nil || p.files[key] != nil {
		f.Close() // raced with a rename: the next scan sees it right
		return
	}
	head, err := readHead(f)
	if err != nil {
		f.Close()
		return
	}
	size := fi.Size()
	off, from, since := int64(0), "start", time.Now().UnixNano()
	if e, ok := p.saved[key.String()]; ok && head.matches(e) {
		off, from, since = e.Offset, "checkpoint", e.Since
		if off > size {
			off, from, since = 0, "start (truncated since the checkpoint)", time.Now().UnixNano()
		}
	} else if startup && !p.FromBeginning && !p.savedPath(path) {
		off, from = size, "end"
	}
	tf := &tailedFile{path: path, f: f, key: key, head: head,
		readOff: off, doneOff: off, lastData: time.Now()}
	p.setSince(tf, since)
	p.newSource = p.newSource || from != "checkpoint"
	p.files[key] = tf
	p.open.Add(1)
	p.env.Log.Info("following file", "path", path, "from", from, "offset", off)
}

// savedPath reports whether the checkpoint has an entry for path: a file
// now there with another identity replaced it while the pipeline was down,
// so all of it is new.
func (p *Tail) savedPath(path string) bool {
	for _, e := range p.saved {
		if e.Path == path {
			return true
		}
	}
	return false
}

// checkTruncated notices copytruncate: the file shorter than what was read,
// or its first bytes changed. Reading starts again from 0.
func (p *Tail) checkTruncated(tf *tailedFile, size int64) {
	head, err := readHead(tf.f)
	rewritten := err == nil && !bytes.HasPrefix(head.bytes, tf.head.bytes)
	if size >= tf.readOff && !rewritten {
		if err == nil {
			tf.head = head // the head grows until it has headBytes
		}
		return
	}
	p.truncations.Add(1)
	if ok, suppressed := p.truncLog.Allow(); ok {
		p.env.Log.Warn("file truncated (copytruncate?): reading it again from its start",
			"path", tf.path, "size", size, "offset", tf.readOff, "more_since_last_warning", suppressed)
	}
	if len(tf.partial) > 0 || tf.over {
		p.env.Stats.Dropped.Add(1) // the start of a line whose end was truncated away
	}
	tf.partial, tf.over = tf.partial[:0], false
	if err == nil {
		tf.head = head
	}
	// A pending record keeps its lines: they were complete. It is emitted
	// when the next record starts or by the timeout, with offsets from 0.
	tf.readOff, tf.doneOff, tf.recordEnd = 0, 0, 0
	p.setSince(tf, time.Now().UnixNano())
	p.newSource = true
}

// setSince starts an incarnation of tf: the source of its lines' ids.
func (p *Tail) setSince(tf *tailedFile, since int64) {
	tf.since = since
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d", p.env.Agent.Name, p.env.Name, tf.key, since)
	copy(tf.source[:], h.Sum(nil))
}

// emit sends one line or record that starts at offset from of the file
// source names, with its origin.
func (p *Tail) emit(tf *tailedFile, line []byte, source [8]byte, from int64, out pipeline.LineEmitter) error {
	p.at = pipeline.LineOrigin{Path: tf.path, PathField: p.PathField, Source: source, Offset: from}
	return out.EmitLineAt(line, &p.at) // valid during the call only, as line is
}

// readAll reads every file in turn, the ones that left the globs first (so
// that a rotated file's last lines come before its successor's), and closes
// those that have stayed at their end long enough. more reports that a file
// had more to read than its turn allowed.
func (p *Tail) readAll(ctx context.Context, out pipeline.LineEmitter) (more bool, err error) {
	order := make([]*tailedFile, 0, len(p.files))
	for _, tf := range p.files {
		order = append(order, tf)
	}
	sort.Slice(order, func(i, j int) bool {
		gi, gj := !order[i].gone.IsZero(), !order[j].gone.IsZero()
		if gi != gj {
			return gi
		}
		return order[i].path < order[j].path
	})
	closeAfter := max(minCloseRenamed, 4*time.Duration(p.PollInterval))
	for _, tf := range order {
		if ctx.Err() != nil {
			return false, nil
		}
		m, err := p.read(ctx, tf, out)
		if err != nil {
			return false, err
		}
		more = more || m
		if !m && !tf.gone.IsZero() && time.Since(tf.gone) >= closeAfter && time.Since(tf.lastData) >= closeAfter {
			if err := p.finish(tf, out); err != nil {
				return false, err
			}
		}
	}
	return more, nil
}

// read reads tf from where it got to, up to chunksPerTurn chunks, and emits
// the complete lines. more reports that the turn ended before the file's end.
func (p *Tail) read(ctx context.Context, tf *tailedFile, out pipeline.LineEmitter) (more bool, err error) {
	for range chunksPerTurn {
		if ctx.Err() != nil {
			return false, nil
		}
		n, rerr := tf.f.ReadAt(p.readBuf, tf.readOff)
		if n > 0 {
			tf.lastData = time.Now()
			if err := p.consume(tf, p.readBuf[:n], out); err != nil {
				return false, err
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				p.env.Stats.Errors.Add(1)
				p.env.Log.Warn("read failed", "path", tf.path, "error", rerr)
			}
			return false, nil
		}
	}
	return true, nil
}

// consume splits chunk, read at tf.readOff, into lines.
func (p *Tail) consume(tf *tailedFile, chunk []byte, out pipeline.LineEmitter) error {
	limit := p.MaxLineBytes + 1 // room for a "\r" to strip
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			tf.partial, tf.over = appendBounded(tf.partial, chunk, limit, tf.over)
			tf.readOff += int64(len(chunk))
			return nil
		}
		line := chunk[:i]
		if len(tf.partial) > 0 || tf.over {
			tf.partial, tf.over = appendBounded(tf.partial, line, limit, tf.over)
			line = tf.partial
		}
		tf.readOff += int64(i + 1)
		chunk = chunk[i+1:]
		over := tf.over
		tf.partial, tf.over = tf.partial[:0], false
		if err := p.line(tf, line, over, out); err != nil {
			return err
		}
	}
	return nil
}

// line handles one complete line, which ends at tf.readOff.
func (p *Tail) line(tf *tailedFile, line []byte, over bool, out pipeline.LineEmitter) error {
	if n := len(line); !over && n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > p.MaxLineBytes {
		line, over = line[:p.MaxLineBytes], true
	}
	if p.start == nil && p.cont == nil {
		if over {
			p.warnTruncated(tf)
		}
		if err := p.emit(tf, line, tf.source, tf.doneOff, out); err != nil {
			return err
		}
		tf.doneOff = tf.readOff
		return nil
	}
	joins := tf.inRecord && (p.start != nil && !p.start.Match(line) || p.cont != nil && p.cont.Match(line))
	if joins {
		var o bool
		tf.record, o = appendBounded(tf.record, []byte{'\n'}, p.MaxLineBytes, false)
		tf.record, o = appendBounded(tf.record, line, p.MaxLineBytes, o)
		tf.recordOver = tf.recordOver || over || o
	} else {
		if err := p.emitRecord(tf, out); err != nil {
			return err
		}
		tf.record = append(tf.record[:0], line...)
		tf.inRecord, tf.recordOver = true, over
		tf.recordFrom, tf.recordSrc = tf.doneOff, tf.source
	}
	tf.recordEnd, tf.recordAt = tf.readOff, time.Now()
	return nil
}

// emitRecord emits tf's pending multiline record, if any.
func (p *Tail) emitRecord(tf *tailedFile, out pipeline.LineEmitter) error {
	if !tf.inRecord {
		return nil
	}
	if tf.recordOver {
		p.warnTruncated(tf)
	}
	if err := p.emit(tf, tf.record, tf.recordSrc, tf.recordFrom, out); err != nil {
		return err
	}
	tf.inRecord, tf.recordOver = false, false
	tf.record = tf.record[:0]
	tf.doneOff = tf.recordEnd
	return nil
}

// flushExpired emits the multiline records nothing was added to for
// multiline_timeout.
func (p *Tail) flushExpired(out pipeline.LineEmitter) error {
	timeout := time.Duration(p.MultilineTimeout)
	for _, tf := range p.files {
		if tf.inRecord && time.Since(tf.recordAt) >= timeout {
			if err := p.emitRecord(tf, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish closes a file that left the globs and has been read to its end: its
// last line, even without a newline, and its pending record are emitted.
func (p *Tail) finish(tf *tailedFile, out pipeline.LineEmitter) error {
	if len(tf.partial) > 0 || tf.over {
		line, over := tf.partial, tf.over
		tf.partial, tf.over = nil, false
		if err := p.line(tf, line, over, out); err != nil {
			return err
		}
	}
	if err := p.emitRecord(tf, out); err != nil {
		return err
	}
	tf.f.Close()
	delete(p.files, tf.key)
	p.open.Add(-1)
	p.rotations.Add(1)
	p.env.Log.Info("closed rotated file, read to its end", "path", tf.path)
	return nil
}

func (p *Tail) warnTruncated(tf *tailedFile) {
	p.env.Stats.Errors.Add(1)
	if ok, suppressed := p.longLog.Allow(); ok {
		p.env.Log.Warn("line longer than max_line_bytes truncated; the rest of it is discarded",
			"path", tf.path, "max_line_bytes", p.MaxLineBytes, "more_since_last_warning", suppressed)
	}
}

// appendBounded appends b to dst without letting dst grow past limit, and
// reports whether anything was (or had already been) left out.
func appendBounded(dst, b []byte, limit int, over bool) ([]byte, bool) {
	room := limit - len(dst)
	if len(b) > room {
		return append(dst, b[:max(room, 0)]...), true
	}
	return append(dst, b...), over
}
