package pipeline

import (
	"math"
	"strconv"
	"strings"
)

// The fast paths of ParseLineProtocol and AppendLineProtocol: most lines
// are plain (names of printable ASCII that need no escape, numbers, short
// strings without escapes), and for them the line protocol library's
// general decoder and encoder cost more than the work itself (a 512-byte
// buffer per decoder, validation and escaping byte by byte). A fast path
// only takes what it is sure of and says no to anything else, errors
// included: the library then does the work as before, so behaviour, error
// messages included, stays the library's. FuzzLineProtocolFastPath checks
// that the fast paths agree with the library wherever they take a line.

// plainByte marks the bytes a name may hold on the fast paths: printable
// ASCII without the bytes line protocol escapes or quotes (space, comma,
// equals sign, backslash, double quote). Such a name is valid UTF-8, has no
// control character, cannot end in a backslash, and is written as it is.
var plainByte = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range []byte{',', '=', '\\', '"'} {
		t[c] = false
	}
	return t
}()

// plainStringByte marks the bytes a string value may hold on the fast
// paths: printable ASCII without a double quote or a backslash.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = false, false
	return t
}()

// lpParser is the pooled state of the parser: the interner, and the
// strings of the previous line by position, which the next line of the same
// source mostly repeats (a comparison costs less than a map lookup).
type lpParser struct {
	in   Interner
	prev [lpPrevSlots]string
	// alias: the strings of the line being parsed alias it (see
	// ParseLineProtocolTransient); the interner and prev are not used.
	alias bool
}

// lpPrevSlots is how many strings of a line (measurement, tag keys and
// values, field keys) are remembered by position.
const lpPrevSlots = 32

// str returns b as a string, the same one as the previous line's at slot i
// when it is equal.
func (p *lpParser) str(i int, b []byte) string {
	if p.alias {
		return unsafeString(b)
	}
	if i >= lpPrevSlots {
		return p.in.String(b)
	}
	if s := p.prev[i]; s == string(b) {
		return s
	}
	s := p.in.String(b)
	p.prev[i] = s
	return s
}

// scanName returns the length of the plain name at the start of b (0 if
// none).
func scanName(b []byte) int {
	i := 0
	for i < len(b) && plainByte[b[i]] {
		i++
	}
	return i
}

// parseFast parses a plain line into m as parseLineProtocol does and
// reports true, or reports false, having appended nothing that stays (the
// caller cuts m.Fields back), when the line is not one it takes.
func (p *lpParser) parseFast(line []byte, m *Message) bool {
	n := scanName(line)
	if n == 0 || line[0] == '#' {
		return false
	}
	slot := 0
	m.Fields = append(m.Fields, Field{Name: MeasurementField, Kind: KindString, Role: RoleMeasurement, Str: p.str(slot, line[:n])})
	slot++
	rest := line[n:]
	t0 := len(m.Fields)
	for len(rest) > 0 && rest[0] == ',' {
		rest = rest[1:]
		k := scanName(rest)
		if k == 0 || k == len(rest) || rest[k] != '=' {
			return false
		}
		key := rest[:k]
		rest = rest[k+1:]
		v := scanName(rest)
		if v == 0 {
			return false
		}
		m.Fields = append(m.Fields, Field{Name: p.str(slot, key), Kind: KindString, Role: RoleTag, Str: p.str(slot+1, rest[:v])})
		slot += 2
		rest = rest[v:]
	}
	if len(rest) == 0 || rest[0] != ' ' {
		return false
	}
	rest = rest[1:]
	if sortTags(m.Fields[t0:]) != "" {
		return false // an error: the library's path says it
	}
	for {
		k := scanName(rest)
		if k == 0 || k == len(rest) || rest[k] != '=' {
			return false
		}
		f := Field{Name: p.str(slot, rest[:k])}
		slot++
		rest = rest[k+1:]
		v, ok := parseFastValue(rest, &f, p.alias)
		if !ok {
			return false
		}
		m.Fields = append(m.Fields, f)
		rest = rest[v:]
		if len(rest) == 0 || rest[0] != ',' {
			break
		}
		rest = rest[1:]
	}
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return false
		}
		ns, ok := parseFastInt(rest[1:])
		if !ok {
			return false
		}
		m.Timestamp = ns
	}
	m.Type = MetricType
	return true
}

// parseFastUint reads b, 1 to 19 decimal digits, which cannot overflow 64
// bits; anything else (20 digits included) is left to strconv's path.
func parseFastUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var x uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		x = x*10 + uint64(d)
	}
	return x, true
}

