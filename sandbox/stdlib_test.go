package sandbox

import (
	"fmt"
	"strings"
	"testing"
)

// evalAll evaluates expr and returns all its results, tostring'd and
// joined by spaces.
func evalAll(t *testing.T, s *Sandbox, expr string) (string, error) {
	t.Helper()
	v, err := eval(t, s, nil, `(function(...)
  local t = {}
  for i = 1, select("#", ...) do t[i] = tostring((select(i, ...))) end
  return table.concat(t, " ")
end)(`+expr+`)`)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

type evalCase struct{ expr, want string }

func runEvalCases(t *testing.T, s *Sandbox, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := evalAll(t, s, tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func runErrorCases(t *testing.T, s *Sandbox, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		_, err := evalAll(t, s, tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.expr, err, tc.want)
		}
		if _, ok := err.(*TerminatedError); ok {
			t.Fatalf("%s terminated the sandbox", tc.expr)
		}
	}
}

// Results as Lua 5.1 gives them.
func TestPatterns(t *testing.T) {
	s, _ := newSandbox(t, "")
	runEvalCases(t, s, []evalCase{
		{`("hello world"):find("wor")`, "7 9"},
		{`("hello world"):find("o", 6)`, "8 8"},
		{`("hello"):find("l+")`, "3 4"},
		{`("hello"):find("xyz")`, "nil"},
		{`("a.b"):find(".", 1, true)`, "2 2"},
		{`("a.b"):find("%.")`, "2 2"},
		{`("hello"):find("")`, "1 0"},
		{`("hello"):find("", 10)`, "6 5"},
		{`("hello"):find("l", -2)`, "4 4"},
		{`("THE (quick) fox"):find("%((%a+)%)")`, "5 11 quick"},
		{`("a\0b"):find("%z")`, "2 2"},
		{`("key=value"):match("(%w+)=(%w+)")`, "key value"},
		{`("  trim  "):match("^%s*(.-)%s*$")`, "trim"},
		{`("2023-11-14"):match("(%d+)-(%d+)-(%d+)")`, "2023 11 14"},
		{`("hello"):match("()ll()")`, "3 5"},
		{`("f(a(b)c)d"):match("%b()")`, "(a(b)c)"},
		{`("[test]"):match("^%[(.*)%]$")`, "test"},
		{`("_x1 y"):match("[%a_][%w_]*")`, "_x1"},
		{`("a-b"):match("[a%-]+")`, "a-"},
		{`("]]x"):match("[]]+")`, "]]"},
		{`("abc"):match("[^a]+")`, "bc"},
		{`("hello"):match(".-(l+)(.*)")`, "ll o"},
		{`("aaa"):match("a-b")`, "nil"},
		{`("aaab"):match("a-b")`, "aaab"},
		{`("abab"):match("(ab)%1")`, "ab"},
		{`("hello world from lua"):match("^(%S+)%s+(.*)$")`, "hello world from lua"},
		{`("x = 1"):match("^(%w+)%s*=%s*(%d+)$")`, "x 1"},
		{`("abc"):match("^b")`, "nil"},
		{`("abc"):match("c$")`, "c"},
		{`("a$c"):match("$c")`, "$c"},
		{`("color colour"):match("colou?r", 2)`, "colour"},
		{`("THE (quick) fox"):gsub("%f[%a]%a+", "X")`, "X (X) X 3"},
		{`("hello world"):gsub("o", "0")`, "hell0 w0rld 2"},
		{`("hello world"):gsub("(%w+)", "<%1>")`, "<hello> <world> 2"},
		{`("hello world"):gsub("%w+", "%0 %0", 1)`, "hello hello world 1"},
		{`("hello"):gsub("", "-")`, "-h-e-l-l-o- 6"},
		{`("abc"):gsub("%w", "%%")`, "%%% 3"},
		{`("hello world"):gsub("%w+", {hello = "HI"})`, "HI world 2"},
		{`("abc"):gsub("%w", function(c) return c:upper() .. "." end)`, "A.B.C. 3"},
		{`("abc"):gsub("%w", function(c) if c == "b" then return false end end)`, "abc 3"},
		{`("hello"):gsub("l", "L", 1)`, "heLlo 1"},
		{`("^x^"):gsub("^%^", "")`, "x^ 1"},
		{`("x = 1, y = 2"):gsub("(%w+) = (%w+)", "%2 = %1")`, "1 = x, 2 = y 2"},
		{`("abc"):gsub(".", 1)`, "111 3"},
		{`(function() local r = {} for k, v in ("a=1, b=2"):gmatch("(%w+)=(%w+)") do r[#r+1] = k .. v end return table.concat(r, ",") end)()`, "a1,b2"},
		{`(function() local n = 0 for m in ("abc"):gmatch("x*") do n = n + 1 end return n end)()`, "4"},
		{`(function() local r = {} for w in ("one two  three"):gmatch("%a+") do r[#r+1] = w end return table.concat(r, "|") end)()`, "one|two|three"},
		{`(function() local r = {} for p in ("abc"):gmatch("()") do r[#r+1] = p end return table.concat(r, "|") end)()`, "1|2|3|4"},
	})
	runErrorCases(t, s, []evalCase{
		{`("x"):find("%")`, "malformed pattern (ends with '%')"},
		{`("x"):find("[a")`, "malformed pattern (missing ']')"},
		{`("x"):match("(()")`, "unfinished capture"},
		{`("x"):match("x)")`, "invalid pattern capture"},
		{`("x"):gsub("x", "%2")`, "invalid capture index"},
		{`("x"):find("%1")`, "invalid capture index"},
		{`("x"):find("%f")`, "missing '['"},
		{`("x"):find("%b")`, "missing arguments to '%b'"},
		{`("x"):find(string.rep("(", 40) .. "x" .. string.rep(")", 40))`, "too many captures"},
		{`string.rep("x", 300):find(string.rep("x?", 300))`, "pattern too complex"},
		{`("x"):gsub("x", true)`, "string/function/table expected"},
		{`("x"):gsub("x", {x = {}})`, "invalid replacement value (a table)"},
	})
}

func TestStringFormat(t *testing.T) {
	s, _ := newSandbox(t, "")
	runEvalCases(t, s, []evalCase{
		{`("%5.2f"):format(3.14159)`, " 3.14"},
		{`("%.3f"):format(2/3)`, "0.667"},
		{`("%d"):format(3.7)`, "3"},
		{`("%d"):format(-3.7)`, "-3"},
		{`("%5d|%-5d|%05d"):format(42, 42, 42)`, "   42|42   |00042"},
		{`("%+d % d"):format(5, 5)`, "+5  5"},
		{`("%.3d"):format(7)`, "007"},
		{`("%x %X %o"):format(255, 255, 8)`, "ff FF 10"},
		{`("%#x %#o"):format(255, 8)`, "0xff 010"},
		{`("%u"):format(-1)`, "18446744073709551615"},
		{`("%i"):format(7)`, "7"},
		{`("%g %g %g %g"):format(0.1, 1e20, 100000, 1000000)`, "0.1 1e+20 100000 1e+06"},
		{`("%g"):format(0.1 + 0.2)`, "0.3"},
		{`("%.3g|%10.4g|%-10.2e|"):format(1234.5, 3.14159, 12345)`, "1.23e+03|     3.142|1.23e+04  |"},
		{`("%e %E"):format(12345.678, 0.5)`, "1.234568e+04 5.000000E-01"},
		{`("%10.3s|"):format("abcdef")`, "       abc|"},
		{`("%-6s|"):format("ab")`, "ab    |"},
		{`("%s %s %s"):format(1, true, nil)`, "1 true nil"},
		{`("%q"):format('a "b"\n\0\r\\')`, `"a \"b\"\` + "\n" + `\000\r\\"`},
		{`("%c%c%5c"):format(72, 105, 33)`, "Hi    !"},
		{`("100%% %s"):format("done")`, "100% done"},
		{`("%f %5.1f %e %G"):format(1/0, -1/0, 0/0, 1/0)`, "inf  -inf nan INF"},
		{`("%+f"):format(1/0)`, "+inf"},
		{`("%s"):format(setmetatable({}, {__tostring = function() return "obj" end}))`, "obj"},
		{`("%5s|%-5s|"):format("héllo", "é")`, "héllo|é   |"},
	})
	runErrorCases(t, s, []evalCase{
		{`("%123d"):format(1)`, "width or precision too long"},
		{`("%.123f"):format(1)`, "width or precision too long"},
		{`("%-+ #0-d"):format(1)`, "repeated flags"},
		{`("%y"):format(1)`, "invalid option '%y'"},
		{`("%d"):format("x")`, "bad argument #2"},
		{`("%d %d"):format(1)`, "bad argument #3"},
		{`("abc%"):format()`, "invalid option"},
	})
}

func TestStringAndTableLib(t *testing.T) {
	s, _ := newSandbox(t, "")
	runEvalCases(t, s, []evalCase{
		{`("ab"):rep(3)`, "ababab"},
		{`("x"):rep(0) .. "|" .. ("x"):rep(-1) .. "|" .. (""):rep(1e9) .. "|" .. ("x"):rep(0/0)`, "|||"},
		{`("x"):rep(2.9)`, "xx"},
		{`table.concat({1, "a", 2.5}, ", ")`, "1, a, 2.5"},
		{`table.concat({1, 2, 3, 4}, "-", 2, 3)`, "2-3"},
		{`table.concat({}, "x")`, ""},
		{`table.concat({1, 2}, "", 3)`, ""},
		{`(function() local t = {3, 1, 2} table.sort(t) return table.concat(t, " ") end)()`, "1 2 3"},
		{`(function() local t = {"b", "c", "a"} table.sort(t, function(a, b) return a > b end) return table.concat(t, " ") end)()`, "c b a"},
		{`(function() local t = {} for i = 1, 1000 do t[i] = (i * 7919) % 1000 end table.sort(t) for i = 2, 1000 do if t[i-1] > t[i] then return "unsorted" end end return "sorted" end)()`, "sorted"},
		{`math.huge == 1/0`, "true"},
		{`math.floor(3.7), math.max(1, 5, 3), math.pi > 3`, "3 5 true"},
		{`string.upper("abc"), ("x"):len(), ("hello"):sub(2, 3), ("abc"):byte(2), string.char(72, 105), ("abc"):reverse()`, "ABC 1 el 98 Hi cba"},
		{`tostring(1e15), tostring(0.1), tostring(-0), tonumber("0x10"), tonumber("12", 3)`, "1000000000000000 0.1 0 16 5"},
		{`select("#", 1, nil, 3), select(2, "a", "b", "c")`, "3 b c"},
		{`(function() local ok, err = pcall(error, "x", 0) return ok, err end)()`, "false x"},
		{`next({}), type(next), rawequal("a", "a")`, "nil function true"},
		{`string.dump, string.gfind, _G._G == _G`, "nil nil true"},
	})
	runErrorCases(t, s, []evalCase{
		{`table.concat({1, {}, 3})`, "invalid value (a table at index 2) in table for 'concat'"},
		{`table.sort({1, "x", 2})`, "attempt to compare"},
		{`math.random(0)`, "interval is empty"},
		{`math.random(3, 1)`, "interval is empty"},
	})
}

func TestMathRandom(t *testing.T) {
	s1, _ := newSandbox(t, "")
	s2, _ := newSandbox(t, "")
	const seq = `(function() math.randomseed(42) local r = {} for i = 1, 5 do r[i] = math.random(100) end return table.concat(r, ",") end)()`
	a, err1 := evalAll(t, s1, seq)
	b, err2 := evalAll(t, s2, seq)
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("seeded sequences differ: %q %q (%v %v)", a, b, err1, err2)
	}
	for range 200 {
		v, err := evalAll(t, s1, `math.random(), math.random(3), math.random(-2, 2)`)
		if err != nil {
			t.Fatal(err)
		}
		var f, n, m float64
		if _, err := fmt.Sscan(v, &f, &n, &m); err != nil || f < 0 || f >= 1 || n < 1 || n > 3 || m < -2 || m > 2 {
			t.Fatalf("random out of range: %q", v)
		}
	}
}

func TestOS(t *testing.T) {
	s, _ := newSandbox(t, "")
	runEvalCases(t, s, []evalCase{
		{`os.date("!%Y-%m-%dT%H:%M:%SZ", 1700000000)`, "2023-11-14T22:13:20Z"},
		{`os.date("%Y-%m-%d %H:%M:%S", 1700000000)`, "2023-11-14 22:13:20"},
		{`os.date("%c", 0)`, "Thu Jan  1 00:00:00 1970"},
		{`os.date("%j %a %A %b %B %p %I %y %e %u %w %Z %z %%", 1700000000)`, "318 Tue Tuesday Nov November PM 10 23 14 2 2 UTC +0000 %"},
		{`os.date("%D %F %T %R %s %U %W %V %G", 1700000000)`, "11/14/23 2023-11-14 22:13:20 22:13 1700000000 46 46 46 2023"},
		{`os.date("%Y %H", ns(1700000000123456789))`, "2023 22"},
		{`(function() local d = os.date("*t", 1700000000) return d.year, d.month, d.day, d.hour, d.min, d.sec, d.wday, d.yday, d.isdst end)()`,
			"2023 11 14 22 13 20 3 318 false"},
		{`os.time{year = 2023, month = 11, day = 14, hour = 22, min = 13, sec = 20}`, "1700000000"},
		{`os.time{year = 2023, month = 11, day = 14}`, "1699963200"},
		{`os.time{year = 2023, month = 13, day = 1, hour = 0}`, "1704067200"},
		{`type(os.time()), os.time() > 1.7e9, os.clock() >= 0, type(os.date())`, "number true true string"},
	})
	runErrorCases(t, s, []evalCase{
		{`os.date("%Q")`, "invalid conversion specifier '%Q'"},
		{`os.time{year = 2023}`, "field 'month' missing"},
	})
}
