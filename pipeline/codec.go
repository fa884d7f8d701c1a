package pipeline

// The binary frame, version 1. This is a contract: processes built from
// different versions exchange it over NATS, so change it only by the rules at
// the end.
//
// One NATS message carries one frame, and a frame carries a batch of messages,
// because per-NATS-message overhead, not encoding, is what limits throughput.
//
// Notation: "uvarint" is an unsigned LEB128 varint (binary.AppendUvarint);
// "varint" is a signed integer zigzag-encoded then written as a uvarint
// (binary.AppendVarint); "str" is a uvarint byte count followed by that many
// bytes (UTF-8 is not required); "u32le" is 4 bytes, little-endian.
//
//	frame    = magic version count record{count}
//	magic    = 0xC1          (never valid in UTF-8 nor in MessagePack, so a
//	                          frame is not mistaken for text or JSON)
//	version  = 0x01
//	count    = u32le         (number of records; fixed width so that the
//	                          encoder updates it in place after each Add)
//	record   = len:uvarint body   (body is exactly len bytes)
//	body     = uuid:16 bytes
//	           timestamp:varint   (ns since the Unix epoch)
//	           type:str logger:str hostname:str
//	           severity:varint pid:varint   (each within int32)
//	           payload:str
//	           nfields:uvarint field{nfields}
//	           extension          (zero bytes in version 1)
//	field    = name:str kindrole:byte value
//	kindrole = kind | role<<4
//	kind     = 0 string | 1 bytes | 2 int | 3 float | 4 bool | 5 uint
//	role     = 0 field | 1 tag | 2 measurement
//	value    = string, bytes: str
//	           int:   varint
//	           uint:  uvarint
//	           float: 8 bytes, IEEE 754 binary64 bits, little-endian
//	           bool:  1 byte, 0 or 1
//
// A decoder rejects a frame whose magic or version it does not know, whose
// record count or field count cannot fit in the bytes that remain, whose
// lengths run past the end of their record or frame, whose kind, role or bool
// byte is out of range, whose severity or pid overflows int32, or that has
// bytes after the last record. It ignores bytes between the last field and the
// end of a record: that is where a compatible addition goes (new trailing
// header, say) without a new version. Anything a version 1 decoder cannot
// skip that way needs version 2.

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Frame header constants; see the format description at the top of codec.go.
const (
	// FrameMagic is the first byte of every frame.
	FrameMagic = 0xC1
	// FrameVersion is the format version this build writes and reads.
	FrameVersion = 1
)

const (
	frameHeaderSize = 4 + 2
	// The smallest possible record: length 1 byte, uuid 16, timestamp 1,
	// three empty strings 3, severity 1, pid 1, empty payload 1, nfields 1.
	// Counts are checked against it so that a hostile count cannot make the
	// decoder allocate more than a small multiple of the frame's size.
	minRecordSize = 1 + 16 + 1 + 3 + 1 + 1 + 1 + 1
	// The smallest field: empty name 1, kindrole 1, the shortest value 1.
	minFieldSize = 3
)

// The wire numbers of kinds and roles are the Go constants' values; these
// lines stop compiling if someone renumbers the constants.
func _() {
	var x [1]struct{}
	_ = x[KindString-0]
	_ = x[KindBytes-1]
	_ = x[KindInt-2]
	_ = x[KindFloat-3]
	_ = x[KindBool-4]
	_ = x[KindUint-5]
	_ = x[RoleField-0]
	_ = x[RoleTag-1]
	_ = x[RoleMeasurement-2]
}

// BatchEncoder appends messages into one frame. The zero value is ready to
// use; Reset it after sending the frame to reuse its memory.
type BatchEncoder struct {
	buf      []byte
	n        int
	lenBytes int // of the last record's length
}

// Add encodes m now and appends it to the frame; m may be reused afterwards.
// It panics if a field has a kind or role outside the defined constants: only
// a bug in Go code can produce one, and a frame carrying it would be rejected
// whole by every consumer, so it is better caught at the producer.
func (e *BatchEncoder) Add(m *Message) {
	at, guess := e.begin()
	e.buf = appendMessage(e.buf, m)
	e.end(at, guess)
}

