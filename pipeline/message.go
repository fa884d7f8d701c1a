package pipeline

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"
)

// Message is the one record every plugin exchanges: Heka's headers plus typed
// fields. It carries a log record (Payload, Severity, Logger) and a metric
// point (Type "metric", see metric.go) without loss.
//
// Messages handed to Filter.Process and Output.Write are only valid for the
// duration of the call: the runtime reuses them. Clone one to keep it.
type Message struct {
	UUID      UUID
	Timestamp int64 // nanoseconds since the Unix epoch
	Type      string
	Logger    string
	Severity  int32 // syslog severity, 0 (emergency) to 7 (debug)
	Hostname  string
	Pid       int32
	Payload   []byte
	Fields    []Field

	// rec is the record a BatchDecoder in Alias mode read this message
	// from, which BatchEncoder.AddExtended copies instead of encoding the
	// message again. Clone and every decode reset it.
	rec recordSpan
}

// FieldKind is the type of a field's value.
type FieldKind uint8

// The field kinds. Uint exists so that InfluxDB's unsigned integers survive a
// round trip; everything else is Heka's set.
const (
	KindString FieldKind = iota
	KindBytes
	KindInt
	KindFloat
	KindBool
	KindUint
	numKinds
)

var kindNames = [numKinds]string{"string", "bytes", "int", "float", "bool", "uint"}

// String returns the kind's name as used in JSON and configs.
func (k FieldKind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "invalid"
}

// ParseFieldKind returns the kind with the given name.
func ParseFieldKind(s string) (FieldKind, bool) {
	for i, n := range kindNames {
		if n == s {
			return FieldKind(i), true
		}
	}
	return 0, false
}

// FieldRole says what a field is when the message is a metric point.
type FieldRole uint8

// The roles: a plain field (a log field, or a metric's value field), a metric
// tag, or the metric's measurement name.
const (
	RoleField FieldRole = iota
	RoleTag
	RoleMeasurement
	numRoles
)

var roleNames = [numRoles]string{"field", "tag", "measurement"}

// String returns the role's name as used in JSON.
func (r FieldRole) String() string {
	if r < numRoles {
		return roleNames[r]
	}
	return "invalid"
}

// ParseFieldRole returns the role with the given name.
func ParseFieldRole(s string) (FieldRole, bool) {
	for i, n := range roleNames {
		if n == s {
			return FieldRole(i), true
		}
	}
	return 0, false
}

// Field is one named, typed value. Only the member that matches Kind is
// meaningful: Str for KindString, Bytes for KindBytes, Int for KindInt, Float
// for KindFloat, Bool for KindBool and Uint for KindUint.
type Field struct {
	Name  string
	Kind  FieldKind
	Role  FieldRole
	Str   string
	Bytes []byte
	Int   int64
	Uint  uint64
	Float float64
	Bool  bool
}

// Value returns the field's value as a Go value of its kind.
func (f *Field) Value() any {
	switch f.Kind {
	case KindString:
		return f.Str
	case KindBytes:
		return f.Bytes
	case KindInt:
		return f.Int
	case KindUint:
		return f.Uint
	case KindFloat:
		return f.Float
	case KindBool:
		return f.Bool
	}
	return nil
}

// Equal reports whether two fields have the same name, kind, role and value.
func (f *Field) Equal(g *Field) bool {
	if f.Name != g.Name || f.Kind != g.Kind || f.Role != g.Role {
		return false
	}
	switch f.Kind {
	case KindString:
		return f.Str == g.Str
	case KindBytes:
		return bytes.Equal(f.Bytes, g.Bytes)
	case KindInt:
		return f.Int == g.Int
	case KindUint:
		return f.Uint == g.Uint
	case KindFloat:
		// Bit equality, so that NaN round-trips compare equal.
		return f.Float == g.Float || (f.Float != f.Float && g.Float != g.Float)
	case KindBool:
		return f.Bool == g.Bool
	}
	return true
}

// Field returns the first field with the given name, or nil.
func (m *Message) Field(name string) *Field {
	for i := range m.Fields {
		if m.Fields[i].Name == name {
			return &m.Fields[i]
		}
	}
	return nil
}

// FieldAt returns the n-th (0-based) field with the given name, or nil. Heka
// allows repeated names; its matcher and Lua API address them by index.
func (m *Message) FieldAt(name string, n int) *Field {
	for i := range m.Fields {
		if m.Fields[i].Name == name {
			if n == 0 {
				return &m.Fields[i]
			}
			n--
		}
	}
	return nil
}

// AddString appends a string field.
func (m *Message) AddString(name, v string) {
	m.Fields = append(m.Fields, Field{Name: name, Kind: KindString, Str: v})
}

// AddBytes appends a bytes field.
func (m *Message) AddBytes(name string, v []byte) {
	m.Fields = append(m.Fields, Field{Name: name, Kind: KindBytes, Bytes: v})
}

// AddInt appends an integer field.
func (m *Message) AddInt(name string, v int64) {
	m.Fields = append(m.Fields, Field{Name: name, Kind: KindInt, Int: v})
}

