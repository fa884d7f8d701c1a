package circularbuffer

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/interoceptor/interoceptor/sandbox"
)

// newState returns a plain Lua state with the module preloaded and
// ns(n [, plus]), which makes the sandbox's ns userdata of n+plus (plus keeps
// the sum exact beyond 2^53).
func newState(t *testing.T) *lua.LState {
	t.Helper()
	L := lua.NewState()
	t.Cleanup(L.Close)
	L.PreloadModule(Name, Loader)
	L.SetGlobal("ns", L.NewFunction(func(L *lua.LState) int {
		L.Push(sandbox.NewNS(L, L.CheckInt64(1)+L.OptInt64(2, 0)))
		return 1
	}))
	return L
}

const prelude = `
local circular_buffer = require "circular_buffer"
local s = 1e9
local function isnan(x) return x ~= x end
`

func TestLua(t *testing.T) {
	tests := []struct {
		name string
		code string
	}{
		{"a new buffer", `
local cb = circular_buffer.new(3, 2, 60)
assert(cb:current_time() == 120 * s)
assert(isnan(cb:get(0, 1)))
assert(cb:get(180 * s, 1) == nil, "the future is outside")
assert(cb:get_header(2) == "Column_2")
local name, unit, agg = cb:get_header(1)
assert(name == "Column_1" and unit == "count" and agg == "sum")`},
		{"add, set, get", `
local cb = circular_buffer.new(10, 2, 1)
local t = 1700000000 * s
assert(cb:add(t, 1, 5) == 5, "add to NaN")
assert(cb:add(t + 0.5 * s, 1, 2) == 7, "same row")
assert(cb:set(t, 2, -1) == -1)
assert(cb:get(t, 1) == 7 and cb:get(t, 2) == -1)
assert(cb:current_time() == t)
assert(cb:add(t - 10 * s, 1, 1) == nil, "older than the buffer")
assert(cb:set(t - 9 * s, 1, 3) == 3, "the oldest row")
assert(cb:get(t - 9 * s, 1) == 3)`},
		{"ns userdata", `
local cb = circular_buffer.new(10, 1, 1)
assert(cb:add(ns(1.7e18, 123456789), 1, 1) == 1)
assert(cb:current_time() == 1700000000 * s)
assert(cb:get(ns(1.7e18, 999999999), 1) == 1)
assert(cb:get("1700000000999999999", 1) == 1, "a decimal string")`},
		{"advancing clears", `
local cb = circular_buffer.new(4, 1, 1)
for i = 0, 3 do cb:set(i * s, 1, i) end
cb:set(5 * s, 1, 5)
local r = cb:get_range(1)
assert(#r == 4 and r[1] == 2 and r[2] == 3 and isnan(r[3]) and r[4] == 5)
cb:set(1000 * s, 1, 9)
assert(cb:compute("sum", 1) == 9, "advanced past the whole buffer")
assert(cb:compute("sum", 1, 997 * s, 999 * s) == nil, "rows that scrolled in are NaN")`},
		{"compute", `
local cb = circular_buffer.new(5, 1, 1)
for i, v in ipairs{1, 2, 0/0, 4, 5} do cb:set((i - 1) * s, 1, v) end
assert(cb:compute("sum", 1) == 12)
assert(cb:compute("avg", 1) == 3)
assert(cb:compute("min", 1) == 1 and cb:compute("max", 1) == 5)
assert(cb:compute("variance", 1, 0, s) == 0.25)
assert(cb:compute("sd", 1, 0, s) == 0.5)
assert(cb:compute("sum", 1, 3 * s) == 9, "end defaults to the newest row")
assert(cb:compute("sum", 1, 2 * s, 2 * s) == nil, "only NaN")
assert(cb:compute("sum", 1, -1 * s) == nil, "before the buffer")
assert(cb:compute("sum", 1, 3 * s, 1 * s) == nil, "backwards")`},
		{"get_range", `
local cb = circular_buffer.new(5, 2, 10)
cb:set(40 * s, 2, 4)
cb:set(30 * s, 2, 3)
local r = cb:get_range(2, 30 * s, 49 * s)
assert(#r == 2 and r[1] == 3 and r[2] == 4)
assert(cb:get_range(2, 30 * s, 50 * s) == nil)`},
		{"headers and cbuf", `
local cb = circular_buffer.new(2, 2, 60)
assert(cb:set_header(1, "Requests") == 1)
assert(cb:set_header(2, "Latency", "ms", "avg") == 2)
cb:set(60 * s, 1, 3)
assert(cb:format("cbuf") == cb)
local want = '{"time":0,"rows":2,"columns":2,"seconds_per_row":60,"column_info":[' ..
  '{"name":"Requests","unit":"count","aggregation":"sum"},{"name":"Latency","unit":"ms","aggregation":"avg"}]}\n' ..
  'nan\tnan\n3\tnan\n'
assert(tostring(cb) == want, tostring(cb))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := newState(t).DoString(prelude + tt.code); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLuaErrors(t *testing.T) {
	tests := []struct {
		code, want string
	}{
		{`circular_buffer.new(1, 1, 1)`, "rows must be at least 2"},
		{`circular_buffer.new(2.5, 1, 1)`, "rows must be an integer"},
		{`circular_buffer.new(10, 0, 1)`, "columns must be at least 1"},
		{`circular_buffer.new(10, 1, 0)`, "seconds_per_row must be at least 1"},
		{`circular_buffer.new(1e4, 1e3, 1)`, "rows*columns must be at most 1000000"},
		{`circular_buffer.new(10, 1, 1, true)`, "enable_delta"},
		{`circular_buffer.new("x", 1, 1)`, "number expected"},
		{`circular_buffer.new(10, 2, 1):add(0, 3, 1)`, "column 3 out of range [1, 2]"},
		{`circular_buffer.new(10, 2, 1):get(0, 0)`, "column 0 out of range"},
		{`circular_buffer.new(10, 2, 1):get(0, 1.5)`, "column must be an integer"},
		{`circular_buffer.new(10, 2, 1):set("now", 1, 1)`, "time expected"},
		{`circular_buffer.new(10, 2, 1):set({}, 1, 1)`, "time expected"},
		{`circular_buffer.new(10, 2, 1):set(0, 1, "x")`, "number expected"},
		{`circular_buffer.new(10, 2, 1):compute("median", 1)`, "unknown function"},
		{`circular_buffer.new(10, 2, 1):compute("sum", 1, "x")`, "time expected"},
		{`circular_buffer.new(10, 2, 1):set_header(1, "x", "u", "median")`, "unknown aggregation"},
		{`circular_buffer.new(10, 2, 1):format("cbufd")`, "unknown format"},
		{`circular_buffer.new(10, 2, 1).get({}, 0, 1)`, "userdata expected"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			err := newState(t).DoString(prelude + tt.code)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLuaRestore(t *testing.T) {
	L1 := newState(t)
	err := L1.DoString(prelude + `
cb = circular_buffer.new(60, 2, 1)
cb:set_header(2, "Errors", "count", "max")
for i = 1, 100 do cb:add(i * s, i % 2 + 1, i) end`)
	if err != nil {
		t.Fatal(err)
	}
	data, err := L1.GetGlobal("cb").(*lua.LUserData).Value.(*Buffer).Preserve()
	if err != nil {
		t.Fatal(err)
	}
	L2 := newState(t)
	v, err := Restore(L2, data)
	if err != nil {
		t.Fatal(err)
	}
	L2.SetGlobal("cb", v)
	L2.SetGlobal("want", lua.LString(L1.GetGlobal("cb").(*lua.LUserData).Value.(*Buffer).String()))
	err = L2.DoString(prelude + `
assert(tostring(cb) == want)
assert(cb:current_time() == 100 * s)
assert(cb:get_header(2) == "Errors")
assert(cb:add(100 * s, 1, 1) == 101)`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(L2, []byte("CBUF\x01")); err == nil {
		t.Error("restore of a truncated buffer: no error")
	}
}
