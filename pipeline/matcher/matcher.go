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

// Where to find what:
//
//	matcher.go  this doc (grammar, semantics); Compile, Matcher, SyntaxError
//	lex.go      tokens and the scanner: advance reads the next token
//	parse.go    the parser (||, &&, terms, the variable of a comparison); it
//	            builds the tree of closures as it reads, with no separate AST
//	compile.go  one comparison turned into a closure: operators, the header,
//	            field, UUID and number nodes

import (
	"fmt"

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
