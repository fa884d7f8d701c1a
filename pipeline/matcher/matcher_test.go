package matcher_test

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/matcher"
)

// sample is the message most cases run against: every header set, and a
// field of each kind, including a repeated name.
func sample() *pipeline.Message {
	uuid, _ := pipeline.ParseUUID("01936f1e-7b2c-7a3d-8e4f-0123456789ab")
	m := &pipeline.Message{
		UUID:      uuid,
		Timestamp: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).UnixNano(),
		Type:      "metric",
		Logger:    "cpu_input",
		Severity:  6,
		Hostname:  "web-1.example.com",
		Pid:       4242,
		Payload:   []byte("user 12.5% system 3.1% idle 84.4% steal 0.0%"),
	}
	m.AddString("name", "cpu")
	m.AddString("host", "web-1")
	m.AddString("my field", "spaced")
	m.AddString("http.status-code", "200")
	m.AddString("path", "/var/log")
	m.AddString("quoted", "it's a \"test\"\t\\")
	m.AddString("pattern", `\d+`)
	m.AddString("empty", "")
	m.AddBytes("raw", []byte("a/b c"))
	m.AddInt("count", 42)
	m.AddInt("neg", -7)
	m.AddInt("maxint", math.MaxInt64)
	m.AddUint("big", math.MaxUint64)
	m.AddFloat("usage", 12.5)
	m.AddFloat("nan", math.NaN())
	m.AddBool("ok", true)
	m.AddString("tag", "first")
	m.AddString("tag", "second")
	return m
}

type matchCase struct {
	expr string
	want bool
}

