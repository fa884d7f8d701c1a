package pipeline

// The JSON form of a message, for humans and text tools (interoceptor cat,
// inject, the file output's format = "json"). One message is one JSON object
// on one line:
//
//	{"uuid":"0190...","timestamp":"2026-11-21T02:04:12.123456789Z",
//	 "type":"metric","logger":"cpu","severity":6,"hostname":"edge-1","pid":123,
//	 "payload":"text","fields":[{"name":"name","role":"measurement",
//	 "type":"string","value":"cpu"},{"name":"usage","type":"float","value":1.5}]}
//
// Written by AppendJSON, always in that key order:
//   - every header is written, zero or not; "payload" is left out when empty;
//     "fields" is always written, [] when there are none;
//   - timestamp: RFC 3339 in UTC with exactly nine fractional digits, so that
//     it is lossless and lines align;
//   - a field's "role" is left out when it is "field"; "type" is always there,
//     so that a float that happens to be whole (written 3) comes back a float;
//   - int and uint values are JSON integers (all 64 bits: read them with a
//     parser that does not squeeze numbers through float64); float values are
//     strconv 'g' with the shortest precision that parses back to the same
//     bits, and the strings "NaN", "+Inf" and "-Inf" for what JSON cannot
//     hold; bytes values are standard base64 with padding;
//   - strings escape only what JSON requires, and U+2028 and U+2029, so that
//     non-ASCII text stays readable and a message stays on one line;
//   - text that is not valid UTF-8 (payload, type, logger, hostname, a field's
//     name or string value) cannot be a JSON string without loss, so it is
//     written under the same key plus "_base64", as standard base64:
//     "payload_base64", "name_base64", "value_base64"...
//
// Read by ParseJSON, which accepts all of the above and, for people typing
// messages by hand:
//   - keys in any order; a missing or null header is left zero, but for
//     severity, which is then DefaultSeverity (6, info; see severity.go);
//   - severity as a level name or syslog number in a string ("warn", "3"),
//     read by ParseSeverity;
//   - timestamp as an integer (ns since the Unix epoch) or an RFC 3339 string
//     with any offset and any number of fractional digits;
//   - "Inf" as well as "+Inf" for a float;
//   - a field without "type" takes it from its value, as below;
//   - "fields" as a plain object, {"usage": 1.5, "host": "a", "n": 3,
//     "ok": true}, in which every field has the role "field" and its kind
//     comes from the JSON value: a string is a string, true/false a bool, a
//     number literal with no '.', 'e' or 'E' is an int (a uint when it is
//     above the int64 range but fits 64 bits), and any other number a float.
//
// An unknown or repeated key is an error naming the key; a value of the wrong
// type is an error naming the key, and for a field its index and name.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendJSON appends the JSON form of m to buf, without a trailing newline,
// and returns the extended buffer. It does not allocate when buf has room.
func AppendJSON(buf []byte, m *Message) []byte {
	buf = append(buf, `{"uuid":"`...)
	buf = AppendUUID(buf, m.UUID)
	buf = append(buf, `","timestamp":"`...)
	buf = appendJSONTime(buf, m.Timestamp)
	buf = append(buf, '"', ',')
	buf = appendJSONText(buf, "type", m.Type, utf8.ValidString(m.Type))
	buf = append(buf, ',')
	buf = appendJSONText(buf, "logger", m.Logger, utf8.ValidString(m.Logger))
	buf = append(buf, `,"severity":`...)
	buf = strconv.AppendInt(buf, int64(m.Severity), 10)
	buf = append(buf, ',')
	buf = appendJSONText(buf, "hostname", m.Hostname, utf8.ValidString(m.Hostname))
	buf = append(buf, `,"pid":`...)
	buf = strconv.AppendInt(buf, int64(m.Pid), 10)
	if len(m.Payload) > 0 {
		buf = append(buf, ',')
		buf = appendJSONText(buf, "payload", m.Payload, utf8.Valid(m.Payload))
	}
	buf = append(buf, `,"fields":[`...)
	for i := range m.Fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendJSONField(buf, &m.Fields[i])
	}
	return append(buf, ']', '}')
}

