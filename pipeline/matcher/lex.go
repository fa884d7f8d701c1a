package matcher

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokenKind uint8

const (
	tEOF tokenKind = iota
	tLParen
	tRParen
	tLBracket
	tRBracket
	tAnd
	tOr
	tOp
	tIdent
	tString
	tRegex
	tNumber
)

type token struct {
	kind tokenKind
	pos  int    // byte offset of the first byte
	text string // the source text
	str  string // decoded value of a string or regex
	op   op
	num  number
}

// describe names a token for "found ..." in error messages.
func describe(t token) string {
	if t.kind == tEOF {
		return "end of expression"
	}
	s := t.text
	if len(s) > 40 {
		cut := 37
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strconv.Quote(s)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

// advance scans the next token into p.tok.
func (p *parser) advance() error {
	p.skipSpace()
	start := p.pos
	if start >= len(p.src) {
		p.tok = token{kind: tEOF, pos: start}
		return nil
	}
	c := p.src[start]
	next := byte(0)
	if start+1 < len(p.src) {
		next = p.src[start+1]
	}
	simple := func(k tokenKind, n int) error {
		p.pos = start + n
		p.tok = token{kind: k, pos: start, text: p.src[start:p.pos]}
		return nil
	}
	operator := func(o op) error {
		p.pos = start + len(o.String())
		p.tok = token{kind: tOp, pos: start, text: p.src[start:p.pos], op: o}
		return nil
	}
	switch {
	case c == '(':
		return simple(tLParen, 1)
	case c == ')':
		return simple(tRParen, 1)
	case c == '[':
		return simple(tLBracket, 1)
	case c == ']':
		return simple(tRBracket, 1)
	case c == '&' && next == '&':
		return simple(tAnd, 2)
	case c == '|' && next == '|':
		return simple(tOr, 2)
	case c == '&':
		return p.errorf(start, `unexpected "&"; did you mean "&&"?`)
	case c == '|':
		return p.errorf(start, `unexpected "|"; did you mean "||"?`)
	case c == '=' && next == '=':
		return operator(opEq)
	case c == '=' && next == '~':
		return operator(opMatch)
	case c == '=':
		return p.errorf(start, `unexpected "="; did you mean "=="?`)
	case c == '!' && next == '=':
		return operator(opNe)
	case c == '!' && next == '~':
		return operator(opNotMatch)
	case c == '!':
		return p.errorf(start, `unexpected "!"; did you mean "!=" or "!~"?`)
	case c == '<' && next == '=':
		return operator(opLe)
	case c == '<':
		return operator(opLt)
	case c == '>' && next == '=':
		return operator(opGe)
	case c == '>':
		return operator(opGt)
	case c == '\'' || c == '"':
		s, err := p.scanString()
		if err != nil {
			return err
		}
		p.tok = token{kind: tString, pos: start, text: p.src[start:p.pos], str: s}
		return nil
	case c == '/':
		return p.scanRegex()
	case isDigit(c) || c == '-' || c == '.':
		return p.scanNumber()
	case isIdentStart(c):
		p.pos++
		for p.pos < len(p.src) && isIdentChar(p.src[p.pos]) {
			p.pos++
		}
		p.tok = token{kind: tIdent, pos: start, text: p.src[start:p.pos]}
		return nil
	}
	r, _ := utf8.DecodeRuneInString(p.src[start:])
	if r == utf8.RuneError {
		return p.errorf(start, "unexpected byte %#x", c)
	}
	return p.errorf(start, "unexpected character %q", r)
}

// scanString scans a quoted string at p.pos and returns its decoded value.
func (p *parser) scanString() (string, error) {
	start := p.pos
	quote := p.src[start]
	var b []byte
	for i := start + 1; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case c == quote:
			p.pos = i + 1
			return string(b), nil
		case c == '\\' && i+1 < len(p.src):
			i++
			switch e := p.src[i]; e {
			case '\\', '\'', '"':
				b = append(b, e)
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			default:
				// Kept as written so that regexes read the same in quotes.
				b = append(b, '\\', e)
			}
		default:
			b = append(b, c)
		}
	}
	return "", p.errorf(start, "unterminated string: the closing %c is missing", quote)
}

// scanRegex scans a /regex/ literal at p.pos.
func (p *parser) scanRegex() error {
	start := p.pos
	var b []byte
	for i := start + 1; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case c == '/':
			p.pos = i + 1
			p.tok = token{kind: tRegex, pos: start, text: p.src[start:p.pos], str: string(b)}
			return nil
		case c == '\\' && i+1 < len(p.src):
			i++
			if p.src[i] != '/' {
				b = append(b, '\\')
			}
			b = append(b, p.src[i])
		default:
			b = append(b, c)
		}
	}
	return p.errorf(start, "unterminated regular expression: the closing / is missing")
}

// scanNumber scans an integer or float literal at p.pos.
func (p *parser) scanNumber() error {
	start, i, s := p.pos, p.pos, p.src
	digits := func() int {
		n := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			n++
		}
		return n
	}
	if s[i] == '-' {
		i++
	}
	isFloat := false
	n := digits()
	if i < len(s) && s[i] == '.' {
		isFloat = true
		i++
		n += digits()
	}
	if n == 0 {
		if s[start] == '-' {
			return p.errorf(start, `unexpected "-": a negative number is written -1 or -1.5`)
		}
		return p.errorf(start, `unexpected "."`)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isFloat = true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return p.badNumber(start, i)
		}
	}
	if i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
		return p.badNumber(start, i)
	}
	text := s[start:i]
	p.pos = i
	p.tok = token{kind: tNumber, pos: start, text: text}
	if !isFloat {
		if v, err := strconv.ParseInt(text, 10, 64); err == nil {
			p.tok.num = number{kind: numInt, i: v}
			return nil
		}
		if v, err := strconv.ParseUint(text, 10, 64); err == nil {
			p.tok.num = number{kind: numUint, u: v}
			return nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return p.errorf(start, "number %s is out of range", text)
	}
	p.tok.num = number{kind: numFloat, f: f}
	return nil
}

func (p *parser) badNumber(start, i int) error {
	for i < len(p.src) && (isIdentChar(p.src[i]) || strings.IndexByte(".+-", p.src[i]) >= 0) {
		i++
	}
	return p.errorf(start, "invalid number %q", p.src[start:i])
}

// describeAt names what starts at byte i, for errors raised while scanning
// Fields[...] by hand.
func (p *parser) describeAt(i int) string {
	q := parser{src: p.src, pos: i}
	if err := q.advance(); err != nil {
		r, _ := utf8.DecodeRuneInString(p.src[i:])
		return strconv.Quote(string(r))
	}
	return describe(q.tok)
}
