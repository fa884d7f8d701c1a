package change

import (
	"fmt"
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"

	"github.com/interoceptor/interoceptor/sandbox"
)

// Name is the module's name for require.
const Name = "change"

// TypeName names the detector's userdata type: the key of its metatable in
// the Lua registry, and the type a preserved detector is restored as.
const TypeName = "change.detector"

// Loader is the gopher-lua loader of the module: it pushes the module table
// { new = function(options) }.
func Loader(L *lua.LState) int {
	metatable(L)
	mod := L.NewTable()
	mod.RawSetString("new", L.NewFunction(luaNew))
	L.Push(mod)
	return 1
}

// Restore rebuilds a detector preserved with (*Detector).Preserve as a Lua
// value of L, methods included.
func Restore(L *lua.LState, data []byte) (lua.LValue, error) {
	d, err := unmarshal(data)
	if err != nil {
		return lua.LNil, err
	}
	return wrap(L, d), nil
}

var methods = map[string]lua.LGFunction{
	"add":   luaAdd,
	"reset": luaReset,
	"count": luaCount,
}

// metatable returns the detector's metatable, creating it on first use.
func metatable(L *lua.LState) *lua.LTable {
	mt := L.NewTypeMetatable(TypeName)
	if mt.RawGetString("__index") == lua.LNil {
		mt.RawSetString("__index", L.SetFuncs(L.NewTable(), methods))
		mt.RawSetString("__tostring", L.NewFunction(luaToString))
		mt.RawSetString("__metatable", lua.LString(TypeName)) // scripts cannot swap it
	}
	return mt
}

func wrap(L *lua.LState, d *Detector) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = d
	L.SetMetatable(ud, metatable(L))
	return ud
}

// options are the keys change.new accepts; any other key is an error.
var options = map[string]bool{"window": true, "min_samples": true, "confidence": true}

// luaNew is change.new([{window = 120, min_samples = 10, confidence = 0.99}]).
func luaNew(L *lua.LState) int {
	var cfg Config
	if opts := L.OptTable(1, nil); opts != nil {
		opts.ForEach(func(k, v lua.LValue) {
			key, ok := k.(lua.LString)
			if !ok || !options[string(key)] {
				L.ArgError(1, fmt.Sprintf("unknown option %s (window, min_samples, confidence)", lua.LVAsString(L.ToStringMeta(k))))
			}
			n, ok := v.(lua.LNumber)
			if !ok {
				L.ArgError(1, fmt.Sprintf("%s must be a number, got %s", key, v.Type()))
			}
			switch key {
			case "window", "min_samples":
				f := float64(n)
				switch {
				case f != math.Trunc(f): // NaN too
					L.ArgError(1, fmt.Sprintf("%s must be an integer, got %v", key, n))
				case f <= 0:
					L.ArgError(1, fmt.Sprintf("%s must be positive, got %v", key, n))
				case f > MaxWindow:
					L.ArgError(1, fmt.Sprintf("%s must be at most %d, got %v", key, MaxWindow, n))
				}
				if key == "window" {
					cfg.Window = int(f)
				} else {
					cfg.MinSamples = int(f)
				}
			case "confidence":
				if n == 0 {
					L.ArgError(1, "confidence must be in (0, 1), got 0")
				}
				cfg.Confidence = float64(n)
			}
		})
	}
	d, err := New(cfg)
	if err != nil {
		L.ArgError(1, err.Error())
	}
	L.Push(wrap(L, d))
	return 1
}

func check(L *lua.LState) *Detector {
	if d, ok := L.CheckUserData(1).Value.(*Detector); ok {
		return d
	}
	L.ArgError(1, "change detector expected")
	return nil
}

// luaAdd is d:add(ts, value) → nil or a change table.
func luaAdd(L *lua.LState) int {
	d := check(L)
	tsv := L.CheckAny(2)
	ts, ok := sandbox.NSValue(L, tsv)
	if !ok {
		L.ArgError(2, "timestamp expected (an ns, a number or a decimal string of ns), got "+tsv.Type().String())
	}
	p := point{ts: ts, v: float64(L.CheckNumber(3)), kind: tsNS}
	switch tsv.(type) {
	case lua.LNumber:
		p.kind = tsNumber
	case lua.LString:
		p.kind = tsString
	}
	cp, err := d.add(p)
	if err != nil {
		L.ArgError(3, err.Error())
	}
	if cp == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(cp.table(L))
	return 1
}

// table converts a change to the table d:add returns.
func (cp *ChangePoint) table(L *lua.LState) *lua.LTable {
	t := L.CreateTable(0, 13)
	t.RawSetString("time", cp.timeValue(L))
	t.RawSetString("index", lua.LNumber(cp.Index))
	t.RawSetString("before_mean", lua.LNumber(cp.Before.Mean))
	t.RawSetString("after_mean", lua.LNumber(cp.After.Mean))
	t.RawSetString("before_sd", lua.LNumber(cp.Before.SD))
	t.RawSetString("after_sd", lua.LNumber(cp.After.SD))
	t.RawSetString("before_n", lua.LNumber(cp.Before.N))
	t.RawSetString("after_n", lua.LNumber(cp.After.N))
	t.RawSetString("difference", lua.LNumber(cp.Difference))
	if !math.IsNaN(cp.Percent) {
		t.RawSetString("percent", lua.LNumber(cp.Percent))
	}
	t.RawSetString("confidence", lua.LNumber(cp.Confidence))
	t.RawSetString("direction", lua.LString(cp.Direction))
	return t
}

// timeValue hands the change's time back as the kind the caller passed
// for that value: a number, an ns or a decimal string.
func (cp *ChangePoint) timeValue(L *lua.LState) lua.LValue {
	switch cp.timeKind {
	case tsNumber:
		return lua.LNumber(cp.Time)
	case tsString:
		return lua.LString(strconv.FormatInt(cp.Time, 10))
	}
	return sandbox.NewNS(L, cp.Time)
}

// luaReset is d:reset(): forget every value.
func luaReset(L *lua.LState) int {
	check(L).Reset()
	return 0
}

// luaCount is d:count() → the number of values in the window.
func luaCount(L *lua.LState) int {
	L.Push(lua.LNumber(check(L).Len()))
	return 1
}

func luaToString(L *lua.LState) int {
	d := check(L)
	L.Push(lua.LString(fmt.Sprintf("%s{window=%d, min_samples=%d, confidence=%g, count=%d}",
		TypeName, d.cfg.Window, d.cfg.MinSamples, d.cfg.Confidence, d.Len())))
	return 1
}
