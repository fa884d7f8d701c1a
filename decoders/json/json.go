// Package json is the "json" decoder: one JSON object per line becomes one
// "log" message whose fields are the object's keys, nested objects flattened
// with ".".
//
// It is a small scanner of its own rather than encoding/json: decoding into
// a map costs an allocation per key and value and loses the keys' order,
// and the Token API boxes every token. The scanner follows RFC 8259 as
// encoding/json does (same invalid UTF-8 and surrogate handling, same depth
// limit); FuzzDecodeMatchesEncodingJSON checks that both agree.
package json

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.RegisterDecoder(pipeline.DecoderRegistration{
		Name:        "json",
		Description: "A JSON object per line; keys become fields, nested objects flattened with \".\"",
		Sample:      sample,
		New:         func() pipeline.Decoder { return &JSON{} },
	})
}

// JSON decodes one JSON object per line. It holds no state, so one value may
// decode from several goroutines at once.
type JSON struct{}

var _ pipeline.Decoder = (*JSON)(nil)

// maxDepth is how deeply objects and arrays may nest, as in encoding/json.
const maxDepth = 10000

var errNotObject = errors.New("json: line is not a JSON object")

// Decode sets Type "log" and appends a field per key, in the line's order:
//
//   - a string is a string field;
//   - a number is an int field when its literal has no '.', 'e' or 'E' and
//     fits 64 bits signed, else a float field;
//   - true and false are bool fields;
//   - null adds no field;
//   - an object adds its keys, named "outer.inner";
//   - an array is a string field holding the array's JSON text as written.
//
// A key that appears twice gives two fields. A level key
// (pipeline.LevelFields: "level":"warn", "severity":3, {"log":{"level":
// "error"}}) sets Severity. Payload keeps the line. On error m's fields are
// as they were.
func (*JSON) Decode(line []byte, m *pipeline.Message) error {
	p := scanners.Get().(*scanner)
	defer p.release()
	p.buf, p.i = line, 0
	p.skipSpace()
	if p.i >= len(line) || line[p.i] != '{' {
		return errNotObject
	}
	n0 := len(m.Fields)
	err := p.object(m, 0, 1)
	if err == nil {
		p.skipSpace()
		if p.i < len(line) {
			err = p.errorf("unexpected %s after the object", p.describe())
		}
	}
	if err != nil {
		clear(m.Fields[n0:])
		m.Fields = m.Fields[:n0]
		return err
	}
	m.Type = "log"
	pipeline.SeverityFromFields(m, m.Fields[n0:])
	return nil
}

// scanner reads one line. prefix holds the flattened name of the object
// being read ("a.b."); scratch holds a string whose escapes were decoded.
type scanner struct {
	buf     []byte
	i       int
	prefix  []byte
	scratch []byte
	names   pipeline.Interner // keys repeat from line to line
}

// Scanners are pooled so that their buffers and names outlive a line.
var scanners = sync.Pool{New: func() any { return new(scanner) }}

func (p *scanner) release() {
	p.buf = nil
	if cap(p.scratch) > 64<<10 {
		p.scratch = nil // do not pin the buffer of one huge string
	}
	scanners.Put(p)
}

func (p *scanner) errorf(format string, a ...any) error {
	return fmt.Errorf("json: column %d: "+format, append([]any{p.i + 1}, a...)...)
}

// describe names the byte at p.i for an error.
func (p *scanner) describe() string {
	if p.i >= len(p.buf) {
		return "end of line"
	}
	if c := p.buf[p.i]; c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("character %q", c)
	}
	return fmt.Sprintf("byte 0x%02x", p.buf[p.i])
}

