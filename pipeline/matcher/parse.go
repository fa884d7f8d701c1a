package matcher

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/interoceptor/interoceptor/pipeline"
)

type parser struct {
	src string
	pos int   // where scanning resumes: the end of tok
	tok token // the current token
}

func (p *parser) errorf(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Column: pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parseOr() (evalFunc, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOr {
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(m *pipeline.Message) bool { return l(m) || right(m) }
	}
	return left, nil
}

func (p *parser) parseAnd() (evalFunc, error) {
	left, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tAnd {
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(m *pipeline.Message) bool { return l(m) && right(m) }
	}
	return left, nil
}

func (p *parser) parseTerm() (evalFunc, error) {
	t := p.tok
	switch t.kind {
	case tLParen:
		if err := p.advance(); err != nil {
			return nil, err
		}
		fn, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.errorf(p.tok.pos, `expected ")" to close the "(" at column %d, found %s`, t.pos+1, describe(p.tok))
		}
		return fn, p.advance()
	case tIdent:
		switch t.text {
		case "TRUE":
			return always, p.advance()
		case "FALSE":
			return never, p.advance()
		case "NIL":
			return nil, p.errorf(t.pos, "NIL can only be the value on the right of == or !=")
		}
		return p.parseComparison()
	case tString, tNumber, tRegex:
		return nil, p.errorf(t.pos, "expected a message variable such as Type or Fields[name], found %s; the variable goes on the left of the operator", describe(t))
	}
	return nil, p.errorf(t.pos, `expected a comparison (e.g. Type == 'log'), TRUE, FALSE or "(", found %s`, describe(t))
}

// header identifies a message header, or vField for Fields[...].
type header uint8

const (
	hUuid header = iota
	hType
	hLogger
	hPayload
	hHostname
	hTimestamp
	hSeverity
	hPid
	vField
)

var headerNames = [...]string{"Uuid", "Type", "Logger", "Payload", "Hostname", "Timestamp", "Severity", "Pid"}

func (h header) numeric() bool { return h == hTimestamp || h == hSeverity || h == hPid }

// variable is the left-hand side of a comparison.
type variable struct {
	h      header
	name   string // field name
	fi, ai int    // field and array index
	text   string // as written, for messages
}

func (p *parser) parseComparison() (evalFunc, error) {
	v, err := p.parseVariable()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tOp {
		return nil, p.errorf(p.tok.pos, "expected an operator (==, !=, <, <=, >, >=, =~, !~) after %s, found %s", v.text, describe(p.tok))
	}
	opTok := p.tok
	if err := p.advance(); err != nil {
		return nil, err
	}
	val := p.tok
	switch {
	case val.kind == tString || val.kind == tNumber || val.kind == tRegex:
	case val.kind == tIdent && (val.text == "TRUE" || val.text == "FALSE" || val.text == "NIL"):
	case val.kind == tIdent:
		return nil, p.errorf(val.pos, "expected a value after %q, found %s; strings need quotes, e.g. '%s'", opTok.text, describe(val), val.text)
	default:
		return nil, p.errorf(val.pos, "expected a value after %q, found %s", opTok.text, describe(val))
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return p.build(v, opTok, val)
}

func (p *parser) parseVariable() (variable, error) {
	t := p.tok
	if t.text == "Fields" {
		return p.parseField()
	}
	for i, n := range headerNames {
		if t.text == n {
			return variable{h: header(i), text: n}, p.advance()
		}
	}
	hint := ""
	for _, n := range append(headerNames[:], "Fields", "TRUE", "FALSE") {
		if strings.EqualFold(t.text, n) {
			hint = fmt.Sprintf(" (did you mean %s?)", n)
		}
	}
	return variable{}, p.errorf(t.pos, "unknown variable %q%s; expected one of %s, Fields[name], TRUE or FALSE",
		t.text, hint, strings.Join(headerNames[:], ", "))
}

// parseField scans "[name]" and up to two "[index]" after the Fields token.
// Names are not tokens (Fields[a.b-c] is one name), so this scans by hand.
func (p *parser) parseField() (variable, error) {
	start := p.tok.pos
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != '[' {
		return variable{}, p.errorf(p.pos, `expected "[" after Fields, as in Fields[name], found %s`, p.describeAt(p.pos))
	}
	p.pos++
	p.skipSpace()
	v := variable{h: vField}
	namePos := p.pos
	if p.pos < len(p.src) && (p.src[p.pos] == '\'' || p.src[p.pos] == '"') {
		s, err := p.scanString()
		if err != nil {
			return v, err
		}
		if s == "" {
			return v, p.errorf(namePos, "empty field name")
		}
		v.name = s
	} else {
		for p.pos < len(p.src) && !isSpace(p.src[p.pos]) && strings.IndexByte(`[]'"`, p.src[p.pos]) < 0 {
			p.pos++
		}
		if p.pos == namePos {
			return v, p.errorf(namePos, `expected a field name after "Fields[", found %s`, p.describeAt(namePos))
		}
		v.name = p.src[namePos:p.pos]
	}
	nameText := p.src[namePos:p.pos]
	if v.name == nameText {
		nameText = strconv.Quote(nameText)
	}
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != ']' {
		return v, p.errorf(p.pos, `expected "]" after the field name %s, found %s`, nameText, p.describeAt(p.pos))
	}
	p.pos++
	for i, what := range [...]string{"field index", "array index"} {
		save := p.pos
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != '[' {
			p.pos = save
			break
		}
		p.pos++
		p.skipSpace()
		numPos := p.pos
		for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
			p.pos++
		}
		if p.pos == numPos {
			article := "a"
			if i == 1 {
				article = "an"
			}
			return v, p.errorf(numPos, `expected %s %s (0, 1, 2, ...) after "[", found %s`, article, what, p.describeAt(numPos))
		}
		n, err := strconv.Atoi(p.src[numPos:p.pos])
		if err != nil {
			return v, p.errorf(numPos, "%s %s is too large", what, p.src[numPos:p.pos])
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ']' {
			return v, p.errorf(p.pos, `expected "]" after the %s, found %s`, what, p.describeAt(p.pos))
		}
		p.pos++
		if i == 0 {
			v.fi = n
		} else {
			v.ai = n
		}
	}
	v.text = p.src[start:p.pos]
	return v, p.advance()
}