// AppendJSONField appends f as one element of the JSON form's "fields"
// array: {"name":...,"role":...,"type":...,"value":...}.
func AppendJSONField(buf []byte, f *Field) []byte {
	buf = append(buf, '{')
	buf = appendJSONText(buf, "name", f.Name, utf8.ValidString(f.Name))
	if f.Role != RoleField {
		buf = append(buf, `,"role":"`...)
		buf = append(buf, f.Role.String()...)
		buf = append(buf, '"')
	}
	buf = append(buf, `,"type":"`...)
	buf = append(buf, f.Kind.String()...)
	buf = append(buf, `",`...)
	switch f.Kind {
	case KindString:
		buf = appendJSONText(buf, "value", f.Str, utf8.ValidString(f.Str))
	case KindBytes:
		buf = append(buf, `"value":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, f.Bytes)
		buf = append(buf, '"')
	case KindInt:
		buf = append(buf, `"value":`...)
		buf = strconv.AppendInt(buf, f.Int, 10)
	case KindUint:
		buf = append(buf, `"value":`...)
		buf = strconv.AppendUint(buf, f.Uint, 10)
	case KindFloat:
		buf = append(buf, `"value":`...)
		switch {
		case math.IsNaN(f.Float):
			buf = append(buf, `"NaN"`...)
		case math.IsInf(f.Float, 1):
			buf = append(buf, `"+Inf"`...)
		case math.IsInf(f.Float, -1):
			buf = append(buf, `"-Inf"`...)
		default:
			buf = appendFloat(buf, f.Float)
		}
	case KindBool:
		buf = append(buf, `"value":`...)
		buf = strconv.AppendBool(buf, f.Bool)
	default:
		// Not a kind the format knows: say so rather than lose the line.
		buf = append(buf, `"value":null`...)
	}
	return append(buf, '}')
}

// appendJSONTime appends ts as RFC 3339 in UTC with nine fractional digits,
// by hand because time.AppendFormat was a third of AppendJSON's time.
func appendJSONTime(buf []byte, ts int64) []byte {
	t := time.Unix(0, ts).UTC()
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	buf = appendDigits(buf, year, 4)
	buf = append(buf, '-')
	buf = appendDigits(buf, int(month), 2)
	buf = append(buf, '-')
	buf = appendDigits(buf, day, 2)
	buf = append(buf, 'T')
	buf = appendDigits(buf, hour, 2)
	buf = append(buf, ':')
	buf = appendDigits(buf, min, 2)
	buf = append(buf, ':')
	buf = appendDigits(buf, sec, 2)
	buf = append(buf, '.')
	buf = appendDigits(buf, t.Nanosecond(), 9)
	return append(buf, 'Z')
}

// appendDigits appends v, not negative, zero-padded to width digits.
func appendDigits(buf []byte, v, width int) []byte {
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(buf, d[:width]...)
}

// appendJSONText appends "key":"s" when s is valid UTF-8 and
// "key_base64":"..." otherwise, so that no byte is lost.
func appendJSONText[T string | []byte](buf []byte, key string, s T, valid bool) []byte {
	buf = append(buf, '"')
	buf = append(buf, key...)
	if !valid {
		buf = append(buf, `_base64":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, []byte(s))
		return append(buf, '"')
	}
	buf = append(buf, `":`...)
	return AppendJSONString(buf, s)
}

// jsonEscaped marks the bytes at which AppendJSONString looks closer: those
// JSON strings must escape, and every byte above ASCII (U+2028, U+2029 and
// bytes that are not UTF-8).
var jsonEscaped = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// AppendJSONString appends s as a quoted JSON string: the one JSON string
// writer, for the JSON form, the Lua json module and interoceptor test's
// expected files. It escapes only what JSON requires, so that non-ASCII text
// stays readable, plus U+2028 and U+2029, which JavaScript and some line
// tools take for line ends. A byte that is not UTF-8 becomes U+FFFD, as in
// encoding/json: text whose bytes must all be kept goes in base64 instead.
func AppendJSONString[T string | []byte](buf []byte, s T) []byte {
	const hexDigits = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if !jsonEscaped[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			var b [utf8.UTFMax]byte
			r, size := utf8.DecodeRune(b[:copy(b[:], s[i:])])
			switch {
			case r == utf8.RuneError && size == 1:
				buf = append(buf, s[start:i]...)
				buf = append(buf, `\ufffd`...)
			case r == '\u2028' || r == '\u2029':
				buf = append(buf, s[start:i]...)
				buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0x0f])
			default:
				i += size
				continue
			}
			i += size
			start = i
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0x0f])
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// ParseJSON parses one message in JSON form (see the top of jsonform.go) into
// m, which it resets first. m shares no memory with data.
func ParseJSON(data []byte, m *Message) error {
	fields := m.Fields[:0]
	clear(m.Fields) // drop references held by whatever m was before
	*m = Message{Fields: fields, Severity: DefaultSeverity}
	p := jsonParser{data: data}
	if err := p.message(m); err != nil {
		return err
	}
	p.space()
	if p.pos != len(p.data) {
		return p.errorf("unexpected %s after the message", p.what())
	}
	return nil
}

