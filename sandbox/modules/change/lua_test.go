package change

import (
	"strconv"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/interoceptor/interoceptor/sandbox"
)

// newState returns a plain Lua state with the module preloaded and two
// helpers: ns(n [, plus]) makes the sandbox's ns userdata of n+plus (plus
// keeps the sum exact beyond 2^53), and nsstr(v) returns the decimal string
// of an ns, or nil for anything else.
func newState(t *testing.T) *lua.LState {
	t.Helper()
	L := lua.NewState()
	t.Cleanup(L.Close)
	L.PreloadModule(Name, Loader)
	L.SetGlobal("ns", L.NewFunction(func(L *lua.LState) int {
		L.Push(sandbox.NewNS(L, L.CheckInt64(1)+L.OptInt64(2, 0)))
		return 1
	}))
	L.SetGlobal("nsstr", L.NewFunction(func(L *lua.LState) int {
		if ud, ok := L.Get(1).(*lua.LUserData); ok {
			if n, ok := sandbox.NSValue(L, ud); ok {
				L.Push(lua.LString(strconv.FormatInt(n, 10)))
				return 1
			}
		}
		L.Push(lua.LNil)
		return 1
	}))
	return L
}

// prelude defines step(d, n, from, to, ts) that feeds n values of `from`
// then n of `to` and returns the changes.
const prelude = `
local change = require "change"
local function step(d, n, from, to, ts)
  ts = ts or function(i) return i * 1e9 end
  local cps = {}
  for i = 1, 2 * n do
    local v = i <= n and from or to
    local cp = d:add(ts(i), v)
    if cp then cps[#cps + 1] = cp end
  end
  return cps
end
`