// AddExtended adds base with extra appended to its fields, as Add would add
// a copy of base so extended. When base is a message a BatchDecoder in Alias
// mode returned, unchanged since, from a frame that is still intact, its
// record is copied rather than encoded again: only extra is encoded. This is
// how a filter passes on the message it was handed with a tag added. A
// base that has been given fields or lost some since is encoded in full;
// one changed in place (a header, a field's value) must not be passed here.
func (e *BatchEncoder) AddExtended(base *Message, extra []Field) {
	at, guess := e.begin()
	if r := &base.rec; r.body != nil && r.n == len(base.Fields) {
		e.buf = append(e.buf, r.body[:r.count]...)
		e.buf = binary.AppendUvarint(e.buf, uint64(r.n+len(extra)))
		e.buf = append(e.buf, r.body[r.fields:r.end]...)
	} else {
		e.buf = appendHeaders(e.buf, base)
		e.buf = binary.AppendUvarint(e.buf, uint64(len(base.Fields)+len(extra)))
		e.buf = appendFields(e.buf, base.Fields)
	}
	e.buf = appendFields(e.buf, extra)
	e.end(at, guess)
}

// begin makes room for the next record's length and returns where it starts
// and how many bytes were kept for it. The record's length goes before it,
// and is known only once it is written: room is kept for as many length
// bytes as the previous record needed (records of a frame are alike), and
// end moves the record in the rare case that its length needs another count.
func (e *BatchEncoder) begin() (at, guess int) {
	if len(e.buf) == 0 {
		e.buf = appendFrameHeader(e.buf)
	}
	guess = max(e.lenBytes, 1)
	at = len(e.buf)
	e.buf = append(e.buf, make([]byte, guess)...)
	return at, guess
}

// end writes the length of the record appended since begin and counts it.
func (e *BatchEncoder) end(at, guess int) {
	size := len(e.buf) - at - guess
	switch k := uvarintLen(uint64(size)); {
	case k > guess:
		e.buf = slices.Insert(e.buf, at, make([]byte, k-guess)...)
		guess = k
	case k < guess:
		e.buf = slices.Delete(e.buf, at, at+guess-k)
		guess = k
	}
	binary.PutUvarint(e.buf[at:at+guess], uint64(size))
	e.lenBytes = guess
	e.n++
	binary.LittleEndian.PutUint32(e.buf[2:6], uint32(e.n))
}

// Len returns the number of messages in the frame.
func (e *BatchEncoder) Len() int { return e.n }

// Size returns the frame's size in bytes, header included, so that a caller
// can flush before it reaches the NATS payload limit.
func (e *BatchEncoder) Size() int {
	if len(e.buf) == 0 {
		return frameHeaderSize
	}
	return len(e.buf)
}

// Bytes returns the finished frame. It aliases the encoder's memory and is
// valid until the next Add or Reset.
func (e *BatchEncoder) Bytes() []byte {
	if len(e.buf) == 0 {
		e.buf = appendFrameHeader(e.buf)
	}
	return e.buf
}

// Reset empties the frame and keeps its capacity.
func (e *BatchEncoder) Reset() {
	e.buf = e.buf[:0]
	e.n = 0
}

func appendFrameHeader(b []byte) []byte {
	return append(b, FrameMagic, FrameVersion, 0, 0, 0, 0)
}

// uvarintLen is the size of x as a uvarint.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// varintLen is the size of x as a zigzag varint.
func varintLen(x int64) int { return uvarintLen(uint64(x<<1) ^ uint64(x>>63)) }

func strLen(n int) int { return uvarintLen(uint64(n)) + n }

// messageSize returns the size of m's record body.
func messageSize(m *Message) int {
	return headersSize(m) + uvarintLen(uint64(len(m.Fields))) + fieldsSize(m.Fields)
}

