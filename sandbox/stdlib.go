package sandbox

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The restricted environment: Lua 5.1's base, table, string and math
// libraries as gopher-lua has them, minus what reaches outside the state,
// plus replacements for the builtins that can run long or build huge
// strings inside one Go call (where the VM cannot interrupt them), and an
// os table with time, clock and date only. README.md lists it all.

// removedBase are base functions the sandbox does not offer: loading code
// (only require, ours, loads code), reaching other environments, the
// collector, and gopher-lua's debugging aids.
var removedBase = []string{
	"load", "loadstring", "dofile", "loadfile", "module", "require",
	"getfenv", "setfenv", "collectgarbage", "newproxy", "_printregs",
	"_GOPHER_LUA_VERSION",
}

// openLibs opens base, table, string and math in L, removes what the
// sandbox does not offer and installs the guarded replacements.
func (s *Sandbox) openLibs(L *lua.LState) {
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for _, name := range removedBase {
		g.RawSetString(name, lua.LNil)
	}
	g.RawSetString("print", L.NewFunction(s.luaPrint))
	g.RawSetString("require", L.NewFunction(s.luaRequire))

	str := g.RawGetString("string").(*lua.LTable)
	str.RawSetString("dump", lua.LNil)
	str.RawSetString("gfind", lua.LNil)
	gd := s.guard
	str.RawSetString("rep", L.NewFunction(gd.strRep))
	str.RawSetString("format", L.NewFunction(gd.strFormat))
	str.RawSetString("find", L.NewFunction(gd.strFind))
	str.RawSetString("match", L.NewFunction(gd.strMatch))
	str.RawSetString("gmatch", L.NewFunction(gd.strGmatch))
	str.RawSetString("gsub", L.NewFunction(gd.strGsub))

	tbl := g.RawGetString("table").(*lua.LTable)
	tbl.RawSetString("concat", L.NewFunction(gd.tableConcat))
	tbl.RawSetString("sort", L.NewFunction(gd.tableSort))

	m := g.RawGetString("math").(*lua.LTable)
	m.RawSetString("huge", lua.LNumber(math.Inf(1))) // gopher-lua has MaxFloat64
	m.RawSetString("random", L.NewFunction(s.mathRandom))
	m.RawSetString("randomseed", L.NewFunction(s.mathRandomseed))

	os := L.CreateTable(0, 3)
	os.RawSetString("time", L.NewFunction(osTime))
	os.RawSetString("clock", L.NewFunction(s.osClock))
	os.RawSetString("date", L.NewFunction(osDate))
	g.RawSetString("os", os)
}

// What print may write to the log: a script printing in a loop must not
// fill the disk. A token bucket in bytes; lines beyond it are counted
// (Usage.PrintsDropped), and the next line that passes says how many.
const (
	printBytesPerSecond = 16 << 10
	printBurstBytes     = 256 << 10
)

// luaPrint logs its arguments, tab-separated, at info level.
func (s *Sandbox) luaPrint(L *lua.LState) int {
	var b strings.Builder
	limit := min(s.limits.OutputBytes, printBurstBytes-len("..."))
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		b.WriteString(lua.LVAsString(L.ToStringMeta(L.Get(i))))
		if b.Len() > limit {
			break
		}
	}
	line := b.String()
	if len(line) > limit {
		line = line[:limit] + "..."
	}
	if !s.prints.AllowN(time.Now(), len(line)) {
		s.usageMu.Lock()
		s.usage.PrintsDropped++
		s.usageMu.Unlock()
		s.printsHeld++
		return 0
	}
	if s.printsHeld > 0 {
		s.log.Info(line, "source", "print", "dropped_before", s.printsHeld)
		s.printsHeld = 0
		return 0
	}
	s.log.Info(line, "source", "print")
	return 0
}

// strRep is string.rep(s, n), refusing results larger than the memory
// limit.
func (g *guard) strRep(L *lua.LState) int {
	str := L.CheckString(1)
	n := L.CheckNumber(2)
	if !(n >= 1) || len(str) == 0 { // also NaN
		L.Push(lua.LString(""))
		return 1
	}
	if float64(n) > float64(g.maxBytes)/float64(len(str)) {
		g.checkSize(L, g.maxBytes+1)
	}
	L.Push(lua.LString(strings.Repeat(str, int(n))))
	return 1
}