func runMatchCases(t *testing.T, msg *pipeline.Message, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		m, err := matcher.Compile(c.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.expr, err)
			continue
		}
		if got := m.Match(msg); got != c.want {
			t.Errorf("%s: got %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestGrammar(t *testing.T) {
	runMatchCases(t, sample(), []matchCase{
		// Constants on their own.
		{`TRUE`, true},
		{`FALSE`, false},

		// && binds tighter than ||; parentheses regroup.
		{`TRUE || TRUE && FALSE`, true},
		{`(TRUE || TRUE) && FALSE`, false},
		{`FALSE && TRUE || TRUE`, true},
		{`FALSE && (TRUE || TRUE)`, false},
		{`((Type == 'metric'))`, true},
		{`Type == 'log' || Type == 'metric' && Severity == 6`, true},
		{`(Type == 'log' || Type == 'metric') && Severity == 7`, false},

		// Whitespace is free, including none and newlines.
		{`Type=='metric'&&Severity==6`, true},
		{"  Type ==\n\t'metric'  \r\n", true},

		// Every operator.
		{`Severity == 6`, true},
		{`Severity != 6`, false},
		{`Severity < 7`, true},
		{`Severity <= 6`, true},
		{`Severity > 6`, false},
		{`Severity >= 6`, true},
		{`Type =~ /^met/`, true},
		{`Type !~ /^met/`, false},

		// Both quotes, with escapes; unknown escapes are kept for regexes.
		{`Type == "metric"`, true},
		{`Fields[quoted] == 'it\'s a "test"\t\\'`, true},
		{`Fields[quoted] == "it's a \"test\"\t\\"`, true},
		{`Fields[pattern] == '\d+'`, true},
		{`Fields[pattern] == '\\d+'`, true},
		{`Fields[empty] == ''`, true},

		// Regexes: \/ is a slash, other backslashes belong to the regex.
		{`Payload =~ /user \d+\.\d+%/`, true},
		{`Fields[path] =~ /^\/var\/log$/`, true},
		{`Fields[path] =~ '^/var/log$'`, true},
		{`Fields[raw] =~ /a\/b/`, true},
		{`Fields[pattern] =~ /\\/`, true},
		{`Fields[pattern] =~ /^\\d\+$/`, true},
		{`Type =~ /(?i)METRIC/`, true},
		{`Type =~ //`, true},

		// Field names: bare, quoted, with punctuation, padded.
		{`Fields[name] == 'cpu'`, true},
		{`Fields['my field'] == 'spaced'`, true},
		{`Fields["my field"] == 'spaced'`, true},
		{`Fields[http.status-code] == '200'`, true},
		{`Fields[ name ] == 'cpu'`, true},
		{`Fields [name] [0] [0] == 'cpu'`, true},

		// Numbers: signs, fractions, exponents.
		{`Fields[neg] == -7`, true},
		{`Fields[neg] > -7.5`, true},
		{`Fields[neg] > -1.5e3`, true},
		{`Fields[usage] == 1.25e1`, true},
		{`Fields[usage] < .5e2`, true},
		{`Fields[count] == 42.`, true},
		{`Fields[count] == 4.2E+1`, true},
	})
}

func TestHeaders(t *testing.T) {
	runMatchCases(t, sample(), []matchCase{
		{`Type == 'metric'`, true},
		{`Type != 'metric'`, false},
		{`Type < 'n'`, true},
		{`Type >= 'metric'`, true},
		{`Type > 'metric'`, false},
		{`Logger == 'cpu_input'`, true},
		{`Logger =~ '_input$'`, true},
		{`Hostname =~ /\.example\.com$/`, true},
		{`Hostname !~ /\.example\.org$/`, true},
		{`Payload == 'user 12.5% system 3.1% idle 84.4% steal 0.0%'`, true},
		{`Payload < 'v'`, true},
		{`Payload =~ /system/`, true},
		{`Payload !~ /iowait/`, true},

		// Uuid is its canonical string.
		{`Uuid == '01936f1e-7b2c-7a3d-8e4f-0123456789ab'`, true},
		{`Uuid != '01936f1e-7b2c-7a3d-8e4f-0123456789ab'`, false},
		{`Uuid == '01936F1E-7B2C-7A3D-8E4F-0123456789AB'`, false},
		{`Uuid != '01936f1e7b2c7a3d8e4f0123456789ab'`, true},
		{`Uuid < '1'`, true},
		{`Uuid >= '01936f1e-7b2c-7a3d-8e4f-0123456789ab'`, true},
		{`Uuid =~ /^01936f1e-/`, true},
		{`Uuid !~ /-8e4f-/`, false},

		// Numeric headers.
		{`Severity == 6.0`, true},
		{`Severity < 6.5`, true},
		{`Pid == 4242`, true},
		{`Pid > 4241.5`, true},
		{`Pid != 1`, true},

		// Timestamp: nanoseconds or an RFC 3339 time.
		{`Timestamp == 1767366245000000000`, true},
		{`Timestamp > 1.7e18`, true},
		{`Timestamp == '2026-01-02T15:04:05Z'`, true},
		{`Timestamp == "2026-01-02T16:04:05+01:00"`, true},
		{`Timestamp < '2026-01-02T15:04:05.000000001Z'`, true},
		{`Timestamp >= '2026-01-01T00:00:00Z' && Timestamp < '2026-01-03T00:00:00Z'`, true},
		{`Timestamp > '2026-01-02T15:04:05Z'`, false},
	})
}

func TestFields(t *testing.T) {
	runMatchCases(t, sample(), []matchCase{
		// string
		{`Fields[name] == 'cpu'`, true},
		{`Fields[name] != 'mem'`, true},
		{`Fields[name] < 'd'`, true},
		{`Fields[name] >= 'cpu'`, true},
		{`Fields[name] =~ /^c/`, true},
		{`Fields[name] !~ /^c/`, false},

		// bytes compare like strings
		{`Fields[raw] == 'a/b c'`, true},
		{`Fields[raw] < 'b'`, true},
		{`Fields[raw] !~ /z/`, true},

		// int: exact against integers, as float64 against floats
		{`Fields[count] == 42`, true},
		{`Fields[count] != 43`, true},
		{`Fields[count] <= 42`, true},
		{`Fields[count] > 41.9`, true},
		{`Fields[maxint] == 9223372036854775807`, true},
		{`Fields[maxint] == 9223372036854775806`, false}, // equal as float64
		{`Fields[maxint] < 18446744073709551615`, true},
		{`Fields[neg] < 18446744073709551615`, true},

		// uint: exact too, including against negative literals
		{`Fields[big] == 18446744073709551615`, true},
		{`Fields[big] > 9223372036854775807`, true},
		{`Fields[big] > -1`, true},
		{`Fields[big] == 1.8446744073709552e19`, true},
		{`Fields[big] > 100000000000000000000`, false}, // beyond uint64: a float

		// float
		{`Fields[usage] == 12.5`, true},
		{`Fields[usage] > 12`, true},
		{`Fields[usage] < 13`, true},
		{`Fields[usage] != 12`, true},

		// NaN is unordered: only != holds.
		{`Fields[nan] == 1`, false},
		{`Fields[nan] != 1`, true},
		{`Fields[nan] < 1`, false},
		{`Fields[nan] >= 1`, false},

		// bool
		{`Fields[ok] == TRUE`, true},
		{`Fields[ok] != FALSE`, true},
		{`Fields[ok] == FALSE`, false},
		{`Fields[ok] != TRUE`, false},
	})
}

func TestRepeatedFields(t *testing.T) {
	runMatchCases(t, sample(), []matchCase{
		{`Fields[tag] == 'first'`, true},
		{`Fields[tag][0] == 'first'`, true},
		{`Fields[tag][1] == 'second'`, true},
		{`Fields[tag][1][0] == 'second'`, true},
		{`Fields[tag] =~ /sec/`, false}, // only the first occurrence
		{`Fields[tag][1] =~ /sec/`, true},
		{`Fields[tag][2] == NIL`, true},
		{`Fields[tag][2] != 'x'`, false},

		// One value per field: array indexes past 0 are NIL.
		{`Fields[tag][0][1] == NIL`, true},
		{`Fields[tag][0][1] != NIL`, false},
		{`Fields[tag][0][1] == 'first'`, false},
		{`Fields[tag][0][1] =~ //`, false},
		{`Fields[count][0][1] >= 0`, false},
		{`Fields[ok][0][1] == TRUE`, false},
	})
}

// A value of another kind than the literal is false, whatever the operator.
func TestTypeMismatch(t *testing.T) {
	runMatchCases(t, sample(), []matchCase{
		{`Fields[count] == 'abc'`, false},
		{`Fields[count] != 'abc'`, false},
		{`Fields[count] == '42'`, false},
		{`Fields[name] > 3`, false},
		{`Fields[name] != 3`, false},
		{`Fields[ok] == 1`, false},
		{`Fields[count] == TRUE`, false},
		{`Fields[count] != TRUE`, false},
		{`Fields[name] == TRUE`, false},
		{`Fields[count] =~ /4/`, false},
		{`Fields[count] !~ /x/`, false},
		{`Fields[ok] =~ /true/`, false},
		{`Fields[usage] =~ '12'`, false},
		// Absent fields too.
		{`Fields[missing] == 'x'`, false},
		{`Fields[missing] != 'x'`, false},
		{`Fields[missing] !~ /x/`, false},
		{`Fields[missing] != 0`, false},
		{`Fields[missing] != TRUE`, false},
	})
}

func TestNIL(t *testing.T) {
	full, empty := sample(), &pipeline.Message{}
	cases := []struct {
		expr        string
		full, empty bool
	}{
		{`Fields[name] == NIL`, false, true},
		{`Fields[name] != NIL`, true, false},
		{`Fields[missing] == NIL`, true, true},
		{`Fields[missing] != NIL`, false, false},
		{`Fields[empty] == NIL`, false, true}, // present, though empty
		{`Type == NIL`, false, true},
		{`Logger != NIL`, true, false},
		{`Hostname == NIL`, false, true},
		{`Payload == NIL`, false, true},
		{`Payload != NIL`, true, false},
		{`Uuid == NIL`, false, true},
		{`Uuid != NIL`, true, false},
	}
	for _, c := range cases {
		m, err := matcher.Compile(c.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.expr, err)
			continue
		}
		if got := m.Match(full); got != c.full {
			t.Errorf("%s on a full message: got %v, want %v", c.expr, got, c.full)
		}
		if got := m.Match(empty); got != c.empty {
			t.Errorf("%s on an empty message: got %v, want %v", c.expr, got, c.empty)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct {
		expr, want string
	}{
		{``, `column 1: empty expression; write TRUE to match every message`},
		{`   `, `column 4: empty expression; write TRUE to match every message`},

		// Structure.
		{`Fields[name] == && TRUE`, `column 17: expected a value after "==", found "&&"`},
		{`Type ==`, `column 8: expected a value after "==", found end of expression`},
		{`Type == metric`, `column 9: expected a value after "==", found "metric"; strings need quotes, e.g. 'metric'`},
		{`Type 'metric'`, `column 6: expected an operator (==, !=, <, <=, >, >=, =~, !~) after Type, found "'metric'"`},
		{`Type`, `column 5: expected an operator (==, !=, <, <=, >, >=, =~, !~) after Type, found end of expression`},
		{`'metric' == Type`, `column 1: expected a message variable such as Type or Fields[name], found "'metric'"; the variable goes on the left of the operator`},
		{`NIL == Type`, `column 1: NIL can only be the value on the right of == or !=`},
		{`Type == 'a' &&`, `column 15: expected a comparison (e.g. Type == 'log'), TRUE, FALSE or "(", found end of expression`},
		{`()`, `column 2: expected a comparison (e.g. Type == 'log'), TRUE, FALSE or "(", found ")"`},
		{`(Type == 'a'`, `column 13: expected ")" to close the "(" at column 1, found end of expression`},
		{`Type == 'a')`, `column 12: unexpected ")" without a matching "("`},
		{`Type == 'a' Logger == 'b'`, `column 13: expected "&&", "||" or the end of the expression, found "Logger"`},
		{`TRUE TRUE`, `column 6: expected "&&", "||" or the end of the expression, found "TRUE"`},

		// Characters.
		{`Type = 'a'`, `column 6: unexpected "="; did you mean "=="?`},
		{`Type == 'a' & Pid == 1`, `column 13: unexpected "&"; did you mean "&&"?`},
		{`Type == 'a' | Pid == 1`, `column 13: unexpected "|"; did you mean "||"?`},
		{`Type ! 'a'`, `column 6: unexpected "!"; did you mean "!=" or "!~"?`},
		{`Type == 'a' # note`, `column 13: unexpected character '#'`},
		{`Type == ‘metric’`, `column 9: unexpected character '‘'`},
		{"Type == \xff", `column 9: unexpected byte 0xff`},

		// Variables.
		{`Typo == 'x'`, `column 1: unknown variable "Typo"; expected one of Uuid, Type, Logger, Payload, Hostname, Timestamp, Severity, Pid, Fields[name], TRUE or FALSE`},
		{`type == 'x'`, `column 1: unknown variable "type" (did you mean Type?); expected one of Uuid, Type, Logger, Payload, Hostname, Timestamp, Severity, Pid, Fields[name], TRUE or FALSE`},
		{`true`, `column 1: unknown variable "true" (did you mean TRUE?); expected one of Uuid, Type, Logger, Payload, Hostname, Timestamp, Severity, Pid, Fields[name], TRUE or FALSE`},
		{`Fields name == 'x'`, `column 8: expected "[" after Fields, as in Fields[name], found "name"`},
		{`Fields[] == 'x'`, `column 8: expected a field name after "Fields[", found "]"`},
		{`Fields[name == 'x'`, `column 13: expected "]" after the field name "name", found "=="`},
		{`Fields[''] == 'x'`, `column 8: empty field name`},
		{`Fields['name] == 'x'`, `column 19: expected "]" after the field name 'name] == ', found "x"`},
		{`Fields['name`, `column 8: unterminated string: the closing ' is missing`},
		{`Fields[name][x] == 'x'`, `column 14: expected a field index (0, 1, 2, ...) after "[", found "x"`},
		{`Fields[name][-1] == 'x'`, `column 14: expected a field index (0, 1, 2, ...) after "[", found "-1"`},
		{`Fields[name][0 == 'x'`, `column 16: expected "]" after the field index, found "=="`},
		{`Fields[name][0][] == 'x'`, `column 17: expected an array index (0, 1, 2, ...) after "[", found "]"`},
		{`Fields[name][0][0][0] == 'x'`, `column 19: expected an operator (==, !=, <, <=, >, >=, =~, !~) after Fields[name][0][0], found "["`},
		{`Fields[name][99999999999999999999] == 'x'`, `column 14: field index 99999999999999999999 is too large`},

		// Literals.
		{`Type == 'abc`, `column 9: unterminated string: the closing ' is missing`},
		{`Type == "abc\"`, `column 9: unterminated string: the closing " is missing`},
		{`Type =~ /abc`, `column 9: unterminated regular expression: the closing / is missing`},
		{`Type =~ /abc\/`, `column 9: unterminated regular expression: the closing / is missing`},
		{`Severity == 1.2.3`, `column 13: invalid number "1.2.3"`},
		{`Severity == 6abc`, `column 13: invalid number "6abc"`},
		{`Severity == 1e`, `column 13: invalid number "1e"`},
		{`Severity == 1e999`, `column 13: number 1e999 is out of range`},
		{`Severity == -`, `column 13: unexpected "-": a negative number is written -1 or -1.5`},
		{`Severity == .`, `column 13: unexpected "."`},

		// Operators and values that cannot go together.
		{`Type =~ /a(b/`, "column 9: invalid regular expression: missing closing ): `a(b`"},
		{`Type !~ 'a(b'`, "column 9: invalid regular expression: missing closing ): `a(b`"},
		{`Type =~ 3`, `column 9: =~ needs a regular expression (/regex/ or a quoted string), found "3"`},
		{`Fields[x] !~ TRUE`, `column 14: !~ needs a regular expression (/regex/ or a quoted string), found "TRUE"`},
		{`Severity =~ /6/`, `column 10: Severity is a number; =~ only applies to strings`},
		{`Type == /x/`, `column 9: a regular expression needs =~ or !~, not ==`},
		{`Type < NIL`, `column 8: NIL can only be compared with == or !=`},
		{`Fields[ok] > TRUE`, `column 14: TRUE can only be compared with == or !=`},
		{`Severity == NIL`, `column 13: Severity always has a value, so it cannot be compared with NIL`},
		{`Type == 3`, `column 9: Type is a string; compare it with a quoted string, not "3"`},
		{`Uuid == TRUE`, `column 9: Uuid is a string; compare it with a quoted string, not "TRUE"`},
		{`Severity == 'high'`, `column 13: Severity is a number; compare it with a number, not "'high'"`},
		{`Pid == FALSE`, `column 8: Pid is a number; compare it with a number, not "FALSE"`},
		{`Timestamp == TRUE`, `column 14: Timestamp is a number of nanoseconds; compare it with a number or a quoted RFC 3339 time, not "TRUE"`},
		{`Timestamp > 'yesterday'`, `column 13: invalid RFC 3339 time "'yesterday'", expected e.g. '2026-01-02T15:04:05Z'`},
		{`Timestamp > '3000-01-01T00:00:00Z'`, `column 13: time "'3000-01-01T00:00:00Z'" is outside what Timestamp can hold (years 1678 to 2262)`},
	}
	for _, c := range cases {
		m, err := matcher.Compile(c.expr)
		if err == nil {
			t.Errorf("Compile(%q) = %v, want error %q", c.expr, m, c.want)
			continue
		}
		var se *matcher.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%q): error %T, want *matcher.SyntaxError", c.expr, err)
		}
		if err.Error() != c.want {
			t.Errorf("Compile(%q):\n got %s\nwant %s", c.expr, err, c.want)
		}
	}
}

