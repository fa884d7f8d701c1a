package matcher

import (
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

func always(*pipeline.Message) bool { return true }
func never(*pipeline.Message) bool  { return false }

// build turns "v op val" into an evalFunc, rejecting what can never be true
// for reasons known now, so that the user hears about it at load time.
func (p *parser) build(v variable, opTok, val token) (evalFunc, error) {
	o := opTok.op
	if o == opMatch || o == opNotMatch {
		if v.h.numeric() {
			return nil, p.errorf(opTok.pos, "%s is a number; %s only applies to strings", v.text, o)
		}
		if val.kind != tRegex && val.kind != tString {
			return nil, p.errorf(val.pos, "%s needs a regular expression (/regex/ or a quoted string), found %s", o, describe(val))
		}
		re, err := regexp.Compile(val.str)
		if err != nil {
			return nil, p.errorf(val.pos, "invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		return regexNode(v, re, o == opNotMatch), nil
	}
	if val.kind == tRegex {
		return nil, p.errorf(val.pos, "a regular expression needs =~ or !~, not %s", o)
	}
	if val.kind == tIdent {
		lit := val.text
		if o != opEq && o != opNe {
			return nil, p.errorf(val.pos, "%s can only be compared with == or !=", lit)
		}
		if lit == "NIL" {
			if v.h.numeric() {
				return nil, p.errorf(val.pos, "%s always has a value, so it cannot be compared with NIL", v.text)
			}
			return nilNode(v, o == opEq), nil
		}
		if v.h != vField {
			return nil, p.typeError(v, val)
		}
		return boolFieldNode(v, lit == "TRUE", o == opEq), nil
	}
	switch {
	case v.h == vField && val.kind == tString:
		return stringFieldNode(v, o, val.str), nil
	case v.h == vField:
		return numberFieldNode(v, o, val.num), nil
	case v.h == hTimestamp && val.kind == tString:
		t, err := time.Parse(time.RFC3339, val.str)
		if err != nil {
			return nil, p.errorf(val.pos, "invalid RFC 3339 time %s, expected e.g. '2026-01-02T15:04:05Z'", describe(val))
		}
		ns := t.UnixNano()
		if !time.Unix(0, ns).Equal(t) { // UnixNano is undefined outside int64
			return nil, p.errorf(val.pos, "time %s is outside what Timestamp can hold (years 1678 to 2262)", describe(val))
		}
		return numberHeaderNode(v.h, o, number{kind: numInt, i: ns}), nil
	case v.h.numeric() && val.kind == tNumber:
		return numberHeaderNode(v.h, o, val.num), nil
	case !v.h.numeric() && val.kind == tString:
		if v.h == hUuid {
			return uuidNode(o, val.str), nil
		}
		return stringHeaderNode(v.h, o, val.str), nil
	}
	return nil, p.typeError(v, val)
}

func (p *parser) typeError(v variable, val token) error {
	switch {
	case v.h == hTimestamp:
		return p.errorf(val.pos, "Timestamp is a number of nanoseconds; compare it with a number or a quoted RFC 3339 time, not %s", describe(val))
	case v.h.numeric():
		return p.errorf(val.pos, "%s is a number; compare it with a number, not %s", v.text, describe(val))
	case v.h == vField:
		return p.errorf(val.pos, "cannot compare %s with %s", v.text, describe(val))
	}
	return p.errorf(val.pos, "%s is a string; compare it with a quoted string, not %s", v.text, describe(val))
}

// op is a relational operator.
type op uint8

const (
	opEq op = iota
	opNe
	opLt
	opLe
	opGt
	opGe
	opMatch
	opNotMatch
)

var opNames = [...]string{"==", "!=", "<", "<=", ">", ">=", "=~", "!~"}

func (o op) String() string { return opNames[o] }

// unordered is the result of comparing with NaN: only != holds.
const unordered = 2

// holds applies o to a three-way comparison result (-1, 0, 1 or unordered).
func (o op) holds(c int) bool {
	switch o {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	case opGt:
		return c == 1
	case opGe:
		return c == 0 || c == 1
	}
	return false
}

// compareStrings applies o to s and lit; the comparisons are bytewise.
func compareStrings(o op, s, lit string) bool {
	switch o {
	case opEq:
		return s == lit
	case opNe:
		return s != lit
	case opLt:
		return s < lit
	case opLe:
		return s <= lit
	case opGt:
		return s > lit
	case opGe:
		return s >= lit
	}
	return false
}

// compareBytes is compareStrings for []byte; string(b) in a comparison does
// not copy, so this does not allocate.
func compareBytes(o op, b []byte, lit string) bool {
	switch o {
	case opEq:
		return string(b) == lit
	case opNe:
		return string(b) != lit
	case opLt:
		return string(b) < lit
	case opLe:
		return string(b) <= lit
	case opGt:
		return string(b) > lit
	case opGe:
		return string(b) >= lit
	}
	return false
}

func stringHeader(h header) func(*pipeline.Message) string {
	switch h {
	case hType:
		return func(m *pipeline.Message) string { return m.Type }
	case hLogger:
		return func(m *pipeline.Message) string { return m.Logger }
	case hHostname:
		return func(m *pipeline.Message) string { return m.Hostname }
	}
	panic("matcher: not a string header: " + headerNames[h])
}

// stringHeaderNode reads the header directly rather than through
// stringHeader: this is the most common node, and the call costs a third.
func stringHeaderNode(h header, o op, lit string) evalFunc {
	switch h {
	case hType:
		return func(m *pipeline.Message) bool { return compareStrings(o, m.Type, lit) }
	case hLogger:
		return func(m *pipeline.Message) bool { return compareStrings(o, m.Logger, lit) }
	case hHostname:
		return func(m *pipeline.Message) bool { return compareStrings(o, m.Hostname, lit) }
	}
	return func(m *pipeline.Message) bool { return compareBytes(o, m.Payload, lit) }
}

// uuidText formats u as pipeline.UUID.String does, into an array the caller
// keeps on its stack.
func uuidText(u *pipeline.UUID) [36]byte {
	var b [36]byte
	pipeline.AppendUUID(b[:0], *u)
	return b
}

var uuidBuffers = sync.Pool{New: func() any { return new([36]byte) }}

func uuidNode(o op, lit string) evalFunc {
	if o == opEq || o == opNe {
		// Compare the 16 bytes when the literal is a canonical UUID; any
		// other literal can never equal a canonical form.
		u, ok := pipeline.ParseUUID(lit)
		if !ok || u.String() != lit {
			if o == opEq {
				return never
			}
			return always
		}
		eq := o == opEq
		return func(m *pipeline.Message) bool { return (m.UUID == u) == eq }
	}
	return func(m *pipeline.Message) bool {
		b := uuidText(&m.UUID)
		return compareBytes(o, b[:], lit)
	}
}

func regexNode(v variable, re *regexp.Regexp, negate bool) evalFunc {
	switch v.h {
	case hUuid:
		return func(m *pipeline.Message) bool {
			// regexp keeps its input past the call, so a stack buffer would
			// escape: borrow one instead.
			b := uuidBuffers.Get().(*[36]byte)
			*b = uuidText(&m.UUID)
			ok := re.Match(b[:]) != negate
			uuidBuffers.Put(b)
			return ok
		}
	case hPayload:
		return func(m *pipeline.Message) bool { return re.Match(m.Payload) != negate }
	case vField:
		if v.ai != 0 {
			return never
		}
		name, fi := v.name, v.fi
		return func(m *pipeline.Message) bool {
			f := m.FieldAt(name, fi)
			if f == nil {
				return false
			}
			switch f.Kind {
			case pipeline.KindString:
				return re.MatchString(f.Str) != negate
			case pipeline.KindBytes:
				return re.Match(f.Bytes) != negate
			}
			return false
		}
	}
	get := stringHeader(v.h)
	return func(m *pipeline.Message) bool { return re.MatchString(get(m)) != negate }
}

func nilNode(v variable, eq bool) evalFunc {
	var isNil evalFunc
	switch v.h {
	case hUuid:
		isNil = func(m *pipeline.Message) bool { return m.UUID == pipeline.UUID{} }
	case hPayload:
		isNil = func(m *pipeline.Message) bool { return len(m.Payload) == 0 }
	case vField:
		if v.ai != 0 { // one value per field: other array indexes are NIL
			isNil = always
			break
		}
		name, fi := v.name, v.fi
		isNil = func(m *pipeline.Message) bool { return m.FieldAt(name, fi) == nil }
	default:
		get := stringHeader(v.h)
		isNil = func(m *pipeline.Message) bool { return get(m) == "" }
	}
	if eq {
		return isNil
	}
	return func(m *pipeline.Message) bool { return !isNil(m) }
}

func boolFieldNode(v variable, lit, eq bool) evalFunc {
	if v.ai != 0 {
		return never
	}
	name, fi := v.name, v.fi
	return func(m *pipeline.Message) bool {
		f := m.FieldAt(name, fi)
		return f != nil && f.Kind == pipeline.KindBool && (f.Bool == lit) == eq
	}
}

func stringFieldNode(v variable, o op, lit string) evalFunc {
	if v.ai != 0 {
		return never
	}
	name, fi := v.name, v.fi
	return func(m *pipeline.Message) bool {
		f := m.FieldAt(name, fi)
		if f == nil {
			return false
		}
		switch f.Kind {
		case pipeline.KindString:
			return compareStrings(o, f.Str, lit)
		case pipeline.KindBytes:
			return compareBytes(o, f.Bytes, lit)
		}
		return false
	}
}

// number is a numeric literal, kept exact: numUint only for integers above
// MaxInt64.
type number struct {
	kind numKind
	i    int64
	u    uint64
	f    float64
}

type numKind uint8

const (
	numInt numKind = iota
	numUint
	numFloat
)

func cmpOrdered[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	}
	return unordered
}

// compareInt compares an int64 value with a literal, exactly unless the
// literal is a float.
func compareInt(a int64, n number) int {
	switch n.kind {
	case numInt:
		return cmpOrdered(a, n.i)
	case numUint: // n.u > MaxInt64
		return -1
	}
	return cmpFloat(float64(a), n.f)
}

func compareUint(a uint64, n number) int {
	switch n.kind {
	case numInt:
		if n.i < 0 {
			return 1
		}
		return cmpOrdered(a, uint64(n.i))
	case numUint:
		return cmpOrdered(a, n.u)
	}
	return cmpFloat(float64(a), n.f)
}

func compareFloat(a float64, n number) int {
	switch n.kind {
	case numInt:
		return cmpFloat(a, float64(n.i))
	case numUint:
		return cmpFloat(a, float64(n.u))
	}
	return cmpFloat(a, n.f)
}

func numberHeaderNode(h header, o op, n number) evalFunc {
	switch h {
	case hSeverity:
		return func(m *pipeline.Message) bool { return o.holds(compareInt(int64(m.Severity), n)) }
	case hPid:
		return func(m *pipeline.Message) bool { return o.holds(compareInt(int64(m.Pid), n)) }
	}
	return func(m *pipeline.Message) bool { return o.holds(compareInt(m.Timestamp, n)) }
}

func numberFieldNode(v variable, o op, n number) evalFunc {
	if v.ai != 0 {
		return never
	}
	name, fi := v.name, v.fi
	return func(m *pipeline.Message) bool {
		f := m.FieldAt(name, fi)
		if f == nil {
			return false
		}
		switch f.Kind {
		case pipeline.KindInt:
			return o.holds(compareInt(f.Int, n))
		case pipeline.KindUint:
			return o.holds(compareUint(f.Uint, n))
		case pipeline.KindFloat:
			return o.holds(compareFloat(f.Float, n))
		}
		return false
	}
}
