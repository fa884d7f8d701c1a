package sandbox

import (
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// A Lua number is a float64, which holds integers exactly only up to 2^53;
// a timestamp in nanoseconds since 1970 needs 61 bits. So timestamps travel
// as "ns" userdata holding an int64, with metamethods that keep the
// arithmetic exact where it can be (see README, "Timestamps").

// nsTypeName names the ns metatable in the state's registry.
const nsTypeName = "ns"

// nsValue is what an ns userdata's Value holds.
type nsValue int64

// NewNS returns an ns userdata holding v (nanoseconds since the Unix epoch),
// for Go modules that hand timestamps back to Lua.
func NewNS(L *lua.LState, v int64) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = nsValue(v)
	ud.Metatable = L.GetTypeMetatable(nsTypeName)
	return ud
}

// newNS is NewNS with the metatable already at hand (the hot path).
func newNS(L *lua.LState, mt lua.LValue, v int64) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = nsValue(v)
	ud.Metatable = mt
	return ud
}

// NSValue returns the nanoseconds v stands for: an ns userdata (exact), a
// number (rounded to the nearest integer; exact up to 2^53) or a decimal
// string (exact). ok is false for anything else, and for numbers or
// strings outside the int64 range.
func NSValue(L *lua.LState, v lua.LValue) (ns int64, ok bool) {
	switch x := v.(type) {
	case *lua.LUserData:
		n, ok := x.Value.(nsValue)
		return int64(n), ok
	case lua.LNumber:
		return floatToInt64(float64(x))
	case lua.LString:
		n, err := strconv.ParseInt(strings.TrimSpace(string(x)), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// floatToInt64 rounds f to the nearest int64; ok is false when f is NaN or
// out of range.
func floatToInt64(f float64) (int64, bool) {
	f = math.Round(f)
	// -2^63 is representable, 2^63 is not.
	if f != f || f < -9223372036854775808 || f >= 9223372036854775808 {
		return 0, false
	}
	return int64(f), true
}

// isNS reports whether v is an ns userdata, and its value.
func isNS(v lua.LValue) (int64, bool) {
	if ud, ok := v.(*lua.LUserData); ok {
		n, ok := ud.Value.(nsValue)
		return int64(n), ok
	}
	return 0, false
}

// openNS registers the ns metatable and the global ns() constructor.
func openNS(L *lua.LState) *lua.LTable {
	mt := L.NewTypeMetatable(nsTypeName)
	methods := L.CreateTable(0, 2)
	methods.RawSetString("seconds", L.NewFunction(nsSeconds))
	methods.RawSetString("number", L.NewFunction(nsNumber))
	for name, fn := range map[string]lua.LGFunction{
		"__add": nsAdd, "__sub": nsSub, "__mul": nsMul, "__div": nsDiv, "__mod": nsMod,
		"__pow": nsPow, "__unm": nsUnm, "__eq": nsEq, "__lt": nsLt, "__le": nsLe,
		"__tostring": nsToString, "__concat": nsConcat,
	} {
		mt.RawSetString(name, L.NewFunction(fn))
	}
	mt.RawSetString("__index", methods)
	mt.RawSetString("__name", lua.LString(nsTypeName))
	L.SetGlobal("ns", L.NewFunction(nsConstruct))
	return mt
}

// ns(x): x is an ns, a number of nanoseconds or a decimal string.
func nsConstruct(L *lua.LState) int {
	v := L.CheckAny(1)
	n, ok := NSValue(L, v)
	if !ok {
		L.ArgError(1, "ns expected: an ns, a number or a decimal string, got "+describe(v))
	}
	L.Push(NewNS(L, n))
	return 1
}

// checkNS returns the ns at argument i or raises an error.
func checkNS(L *lua.LState, i int) int64 {
	n, ok := isNS(L.Get(i))
	if !ok {
		L.ArgError(i, "ns expected, got "+describe(L.Get(i)))
	}
	return n
}

func nsSeconds(L *lua.LState) int {
	L.Push(lua.LNumber(float64(checkNS(L, 1)) / 1e9))
	return 1
}

func nsNumber(L *lua.LState) int {
	L.Push(lua.LNumber(float64(checkNS(L, 1))))
	return 1
}

// operands returns the two operands of a binary metamethod: each either an
// ns (isNS true) or a number.
func operands(L *lua.LState, op string) (a, b int64, af, bf float64, an, bn bool) {
	x, y := L.Get(1), L.Get(2)
	a, an = isNS(x)
	b, bn = isNS(y)
	if !an {
		af = numberOperand(L, x, op)
	}
	if !bn {
		bf = numberOperand(L, y, op)
	}
	return
}

func numberOperand(L *lua.LState, v lua.LValue, op string) float64 {
	switch x := v.(type) {
	case lua.LNumber:
		return float64(x)
	case lua.LString:
		if f, err := strconv.ParseFloat(strings.TrimSpace(string(x)), 64); err == nil {
			return f
		}
	}
	L.RaiseError("attempt to perform arithmetic (%s) on ns and %s", op, describe(v))
	return 0
}

// roundOperand converts a number operand of ns arithmetic to an int64.
func roundOperand(L *lua.LState, f float64) int64 {
	n, ok := floatToInt64(f)
	if !ok {
		L.RaiseError("ns arithmetic: %v is out of range", f)
	}
	return n
}

func pushNS(L *lua.LState, v int64) int {
	L.Push(newNS(L, L.GetTypeMetatable(nsTypeName), v))
	return 1
}

func nsOverflow(L *lua.LState) {
	L.RaiseError("ns arithmetic overflows int64")
}

// ns + number and number + ns give an ns; ns + ns is an error (adding two
// points in time means nothing).
func nsAdd(L *lua.LState) int {
	a, b, af, bf, an, bn := operands(L, "add")
	switch {
	case an && bn:
		L.RaiseError("attempt to add two ns values (subtract them, or add a number)")
	case an:
		b = roundOperand(L, bf)
	default:
		a = roundOperand(L, af)
	}
	s := a + b
	if (s > a) != (b > 0) {
		nsOverflow(L)
	}
	return pushNS(L, s)
}

// ns - ns gives a number (a duration, exact up to 2^53 ns, 104 days);
// ns - number gives an ns; number - ns gives a number.
func nsSub(L *lua.LState) int {
	a, b, af, bf, an, bn := operands(L, "sub")
	switch {
	case an && bn:
		d := a - b
		if (d < a) != (b > 0) {
			nsOverflow(L)
		}
		L.Push(lua.LNumber(float64(d)))
		return 1
	case an:
		b = roundOperand(L, bf)
		d := a - b
		if (d < a) != (b > 0) {
			nsOverflow(L)
		}
		return pushNS(L, d)
	default:
		L.Push(lua.LNumber(af - float64(b)))
		return 1
	}
}

func asFloat(n int64, f float64, isNS bool) float64 {
	if isNS {
		return float64(n)
	}
	return f
}

func nsMul(L *lua.LState) int {
	a, b, af, bf, an, bn := operands(L, "mul")
	L.Push(lua.LNumber(asFloat(a, af, an) * asFloat(b, bf, bn)))
	return 1
}

func nsDiv(L *lua.LState) int {
	a, b, af, bf, an, bn := operands(L, "div")
	L.Push(lua.LNumber(asFloat(a, af, an) / asFloat(b, bf, bn)))
	return 1
}

func nsPow(L *lua.LState) int {
	a, b, af, bf, an, bn := operands(L, "pow")
	L.Push(lua.LNumber(math.Pow(asFloat(a, af, an), asFloat(b, bf, bn))))
	return 1
}

// ns % n is exact when n is an integer (ts % 60e9 is the offset into the
// minute); the result has the divisor's sign, as Lua's % does.
func nsMod(L *lua.LState) int {
	a, b, af, bf, an, bn := operands(L, "mod")
	if !bn {
		if n, ok := floatToInt64(bf); ok && float64(n) == bf {
			b, bn = n, true
		}
	}
	if an && bn {
		if b == 0 {
			L.Push(lua.LNumber(math.NaN()))
			return 1
		}
		if b == -1 {
			L.Push(lua.LNumber(0))
			return 1
		}
		r := a % b
		if r != 0 && (r < 0) != (b < 0) {
			r += b
		}
		L.Push(lua.LNumber(float64(r)))
		return 1
	}
	x, y := asFloat(a, af, an), asFloat(b, bf, bn)
	L.Push(lua.LNumber(x - math.Floor(x/y)*y))
	return 1
}

func nsUnm(L *lua.LState) int {
	a := checkNS(L, 1)
	if a == math.MinInt64 {
		nsOverflow(L)
	}
	return pushNS(L, -a)
}

func nsCompare(L *lua.LState) (int64, int64) {
	a, aok := isNS(L.Get(1))
	b, bok := isNS(L.Get(2))
	if !aok || !bok {
		L.RaiseError("attempt to compare ns with %s", describe(L.Get(2)))
	}
	return a, b
}

func nsEq(L *lua.LState) int {
	a, b := nsCompare(L)
	L.Push(lua.LBool(a == b))
	return 1
}

func nsLt(L *lua.LState) int {
	a, b := nsCompare(L)
	L.Push(lua.LBool(a < b))
	return 1
}

func nsLe(L *lua.LState) int {
	a, b := nsCompare(L)
	L.Push(lua.LBool(a <= b))
	return 1
}

func nsToString(L *lua.LState) int {
	L.Push(lua.LString(strconv.FormatInt(checkNS(L, 1), 10)))
	return 1
}

func nsConcat(L *lua.LState) int {
	L.Push(lua.LString(concatPart(L, L.Get(1)) + concatPart(L, L.Get(2))))
	return 1
}

func concatPart(L *lua.LState, v lua.LValue) string {
	if n, ok := isNS(v); ok {
		return strconv.FormatInt(n, 10)
	}
	if lua.LVCanConvToString(v) {
		return lua.LVAsString(v)
	}
	L.RaiseError("attempt to concatenate ns and %s", describe(v))
	return ""
}

// describe names a value's type for error messages, "ns" for timestamps.
func describe(v lua.LValue) string {
	if _, ok := isNS(v); ok {
		return "ns"
	}
	return v.Type().String()
}