// headersSize is the size of what comes before the field count in m's record.
func headersSize(m *Message) int {
	return 16 + varintLen(m.Timestamp) +
		strLen(len(m.Type)) + strLen(len(m.Logger)) + strLen(len(m.Hostname)) +
		varintLen(int64(m.Severity)) + varintLen(int64(m.Pid)) +
		strLen(len(m.Payload))
}

// fieldsSize is the size of fields, encoded.
func fieldsSize(fields []Field) int {
	n := 0
	for i := range fields {
		f := &fields[i]
		n += strLen(len(f.Name)) + 1
		switch f.Kind {
		case KindString:
			n += strLen(len(f.Str))
		case KindBytes:
			n += strLen(len(f.Bytes))
		case KindInt:
			n += varintLen(f.Int)
		case KindUint:
			n += uvarintLen(f.Uint)
		case KindFloat:
			n += 8
		case KindBool:
			n++
		default:
			panic(fmt.Sprintf("pipeline: codec: field %q has invalid kind %d", f.Name, f.Kind))
		}
		if f.Role >= numRoles {
			panic(fmt.Sprintf("pipeline: codec: field %q has invalid role %d", f.Name, f.Role))
		}
	}
	return n
}

func appendStr[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendMessage appends m's record body. It panics on a field of a kind or
// role outside the defined constants (see BatchEncoder.Add).
func appendMessage(b []byte, m *Message) []byte {
	b = appendHeaders(b, m)
	b = binary.AppendUvarint(b, uint64(len(m.Fields)))
	return appendFields(b, m.Fields)
}

// appendHeaders appends what comes before the field count in m's record.
func appendHeaders(b []byte, m *Message) []byte {
	b = append(b, m.UUID[:]...)
	b = binary.AppendVarint(b, m.Timestamp)
	b = appendStr(b, m.Type)
	b = appendStr(b, m.Logger)
	b = appendStr(b, m.Hostname)
	b = binary.AppendVarint(b, int64(m.Severity))
	b = binary.AppendVarint(b, int64(m.Pid))
	return appendStr(b, m.Payload)
}

// appendFields appends fields, encoded; it panics as appendMessage does.
func appendFields(b []byte, fields []Field) []byte {
	for i := range fields {
		f := &fields[i]
		b = appendStr(b, f.Name)
		b = append(b, byte(f.Kind)|byte(f.Role)<<4)
		switch f.Kind {
		case KindString:
			b = appendStr(b, f.Str)
		case KindBytes:
			b = appendStr(b, f.Bytes)
		case KindInt:
			b = binary.AppendVarint(b, f.Int)
		case KindUint:
			b = binary.AppendUvarint(b, f.Uint)
		case KindFloat:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f.Float))
		case KindBool:
			if f.Bool {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		default:
			panic(fmt.Sprintf("pipeline: codec: field %q has invalid kind %d", f.Name, f.Kind))
		}
		if f.Role >= numRoles {
			panic(fmt.Sprintf("pipeline: codec: field %q has invalid role %d", f.Name, f.Role))
		}
	}
	return b
}

// EncodeMessage returns a frame holding m alone, in fresh memory. It is for
// tools; the pipeline batches with a BatchEncoder. It panics as Add does.
func EncodeMessage(m *Message) []byte {
	var e BatchEncoder
	e.buf = make([]byte, 0, frameHeaderSize+binary.MaxVarintLen64+messageSize(m))
	e.Add(m)
	return e.Bytes()
}

// EncodedSize is len(EncodeMessage(m)), computed without encoding: what a
// Lua sandbox's output limit is compared with.
func EncodedSize(m *Message) int { return frameSize(messageSize(m)) }

// EncodedSizeExtended is EncodedSize of base with extra appended to its
// fields (what BatchEncoder.AddExtended adds), computed without encoding.
func EncodedSizeExtended(base *Message, extra []Field) int {
	n := uvarintLen(uint64(len(base.Fields)+len(extra))) + fieldsSize(extra)
	if r := &base.rec; r.body != nil && r.n == len(base.Fields) {
		n += r.count + r.end - r.fields
	} else {
		n += headersSize(base) + fieldsSize(base.Fields)
	}
	return frameSize(n)
}

