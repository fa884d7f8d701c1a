package sandbox

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Lua 5.1's pattern matcher (lstrlib.c), ported so that it can be stopped:
// gopher-lua's own matcher is a Go loop the VM cannot interrupt, and a
// backtracking pattern over a long subject (("a"):rep(1e5):find(".-.-.-b"))
// runs for hours. This one counts its steps and, every stepsPerCheck steps,
// asks the guard whether the sandbox has been stopped (by the time limit,
// usually); if so it raises an error and the call ends. Its recursion is
// bounded by maxMatchDepth, as in Lua 5.2 ("pattern too complex").

const (
	maxCaptures    = 32 // LUA_MAXCAPTURES
	capUnfinished  = -1
	capPosition    = -2
	maxMatchDepth  = 200 // MAXCCALLS in Lua 5.2's lstrlib.c
	stepsPerCheck  = 1 << 12
	patternEscape  = '%'
	patternSpecial = "^$*+?.([%-"
)

type capture struct{ init, len int }

type matchState struct {
	L       *lua.LState
	g       *guard
	src     string
	pat     string
	level   int
	depth   int
	steps   int
	capture [maxCaptures]capture
}

// tick counts one step and checks for a stop every stepsPerCheck steps.
func (ms *matchState) tick() {
	ms.steps++
	if ms.steps&(stepsPerCheck-1) == 0 {
		ms.g.check(ms.L)
	}
}

// at returns src[i], or 0 past the end (C's terminating NUL, which %f and
// %b compare against).
func (ms *matchState) at(i int) byte {
	if i < len(ms.src) {
		return ms.src[i]
	}
	return 0
}

func (ms *matchState) pat0(p int) byte {
	if p < len(ms.pat) {
		return ms.pat[p]
	}
	return 0
}

func (ms *matchState) classEnd(p int) int {
	c := ms.pat[p]
	p++
	switch c {
	case patternEscape:
		if p >= len(ms.pat) {
			ms.L.RaiseError("%s", "malformed pattern (ends with '%')")
		}
		return p + 1
	case '[':
		if ms.pat0(p) == '^' {
			p++
		}
		for { // look for a ']'
			if p >= len(ms.pat) {
				ms.L.RaiseError("malformed pattern (missing ']')")
			}
			c := ms.pat[p]
			p++
			if c == patternEscape && p < len(ms.pat) {
				p++ // skip escapes (e.g. '%]')
			}
			if p < len(ms.pat) && ms.pat[p] == ']' {
				return p + 1
			}
			if p >= len(ms.pat) {
				ms.L.RaiseError("malformed pattern (missing ']')")
			}
		}
	}
	return p
}