// jsonParser is a small strict JSON reader for exactly the shapes the JSON form
// uses; being hand-written, it keeps the order of an object's keys and the
// literal text of numbers, which the int/float rule needs.
type jsonParser struct {
	data []byte
	pos  int
}

// A scalar JSON value as read, before it is interpreted.
type jsonValue struct {
	kind byte   // 's' string, 'n' number, 't' true, 'f' false, '0' null
	text []byte // a string's decoded bytes or a number's literal
}

func (v jsonValue) describe() string {
	switch v.kind {
	case 's':
		return "a string"
	case 'n':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case '0':
		return "null"
	}
	return "a value"
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("json: offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// what describes the next byte, for error messages.
func (p *jsonParser) what() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	return strconv.QuoteRune(rune(p.data[p.pos]))
}

func (p *jsonParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, 0 at the end.
func (p *jsonParser) peek() byte {
	p.space()
	if p.pos >= len(p.data) {
		return 0
	}
	return p.data[p.pos]
}

func (p *jsonParser) expect(c byte) error {
	if p.peek() != c {
		return p.errorf("expected %q, found %s", c, p.what())
	}
	p.pos++
	return nil
}

// object reads an object, calling member for each key with the parser placed
// on the value; member must consume the value.
func (p *jsonParser) object(member func(key []byte) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	for {
		if p.peek() != '"' {
			return p.errorf("expected a key, found %s", p.what())
		}
		key, err := p.string()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		p.space()
		if err := member(key); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return p.errorf("expected ',' or '}', found %s", p.what())
		}
	}
}

// string reads a JSON string and returns its decoded bytes: a sub-slice of
// the input when it has no escapes, else a fresh slice.
func (p *jsonParser) string() ([]byte, error) {
	if err := p.expect('"'); err != nil {
		return nil, err
	}
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			s := p.data[start:p.pos:p.pos]
			p.pos++
			return s, nil
		case c == '\\':
			return p.escapedString(start)
		case c < 0x20:
			return nil, p.errorf("control character %#02x in string", c)
		}
		p.pos++
	}
	return nil, p.errorf("unterminated string")
}

func (p *jsonParser) escapedString(start int) ([]byte, error) {
	out := make([]byte, 0, p.pos-start+64)
	out = append(out, p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return out, nil
		case c < 0x20:
			return nil, p.errorf("control character %#02x in string", c)
		case c != '\\':
			out = append(out, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.data) {
			return nil, p.errorf("unterminated string")
		}
		var n int
		var ok bool
		if out, n, ok = AppendJSONEscape(out, p.data[p.pos:]); !ok {
			e := p.data[p.pos+1]
			p.pos += 2
			if e == 'u' {
				return nil, p.errorf(`bad \u escape`)
			}
			return nil, p.errorf("bad escape \\%c in string", e)
		}
		p.pos += n
	}
	return nil, p.errorf("unterminated string")
}

// AppendJSONEscape decodes the escape sequence at the start of src, a
// backslash inside a JSON string and what follows it, appends the bytes it
// stands for to dst, and returns dst and how many bytes of src it took. A \u
// escape of the first half of a UTF-16 surrogate pair takes the second half
// from the \u escape that follows; a half without its pair becomes U+FFFD, as
// encoding/json does, and what follows it is left to the next call. ok is
// false, and dst unchanged, when src does not start with a valid escape.
func AppendJSONEscape(dst, src []byte) (out []byte, n int, ok bool) {
	if len(src) < 2 || src[0] != '\\' {
		return dst, 0, false
	}
	switch e := src[1]; e {
	case '"', '\\', '/':
		return append(dst, e), 2, true
	case 'b':
		return append(dst, '\b'), 2, true
	case 'f':
		return append(dst, '\f'), 2, true
	case 'n':
		return append(dst, '\n'), 2, true
	case 'r':
		return append(dst, '\r'), 2, true
	case 't':
		return append(dst, '\t'), 2, true
	case 'u':
	default:
		return dst, 0, false
	}
	r, ok := hex4(src[2:])
	if !ok {
		return dst, 0, false
	}
	n = 6
	if utf16.IsSurrogate(r) {
		r2 := rune(-1)
		if len(src) >= n+2 && src[n] == '\\' && src[n+1] == 'u' {
			if h, ok := hex4(src[n+2:]); ok {
				r2 = h
			}
		}
		if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
			r, n = d, 12
		} else {
			r = utf8.RuneError
		}
	}
	return utf8.AppendRune(dst, r), n, true
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number literal, checked against JSON's grammar.
func (p *jsonParser) number() ([]byte, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.pos < len(p.data) && p.data[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.data) && p.data[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return nil, p.errorf("bad number")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errorf("bad number: no digits after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("bad number: no digits in exponent")
		}
	}
	return p.data[start:p.pos:p.pos], nil
}

