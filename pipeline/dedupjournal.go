package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// originJournal keeps a durable subscription's origin window in a file
// under data_dir (dedup/<consumer>.origins), so that a process started
// again after a crash (kill -9) still knows the lines its output wrote.
//
// For each batch the runtime appends, with one write each and no fsync:
// before the output gets it, its runs ("D", in doubt); once the output has
// written and flushed it, the spans they changed ("S") and "C" (done), then
// it acks the batch. A crash (of the process: what was written is in the
// page cache) can therefore leave at most the one batch being written in
// doubt: a D without its C. Nothing on file claims a line the output has
// not written, so no line is ever dropped for a copy it is not.
//
// The file is a magic header and records: CRC-32C (of what follows) u32,
// body length u16, body. Bodies, little endian:
//
//	'S' idx u8, high u8, first i64, last i64, source [8], subject: span idx of a source is [first, last]; high: it is the highest
//	'D' batch u64, lines u32, first i64, last i64, source [8], subject: a run of batch in doubt
//	'C' batch u64: batch is written, its runs are no longer in doubt
//	'R' lines u32, first i64, last i64, source [8], subject: lines of the run in doubt [first, last] have not come again yet; 0: none
//	'G' source [8], subject: a batch of the source was not taken (a gap); the next span with high clears it
//
// A record cut by the crash ends the file. At open, and when the file has
// grown past twice what the window takes, the window is written whole to a
// new file (fsynced, renamed over the old one).
type originJournal struct {
	path       string
	f          *os.File
	buf        []byte // records waiting for the next write
	snap       []byte // scratch for compact
	size       int64  // bytes in the file
	compactAt  int64
	batch      uint64 // the last batch in doubt, numbered from 1 in each process
	compactMin int64  // journalCompactMin; smaller in tests
	broken     bool   // a write failed: the file is rewritten whole before the next one
	retryAt    time.Time

	log  *slog.Logger
	errs *atomic.Uint64
	warn LogThrottle
}

const (
	journalMagic      = "ICPORIG1"
	journalCompactMin = 1 << 20
	journalHeader     = 6 // CRC and body length
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journalRestore is what openOriginJournal found in the file.
type journalRestore struct {
	existed      bool
	sources      int
	doubtLines   int
	ignoredBytes int // after a record cut short or damaged
}

// openOriginJournal restores w from the journal at path and starts a new
// file for it. A file it cannot make sense of is logged, counted in errs
// and replaced: the lines it recorded may then be written again. Only a
// file that cannot be written is an error.
func openOriginJournal(path string, w *originWindow, log *slog.Logger, errs *atomic.Uint64) (*originJournal, journalRestore, error) {
	j := &originJournal{path: path, log: log, errs: errs, compactMin: journalCompactMin}
	var info journalRestore
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, info, fmt.Errorf("durable: origins journal: %w", err)
	default:
		info.existed = true
		if err := j.replay(b, w, &info); err != nil {
			errs.Add(1)
			log.Error("durable: origins journal unreadable, starting without it: lines it recorded may be written again",
				"path", path, "err", err)
		}
	}
	info.sources, info.doubtLines = w.restored()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, info, fmt.Errorf("durable: origins journal: %w", err)
	}
	if err := j.compact(w); err != nil {
		return nil, info, fmt.Errorf("durable: origins journal: %w", err)
	}
	return j, info, nil
}