func isalpha(c byte) bool  { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isdigit(c byte) bool  { return '0' <= c && c <= '9' }
func islower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isupper(c byte) bool  { return 'A' <= c && c <= 'Z' }
func isspace(c byte) bool  { return c == ' ' || '\t' <= c && c <= '\r' }
func iscntrl(c byte) bool  { return c < 32 || c == 127 }
func isalnum(c byte) bool  { return isalpha(c) || isdigit(c) }
func ispunct(c byte) bool  { return c > 32 && c < 127 && !isalnum(c) }
func isxdigit(c byte) bool { return isdigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func tolower(c byte) byte {
	if isupper(c) {
		return c + 'a' - 'A'
	}
	return c
}

func matchClass(c, cl byte) bool {
	var res bool
	switch tolower(cl) {
	case 'a':
		res = isalpha(c)
	case 'c':
		res = iscntrl(c)
	case 'd':
		res = isdigit(c)
	case 'l':
		res = islower(c)
	case 'p':
		res = ispunct(c)
	case 's':
		res = isspace(c)
	case 'u':
		res = isupper(c)
	case 'w':
		res = isalnum(c)
	case 'x':
		res = isxdigit(c)
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if islower(cl) {
		return res
	}
	return !res
}

// matchBracketClass matches c against the class pat[p:ec+1], where pat[p]
// is '[' and pat[ec] is ']'.
func (ms *matchState) matchBracketClass(c byte, p, ec int) bool {
	sig := true
	if ms.pat[p+1] == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		switch {
		case ms.pat[p] == patternEscape:
			p++
			if matchClass(c, ms.pat[p]) {
				return sig
			}
		case ms.pat[p+1] == '-' && p+2 < ec:
			p += 2
			if ms.pat[p-2] <= c && c <= ms.pat[p] {
				return sig
			}
		case ms.pat[p] == c:
			return sig
		}
	}
	return !sig
}

func (ms *matchState) singleMatch(s, p, ep int) bool {
	if s >= len(ms.src) {
		return false
	}
	c := ms.src[s]
	switch ms.pat[p] {
	case '.':
		return true
	case patternEscape:
		return matchClass(c, ms.pat[p+1])
	case '[':
		return ms.matchBracketClass(c, p, ep-1)
	default:
		return ms.pat[p] == c
	}
}

func (ms *matchState) matchBalance(s, p int) int {
	if p+1 >= len(ms.pat) {
		ms.L.RaiseError("%s", "malformed pattern (missing arguments to '%b')")
	}
	if s >= len(ms.src) || ms.src[s] != ms.pat[p] {
		return -1
	}
	b, e := ms.pat[p], ms.pat[p+1]
	cont := 1
	for s++; s < len(ms.src); s++ {
		ms.tick()
		switch ms.src[s] {
		case e:
			cont--
			if cont == 0 {
				return s + 1
			}
		case b:
			cont++
		}
	}
	return -1
}

func (ms *matchState) maxExpand(s, p, ep int) int {
	i := 0
	for ms.singleMatch(s+i, p, ep) {
		ms.tick()
		i++
	}
	for ; i >= 0; i-- { // try with the most repetitions first
		if res := ms.match(s+i, ep+1); res != -1 {
			return res
		}
	}
	return -1
}

func (ms *matchState) minExpand(s, p, ep int) int {
	for {
		if res := ms.match(s, ep+1); res != -1 {
			return res
		}
		if !ms.singleMatch(s, p, ep) {
			return -1
		}
		s++
	}
}

func (ms *matchState) startCapture(s, p, what int) int {
	if ms.level >= maxCaptures {
		ms.L.RaiseError("too many captures")
	}
	ms.capture[ms.level] = capture{s, what}
	ms.level++
	res := ms.match(s, p)
	if res == -1 {
		ms.level-- // undo capture
	}
	return res
}

func (ms *matchState) endCapture(s, p int) int {
	l := ms.captureToClose()
	ms.capture[l].len = s - ms.capture[l].init
	res := ms.match(s, p)
	if res == -1 {
		ms.capture[l].len = capUnfinished
	}
	return res
}

func (ms *matchState) captureToClose() int {
	for level := ms.level - 1; level >= 0; level-- {
		if ms.capture[level].len == capUnfinished {
			return level
		}
	}
	ms.L.RaiseError("invalid pattern capture")
	return 0
}

func (ms *matchState) checkCapture(l byte) int {
	i := int(l) - '1'
	if i < 0 || i >= ms.level || ms.capture[i].len == capUnfinished {
		ms.L.RaiseError("invalid capture index")
	}
	return i
}

func (ms *matchState) matchCapture(s int, l byte) int {
	i := ms.checkCapture(l)
	c := ms.capture[i]
	if len(ms.src)-s >= c.len && ms.src[c.init:c.init+c.len] == ms.src[s:s+c.len] {
		return s + c.len
	}
	return -1
}

// match returns the end of the match of pat[p:] at src[s:], or -1.
func (ms *matchState) match(s, p int) int {
	ms.depth++
	if ms.depth > maxMatchDepth {
		ms.L.RaiseError("pattern too complex")
	}
	defer func() { ms.depth-- }()
	for {
		ms.tick()
		if p >= len(ms.pat) { // end of pattern
			return s
		}
		switch ms.pat[p] {
		case '(':
			if ms.pat0(p+1) == ')' {
				return ms.startCapture(s, p+2, capPosition)
			}
			return ms.startCapture(s, p+1, capUnfinished)
		case ')':
			return ms.endCapture(s, p+1)
		case '$':
			if p+1 == len(ms.pat) {
				if s == len(ms.src) {
					return s
				}
				return -1
			}
		case patternEscape:
			switch ms.pat0(p + 1) {
			case 'b':
				s = ms.matchBalance(s, p+2)
				if s == -1 {
					return -1
				}
				p += 4
				continue
			case 'f':
				p += 2
				if ms.pat0(p) != '[' {
					ms.L.RaiseError("%s", "missing '[' after '%f' in pattern")
				}
				ep := ms.classEnd(p)
				var previous byte
				if s > 0 {
					previous = ms.src[s-1]
				}
				if ms.matchBracketClass(previous, p, ep-1) || !ms.matchBracketClass(ms.at(s), p, ep-1) {
					return -1
				}
				p = ep
				continue
			default:
				if isdigit(ms.pat0(p + 1)) {
					s = ms.matchCapture(s, ms.pat[p+1])
					if s == -1 {
						return -1
					}
					p += 2
					continue
				}
			}
		}
		// a single-character class, maybe followed by a repetition
		ep := ms.classEnd(p)
		m := ms.singleMatch(s, p, ep)
		switch ms.pat0(ep) {
		case '?':
			if m {
				if res := ms.match(s+1, ep+1); res != -1 {
					return res
				}
			}
			p = ep + 1
			continue
		case '*':
			return ms.maxExpand(s, p, ep)
		case '+':
			if !m {
				return -1
			}
			return ms.maxExpand(s+1, p, ep)
		case '-':
			return ms.minExpand(s, p, ep)
		default:
			if !m {
				return -1
			}
			s++
			p = ep
		}
	}
}

// captureValue returns capture i of the match src[s:e]; capture 0 without
// captures in the pattern is the whole match.
func (ms *matchState) captureValue(i, s, e int) lua.LValue {
	if i >= ms.level {
		if i == 0 {
			return lua.LString(ms.src[s:e])
		}
		ms.L.RaiseError("invalid capture index")
	}
	c := ms.capture[i]
	switch c.len {
	case capUnfinished:
		ms.L.RaiseError("unfinished capture")
	case capPosition:
		return lua.LNumber(c.init + 1)
	}
	return lua.LString(ms.src[c.init : c.init+c.len])
}

// pushCaptures pushes the captures of the match src[s:e] (the whole match
// when the pattern has none and wholeIfNone) and returns how many.
func (ms *matchState) pushCaptures(s, e int, wholeIfNone bool) int {
	n := ms.level
	if n == 0 && wholeIfNone {
		n = 1
	}
	for i := 0; i < n; i++ {
		ms.L.Push(ms.captureValue(i, s, e))
	}
	return n
}

// posrelat turns a Lua string position (negative from the end) into a
// 0-based offset clamped at 0.
func posrelat(pos, n int) int {
	if pos < 0 {
		pos += n + 1
	}
	if pos < 0 {
		return 0
	}
	return pos
}

// findAux is string.find (find) and string.match (!find).
func (g *guard) findAux(L *lua.LState, find bool) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	init := posrelat(L.OptInt(3, 1), len(s)) - 1
	if init < 0 {
		init = 0
	} else if init > len(s) {
		init = len(s)
	}
	if find && (lua.LVAsBool(L.Get(4)) || !strings.ContainsAny(p, patternSpecial)) {
		if i := strings.Index(s[init:], p); i >= 0 {
			L.Push(lua.LNumber(init + i + 1))
			L.Push(lua.LNumber(init + i + len(p)))
			return 2
		}
		L.Push(lua.LNil)
		return 1
	}
	ms := &matchState{L: L, g: g, src: s, pat: p}
	anchor := len(p) > 0 && p[0] == '^'
	if anchor {
		ms.pat = p[1:]
	}
	for s1 := init; ; s1++ {
		ms.level, ms.depth = 0, 0
		if e := ms.match(s1, 0); e != -1 {
			if find {
				L.Push(lua.LNumber(s1 + 1))
				L.Push(lua.LNumber(e))
				return ms.pushCaptures(-1, -1, false) + 2
			}
			return ms.pushCaptures(s1, e, true)
		}
		if s1 >= len(s) || anchor {
			break
		}
	}
	L.Push(lua.LNil)
	return 1
}

func (g *guard) strFind(L *lua.LState) int  { return g.findAux(L, true) }
func (g *guard) strMatch(L *lua.LState) int { return g.findAux(L, false) }

// strGmatch returns an iterator that finds the next match on each call, so
// that a long subject costs nothing up front (gopher-lua's finds them all).
func (g *guard) strGmatch(L *lua.LState) int {
	s := L.CheckString(1)
	p := L.CheckString(2)
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		ms := &matchState{L: L, g: g, src: s, pat: p}
		for src := pos; src <= len(s); src++ {
			ms.level, ms.depth = 0, 0
			if e := ms.match(src, 0); e != -1 {
				pos = e
				if e == src { // empty match: go on at least one position
					pos++
				}
				return ms.pushCaptures(src, e, true)
			}
		}
		pos = len(s) + 1
		return 0
	}))
	return 1
}

