// Package matcher implements Heka's message_matcher language: a boolean
// expression over a message's headers and fields that decides whether a
// plugin sees the message. An expression is compiled once, at config load,
// into a tree of closures; Match then costs a few nanoseconds and does not
// allocate.
//
//	Type == 'metric' && Fields[name] == 'cpu'
//	(Severity <= 3 || Payload =~ /panic|fatal/) && Logger != 'health'
//	Fields[status] >= 500 && Timestamp >= '2026-01-02T00:00:00Z'
//	Fields[tag][1] == 'second' || Fields[trace_id] == NIL
//	TRUE
//
// # Grammar
//
//	expression = or .
//	or         = and { "||" and } .
//	and        = term { "&&" term } .
//	term       = "(" or ")" | "TRUE" | "FALSE" | comparison .
//	comparison = variable operator value .
//	variable   = "Uuid" | "Type" | "Logger" | "Payload" | "Hostname"
//	           | "Timestamp" | "Severity" | "Pid"
//	           | "Fields" "[" name "]" [ "[" index "]" [ "[" index "]" ] ] .
//	name       = bare | string .
//	index      = digit { digit } .
//	operator   = "==" | "!=" | "<" | "<=" | ">" | ">=" | "=~" | "!~" .
//	value      = string | number | regex | "TRUE" | "FALSE" | "NIL" .
//	string     = "'" { char } "'" | `"` { char } `"` .
//	regex      = "/" { char } "/" .
//	number     = [ "-" ] digits [ "." [ digits ] ] [ ( "e" | "E" ) [ "+" | "-" ] digits ]
//	           | [ "-" ] "." digits [ ( "e" | "E" ) [ "+" | "-" ] digits ] .
//
// && binds tighter than ||, and both short-circuit. Whitespace between
// tokens is ignored. Keywords and variable names are case-sensitive, as in
// Heka. The variable is always on the left of the operator.
//
// In strings, \\ \' \" \n \r and \t are escapes; any other backslash is kept
// as written, so a regular expression in quotes reads as it would between
// slashes ('\d+' is the regex \d+). In a regex literal, \/ stands for a slash
// and every other backslash belongs to the regex (RE2 syntax, package
// regexp). A bare field name is any run of characters other than whitespace,
// brackets and quotes; quote a name that holds any of those:
// Fields['my field'].
//
// # Semantics
//
// Headers have a fixed type, so a comparison that cannot make sense for it is
// a syntax error at Compile:
//
//   - Type, Logger, Hostname and Payload are strings. == and != compare
//     exactly, < <= > >= compare bytewise (lexically), =~ and !~ match a
//     regular expression given as /regex/ or as a quoted string. == NIL is
//     true when the header is empty, != NIL when it is not.
//   - Uuid behaves as the string of its canonical form,
//     "01936f1e-7b2c-7a3d-8e4f-0123456789ab" (lowercase hex with dashes);
//     == NIL is true for the zero UUID.
//   - Severity, Pid and Timestamp are integers and compare with numbers.
//     Timestamp, in nanoseconds since the Unix epoch, also compares with a
//     quoted RFC 3339 time ('2026-01-02T15:04:05Z', fractional seconds and
//     offsets allowed), converted once at Compile. They are never NIL.
//
// A field's kind is only known when a message arrives, so the kind of the
// value found decides, and a comparison between kinds that do not fit is
// false, never an error:
//
//   - string and bytes fields compare with strings as headers do, including
//     =~ and !~;
//   - int, uint and float fields compare numerically with numbers. Integers
//     compare exactly (an int64 field with a literal above MaxInt64, a uint64
//     field with a negative literal); when either side is a float both are
//     compared as float64. NaN is unordered: only != is true;
//   - bool fields compare with TRUE and FALSE, with == and != only;
//   - Fields[x] == NIL is true when the field is absent, != NIL when present.
//
// False for a mismatch means false for every operator, != and !~ included:
// Fields[n] != 'a' is true only for a string (or bytes) field n whose value is
// not "a", and an absent field makes every comparison false except == NIL.
// That is Heka's behaviour, and it keeps a typo in a field name from matching
// everything.
//
// Fields[name][fi] is the fi-th (0-based) field called name, for messages
// that repeat a name; Fields[name] is Fields[name][0]. Fields[name][fi][ai]
// is Heka's array index: a field here holds one value, so ai 0 is that value
// and any other ai is NIL.
//
// Numbers: a literal without '.' or exponent is an integer (one beyond the
// range of uint64 becomes a float); anything else is a float64. TRUE and
// FALSE on their own are whole expressions: TRUE matches every message.
package matcher

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/interoceptor/interoceptor/pipeline"
)

func init() {
	pipeline.RegisterMatcherCompiler(func(expr string) (pipeline.MessageMatcher, error) {
		m, err := Compile(expr)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return m, nil
	})
}

var _ pipeline.MessageMatcher = (*Matcher)(nil)

// Matcher is a compiled message_matcher expression. It is immutable and safe
// for concurrent use.
type Matcher struct {
	src   string
	match evalFunc
}

// evalFunc is one node of the compiled tree.
type evalFunc func(*pipeline.Message) bool

// Compile parses expr and returns its matcher, or a *SyntaxError that says
// where and what is wrong.
func Compile(expr string) (*Matcher, error) {
	p := &parser{src: expr}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, p.errorf(p.tok.pos, "empty expression; write TRUE to match every message")
	}
	fn, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tEOF:
	case tRParen:
		return nil, p.errorf(p.tok.pos, `unexpected ")" without a matching "("`)
	default:
		return nil, p.errorf(p.tok.pos, `expected "&&", "||" or the end of the expression, found %s`, describe(p.tok))
	}
	return &Matcher{src: expr, match: fn}, nil
}

// Match reports whether msg satisfies the expression. A nil Matcher matches
// every message, so an optional matcher needs no special case; a nil message
// matches nothing.
func (m *Matcher) Match(msg *pipeline.Message) bool {
	if m == nil {
		return true
	}
	if msg == nil {
		return false
	}
	return m.match(msg)
}

// String returns the expression as it was written.
func (m *Matcher) String() string {
	if m == nil {
		return ""
	}
	return m.src
}

// SyntaxError is the error Compile returns: what is wrong, and where.
type SyntaxError struct {
	Column int    // 1-based byte offset in the expression; len(expr)+1 for its end
	Msg    string // what is wrong, for the person who wrote the expression
}

// Error formats the error as "column N: message".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("column %d: %s", e.Column, e.Msg)
}

// ---- lexer ----

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

type parser struct {
	src string
	pos int   // where scanning resumes: the end of tok
	tok token // the current token
}

func (p *parser) errorf(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Column: pos + 1, Msg: fmt.Sprintf(format, args...)}
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

// ---- parser ----

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

func always(*pipeline.Message) bool { return true }
func never(*pipeline.Message) bool  { return false }

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

// ---- compiling a comparison ----

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