func (p *jsonParser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

// scalar reads a string, number, true, false or null.
func (p *jsonParser) scalar() (jsonValue, error) {
	switch c := p.peek(); {
	case c == '"':
		s, err := p.string()
		return jsonValue{kind: 's', text: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := p.number()
		return jsonValue{kind: 'n', text: n}, err
	case c == 't' && p.literal("true"):
		return jsonValue{kind: 't'}, nil
	case c == 'f' && p.literal("false"):
		return jsonValue{kind: 'f'}, nil
	case c == 'n' && p.literal("null"):
		return jsonValue{kind: '0'}, nil
	case c == '{' || c == '[':
		return jsonValue{}, p.errorf("expected a string, number, boolean or null, found %s", p.what())
	}
	return jsonValue{}, p.errorf("unexpected %s", p.what())
}

// Top-level keys, as bits so that a repeated key is caught; a key and its
// _base64 twin share a bit.
const (
	keyUUID = 1 << iota
	keyTimestamp
	keyType
	keyLogger
	keySeverity
	keyHostname
	keyPid
	keyPayload
	keyFields
)

func (p *jsonParser) message(m *Message) error {
	var seen int
	return p.object(func(key []byte) error {
		var bit int
		switch string(key) {
		case "uuid":
			bit = keyUUID
		case "timestamp":
			bit = keyTimestamp
		case "type", "type_base64":
			bit = keyType
		case "logger", "logger_base64":
			bit = keyLogger
		case "severity":
			bit = keySeverity
		case "hostname", "hostname_base64":
			bit = keyHostname
		case "pid":
			bit = keyPid
		case "payload", "payload_base64":
			bit = keyPayload
		case "fields":
			bit = keyFields
		default:
			return p.errorf("unknown key %q", key)
		}
		if seen&bit != 0 {
			return p.errorf("key %q repeated", key)
		}
		seen |= bit
		if bit == keyFields {
			return p.fields(m, key)
		}
		v, err := p.scalar()
		if err != nil {
			return fmt.Errorf("%w (key %q)", err, key)
		}
		if v.kind == '0' {
			return nil // null: left as it was (zero, or severity's default)
		}
		return p.header(m, key, v)
	})
}

func (p *jsonParser) header(m *Message, key []byte, v jsonValue) error {
	switch string(key) {
	case "uuid":
		if v.kind != 's' {
			return p.errorf("key %q: expected a string, found %s", key, v.describe())
		}
		u, ok := parseUUIDText(v.text)
		if !ok {
			return p.errorf("key %q: bad UUID %q", key, v.text)
		}
		m.UUID = u
	case "timestamp":
		ts, err := parseJSONTimestamp(v)
		if err != nil {
			return p.errorf("key %q: %v", key, err)
		}
		m.Timestamp = ts
	case "severity", "pid":
		if v.kind == 's' && string(key) == "severity" {
			sev, ok := ParseSeverity(string(v.text))
			if !ok {
				return p.errorf("key %q: %q is not a severity: want an integer or %s", key, v.text, SeverityNames)
			}
			m.Severity = sev
			return nil
		}
		if v.kind != 'n' {
			return p.errorf("key %q: expected an integer, found %s", key, v.describe())
		}
		n, err := strconv.ParseInt(string(v.text), 10, 32)
		if err != nil {
			return p.errorf("key %q: %s is not a 32-bit integer", key, v.text)
		}
		if string(key) == "severity" {
			m.Severity = int32(n)
		} else {
			m.Pid = int32(n)
		}
	default:
		b, err := p.text(key, v)
		if err != nil {
			return err
		}
		switch string(key) {
		case "type", "type_base64":
			m.Type = string(b)
		case "logger", "logger_base64":
			m.Logger = string(b)
		case "hostname", "hostname_base64":
			m.Hostname = string(b)
		case "payload", "payload_base64":
			if len(b) > 0 {
				// Fresh memory: text() may return a slice of the input.
				m.Payload = append([]byte(nil), b...)
			}
		}
	}
	return nil
}

// text returns a text value, decoding base64 for a *_base64 key. The result
// may alias the input.
func (p *jsonParser) text(key []byte, v jsonValue) ([]byte, error) {
	if v.kind != 's' {
		return nil, p.errorf("key %q: expected a string, found %s", key, v.describe())
	}
	if !bytes.HasSuffix(key, []byte("_base64")) {
		return v.text, nil
	}
	b, err := base64.StdEncoding.AppendDecode(nil, v.text)
	if err != nil {
		return nil, p.errorf("key %q: bad base64: %v", key, err)
	}
	return b, nil
}

// parseUUIDText is ParseUUID for bytes, without its allocations.
func parseUUIDText(b []byte) (UUID, bool) {
	var u UUID
	n := 0
	for _, c := range b {
		var v byte
		switch {
		case c == '-':
			continue
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return u, false
		}
		if n == 32 {
			return u, false
		}
		u[n/2] |= v << (4 - 4*(n%2))
		n++
	}
	return u, n == 32
}

func parseJSONTimestamp(v jsonValue) (int64, error) {
	switch v.kind {
	case 'n':
		ts, err := strconv.ParseInt(string(v.text), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s is not an integer number of nanoseconds", v.text)
		}
		return ts, nil
	case 's':
		t, err := time.Parse(time.RFC3339Nano, string(v.text))
		if err != nil {
			return 0, fmt.Errorf("not RFC 3339: %q", v.text)
		}
		if t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
			return 0, fmt.Errorf("%q is outside the range of nanosecond timestamps (years 1678 to 2262)", v.text)
		}
		return t.UnixNano(), nil
	}
	return 0, fmt.Errorf("expected RFC 3339 text or integer nanoseconds, found %s", v.describe())
}

func (p *jsonParser) fields(m *Message, key []byte) error {
	switch p.peek() {
	case '[':
		p.pos++
		if p.peek() == ']' {
			p.pos++
			return nil
		}
		for {
			if err := p.fieldObject(m); err != nil {
				return err
			}
			switch p.peek() {
			case ',':
				p.pos++
			case ']':
				p.pos++
				return nil
			default:
				return p.errorf("expected ',' or ']' in fields, found %s", p.what())
			}
		}
	case '{':
		return p.object(func(name []byte) error {
			v, err := p.scalar()
			if err != nil {
				return fmt.Errorf("%w (field %d %q)", err, len(m.Fields), name)
			}
			f := Field{Name: string(name)}
			if err := p.fieldValue(&f, v, false); err != nil {
				return p.errorf("field %d %q: %v", len(m.Fields), name, err)
			}
			m.Fields = append(m.Fields, f)
			return nil
		})
	case 'n':
		if p.literal("null") {
			return nil
		}
	}
	return p.errorf("key %q: expected an array or an object, found %s", key, p.what())
}

// Keys of a field object, as bits to catch repeats.
const (
	fkeyName = 1 << iota
	fkeyRole
	fkeyType
	fkeyValue
)

// fieldObject reads {"name":..., "role":..., "type":..., "value":...} in any
// key order and appends the field to m.
func (p *jsonParser) fieldObject(m *Message) error {
	idx := len(m.Fields)
	var (
		seen            int
		name, role      []byte
		typ             []byte
		val             jsonValue
		nameB64, valB64 bool
	)
	// Reported errors name the field by index, and by name once known.
	fail := func(format string, args ...any) error {
		if seen&fkeyName != 0 {
			return p.errorf("field %d %q: %s", idx, name, fmt.Sprintf(format, args...))
		}
		return p.errorf("field %d: %s", idx, fmt.Sprintf(format, args...))
	}
	if p.peek() != '{' {
		return fail("expected an object, found %s", p.what())
	}
	err := p.object(func(key []byte) error {
		var bit int
		switch string(key) {
		case "name", "name_base64":
			bit = fkeyName
		case "role":
			bit = fkeyRole
		case "type":
			bit = fkeyType
		case "value", "value_base64":
			bit = fkeyValue
		default:
			return fail("unknown key %q", key)
		}
		if seen&bit != 0 {
			return fail("key %q repeated", key)
		}
		v, err := p.scalar()
		if err != nil {
			return fmt.Errorf("%w (field %d, key %q)", err, idx, key)
		}
		if bit != fkeyValue && v.kind != 's' {
			return fail("key %q: expected a string, found %s", key, v.describe())
		}
		switch bit {
		case fkeyName:
			name, nameB64 = v.text, len(key) > 4
		case fkeyRole:
			role = v.text
		case fkeyType:
			typ = v.text
		case fkeyValue:
			val, valB64 = v, len(key) > 5
		}
		seen |= bit
		return nil
	})
	if err != nil {
		return err
	}
	if nameB64 {
		b, err := base64.StdEncoding.AppendDecode(nil, name)
		if err != nil {
			return fail("name_base64: bad base64: %v", err)
		}
		name, nameB64 = b, false
	}
	if seen&fkeyName == 0 {
		return fail("no name")
	}
	if seen&fkeyValue == 0 {
		return fail("no value")
	}
	f := Field{Name: string(name)}
	if seen&fkeyRole != 0 {
		r, ok := ParseFieldRole(string(role))
		if !ok {
			return fail("unknown role %q (want field, tag or measurement)", role)
		}
		f.Role = r
	}
	typed := seen&fkeyType != 0
	if typed {
		k, ok := ParseFieldKind(string(typ))
		if !ok {
			return fail("unknown type %q (want string, bytes, int, uint, float or bool)", typ)
		}
		f.Kind = k
	}
	if valB64 {
		if val.kind != 's' || (typed && f.Kind != KindString) {
			return fail("value_base64 is for string values only")
		}
		b, err := base64.StdEncoding.AppendDecode(nil, val.text)
		if err != nil {
			return fail("value_base64: bad base64: %v", err)
		}
		val.text = b
		f.Kind, typed = KindString, true
	}
	if err := p.fieldValue(&f, val, typed); err != nil {
		return fail("%v", err)
	}
	m.Fields = append(m.Fields, f)
	return nil
}

// fieldValue sets f's value from v. When typed is false the kind comes from v
// (see the rule at the top of the file); otherwise v must suit f.Kind.
func (p *jsonParser) fieldValue(f *Field, v jsonValue, typed bool) error {
	if !typed {
		switch v.kind {
		case 's':
			f.Kind = KindString
		case 't', 'f':
			f.Kind = KindBool
		case 'n':
			f.Kind = KindFloat
			if isIntLiteral(v.text) {
				f.Kind = KindInt
				if _, err := strconv.ParseInt(string(v.text), 10, 64); err != nil && v.text[0] != '-' {
					f.Kind = KindUint
				}
			}
		default:
			return fmt.Errorf("value is %s", v.describe())
		}
	}
	want := func(what string) error {
		return fmt.Errorf("type %s: expected %s, found %s", f.Kind, what, v.describe())
	}
	var err error
	switch f.Kind {
	case KindString:
		if v.kind != 's' {
			return want("a string")
		}
		f.Str = string(v.text)
	case KindBytes:
		if v.kind != 's' {
			return want("a base64 string")
		}
		if f.Bytes, err = base64.StdEncoding.AppendDecode(nil, v.text); err != nil {
			return fmt.Errorf("type bytes: bad base64: %v", err)
		}
	case KindInt:
		if v.kind != 'n' || !isIntLiteral(v.text) {
			return want("an integer")
		}
		if f.Int, err = strconv.ParseInt(string(v.text), 10, 64); err != nil {
			return fmt.Errorf("type int: %s does not fit 64 bits", v.text)
		}
	case KindUint:
		if v.kind != 'n' || !isIntLiteral(v.text) {
			return want("an integer")
		}
		if f.Uint, err = strconv.ParseUint(string(v.text), 10, 64); err != nil {
			return fmt.Errorf("type uint: %s is negative or does not fit 64 bits", v.text)
		}
	case KindFloat:
		switch v.kind {
		case 'n':
			if f.Float, err = strconv.ParseFloat(string(v.text), 64); err != nil {
				return fmt.Errorf("type float: %s is out of range", v.text)
			}
		case 's':
			switch string(v.text) {
			case "NaN":
				f.Float = math.NaN()
			case "+Inf", "Inf":
				f.Float = math.Inf(1)
			case "-Inf":
				f.Float = math.Inf(-1)
			default:
				return fmt.Errorf(`type float: string %q is not "NaN", "+Inf" or "-Inf"`, v.text)
			}
		default:
			return want("a number")
		}
	case KindBool:
		if v.kind != 't' && v.kind != 'f' {
			return want("true or false")
		}
		f.Bool = v.kind == 't'
	}
	return nil
}

// isIntLiteral reports whether a JSON number literal is written as an integer.
func isIntLiteral(lit []byte) bool {
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}