func TestString(t *testing.T) {
	const expr = "Type == 'metric'  &&  Fields[name] == 'cpu'"
	m, err := matcher.Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != expr {
		t.Errorf("String() = %q, want %q", m.String(), expr)
	}
}

// A nil *Matcher stands for "no matcher configured" and matches everything.
func TestNilMatcherAndMessage(t *testing.T) {
	var none *matcher.Matcher
	if !none.Match(sample()) || none.String() != "" {
		t.Error("a nil Matcher should match every message and print as empty")
	}
	m, _ := matcher.Compile("TRUE")
	if m.Match(nil) {
		t.Error("a nil message should match nothing")
	}
}

// One expression per kind of compiled node; none may allocate in Match.
var noAllocExprs = []string{
	`Type == 'metric' && Fields[name] == 'cpu'`,
	`Type != 'x' || Logger < 'z'`,
	`Payload == 'user 12.5% system 3.1% idle 84.4% steal 0.0%'`,
	`Payload < 'v' && Payload =~ /system/`,
	`Hostname =~ /^web-\d+\./ && Logger !~ /x/`,
	`Uuid == '01936f1e-7b2c-7a3d-8e4f-0123456789ab'`,
	`Uuid < '1' && Uuid =~ /^0193/`,
	`Uuid != NIL && Payload != NIL && Type != NIL`,
	`Severity <= 6 && Pid > 1 && Timestamp >= '2026-01-01T00:00:00Z'`,
	`Fields[raw] == 'a/b c' && Fields[raw] =~ /b/`,
	`Fields[count] == 42 && Fields[big] > -1 && Fields[usage] < 13.5`,
	`Fields[ok] == TRUE && Fields[missing] == NIL && Fields[tag][1] != NIL`,
	`Fields[tag][1] =~ 'sec' && Fields[tag][0][1] == NIL`,
}

