package influxdb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// diskQueue is a queue of batches in append-only segment files, oldest
// first: "<seq>.seg", seq a 20-digit number. A segment is a sequence of
// records, each a 12-byte header (little-endian uint32 length of the data,
// uint32 number of points, uint32 CRC-32C of the data) and the data, lines
// of line protocol. Records are read in order; a segment is deleted once its
// last record is delivered. The file "cursor" holds, for a segment partly
// delivered, how far: "<seq> <offset>" lines, so that a restart does not
// send those records again.
//
// It is not safe for concurrent use: the output calls it under its lock.
type diskQueue struct {
	dir      string
	segBytes int64 // a segment takes no more records past this size

	segs    []*segment // oldest first
	bytes   int64      // the size of every segment file
	points  int64      // points not delivered yet
	records int        // records not delivered yet

	tail   *os.File // the last segment, open for appending; nil when none is
	reader *os.File // the first segment, open for reading
	readOf uint64   // the seq reader belongs to

	peeked int64  // the length of the record peek returned, header included
	hdr    []byte // scratch
}

type segment struct {
	seq     uint64
	size    int64 // bytes in the file
	off     int64 // where the first record not delivered starts
	points  int64 // points from off on
	records int   // records from off on
}

const (
	recordHeader = 12
	firstSeq     = 1 << 40 // room below for the batches Close puts in front
	cursorFile   = "cursor"
	segSuffix    = ".seg"
	// maxRecord bounds the length a header may claim: a larger one is a
	// damaged header, not a batch.
	maxRecord = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt says a record cannot be read back as it was written.
var errCorrupt = errors.New("damaged record")

// openDisk opens the queue in dir, creating dir, and finds the segments a
// previous run left. A record cut short (a crash in the middle of a write) is
// cut off, and reported in torn.
func openDisk(dir string, segBytes int64) (q *diskQueue, torn []string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	q = &diskQueue{dir: dir, segBytes: segBytes, hdr: make([]byte, recordHeader)}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	cursor := q.readCursor()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) || e.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue
		}
		s := &segment{seq: seq, off: cursor[seq]}
		problem, err := q.scan(s)
		if err != nil {
			return nil, nil, err
		}
		if problem != "" {
			torn = append(torn, fmt.Sprintf("%s: %s", name, problem))
		}
		if s.records == 0 {
			if err := os.Remove(q.path(seq)); err != nil {
				return nil, nil, err
			}
			continue
		}
		q.segs = append(q.segs, s)
		q.bytes += s.size
		q.points += s.points
		q.records += s.records
	}
	slices.SortFunc(q.segs, func(a, b *segment) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	// Rewritten at once, so that an entry for a segment that is gone (a
	// crash between deleting it and updating the cursor) cannot apply to a
	// later segment of the same number.
	if err := q.writeCursor(); err != nil {
		return nil, nil, err
	}
	return q, torn, nil
}

// scan reads the record headers of s from s.off on, counting them; a record
// cut short is cut off the file.
func (q *diskQueue) scan(s *segment) (problem string, err error) {
	f, err := os.OpenFile(q.path(s.seq), os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	s.size = st.Size()
	if s.off > s.size {
		s.off = 0 // a cursor that does not fit this file is not its cursor
	}
	r := bufio.NewReader(io.NewSectionReader(f, s.off, s.size-s.off))
	pos := s.off
	for pos < s.size {
		if _, err := io.ReadFull(r, q.hdr); err != nil {
			problem = fmt.Sprintf("%d bytes of a record header at offset %d cut off", s.size-pos, pos)
			break
		}
		n := int64(binary.LittleEndian.Uint32(q.hdr[0:]))
		if n > maxRecord || pos+recordHeader+n > s.size {
			problem = fmt.Sprintf("a record at offset %d cut off (%d bytes of %d)", pos, s.size-pos, recordHeader+n)
			break
		}
		if _, err := r.Discard(int(n)); err != nil {
			return "", err
		}
		s.points += int64(binary.LittleEndian.Uint32(q.hdr[4:]))
		s.records++
		pos += recordHeader + n
	}
	if problem != "" {
		if err := f.Truncate(pos); err != nil {
			return "", err
		}
		s.size = pos
	}
	return problem, nil
}

func (q *diskQueue) path(seq uint64) string {
	return filepath.Join(q.dir, fmt.Sprintf("%020d%s", seq, segSuffix))
}

func (q *diskQueue) empty() bool { return q.records == 0 }

// fits reports whether a record of n bytes of data keeps the queue within
// limit. An empty queue takes any record, so that a batch larger than the
// limit is not stuck forever.
func (q *diskQueue) fits(n int, limit int64) bool {
	return q.bytes == 0 || q.bytes+recordHeader+int64(n) <= limit
}

// append adds a record at the end, in a new segment when the last one is
// full or closed.
func (q *diskQueue) append(data []byte, points int) error {
	if q.tail == nil || q.segs[len(q.segs)-1].size >= q.segBytes {
		if err := q.closeTail(); err != nil {
			return err
		}
		seq := uint64(firstSeq)
		if n := len(q.segs); n > 0 {
			seq = q.segs[n-1].seq + 1
		}
		f, err := os.OpenFile(q.path(seq), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		q.tail = f
		q.segs = append(q.segs, &segment{seq: seq})
	}
	s := q.segs[len(q.segs)-1]
	if err := writeRecord(q.tail, q.hdr, data, points); err != nil {
		// Leave no half record behind: the next one would be read wrong.
		_ = q.tail.Truncate(s.size)
		return err
	}
	q.add(s, data, points)
	return nil
}

// prepend adds a record in front of every other, in a segment of its own:
// the batch the writer held when the output closed, older than the rest.
func (q *diskQueue) prepend(data []byte, points int) error {
	if len(q.segs) == 0 {
		return q.append(data, points)
	}
	s := &segment{seq: q.segs[0].seq - 1}
	f, err := os.OpenFile(q.path(s.seq), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	err = writeRecord(f, q.hdr, data, points)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(q.path(s.seq))
		return err
	}
	q.segs = slices.Insert(q.segs, 0, s)
	q.add(s, data, points)
	return nil
}

func (q *diskQueue) add(s *segment, data []byte, points int) {
	n := recordHeader + int64(len(data))
	s.size += n
	s.points += int64(points)
	s.records++
	q.bytes += n
	q.points += int64(points)
	q.records++
}

func writeRecord(f *os.File, hdr, data []byte, points int) error {
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(data)))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(points))
	binary.LittleEndian.PutUint32(hdr[8:], crc32.Checksum(data, castagnoli))
	if _, err := f.Write(hdr); err != nil {
		return err
	}
	_, err := f.Write(data)
	return err
}

