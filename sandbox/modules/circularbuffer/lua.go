package circularbuffer

import (
	"fmt"
	"math"

	lua "github.com/yuin/gopher-lua"

	"github.com/interoceptor/interoceptor/sandbox"
)

// Name is the module's name for require.
const Name = "circular_buffer"

// TypeName names the buffer's userdata type: the key of its metatable in
// the Lua registry, and the type a preserved buffer is restored as.
const TypeName = "circular_buffer"

// Loader is the gopher-lua loader of the module: it pushes the module table
// { new = function(rows, columns, seconds_per_row) }.
func Loader(L *lua.LState) int {
	metatable(L)
	mod := L.NewTable()
	mod.RawSetString("new", L.NewFunction(luaNew))
	L.Push(mod)
	return 1
}

// Restore rebuilds a buffer preserved with (*Buffer).Preserve as a Lua value
// of L, methods included.
func Restore(L *lua.LState, data []byte) (lua.LValue, error) {
	b, err := unmarshal(data)
	if err != nil {
		return lua.LNil, err
	}
	return wrap(L, b), nil
}

var methods = map[string]lua.LGFunction{
	"add":          luaAdd,
	"set":          luaSet,
	"get":          luaGet,
	"compute":      luaCompute,
	"get_range":    luaGetRange,
	"current_time": luaCurrentTime,
	"set_header":   luaSetHeader,
	"get_header":   luaGetHeader,
	"format":       luaFormat,
}

// metatable returns the buffer's metatable, creating it on first use.
func metatable(L *lua.LState) *lua.LTable {
	mt := L.NewTypeMetatable(TypeName)
	if mt.RawGetString("__index") == lua.LNil {
		mt.RawSetString("__index", L.SetFuncs(L.NewTable(), methods))
		mt.RawSetString("__tostring", L.NewFunction(luaToString))
		mt.RawSetString("__metatable", lua.LString(TypeName)) // scripts cannot swap it
	}
	return mt
}

func wrap(L *lua.LState, b *Buffer) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = b
	L.SetMetatable(ud, metatable(L))
	return ud
}

// checkInt returns argument n as an int, raising an error when it is not an
// integral number.
func checkInt(L *lua.LState, n int, what string) int {
	f := float64(L.CheckNumber(n))
	if f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		L.ArgError(n, fmt.Sprintf("%s must be an integer, got %v", what, L.Get(n)))
	}
	return int(f)
}

// luaNew is circular_buffer.new(rows, columns, seconds_per_row).
func luaNew(L *lua.LState) int {
	rows := checkInt(L, 1, "rows")
	cols := checkInt(L, 2, "columns")
	spr := checkInt(L, 3, "seconds_per_row")
	if lua.LVAsBool(L.Get(4)) {
		L.ArgError(4, "enable_delta (the cbufd format) is not supported")
	}
	b, err := New(rows, cols, int64(spr))
	if err != nil {
		L.RaiseError("circular_buffer.new: %s", err)
	}
	L.Push(wrap(L, b))
	return 1
}

func check(L *lua.LState) *Buffer {
	if b, ok := L.CheckUserData(1).Value.(*Buffer); ok {
		return b
	}
	L.ArgError(1, "circular_buffer expected")
	return nil
}

func checkNS(L *lua.LState, n int) int64 {
	v := L.CheckAny(n)
	ns, ok := sandbox.NSValue(L, v)
	if !ok {
		L.ArgError(n, "time expected (an ns, a number or a decimal string of ns), got "+v.Type().String())
	}
	return ns
}

// checkColumn returns the 0-based column of the 1-based argument n.
func checkColumn(L *lua.LState, b *Buffer, n int) int {
	c := checkInt(L, n, "column")
	if c < 1 || c > b.cols {
		L.ArgError(n, fmt.Sprintf("column %d out of range [1, %d]", c, b.cols))
	}
	return c - 1
}

// pushValue pushes v, or nil when ok is false.
func pushValue(L *lua.LState, v float64, ok bool) int {
	if ok {
		L.Push(lua.LNumber(v))
	} else {
		L.Push(lua.LNil)
	}
	return 1
}