func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled() {
		t.Skip("under -race, sync.Pool (which regexp uses) drops items at random, so matching allocates")
	}
	msg := sample()
	for _, expr := range noAllocExprs {
		m, err := matcher.Compile(expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", expr, err)
		}
		if !m.Match(msg) {
			t.Errorf("%s: does not match the sample; the test would not cover every node", expr)
		}
		if n := testing.AllocsPerRun(100, func() { m.Match(msg) }); n != 0 {
			t.Errorf("%s: %v allocations per Match, want 0", expr, n)
		}
	}
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// Matchers are shared by every goroutine of a plugin; run with -race.
func TestConcurrentMatch(t *testing.T) {
	m, err := matcher.Compile(`Uuid =~ /^0193/ && Payload =~ /user/ && Fields[count] > 1`)
	if err != nil {
		t.Fatal(err)
	}
	msg := sample()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if !m.Match(msg) {
					t.Error("concurrent Match returned false")
					return
				}
			}
		})
	}
	wg.Wait()
}

func ExampleCompile() {
	m, err := matcher.Compile(`Type == 'metric' && Fields[name] == 'cpu'`)
	if err != nil {
		panic(err)
	}
	msg := &pipeline.Message{Type: "metric"}
	msg.AddString("name", "cpu")
	fmt.Println(m.Match(msg))

	_, err = matcher.Compile(`Type == 'metric' && Fields[name] = 'cpu'`)
	fmt.Println(err)
	// Output:
	// true
	// column 34: unexpected "="; did you mean "=="?
}