// peek reads the first record not delivered into *buf and returns its data
// and points. On errCorrupt the caller drops the first segment (its records
// can no longer be told apart); points is then what its header claimed.
func (q *diskQueue) peek(buf *[]byte) (data []byte, points int, err error) {
	s := q.segs[0]
	if q.reader == nil || q.readOf != s.seq {
		if q.reader != nil {
			q.reader.Close()
			q.reader = nil
		}
		f, err := os.Open(q.path(s.seq))
		if err != nil {
			return nil, 0, err
		}
		q.reader, q.readOf = f, s.seq
	}
	if _, err := q.reader.ReadAt(q.hdr, s.off); err != nil {
		return nil, 0, fmt.Errorf("%w: %s at offset %d: %v", errCorrupt, filepath.Base(q.path(s.seq)), s.off, err)
	}
	n := int64(binary.LittleEndian.Uint32(q.hdr[0:]))
	points = int(binary.LittleEndian.Uint32(q.hdr[4:]))
	sum := binary.LittleEndian.Uint32(q.hdr[8:])
	if n > maxRecord || s.off+recordHeader+n > s.size {
		return nil, points, fmt.Errorf("%w: %s at offset %d: length %d past the end", errCorrupt, filepath.Base(q.path(s.seq)), s.off, n)
	}
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	data = (*buf)[:n]
	if _, err := q.reader.ReadAt(data, s.off+recordHeader); err != nil {
		return nil, points, fmt.Errorf("%w: %s at offset %d: %v", errCorrupt, filepath.Base(q.path(s.seq)), s.off, err)
	}
	if crc32.Checksum(data, castagnoli) != sum {
		return nil, points, fmt.Errorf("%w: %s at offset %d: checksum mismatch", errCorrupt, filepath.Base(q.path(s.seq)), s.off)
	}
	q.peeked = recordHeader + n
	return data, points, nil
}

// ack marks the record peek returned as delivered, deleting its segment when
// it was the segment's last.
func (q *diskQueue) ack(points int) error {
	s := q.segs[0]
	s.off += q.peeked
	s.points -= int64(points)
	s.records--
	q.points -= int64(points)
	q.records--
	if s.records == 0 {
		_, err := q.dropFirst()
		return err
	}
	return q.writeCursor()
}

// dropFirst deletes the first segment, delivered or not, and returns the
// points it still held.
func (q *diskQueue) dropFirst() (points int64, err error) {
	s := q.segs[0]
	if q.reader != nil && q.readOf == s.seq {
		q.reader.Close()
		q.reader = nil
	}
	if len(q.segs) == 1 && q.tail != nil {
		q.tail.Close()
		q.tail = nil
	}
	q.segs = q.segs[1:]
	q.bytes -= s.size
	q.points -= s.points
	q.records -= s.records
	err = os.Remove(q.path(s.seq))
	return s.points, errors.Join(err, q.writeCursor())
}

func (q *diskQueue) closeTail() error {
	if q.tail == nil {
		return nil
	}
	err := q.tail.Sync()
	if cerr := q.tail.Close(); err == nil {
		err = cerr
	}
	q.tail = nil
	return err
}

// close syncs and closes the files and records how far delivery got.
func (q *diskQueue) close() error {
	err := q.closeTail()
	if q.reader != nil {
		q.reader.Close()
		q.reader = nil
	}
	return errors.Join(err, q.writeCursor())
}

// writeCursor records the offset of every partly delivered segment.
func (q *diskQueue) writeCursor() error {
	var b []byte
	for _, s := range q.segs {
		if s.off > 0 {
			b = fmt.Appendf(b, "%d %d\n", s.seq, s.off)
		}
	}
	p := filepath.Join(q.dir, cursorFile)
	if len(b) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func (q *diskQueue) readCursor() map[uint64]int64 {
	cursor := map[uint64]int64{}
	b, err := os.ReadFile(filepath.Join(q.dir, cursorFile))
	if err != nil {
		return cursor
	}
	for _, line := range strings.Split(string(b), "\n") {
		var seq uint64
		var off int64
		if _, err := fmt.Sscanf(line, "%d %d", &seq, &off); err == nil && off > 0 {
			cursor[seq] = off
		}
	}
	return cursor
}