// replay applies the records of b to w. Runs in doubt whose batch has no
// "C" are in doubt still.
func (j *originJournal) replay(b []byte, w *originWindow, info *journalRestore) error {
	if len(b) < len(journalMagic) || string(b[:len(journalMagic)]) != journalMagic {
		return errors.New("not an origins journal (bad header)")
	}
	b = b[len(journalMagic):]
	type run struct {
		key originKey
		sp  span
	}
	open := map[uint64][]run{} // the runs of a batch in doubt, until its "C"
	for len(b) > 0 {
		if len(b) < journalHeader {
			break
		}
		n := int(binary.LittleEndian.Uint16(b[4:6]))
		if len(b) < journalHeader+n || crc32.Checksum(b[4:journalHeader+n], castagnoli) != binary.LittleEndian.Uint32(b) {
			break
		}
		body := b[journalHeader : journalHeader+n]
		ok := false
		switch {
		case len(body) >= 27 && body[0] == 'S':
			k, sp := journalKey(body[19:]), span{int64(binary.LittleEndian.Uint64(body[3:])), int64(binary.LittleEndian.Uint64(body[11:]))}
			ok = w.restoreSpan(k, int(body[1]), sp, body[2] == 1)
		case len(body) >= 37 && body[0] == 'D':
			batch, k := binary.LittleEndian.Uint64(body[1:]), journalKey(body[29:])
			d := doubt{span{int64(binary.LittleEndian.Uint64(body[13:])), int64(binary.LittleEndian.Uint64(body[21:]))},
				int(binary.LittleEndian.Uint32(body[9:]))}
			w.source(k).addDoubt(d)
			if batch != 0 {
				open[batch] = append(open[batch], run{k, d.span})
			}
			ok = true
		case len(body) == 9 && body[0] == 'C':
			batch := binary.LittleEndian.Uint64(body[1:])
			for _, r := range open[batch] {
				w.source(r.key).setDoubt(r.sp, 0)
			}
			delete(open, batch)
			ok = true
		case len(body) >= 9 && body[0] == 'G':
			w.source(journalKey(body[1:])).gap = true
			ok = true
		case len(body) >= 29 && body[0] == 'R':
			k := journalKey(body[21:])
			sp := span{int64(binary.LittleEndian.Uint64(body[5:])), int64(binary.LittleEndian.Uint64(body[13:]))}
			w.source(k).setDoubt(sp, int(binary.LittleEndian.Uint32(body[1:])))
			ok = true
		}
		if !ok {
			break
		}
		b = b[journalHeader+n:]
	}
	if len(b) > 0 {
		info.ignoredBytes = len(b)
		j.log.Warn("durable: origins journal ends in a record cut short (a crash while it was written) or damaged; ignored",
			"path", j.path, "bytes", len(b))
	}
	return nil
}

// journalKey reads the source and subject that end a record.
func journalKey(b []byte) originKey {
	var k originKey
	copy(k.source[:], b[:8])
	k.subject = string(b[8:])
	return k
}

// record appends one record to j.buf; fill appends its body.
func (j *originJournal) record(fill func(b []byte) []byte) {
	start := len(j.buf)
	j.buf = append(j.buf, 0, 0, 0, 0, 0, 0)
	j.buf = fill(j.buf)
	// A subject is far shorter than 64 KiB: NATS bounds it by its control line.
	binary.LittleEndian.PutUint16(j.buf[start+4:], uint16(len(j.buf)-start-journalHeader))
	binary.LittleEndian.PutUint32(j.buf[start:], crc32.Checksum(j.buf[start+4:], castagnoli))
}

func appendKey(b []byte, k originKey) []byte {
	return append(append(b, k.source[:]...), k.subject...)
}

// span records that span i of s (whose key is k) changed.
func (j *originJournal) span(k originKey, s *originSource, i int) {
	if j == nil {
		return
	}
	sp := s.spans[i]
	j.record(func(b []byte) []byte {
		high := byte(0)
		if i == s.hwm {
			high = 1
		}
		b = append(b, 'S', byte(i), high)
		b = binary.LittleEndian.AppendUint64(b, uint64(sp.first))
		b = binary.LittleEndian.AppendUint64(b, uint64(sp.last))
		return appendKey(b, k)
	})
}

func (j *originJournal) doubt(k originKey, batch uint64, d doubt) {
	j.record(func(b []byte) []byte {
		b = append(b, 'D')
		b = binary.LittleEndian.AppendUint64(b, batch)
		b = binary.LittleEndian.AppendUint32(b, uint32(d.lines))
		b = binary.LittleEndian.AppendUint64(b, uint64(d.first))
		b = binary.LittleEndian.AppendUint64(b, uint64(d.last))
		return appendKey(b, k)
	})
}