// AddUint appends an unsigned integer field.
func (m *Message) AddUint(name string, v uint64) {
	m.Fields = append(m.Fields, Field{Name: name, Kind: KindUint, Uint: v})
}

// AddFloat appends a float field.
func (m *Message) AddFloat(name string, v float64) {
	m.Fields = append(m.Fields, Field{Name: name, Kind: KindFloat, Float: v})
}

// AddBool appends a boolean field.
func (m *Message) AddBool(name string, v bool) {
	m.Fields = append(m.Fields, Field{Name: name, Kind: KindBool, Bool: v})
}

// Reset clears the message for reuse, keeping its allocated capacity.
func (m *Message) Reset() {
	fields := m.Fields[:0]
	payload := m.Payload[:0]
	*m = Message{Fields: fields, Payload: payload}
}

// Clone returns a deep copy that shares no memory with m.
func (m *Message) Clone() *Message {
	c := *m
	c.rec = recordSpan{}
	if m.Payload != nil {
		c.Payload = bytes.Clone(m.Payload)
	}
	if m.Fields != nil {
		c.Fields = make([]Field, len(m.Fields))
		copy(c.Fields, m.Fields)
		for i := range c.Fields {
			if c.Fields[i].Bytes != nil {
				c.Fields[i].Bytes = bytes.Clone(c.Fields[i].Bytes)
			}
		}
	}
	return &c
}

// Equal reports whether two messages carry the same headers and fields, in
// the same order.
func (m *Message) Equal(o *Message) bool {
	if m.UUID != o.UUID || m.Timestamp != o.Timestamp || m.Type != o.Type ||
		m.Logger != o.Logger || m.Severity != o.Severity || m.Hostname != o.Hostname ||
		m.Pid != o.Pid || !bytes.Equal(m.Payload, o.Payload) || len(m.Fields) != len(o.Fields) {
		return false
	}
	for i := range m.Fields {
		if !m.Fields[i].Equal(&o.Fields[i]) {
			return false
		}
	}
	return true
}

// UUID is a message's 16-byte identifier.
type UUID [16]byte

// String formats the UUID in the canonical 8-4-4-4-12 hex form.
func (u UUID) String() string {
	var b [36]byte
	return string(AppendUUID(b[:0], u))
}

// AppendUUID appends u in the canonical 8-4-4-4-12 lower-case hex form: the
// one place that writes it, for String, the JSON form and the matcher.
func AppendUUID(dst []byte, u UUID) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 36)[:n+36]
	b := dst[n:]
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return dst
}

// ParseUUID parses the canonical form, with or without dashes.
func ParseUUID(s string) (UUID, bool) {
	var u UUID
	clean := make([]byte, 0, 32)
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			clean = append(clean, s[i])
		}
	}
	if len(clean) != 32 {
		return u, false
	}
	if _, err := hex.Decode(u[:], clean); err != nil {
		return u, false
	}
	return u, true
}

// uuidCounter makes NewUUID unique within the process even when the clock and
// the random source repeat. It has cache lines of its own: the linker put it
// beside runtime.gcphase and gcBlackenEnabled, which every allocation reads,
// so each Add had to take the line back from the cores of busy filters
// (140 ns a message in a Lua filter's pipeline, 5% of its CPU).
var uuidCounter struct {
	_ [cacheLine]byte
	n atomic.Uint32
	_ [cacheLine - 4]byte
}

// cacheLine is the size of a CPU cache line, the unit of false sharing (and
// twice that covers the adjacent-line prefetch of x86).
const cacheLine = 128

// NewUUID returns a version 7 UUID (time-ordered, RFC 9562): 48 bits of
// milliseconds, then a per-process counter and random bits. It costs a few
// nanoseconds, which matters on the hot path where every line becomes a message.
func NewUUID(now time.Time) UUID {
	var u UUID
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(u[0:8], ms<<16)
	binary.BigEndian.PutUint64(u[8:16], rand.Uint64())
	c := uuidCounter.n.Add(1)
	u[6] = 0x70 | byte(c>>8)&0x0f // version 7, 12 bits of counter
	u[7] = byte(c)
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	return u
}

// OriginUUID is the UUID of the line at offset in the file that source
// names: a version 8 UUID (RFC 9562, custom) holding 60 bits of source and
// the offset, so that reading the line again gives the same UUID.
func OriginUUID(source [8]byte, offset int64) UUID {
	var u UUID
	copy(u[0:8], source[:])
	u[6] = 0x80 | u[6]&0x0f // version 8
	binary.BigEndian.PutUint64(u[8:16], uint64(offset)&(1<<62-1))
	u[8] |= 0x80 // RFC 9562 variant
	return u
}

// Origin reports the source and offset of a UUID made by OriginUUID.
func (u UUID) Origin() (source [8]byte, offset int64, ok bool) {
	if u[6]&0xf0 != 0x80 || u[8]&0xc0 != 0x80 {
		return source, 0, false
	}
	copy(source[:], u[0:8])
	return source, int64(binary.BigEndian.Uint64(u[8:16]) & (1<<62 - 1)), true
}