// strGsub is string.gsub, in linear time (gopher-lua's copies the whole
// result once per match), with its result bounded by the memory limit.
func (g *guard) strGsub(L *lua.LState) int {
	src := L.CheckString(1)
	p := L.CheckString(2)
	repl := L.Get(3)
	switch repl.Type() {
	case lua.LTNumber, lua.LTString, lua.LTFunction, lua.LTTable:
	default:
		L.ArgError(3, "string/function/table expected")
	}
	maxN := L.OptInt(4, len(src)+1)
	anchor := len(p) > 0 && p[0] == '^'
	if anchor {
		p = p[1:]
	}
	ms := &matchState{L: L, g: g, src: src, pat: p}
	var b strings.Builder
	n, s := 0, 0
loop:
	for n < maxN {
		ms.level, ms.depth = 0, 0
		e := ms.match(s, 0)
		if e != -1 {
			n++
			g.addValue(ms, &b, repl, s, e)
		}
		switch {
		case e != -1 && e > s: // non-empty match: skip it
			s = e
		case s < len(src):
			b.WriteByte(src[s])
			s++
		default:
			break loop
		}
		g.checkSize(L, b.Len())
		if anchor {
			break
		}
	}
	g.checkSize(L, b.Len()+len(src)-s)
	b.WriteString(src[s:])
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(n))
	return 2
}