// clear records how many lines of the doubt sp of k have not come again.
func (j *originJournal) clear(k originKey, sp span, lines int) {
	if j == nil {
		return
	}
	j.record(func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint32(append(b, 'R'), uint32(lines))
		b = binary.LittleEndian.AppendUint64(b, uint64(sp.first))
		b = binary.LittleEndian.AppendUint64(b, uint64(sp.last))
		return appendKey(b, k)
	})
}

// gap records that a batch of k was not taken.
func (j *originJournal) gap(k originKey) {
	if j == nil {
		return
	}
	j.record(func(b []byte) []byte { return appendKey(append(b, 'G'), k) })
}

// intend writes the runs of w's batch as in doubt, before the output has it.
func (j *originJournal) intend(w *originWindow) {
	j.batch++
	for _, r := range w.runs {
		j.doubt(r.key, j.batch, doubt{span{r.first, r.last}, r.lines})
	}
	j.write(w)
}

// done ends the records of the batch in doubt: the output has it.
func (j *originJournal) done() {
	j.record(func(b []byte) []byte {
		return binary.LittleEndian.AppendUint64(append(b, 'C'), j.batch)
	})
}

// commit writes what span and done recorded, and compacts a large file.
func (j *originJournal) commit(w *originWindow) {
	j.write(w)
	if !j.broken && j.size >= j.compactAt {
		if err := j.compact(w); err != nil {
			j.failed(err)
		}
	}
}

// write appends j.buf to the file. After a failed write the file may end in
// a part of a record, which would hide what follows: it is rewritten whole
// first, at most once a second.
func (j *originJournal) write(w *originWindow) {
	if len(j.buf) == 0 {
		return
	}
	if j.broken {
		if time.Now().Before(j.retryAt) {
			j.buf = j.buf[:0]
			return
		}
		// The window holds all the records said, but for the runs of a
		// batch in doubt: they follow the new file's snapshot.
		if err := j.compact(w); err != nil {
			j.buf = j.buf[:0]
			j.failed(err)
			return
		}
		j.broken = false
		j.log.Info("durable: origins journal written again", "path", j.path)
	}
	n, err := j.f.Write(j.buf)
	j.size += int64(n)
	j.buf = j.buf[:0]
	if err != nil {
		j.failed(err)
	}
}

func (j *originJournal) failed(err error) {
	j.broken = true
	j.retryAt = time.Now().Add(time.Second)
	j.errs.Add(1)
	if ok, held := j.warn.Allow(); ok {
		j.log.Error("durable: cannot write the origins journal: after a crash, lines may be written twice and not counted",
			"path", j.path, "err", err, "more_since_last_warning", held)
	}
}

// compact writes w whole to a new file, synced, and renames it over the
// journal: a crash leaves the old file or the new one.
// Records waiting in j.buf are kept for the next write.
func (j *originJournal) compact(w *originWindow) error {
	waiting := j.buf
	j.buf = append(j.snap[:0], journalMagic...)
	for k, s := range w.sources {
		for i := range s.spans {
			j.span(k, s, i)
		}
		if s.gap {
			j.gap(k)
		}
		for _, d := range s.doubts {
			j.doubt(k, 0, d) // batch 0 is never done: numbers start at 1
		}
	}
	buf := j.buf
	j.snap, j.buf = buf, waiting
	dir := filepath.Dir(j.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(j.path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(buf)
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), j.path)
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.size = tmp, int64(len(buf))
	j.compactAt = max(j.compactMin, 2*j.size)
	return nil
}

// close writes what is still recorded (the gaps of batches missed at
// shutdown) and closes the file.
func (j *originJournal) close(w *originWindow) {
	if j != nil && j.f != nil {
		j.write(w)
		j.f.Close()
		j.f = nil
	}
}