// frameSize is the size of a frame that holds one record body of n bytes.
func frameSize(n int) int { return frameHeaderSize + uvarintLen(uint64(n)) + n }

// DecodeMessage decodes a frame that holds exactly one message. The message
// shares no memory with b. It is for tools; the pipeline uses a BatchDecoder.
func DecodeMessage(b []byte) (*Message, error) {
	var d BatchDecoder
	msgs, err := d.Decode(b)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("codec: frame holds %d messages, want 1", len(msgs))
	}
	return msgs[0].Clone(), nil
}

// Bounds of the decoder's string cache: small strings that repeat (types,
// loggers, hosts, field names, tag values) are created once; long or unique
// ones are not worth a map entry.
const (
	internMaxLen     = 64
	internMaxEntries = 4096
)

// BatchDecoder decodes frames, reusing its memory between calls. It is not
// safe for concurrent use; give each goroutine its own.
type BatchDecoder struct {
	msgs []Message // slots, reused with their Fields slices
	ptrs []*Message
	strs map[string]string
	// live is how many slots may still reference an earlier frame; slots
	// beyond the current count are cleared so that they do not pin it.
	live int
	// Alias makes the messages' strings alias the frame, as payloads do,
	// instead of being copied or looked up: for a reader that keeps none
	// of them (a Transient plugin), since one kept string keeps the whole
	// frame alive. The frame must then never change.
	Alias bool
}

// Decode decodes a frame. The messages it returns, and their Fields slices,
// are valid until the next call to Decode. Payloads and bytes values alias
// frame (no copy), so the caller must not modify frame while it uses them;
// Clone a message to keep it longer. Strings are ordinary Go strings that
// never alias frame, unless Alias is set. A frame that is corrupt,
// truncated or of an unknown version yields an error and no messages.
func (d *BatchDecoder) Decode(frame []byte) ([]*Message, error) {
	if len(frame) < frameHeaderSize {
		return nil, fmt.Errorf("codec: frame of %d bytes is shorter than the %d-byte header", len(frame), frameHeaderSize)
	}
	if frame[0] != FrameMagic {
		return nil, fmt.Errorf("codec: bad magic byte 0x%02x, want 0x%02x (not an interoceptor frame)", frame[0], FrameMagic)
	}
	if frame[1] != FrameVersion {
		return nil, fmt.Errorf("codec: unknown frame version %d (this build reads version %d)", frame[1], FrameVersion)
	}
	count := uint64(binary.LittleEndian.Uint32(frame[2:6]))
	if count > uint64(len(frame)-frameHeaderSize)/minRecordSize {
		return nil, fmt.Errorf("codec: message count %d cannot fit in a %d-byte frame", count, len(frame))
	}
	n := int(count)
	if cap(d.msgs) < n {
		// Append rather than make, so that existing messages keep their
		// Fields slices.
		d.msgs = append(d.msgs[:cap(d.msgs)], make([]Message, n-cap(d.msgs))...)
	}
	d.msgs = d.msgs[:n]
	d.live = max(d.live, n)
	off := frameHeaderSize
	for i := range n {
		size, k := binary.Uvarint(frame[off:])
		if k <= 0 {
			return nil, d.fail(fmt.Errorf("codec: message %d: truncated record length", i))
		}
		off += k
		if size > uint64(len(frame)-off) {
			return nil, d.fail(fmt.Errorf("codec: message %d: record length %d runs past the end of the frame (%d bytes left)", i, size, len(frame)-off))
		}
		end := off + int(size)
		prev := &d.msgs[i]
		if i > 0 {
			prev = &d.msgs[i-1]
		}
		if err := d.decodeMessage(&d.msgs[i], prev, frame[off:end:end]); err != nil {
			return nil, d.fail(fmt.Errorf("codec: message %d: %w", i, err))
		}
		off = end
	}
	if off != len(frame) {
		return nil, d.fail(fmt.Errorf("codec: %d bytes after the last of %d messages", len(frame)-off, n))
	}
	d.release(n)
	if cap(d.ptrs) < n {
		d.ptrs = make([]*Message, n)
	}
	d.ptrs = d.ptrs[:n]
	for i := range d.msgs {
		d.ptrs[i] = &d.msgs[i]
	}
	return d.ptrs, nil
}