// tableConcat is table.concat(t [, sep [, i [, j]]]), refusing results
// larger than the memory limit (gopher-lua's pushes every element on the
// value stack first).
func (g *guard) tableConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := L.OptInt(4, t.Len())
	// The size first, so that a result over the limit is refused before
	// anything is copied.
	size := 0
	for k := i; k <= j; k++ {
		if (k-i)&(stepsPerCheck-1) == stepsPerCheck-1 {
			g.check(L)
		}
		v := t.RawGetInt(k)
		switch v.Type() {
		case lua.LTString:
			size += len(v.(lua.LString))
		case lua.LTNumber:
			size += len(lua.LVAsString(v))
		default:
			L.RaiseError("invalid value (a %s at index %d) in table for 'concat'", v.Type().String(), k)
		}
		if k < j {
			size += len(sep)
		}
		g.checkSize(L, size)
	}
	var b strings.Builder
	b.Grow(max(size, 0))
	for k := i; k <= j; k++ {
		if (k-i)&(stepsPerCheck-1) == stepsPerCheck-1 {
			g.check(L)
		}
		b.WriteString(lua.LVAsString(t.RawGetInt(k)))
		if k < j {
			b.WriteString(sep)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// luaSorter sorts t[1..n] in place; Less checks for a stop every few
// thousand comparisons, so a sort with a slow comparator is interrupted
// by the time limit.
type luaSorter struct {
	L     *lua.LState
	g     *guard
	t     *lua.LTable
	n     int
	cmp   *lua.LFunction
	steps int
}

func (s *luaSorter) Len() int { return s.n }

func (s *luaSorter) Swap(i, j int) {
	a, b := s.t.RawGetInt(i+1), s.t.RawGetInt(j+1)
	s.t.RawSetInt(i+1, b)
	s.t.RawSetInt(j+1, a)
}

func (s *luaSorter) Less(i, j int) bool {
	s.steps++
	if s.steps&(stepsPerCheck-1) == 0 {
		s.g.check(s.L)
	}
	a, b := s.t.RawGetInt(i+1), s.t.RawGetInt(j+1)
	if s.cmp == nil {
		return s.L.LessThan(a, b)
	}
	s.L.Push(s.cmp)
	s.L.Push(a)
	s.L.Push(b)
	s.L.Call(2, 1)
	r := s.L.Get(-1)
	s.L.Pop(1)
	return lua.LVAsBool(r)
}

func (g *guard) tableSort(L *lua.LState) int {
	t := L.CheckTable(1)
	s := &luaSorter{L: L, g: g, t: t, n: t.Len()}
	if v := L.Get(2); v != lua.LNil {
		s.cmp = L.CheckFunction(2)
	}
	sort.Sort(s)
	return 0
}

// Lua 5.1's string.format, on Go's fmt: flags "-+ #0", width and
// precision of two digits at most (so one conversion cannot produce a
// megabyte of padding), C's output for %g, inf and nan; %s honours
// __tostring (so an ns formats as its digits) and %d takes an ns exactly.
func (g *guard) strFormat(L *lua.LState) int {
	fs := L.CheckString(1)
	arg := 1
	var b strings.Builder
	var spec []byte
	for i := 0; i < len(fs); i++ {
		c := fs[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i < len(fs) && fs[i] == '%' {
			b.WriteByte('%')
			continue
		}
		start := i
		for i < len(fs) && strings.IndexByte("-+ #0", fs[i]) >= 0 {
			i++
		}
		if i-start > 5 {
			L.RaiseError("invalid format (repeated flags)")
		}
		flags := fs[start:i]
		width, prec := -1, -1
		num := func() int {
			n := -1
			for k := 0; k < 2 && i < len(fs) && isdigit(fs[i]); k++ {
				n = max(n, 0)*10 + int(fs[i]-'0')
				i++
			}
			return n
		}
		width = num()
		if i < len(fs) && fs[i] == '.' {
			i++
			prec = max(num(), 0)
		}
		if i < len(fs) && isdigit(fs[i]) {
			L.RaiseError("invalid format (width or precision too long)")
		}
		if i >= len(fs) {
			L.RaiseError("%s", "invalid option '%' to 'format'")
		}
		conv := fs[i]
		arg++
		spec = append(spec[:0], '%')
		spec = append(spec, flags...)
		if width >= 0 {
			spec = strconv.AppendInt(spec, int64(width), 10)
		}
		switch conv {
		case 'd', 'i', 'o', 'u', 'x', 'X':
			var n int64
			if v, ok := isNS(L.Get(arg)); ok {
				n = v
			} else {
				n, _ = floatToInt64(math.Trunc(float64(L.CheckNumber(arg))))
			}
			if prec >= 0 {
				spec = append(spec, '.')
				spec = strconv.AppendInt(spec, int64(prec), 10)
			}
			switch conv {
			case 'd', 'i':
				fmt.Fprintf(&b, string(append(spec, 'd')), n)
			case 'u':
				fmt.Fprintf(&b, string(append(spec, 'd')), uint64(n))
			default:
				fmt.Fprintf(&b, string(append(spec, conv)), uint64(n))
			}
		case 'e', 'E', 'f', 'g', 'G':
			f := float64(L.CheckNumber(arg))
			if math.IsInf(f, 0) || math.IsNaN(f) {
				writePadded(&b, cNonFinite(f, flags, conv), flags, width)
				break
			}
			if prec < 0 && (conv == 'g' || conv == 'G') {
				prec = 6 // C's default; Go's %g would print the shortest form
			}
			if prec >= 0 {
				spec = append(spec, '.')
				spec = strconv.AppendInt(spec, int64(prec), 10)
			}
			fmt.Fprintf(&b, string(append(spec, conv)), f)
		case 'c':
			writePadded(&b, string([]byte{byte(L.CheckInt(arg))}), flags, width)
		case 's':
			str := lua.LVAsString(L.ToStringMeta(L.CheckAny(arg)))
			if prec >= 0 && prec < len(str) {
				str = str[:prec]
			}
			writePadded(&b, str, flags, width)
		case 'q':
			writeQuoted(&b, L.CheckString(arg))
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", conv)
		}
		g.checkSize(L, b.Len())
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// writePadded pads s with spaces to width, on the right with the '-' flag.
func writePadded(b *strings.Builder, s, flags string, width int) {
	pad := width - len(s)
	left := strings.IndexByte(flags, '-') >= 0
	if !left && pad > 0 {
		b.WriteString(strings.Repeat(" ", pad))
	}
	b.WriteString(s)
	if left && pad > 0 {
		b.WriteString(strings.Repeat(" ", pad))
	}
}

// cNonFinite formats inf and nan as C's printf does.
func cNonFinite(f float64, flags string, conv byte) string {
	s := "inf"
	if math.IsNaN(f) {
		s = "nan"
	}
	switch {
	case math.IsInf(f, -1):
		s = "-" + s
	case strings.IndexByte(flags, '+') >= 0:
		s = "+" + s
	case strings.IndexByte(flags, ' ') >= 0:
		s = " " + s
	}
	if conv == 'E' || conv == 'G' {
		s = strings.ToUpper(s)
	}
	return s
}

// writeQuoted is %q: a string Lua reads back to the same bytes.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\000`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// mathRandom is Lua 5.1's math.random on the sandbox's own generator, so
// that math.randomseed makes a script repeatable (gopher-lua's uses the
// process-wide source, which Go no longer lets one seed).
func (s *Sandbox) mathRandom(L *lua.LState) int {
	r := s.rand.Float64()
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(r))
	case 1:
		u := float64(L.CheckNumber(1))
		if u < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(r*math.Floor(u)) + 1))
	case 2:
		l, u := math.Floor(float64(L.CheckNumber(1))), math.Floor(float64(L.CheckNumber(2)))
		if l > u {
			L.ArgError(2, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(r*(u-l+1)) + l))
	default:
		L.RaiseError("wrong number of arguments")
	}
	return 1
}

func (s *Sandbox) mathRandomseed(L *lua.LState) int {
	seed := uint64(int64(L.CheckNumber(1)))
	s.rand = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return 0
}

// osClock returns the seconds since the sandbox was created (Lua's is the
// process's CPU time, which says nothing about one script).
func (s *Sandbox) osClock(L *lua.LState) int {
	L.Push(lua.LNumber(time.Since(s.created).Seconds()))
	return 1
}

// osTime is os.time([t]): now, or the date table t read as UTC, in
// seconds since the epoch.
func osTime(L *lua.LState) int {
	if L.GetTop() == 0 || L.Get(1) == lua.LNil {
		L.Push(lua.LNumber(time.Now().Unix()))
		return 1
	}
	t := L.CheckTable(1)
	field := func(name string, def int, required bool) int {
		v := t.RawGetString(name)
		if n, ok := v.(lua.LNumber); ok {
			return int(n)
		}
		if required || v != lua.LNil {
			L.RaiseError("field '%s' missing in date table", name)
		}
		return def
	}
	d := time.Date(field("year", 0, true), time.Month(field("month", 0, true)), field("day", 0, true),
		field("hour", 12, false), field("min", 0, false), field("sec", 0, false), 0, time.UTC)
	L.Push(lua.LNumber(d.Unix()))
	return 1
}

// osDate is os.date([format [, time]]) in UTC, whether or not the format
// starts with '!': a sandbox does not see the host's time zone. time is
// seconds since the epoch or an ns.
func osDate(L *lua.LState) int {
	format := L.OptString(1, "%c")
	t := time.Now().UTC()
	if v := L.Get(2); v != lua.LNil {
		if n, ok := isNS(v); ok {
			t = time.Unix(0, n).UTC()
		} else {
			sec := float64(L.CheckNumber(2))
			t = time.Unix(int64(math.Floor(sec)), 0).UTC()
		}
	}
	format = strings.TrimPrefix(format, "!")
	if strings.HasPrefix(format, "*t") {
		tb := L.CreateTable(0, 9)
		tb.RawSetString("year", lua.LNumber(t.Year()))
		tb.RawSetString("month", lua.LNumber(t.Month()))
		tb.RawSetString("day", lua.LNumber(t.Day()))
		tb.RawSetString("hour", lua.LNumber(t.Hour()))
		tb.RawSetString("min", lua.LNumber(t.Minute()))
		tb.RawSetString("sec", lua.LNumber(t.Second()))
		tb.RawSetString("wday", lua.LNumber(t.Weekday()+1))
		tb.RawSetString("yday", lua.LNumber(t.YearDay()))
		tb.RawSetString("isdst", lua.LFalse)
		L.Push(tb)
		return 1
	}
	s, err := strftime(format, t)
	if err != nil {
		L.RaiseError("%v", err)
	}
	L.Push(lua.LString(s))
	return 1
}

// strftime formats t with C's conversions in the C locale.
func strftime(format string, t time.Time) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return "", fmt.Errorf("invalid conversion specifier '%%' in format")
		}
		if err := appendConversion(&b, format[i], t); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func appendConversion(b *strings.Builder, c byte, t time.Time) error {
	yday := t.YearDay() - 1
	wday := int(t.Weekday())
	switch c {
	case 'a':
		b.WriteString(t.Weekday().String()[:3])
	case 'A':
		b.WriteString(t.Weekday().String())
	case 'b', 'h':
		b.WriteString(t.Month().String()[:3])
	case 'B':
		b.WriteString(t.Month().String())
	case 'c':
		b.WriteString(t.Format("Mon Jan _2 15:04:05 2006"))
	case 'C':
		fmt.Fprintf(b, "%02d", t.Year()/100)
	case 'd':
		fmt.Fprintf(b, "%02d", t.Day())
	case 'D', 'x':
		b.WriteString(t.Format("01/02/06"))
	case 'e':
		fmt.Fprintf(b, "%2d", t.Day())
	case 'F':
		b.WriteString(t.Format("2006-01-02"))
	case 'g':
		y, _ := t.ISOWeek()
		fmt.Fprintf(b, "%02d", y%100)
	case 'G':
		y, _ := t.ISOWeek()
		fmt.Fprintf(b, "%d", y)
	case 'H':
		fmt.Fprintf(b, "%02d", t.Hour())
	case 'I':
		fmt.Fprintf(b, "%02d", (t.Hour()+11)%12+1)
	case 'j':
		fmt.Fprintf(b, "%03d", yday+1)
	case 'm':
		fmt.Fprintf(b, "%02d", int(t.Month()))
	case 'M':
		fmt.Fprintf(b, "%02d", t.Minute())
	case 'n':
		b.WriteByte('\n')
	case 'p':
		if t.Hour() < 12 {
			b.WriteString("AM")
		} else {
			b.WriteString("PM")
		}
	case 'r':
		b.WriteString(t.Format("03:04:05 PM"))
	case 'R':
		b.WriteString(t.Format("15:04"))
	case 's':
		fmt.Fprintf(b, "%d", t.Unix())
	case 'S':
		fmt.Fprintf(b, "%02d", t.Second())
	case 't':
		b.WriteByte('\t')
	case 'T', 'X':
		b.WriteString(t.Format("15:04:05"))
	case 'u':
		fmt.Fprintf(b, "%d", (wday+6)%7+1)
	case 'U':
		fmt.Fprintf(b, "%02d", (yday+7-wday)/7)
	case 'V':
		_, w := t.ISOWeek()
		fmt.Fprintf(b, "%02d", w)
	case 'w':
		fmt.Fprintf(b, "%d", wday)
	case 'W':
		fmt.Fprintf(b, "%02d", (yday+7-(wday+6)%7)/7)
	case 'y':
		fmt.Fprintf(b, "%02d", t.Year()%100)
	case 'Y':
		fmt.Fprintf(b, "%d", t.Year())
	case 'z':
		b.WriteString("+0000")
	case 'Z':
		b.WriteString("UTC")
	case '%':
		b.WriteByte('%')
	default:
		return fmt.Errorf("invalid conversion specifier '%%%c' in format", c)
	}
	return nil
}