// luaAdd is cb:add(ns, column, value) → the new value, or nil when ns is
// older than the buffer.
func luaAdd(L *lua.LState) int {
	b := check(L)
	ns, col, v := checkNS(L, 2), checkColumn(L, b, 3), float64(L.CheckNumber(4))
	r, ok, _ := b.Add(ns, col, v) // the column is checked
	return pushValue(L, r, ok)
}

// luaSet is cb:set(ns, column, value) → value, or nil when ns is older than
// the buffer.
func luaSet(L *lua.LState) int {
	b := check(L)
	ns, col, v := checkNS(L, 2), checkColumn(L, b, 3), float64(L.CheckNumber(4))
	r, ok, _ := b.Set(ns, col, v)
	return pushValue(L, r, ok)
}

// luaGet is cb:get(ns, column) → the value (NaN when unset), or nil when ns
// is outside the buffer.
func luaGet(L *lua.LState) int {
	b := check(L)
	ns, col := checkNS(L, 2), checkColumn(L, b, 3)
	r, ok, _ := b.Get(ns, col)
	return pushValue(L, r, ok)
}

// optRange reads the optional start and end arguments at n and n+1; they
// default to the oldest and the newest row.
func optRange(L *lua.LState, b *Buffer, n int) (int64, int64) {
	start, end := b.OldestTime(), b.CurrentTime()
	if L.Get(n) != lua.LNil {
		start = checkNS(L, n)
	}
	if L.Get(n+1) != lua.LNil {
		end = checkNS(L, n+1)
	}
	return start, end
}

// luaCompute is cb:compute(func, column [, start_ns [, end_ns]]) → the
// result, or nil for an invalid or empty range.
func luaCompute(L *lua.LState) int {
	b := check(L)
	fn := L.CheckString(2)
	if _, ok := computeFuncs[fn]; !ok {
		L.ArgError(2, fmt.Sprintf("unknown function %q (sum, avg, sd, variance, min, max)", fn))
	}
	col := checkColumn(L, b, 3)
	start, end := optRange(L, b, 4)
	r, ok, _ := b.Compute(fn, col, start, end)
	return pushValue(L, r, ok)
}

// luaGetRange is cb:get_range(column [, start_ns [, end_ns]]) → an array of
// the values, oldest first, or nil for an invalid range.
func luaGetRange(L *lua.LState) int {
	b := check(L)
	col := checkColumn(L, b, 2)
	start, end := optRange(L, b, 3)
	xs, ok, _ := b.Range(col, start, end)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	t := L.CreateTable(len(xs), 0)
	for _, x := range xs {
		t.Append(lua.LNumber(x))
	}
	L.Push(t)
	return 1
}

// luaCurrentTime is cb:current_time() → ns of the start of the newest row.
// Row starts are whole seconds, exact as Lua numbers until 2116.
func luaCurrentTime(L *lua.LState) int {
	L.Push(lua.LNumber(check(L).CurrentTime()))
	return 1
}

// luaSetHeader is cb:set_header(column, name [, unit [, aggregation]]) →
// column.
func luaSetHeader(L *lua.LState) int {
	b := check(L)
	col := checkColumn(L, b, 2)
	name := L.CheckString(3)
	unit := L.OptString(4, "")
	agg := L.OptString(5, "")
	if err := b.SetHeader(col, name, unit, agg); err != nil {
		L.ArgError(3, err.Error())
	}
	L.Push(lua.LNumber(col + 1))
	return 1
}

// luaGetHeader is cb:get_header(column) → name, unit, aggregation.
func luaGetHeader(L *lua.LState) int {
	b := check(L)
	c := b.columns[checkColumn(L, b, 2)]
	L.Push(lua.LString(c.Name))
	L.Push(lua.LString(c.Unit))
	L.Push(lua.LString(c.Aggregation))
	return 3
}

// luaFormat is cb:format(format) → cb, as in Heka: it chooses what
// tostring(cb) (and so inject_payload) produces; only "cbuf" exists.
func luaFormat(L *lua.LState) int {
	b := check(L)
	if err := b.SetFormat(L.CheckString(2)); err != nil {
		L.ArgError(2, err.Error())
	}
	L.Push(L.Get(1))
	return 1
}

func luaToString(L *lua.LState) int {
	L.Push(lua.LString(check(L).String()))
	return 1
}