func (p *scanner) skipSpace() {
	for p.i < len(p.buf) {
		switch p.buf[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object reads an object at p.i ('{'), appending its members to m with the
// names prefixed by p.prefix[:plen].
func (p *scanner) object(m *pipeline.Message, plen, depth int) error {
	if depth > maxDepth {
		return p.errorf("objects and arrays nested more than %d deep", maxDepth)
	}
	p.i++ // '{'
	p.skipSpace()
	if p.i < len(p.buf) && p.buf[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		if p.i >= len(p.buf) || p.buf[p.i] != '"' {
			return p.errorf("expected a key in double quotes, found %s", p.describe())
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		p.prefix = append(p.prefix[:plen], key...)
		p.skipSpace()
		if p.i >= len(p.buf) || p.buf[p.i] != ':' {
			return p.errorf("expected ':' after key %q, found %s", p.prefix[plen:], p.describe())
		}
		p.i++
		p.skipSpace()
		if err := p.member(m, plen, depth); err != nil {
			return err
		}
		p.skipSpace()
		if p.i >= len(p.buf) {
			return p.errorf("expected ',' or '}', found end of line")
		}
		switch p.buf[p.i] {
		case ',':
			p.i++
			p.skipSpace()
		case '}':
			p.i++
			return nil
		default:
			return p.errorf("expected ',' or '}' after a value, found %s", p.describe())
		}
	}
}

// member reads the value of the key whose full name is in p.prefix.
func (p *scanner) member(m *pipeline.Message, plen, depth int) error {
	if p.i >= len(p.buf) {
		return p.errorf("expected a value, found end of line")
	}
	switch c := p.buf[p.i]; {
	case c == '"':
		s, err := p.str()
		if err != nil {
			return err
		}
		m.Fields = append(m.Fields, pipeline.Field{Name: p.names.String(p.prefix), Kind: pipeline.KindString, Str: string(s)})
	case c == '{':
		p.prefix = append(p.prefix, '.')
		return p.object(m, len(p.prefix), depth+1)
	case c == '[':
		start := p.i
		if err := p.skipValue(depth + 1); err != nil {
			return err
		}
		m.Fields = append(m.Fields, pipeline.Field{Name: p.names.String(p.prefix), Kind: pipeline.KindString, Str: string(p.buf[start:p.i])})
	case c == 't':
		if err := p.literal("true"); err != nil {
			return err
		}
		m.Fields = append(m.Fields, pipeline.Field{Name: p.names.String(p.prefix), Kind: pipeline.KindBool, Bool: true})
	case c == 'f':
		if err := p.literal("false"); err != nil {
			return err
		}
		m.Fields = append(m.Fields, pipeline.Field{Name: p.names.String(p.prefix), Kind: pipeline.KindBool})
	case c == 'n':
		return p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		f, err := p.number()
		if err != nil {
			return err
		}
		f.Name = p.names.String(p.prefix)
		m.Fields = append(m.Fields, f)
	default:
		return p.errorf("expected a value, found %s", p.describe())
	}
	return nil
}

func (p *scanner) literal(word string) error {
	if !bytes.HasPrefix(p.buf[p.i:], []byte(word)) {
		return p.errorf("expected a value, found %s", p.describe())
	}
	p.i += len(word)
	return nil
}

// number reads a number (RFC 8259 grammar) into a field's kind and value.
func (p *scanner) number() (pipeline.Field, error) {
	start := p.i
	bad := func() (pipeline.Field, error) {
		return pipeline.Field{}, fmt.Errorf("json: column %d: invalid number %q", start+1, p.buf[start:min(p.i+1, len(p.buf))])
	}
	if p.buf[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.buf) && p.buf[p.i] == '0':
		p.i++
	case p.i < len(p.buf) && p.buf[p.i] >= '1' && p.buf[p.i] <= '9':
		p.digits()
	default:
		return bad()
	}
	isInt := true
	if p.i < len(p.buf) && p.buf[p.i] == '.' {
		isInt = false
		p.i++
		if p.digits() == 0 {
			return bad()
		}
	}
	if p.i < len(p.buf) && (p.buf[p.i] == 'e' || p.buf[p.i] == 'E') {
		isInt = false
		p.i++
		if p.i < len(p.buf) && (p.buf[p.i] == '+' || p.buf[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return bad()
		}
	}
	lit := unsafe.String(&p.buf[start], p.i-start)
	if isInt {
		if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return pipeline.Field{Kind: pipeline.KindInt, Int: n}, nil
		}
		// Out of int64 range: a float, as the type rule says.
	}
	x, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(x, 0) {
		return pipeline.Field{}, fmt.Errorf("json: column %d: number %s is out of range for a float", start+1, lit)
	}
	return pipeline.Field{Kind: pipeline.KindFloat, Float: x}, nil
}

func (p *scanner) digits() int {
	n := 0
	for p.i < len(p.buf) && p.buf[p.i] >= '0' && p.buf[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// str reads a string at p.i ('"') and returns its decoded bytes, valid until
// the next call: a slice of the line when there is nothing to decode, else of
// p.scratch. As encoding/json does, invalid UTF-8 and unpaired surrogates
// become U+FFFD.
func (p *scanner) str() ([]byte, error) {
	p.i++ // '"'
	start := p.i
	for p.i < len(p.buf) {
		c := p.buf[p.i]
		switch {
		case c == '"':
			p.i++
			return p.buf[start : p.i-1], nil
		case c == '\\' || c < 0x20:
			return p.strSlow(start)
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, size := utf8.DecodeRune(p.buf[p.i:])
			if r == utf8.RuneError && size == 1 {
				return p.strSlow(start)
			}
			p.i += size
		}
	}
	return nil, p.errorf("the string opened at column %d has no closing quote", start)
}

// strSlow decodes the rest of a string into p.scratch; p.buf[start:p.i]
// needs no decoding.
func (p *scanner) strSlow(start int) ([]byte, error) {
	out := append(p.scratch[:0], p.buf[start:p.i]...)
	defer func() { p.scratch = out[:0] }() // keep the buffer for the next string
	for p.i < len(p.buf) {
		c := p.buf[p.i]
		switch {
		case c == '"':
			p.i++
			return out, nil
		case c < 0x20:
			return nil, p.errorf("control character 0x%02x in a string (write it as \\u%04x)", c, c)
		case c == '\\':
			if p.i+1 >= len(p.buf) {
				p.i++
				return nil, p.errorf("the string opened at column %d has no closing quote", start)
			}
			var n int
			var ok bool
			if out, n, ok = pipeline.AppendJSONEscape(out, p.buf[p.i:]); !ok {
				if p.buf[p.i+1] == 'u' {
					return nil, p.errorf(`invalid \u escape (want four hex digits)`)
				}
				p.i++
				return nil, p.errorf(`invalid escape '\%c' in a string`, p.buf[p.i])
			}
			p.i += n
		case c < utf8.RuneSelf:
			out = append(out, c)
			p.i++
		default:
			r, size := utf8.DecodeRune(p.buf[p.i:])
			if r == utf8.RuneError && size == 1 {
				out = append(out, "\uFFFD"...)
			} else {
				out = append(out, p.buf[p.i:p.i+size]...)
			}
			p.i += size
		}
	}
	return nil, p.errorf("the string opened at column %d has no closing quote", start)
}

// skipValue checks the value at p.i and moves past it;
// depth is the value's depth when it is an object or an array.
func (p *scanner) skipValue(depth int) error {
	if p.i >= len(p.buf) {
		return p.errorf("expected a value, found end of line")
	}
	switch c := p.buf[p.i]; {
	case c == '"':
		_, err := p.str()
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, err := p.number()
		return err
	case c == '{' || c == '[':
		if depth > maxDepth {
			return p.errorf("objects and arrays nested more than %d deep", maxDepth)
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		p.i++
		p.skipSpace()
		if p.i < len(p.buf) && p.buf[p.i] == end {
			p.i++
			return nil
		}
		for {
			if c == '{' {
				if p.i >= len(p.buf) || p.buf[p.i] != '"' {
					return p.errorf("expected a key in double quotes, found %s", p.describe())
				}
				if _, err := p.str(); err != nil {
					return err
				}
				p.skipSpace()
				if p.i >= len(p.buf) || p.buf[p.i] != ':' {
					return p.errorf("expected ':' after a key, found %s", p.describe())
				}
				p.i++
				p.skipSpace()
			}
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			p.skipSpace()
			if p.i < len(p.buf) && p.buf[p.i] == ',' {
				p.i++
				p.skipSpace()
				continue
			}
			if p.i < len(p.buf) && p.buf[p.i] == end {
				p.i++
				return nil
			}
			return p.errorf("expected ',' or '%c', found %s", end, p.describe())
		}
	}
	return p.errorf("expected a value, found %s", p.describe())
}