func BenchmarkMatch(b *testing.B) {
	msg := sample()
	for _, bc := range []struct{ name, expr string }{
		{"fields", `Type == 'metric' && Fields[name] == 'cpu'`},
		{"regex", `Type == 'metric' && Fields[host] =~ /^web-\d+$/`},
		{"payload_regex", `Payload =~ /system \d+\.\d+%/`},
		{"numeric", `Severity <= 6 && Fields[usage] > 10 && Fields[count] != 0`},
		{"miss_or", `Type == 'log' || Fields[missing] != NIL || Logger == 'x'`},
	} {
		m, err := matcher.Compile(bc.expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Match(msg)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := matcher.Compile(`Type == 'metric' && Fields[host] =~ /^web-\d+$/`); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCompile checks that no input makes Compile panic, that every error is
// a SyntaxError pointing inside the expression, and that whatever compiles
// can be matched against any message without panicking.
func FuzzCompile(f *testing.F) {
	for _, expr := range noAllocExprs {
		f.Add(expr)
	}
	f.Add(`(Severity < 3 || Fields['a b'][2][0] =~ "x\\/") && Timestamp > -1.5e3`)
	f.Add(`Fields[x] != NIL || Uuid !~ /\//`)
	msgs := []*pipeline.Message{sample(), {}, nil}
	f.Fuzz(func(t *testing.T, expr string) {
		m, err := matcher.Compile(expr)
		if err != nil {
			var se *matcher.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Compile(%q): error %T, want *matcher.SyntaxError", expr, err)
			}
			if se.Column < 1 || se.Column > len(expr)+1 {
				t.Fatalf("Compile(%q): column %d outside 1..%d", expr, se.Column, len(expr)+1)
			}
			if se.Msg == "" || !strings.HasPrefix(err.Error(), "column ") {
				t.Fatalf("Compile(%q): malformed error %q", expr, err)
			}
			return
		}
		if m.String() != expr {
			t.Fatalf("String() = %q, want %q", m.String(), expr)
		}
		for _, msg := range msgs {
			first := m.Match(msg)
			if m.Match(msg) != first {
				t.Fatalf("%q: Match is not deterministic", expr)
			}
		}
	})
}