func TestLua(t *testing.T) {
	tests := []struct {
		name string
		code string
	}{
		{"defaults", `
local d = change.new()
assert(d:count() == 0)
assert(tostring(d) == "change.detector{window=120, min_samples=10, confidence=0.99, count=0}", tostring(d))
local d2 = change.new{}
assert(d2:count() == 0)`},
		{"step up", `
local d = change.new{window = 60, min_samples = 5, confidence = 0.999}
local cps = step(d, 50, 10, 20)
assert(#cps == 1, #cps)
local cp = cps[1]
assert(cp.index == 51, cp.index)
assert(cp.time == 51e9, cp.time)
assert(cp.direction == "up")
assert(cp.before_mean == 10 and cp.after_mean == 20)
assert(cp.before_sd == 0 and cp.after_sd == 0)
assert(cp.before_n == 50, cp.before_n)
assert(cp.after_n == 6, cp.after_n)
assert(cp.difference == 10 and cp.percent == 100)
assert(cp.confidence == 1)
assert(d:count() == 50, d:count())`},
		{"step down", `
local d = change.new{window = 60, min_samples = 5}
local cps = step(d, 50, 10, 5)
assert(#cps == 1 and cps[1].direction == "down" and cps[1].percent == -50, cps[1].percent)
assert(cps[1].difference == -5)`},
		{"percent left out when the mean before is 0", `
local cps = step(change.new(), 50, 0, 3)
assert(#cps == 1 and cps[1].percent == nil and cps[1].difference == 3)`},
		{"noise around a step", `
local d = change.new()
local seed = 42
local function rnd() seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5 end
local found
for i = 1, 400 do
  local cp = d:add(i, (i > 200 and 10 or 0) + rnd())
  if cp and cp.difference > 5 then assert(not found, "reported twice"); found = cp end
end
assert(found and found.index == 201, found and found.index)`},
		{"an ns comes back as an ns", `
local cps = step(change.new{window = 40, min_samples = 5}, 20, 1, 2, function(i) return ns(1.7e18, i) end)
assert(#cps == 1)
assert(nsstr(cps[1].time) == "1700000000000000021", tostring(nsstr(cps[1].time)))`},
		{"a decimal string comes back as a string", `
local cps = step(change.new{window = 40, min_samples = 5}, 20, 1, 2, function(i) return "17000000000000" .. (10000 + i) end)
assert(#cps == 1)
assert(cps[1].time == "1700000000000010021", cps[1].time)`},
		{"reset", `
local d = change.new()
for i = 1, 30 do d:add(i, 3) end
assert(d:count() == 30)
d:reset()
assert(d:count() == 0)`},
		{"window slides", `
local d = change.new{window = 20, min_samples = 3}
for i = 1, 100 do d:add(i, 7) end
assert(d:count() == 20)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			L := newState(t)
			if err := L.DoString(prelude + tt.code); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLuaErrors(t *testing.T) {
	tests := []struct {
		code, want string
	}{
		{`change.new{window = 0}`, "window must be positive"},
		{`change.new{window = 1.5}`, "window must be an integer"},
		{`change.new{window = 10}`, "window must be at least 2*min_samples"},
		{`change.new{window = 1e9}`, "window must be at most 100000"},
		{`change.new{window = 0/0}`, "window must be an integer"},
		{`change.new{min_samples = 1/0}`, "min_samples must be at most"},
		{`change.new{window = 200000}`, "window must be at most 100000"},
		{`change.new{min_samples = 1}`, "min_samples must be at least 2"},
		{`change.new{confidence = 1}`, "confidence must be in (0, 1)"},
		{`change.new{confidence = 0}`, "confidence must be in (0, 1)"},
		{`change.new{confidence = 0/0}`, "confidence must be in (0, 1)"},
		{`change.new{confidence = "high"}`, "confidence must be a number"},
		{`change.new{windw = 100}`, "unknown option windw"},
		{`change.new{1}`, "unknown option 1"},
		{`change.new(5)`, "table expected"},
		{`change.new():add(1, 0/0)`, "finite"},
		{`change.new():add(1, 1/0)`, "finite"},
		{`change.new():add(1, "x")`, "number expected"},
		{`change.new():add("now", 1)`, "timestamp expected"},
		{`change.new():add({}, 1)`, "timestamp expected"},
		{`change.new():add(1/0, 1)`, "timestamp expected"},
		{`change.new().add({}, 1, 1)`, "userdata expected"},
		{`local d = change.new(); getmetatable(d).__index = nil`, "index"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			L := newState(t)
			err := L.DoString(`local change = require "change"; ` + tt.code)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestLuaRestore preserves a detector in the middle of a step, restores it
// into a new state, and checks the change is found as if nothing happened,
// its time of the kind that was passed before the restore.
func TestLuaRestore(t *testing.T) {
	tests := []struct {
		name, stamp, want string
	}{
		{"number", `1.7e18 + i * 2^30`, `cp.time == 1.7e18 + 45 * 2^30`},
		{"ns", `ns(1.7e18, i)`, `nsstr(cp.time) == "1700000000000000045"`},
		{"decimal string", `"17000000000000" .. (10000 + i)`, `cp.time == "1700000000000010045"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			L1 := newState(t)
			err := L1.DoString(`
local change = require "change"
d = change.new{window = 50, min_samples = 5}
for i = 1, 48 do assert(not d:add(` + tt.stamp + `, i <= 44 and 1 or 2)) end`)
			if err != nil {
				t.Fatal(err)
			}
			data, err := L1.GetGlobal("d").(*lua.LUserData).Value.(*Detector).Preserve()
			if err != nil {
				t.Fatal(err)
			}
			L2 := newState(t)
			v, err := Restore(L2, data)
			if err != nil {
				t.Fatal(err)
			}
			L2.SetGlobal("d", v)
			err = L2.DoString(`
assert(d:count() == 48)
local cp
for i = 49, 60 do cp = cp or d:add(` + tt.stamp + `, i <= 44 and 1 or 2) end
assert(cp and cp.index == 45, cp and cp.index)
assert(` + tt.want + `, tostring(cp.time))`)
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := Restore(lua.NewState(), []byte("not json")); err == nil {
		t.Error("Restore of garbage: no error")
	}
}