func (g *guard) addValue(ms *matchState, b *strings.Builder, repl lua.LValue, s, e int) {
	L := ms.L
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		news := lua.LVAsString(r)
		for {
			i := strings.IndexByte(news, patternEscape)
			if i < 0 {
				b.WriteString(news)
				break
			}
			b.WriteString(news[:i])
			if i+1 >= len(news) {
				break // a trailing '%' adds nothing, as in Lua 5.1
			}
			switch c := news[i+1]; {
			case !isdigit(c):
				b.WriteByte(c)
			case c == '0':
				b.WriteString(ms.src[s:e])
			default:
				b.WriteString(lua.LVAsString(ms.captureValue(int(c-'1'), s, e)))
			}
			g.checkSize(L, b.Len())
			news = news[i+2:]
		}
		return
	case *lua.LFunction:
		L.Push(r)
		nargs := ms.pushCaptures(s, e, true)
		L.Call(nargs, 1)
		v = L.Get(-1)
		L.Pop(1)
	case *lua.LTable:
		v = L.GetTable(r, ms.captureValue(0, s, e))
	}
	switch {
	case !lua.LVAsBool(v): // nil or false: keep the original text
		b.WriteString(ms.src[s:e])
	case v.Type() == lua.LTString || v.Type() == lua.LTNumber:
		b.WriteString(lua.LVAsString(v))
	default:
		L.RaiseError("invalid replacement value (a %s)", v.Type().String())
	}
}