// parseFastInt reads b, an optional '-' then 1 to 19 decimal digits, within
// the range of int64.
func parseFastInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := parseFastUint(b)
	switch {
	case !ok:
		return 0, false
	case neg && u <= 1<<63:
		return int64(-u), true // -(1<<63) wraps to math.MinInt64
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// parseFastValue reads the field value at the start of b into f and
// returns its length, or false for a value the fast path does not take. A
// string value aliases b when alias is set.
func parseFastValue(b []byte, f *Field, alias bool) (int, bool) {
	end := 0
	for end < len(b) && b[end] != ',' && b[end] != ' ' {
		end++
	}
	if end == 0 {
		return 0, false
	}
	v := b[:end]
	switch c := v[0]; {
	case c == '"':
		// A string without escapes: the value runs to the next quote,
		// which may be past a space or a comma.
		i := 1
		for i < len(b) && plainStringByte[b[i]] {
			i++
		}
		if i == len(b) || b[i] != '"' {
			return 0, false
		}
		f.Kind, f.Str = KindString, unsafeString(b[1:i])
		if !alias {
			f.Str = strings.Clone(f.Str)
		}
		return i + 1, true
	case c == '-' || (c >= '0' && c <= '9'):
		switch v[len(v)-1] {
		case 'i':
			x, ok := parseFastInt(v[:len(v)-1])
			if !ok {
				return 0, false
			}
			f.Kind, f.Int = KindInt, x
		case 'u':
			x, ok := parseFastUint(v[:len(v)-1])
			if !ok {
				return 0, false
			}
			f.Kind, f.Uint = KindUint, x
		default:
			if !plainFloat(v) {
				return 0, false
			}
			x, err := strconv.ParseFloat(unsafeString(v), 64)
			if err != nil || math.IsInf(x, 0) {
				return 0, false
			}
			f.Kind, f.Float = KindFloat, x
		}
		return end, true
	}
	switch unsafeString(v) {
	case "t", "T", "true", "True", "TRUE":
		f.Kind, f.Bool = KindBool, true
	case "f", "F", "false", "False", "FALSE":
		f.Kind, f.Bool = KindBool, false
	default:
		return 0, false
	}
	return end, true
}

// plainFloat reports whether v is -?digits(.digits)?([eE][+-]?digits)?, the
// forms the fast path reads as floats.
func plainFloat(v []byte) bool {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	d := i
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == d {
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		d = i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		d = i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(v)
}

// plainName reports whether s is a non-empty plain name, written as it is.
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !plainByte[s[i]] {
			return false
		}
	}
	return true
}

// plainString reports whether s is written between quotes as it is.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainStringByte[s[i]] {
			return false
		}
	}
	return true
}

// appendFast appends the metric m, already checked by AppendLineProtocol
// (name is its measurement, tags its tags in order), when every name and
// string in it is plain, and reports false, leaving buf as it was,
// otherwise.
func appendFast(buf []byte, m *Message, name string, tags []int) ([]byte, bool) {
	if !plainName(name) {
		return buf, false
	}
	for _, i := range tags {
		if !plainName(m.Fields[i].Name) || !plainName(m.Fields[i].Str) {
			return buf, false
		}
	}
	for i := range m.Fields {
		f := &m.Fields[i]
		if f.Role != RoleField {
			continue
		}
		switch f.Kind {
		case KindFloat, KindInt, KindUint, KindBool:
		case KindString:
			if !plainString(f.Str) {
				return buf, false
			}
		default:
			return buf, false // the library's path says what is wrong
		}
		if !plainName(f.Name) {
			return buf, false
		}
	}
	buf = append(buf, name...)
	for _, i := range tags {
		buf = append(buf, ',')
		buf = append(buf, m.Fields[i].Name...)
		buf = append(buf, '=')
		buf = append(buf, m.Fields[i].Str...)
	}
	sep := byte(' ')
	for i := range m.Fields {
		f := &m.Fields[i]
		if f.Role != RoleField {
			continue
		}
		buf = append(buf, sep)
		sep = ','
		buf = append(buf, f.Name...)
		buf = append(buf, '=')
		switch f.Kind {
		case KindFloat:
			buf = appendFloat(buf, f.Float)
		case KindInt:
			buf = append(strconv.AppendInt(buf, f.Int, 10), 'i')
		case KindUint:
			buf = append(strconv.AppendUint(buf, f.Uint, 10), 'u')
		case KindBool:
			if f.Bool {
				buf = append(buf, "true"...)
			} else {
				buf = append(buf, "false"...)
			}
		case KindString:
			buf = append(buf, '"')
			buf = append(buf, f.Str...)
			buf = append(buf, '"')
		}
	}
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, m.Timestamp, 10)
	return append(buf, '\n'), true
}