// fail drops every reference into the failed frame so that the decoder does
// not keep it alive.
func (d *BatchDecoder) fail(err error) error {
	d.msgs = d.msgs[:0]
	d.release(0)
	return err
}

// release empties the slots from index from on, keeping their memory.
func (d *BatchDecoder) release(from int) {
	all := d.msgs[:cap(d.msgs)]
	for i := from; i < d.live; i++ {
		clear(all[i].Fields)
		all[i] = Message{Fields: all[i].Fields[:0]}
	}
	d.live = from
}

// str returns b as a string without allocating when it equals prev (the same
// slot in the previous message, which is the common case in a batch from one
// source) or a cached string.
func (d *BatchDecoder) str(b []byte, prev string) string {
	if len(b) == 0 {
		return ""
	}
	if d.Alias {
		return unsafeString(b)
	}
	if string(b) == prev {
		return prev
	}
	if len(b) > internMaxLen {
		return string(b)
	}
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	if d.strs == nil {
		d.strs = make(map[string]string, 64)
	} else if len(d.strs) >= internMaxEntries {
		clear(d.strs) // a high-cardinality stream: start over rather than grow
	}
	s := string(b)
	d.strs[s] = s
	return s
}

// recordSpan is where a decoded message's parts lie in its record body, for
// BatchEncoder.AddExtended: the headers are body[:count], the field count
// follows, and its n fields are body[fields:end]. Bytes after end (a later
// extension) are not passed on, as an encoder of this version would not
// write them.
type recordSpan struct {
	body               []byte
	count, fields, end int
	n                  int
}

// recordReader walks one record body; every method reports false when the
// body ends too early, so that callers can say which item was truncated.
type recordReader struct {
	b   []byte
	off int
}

func (r *recordReader) uvarint() (uint64, bool) {
	// Most lengths and counts fit in one byte; the fast path is inlined.
	if r.off < len(r.b) && r.b[r.off] < 0x80 {
		r.off++
		return uint64(r.b[r.off-1]), true
	}
	return r.uvarintSlow()
}

func (r *recordReader) uvarintSlow() (uint64, bool) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		return 0, false
	}
	r.off += n
	return v, true
}

func (r *recordReader) varint() (int64, bool) {
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		return 0, false
	}
	r.off += n
	return v, true
}

// str returns the next length-prefixed item, aliasing the body, with its
// capacity cut so that an append by the user cannot overwrite the frame.
// The one-byte length, the common case, is read inline.
func (r *recordReader) str() ([]byte, bool) {
	off := r.off
	if off >= len(r.b) {
		return nil, false
	}
	n := uint64(r.b[off])
	if n < 0x80 {
		off++
	} else {
		v, k := binary.Uvarint(r.b[off:])
		if k <= 0 {
			return nil, false
		}
		n, off = v, off+k
	}
	if n > uint64(len(r.b)-off) {
		return nil, false
	}
	end := off + int(n)
	r.off = end
	return r.b[off:end:end], true
}

func (r *recordReader) byte() (byte, bool) {
	if r.off >= len(r.b) {
		return 0, false
	}
	c := r.b[r.off]
	r.off++
	return c, true
}

// errTruncated describes an item that is cut short or runs past the end of
// its record; a varint longer than 64 bits counts as truncated too.
func errTruncated(what string) error {
	return fmt.Errorf("truncated %s", what)
}

func (d *BatchDecoder) decodeMessage(m, prev *Message, body []byte) error {
	r := recordReader{b: body}
	if len(body) < 16 {
		return errTruncated("uuid")
	}
	var uuid UUID
	copy(uuid[:], body)
	r.off = 16
	ts, ok := r.varint()
	if !ok {
		return errTruncated("timestamp")
	}
	typ, ok := r.str()
	if !ok {
		return errTruncated("type")
	}
	logger, ok := r.str()
	if !ok {
		return errTruncated("logger")
	}
	host, ok := r.str()
	if !ok {
		return errTruncated("hostname")
	}
	sev, ok := r.varint()
	if !ok {
		return errTruncated("severity")
	}
	if sev != int64(int32(sev)) {
		return fmt.Errorf("severity %d overflows int32", sev)
	}
	pid, ok := r.varint()
	if !ok {
		return errTruncated("pid")
	}
	if pid != int64(int32(pid)) {
		return fmt.Errorf("pid %d overflows int32", pid)
	}
	payload, ok := r.str()
	if !ok {
		return errTruncated("payload")
	}
	if len(payload) == 0 {
		payload = nil
	}
	count := r.off
	nf, ok := r.uvarint()
	if !ok {
		return errTruncated("field count")
	}
	if nf > uint64(len(body)-r.off)/minFieldSize {
		return fmt.Errorf("field count %d cannot fit in the %d bytes left", nf, len(body)-r.off)
	}
	fieldsAt := r.off
	// prev may be m itself (the first message of a frame): read what is
	// needed from it before overwriting.
	prevFields := prev.Fields
	fields := m.Fields
	if cap(fields) < int(nf) {
		fields = make([]Field, nf)
	} else if len(fields) > int(nf) {
		clear(fields[nf:]) // stale bytes values would pin an old frame
	}
	fields = fields[:nf]
	*m = Message{
		UUID:      uuid,
		Timestamp: ts,
		Type:      d.str(typ, prev.Type),
		Logger:    d.str(logger, prev.Logger),
		Severity:  int32(sev),
		Hostname:  d.str(host, prev.Hostname),
		Pid:       int32(pid),
		Payload:   payload,
		Fields:    fields,
	}
	for j := range fields {
		var prevName, prevStr string
		if j < len(prevFields) {
			prevName, prevStr = prevFields[j].Name, prevFields[j].Str
		}
		if err := d.decodeField(&r, &fields[j], prevName, prevStr); err != nil {
			return fmt.Errorf("field %d: %w", j, err)
		}
	}
	if d.Alias {
		m.rec = recordSpan{body: body, count: count, fields: fieldsAt, end: r.off, n: len(fields)}
	}
	// Bytes left in the body are a later compatible extension: skipped.
	return nil
}

func (d *BatchDecoder) decodeField(r *recordReader, f *Field, prevName, prevStr string) error {
	name, ok := r.str()
	if !ok {
		return errTruncated("name")
	}
	kr, ok := r.byte()
	if !ok {
		return errTruncated("kind byte")
	}
	kind, role := FieldKind(kr&0x0f), FieldRole(kr>>4)
	if kind >= numKinds {
		return fmt.Errorf("unknown kind %d", kind)
	}
	if role >= numRoles {
		return fmt.Errorf("unknown role %d", role)
	}
	*f = Field{Name: d.str(name, prevName), Kind: kind, Role: role}
	switch kind {
	case KindString:
		s, ok := r.str()
		if !ok {
			return errTruncated("string value")
		}
		f.Str = d.str(s, prevStr)
	case KindBytes:
		if f.Bytes, ok = r.str(); !ok {
			return errTruncated("bytes value")
		}
		if len(f.Bytes) == 0 {
			f.Bytes = nil
		}
	case KindInt:
		if f.Int, ok = r.varint(); !ok {
			return errTruncated("int value")
		}
	case KindUint:
		if f.Uint, ok = r.uvarint(); !ok {
			return errTruncated("uint value")
		}
	case KindFloat:
		if len(r.b)-r.off < 8 {
			return errTruncated("float value")
		}
		f.Float = math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.off:]))
		r.off += 8
	case KindBool:
		c, ok := r.byte()
		if !ok {
			return errTruncated("bool value")
		}
		if c > 1 {
			return fmt.Errorf("bool value byte %d is neither 0 nor 1", c)
		}
		f.Bool = c == 1
	}
	return nil
}
