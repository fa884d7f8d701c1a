package anomaly

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/interoceptor/interoceptor/sandbox"
)

// Name is the module's name for require.
const Name = "anomaly"

// The userdata types: the keys of their metatables in the Lua registry,
// and the types preserved values are restored as.
const (
	DetectorType = "anomaly.detector"
	SetType      = "anomaly.set"
)

// Loader is the gopher-lua loader of the module: it pushes the module table
// { new = function(options), set = function(options) }.
func Loader(L *lua.LState) int {
	detectorMetatable(L)
	setMetatable(L)
	mod := L.NewTable()
	mod.RawSetString("new", L.NewFunction(luaNew))
	mod.RawSetString("set", L.NewFunction(luaNewSet))
	L.Push(mod)
	return 1
}

var detectorMethods = map[string]lua.LGFunction{"add": luaAdd, "count": luaCount}

var setMethods = map[string]lua.LGFunction{
	"process": luaProcess, "ignored": luaIgnored, "len": luaLen, "max_series": luaMaxSeries,
}

func detectorMetatable(L *lua.LState) *lua.LTable {
	return typeMetatable(L, DetectorType, detectorMethods)
}

func setMetatable(L *lua.LState) *lua.LTable { return typeMetatable(L, SetType, setMethods) }

func typeMetatable(L *lua.LState, name string, methods map[string]lua.LGFunction) *lua.LTable {
	mt := L.NewTypeMetatable(name)
	if mt.RawGetString("__index") == lua.LNil {
		mt.RawSetString("__index", L.SetFuncs(L.NewTable(), methods))
		mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
			L.Push(lua.LString(name))
			return 1
		}))
		mt.RawSetString("__metatable", lua.LString(name)) // scripts cannot swap it
	}
	return mt
}

func wrap(L *lua.LState, v any, mt *lua.LTable) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = v
	L.SetMetatable(ud, mt)
	return ud
}

// config reads a detector's options from a Lua table (nil: defaults).
func config(L *lua.LState, t *lua.LTable) (Config, error) {
	var c Config
	if t == nil {
		return c, nil
	}
	ints := map[string]*int{"bins": &c.Bins, "warmup": &c.Warmup, "rest": &c.Rest, "memory": &c.Memory,
		"jump_window": &c.JumpWindow, "jump_after": &c.JumpAfter, "jump_after_long": &c.JumpAfterLong, "flat_run": &c.FlatRun}
	floats := map[string]*float64{"step_scale": &c.StepScale, "jump_t": &c.JumpT, "jump_min": &c.JumpMin, "threshold": &c.Threshold}
	var err error
	t.ForEach(func(k, v lua.LValue) {
		name, _ := k.(lua.LString)
		n, isNum := v.(lua.LNumber)
		switch {
		case err != nil:
		case ints[string(name)] != nil && isNum && float64(n) == float64(int(n)):
			*ints[string(name)] = int(n)
		case floats[string(name)] != nil && isNum:
			*floats[string(name)] = float64(n)
		case ints[string(name)] != nil || floats[string(name)] != nil:
			err = fmt.Errorf("%s must be a number%s, got %s", name, map[bool]string{true: " (an integer)"}[ints[string(name)] != nil], v.Type())
		case setKeys[string(name)]:
		default:
			err = fmt.Errorf("unknown option %q", lua.LVAsString(k))
		}
	})
	if err != nil {
		return c, err
	}
	return c, c.WithDefaults().Validate()
}

// setKeys are the options of anomaly.set beyond a detector's.
var setKeys = map[string]bool{"field": true, "tags": true, "max_series": true, "counter": true}

// anomaly.new([options]) → a detector.
func luaNew(L *lua.LState) int {
	c, err := config(L, L.OptTable(1, nil))
	if err == nil {
		for _, k := range []string{"field", "tags", "max_series", "counter"} {
			if t := L.OptTable(1, nil); t != nil && t.RawGetString(k) != lua.LNil {
				err = fmt.Errorf("%s is an option of anomaly.set, not of anomaly.new", k)
			}
		}
	}
	if err != nil {
		L.ArgError(1, err.Error())
	}
	L.Push(wrap(L, New(c), detectorMetatable(L)))
	return 1
}

// anomaly.set{field = ..., tags = {...}, max_series = n, <detector options>} → a set.
func luaNewSet(L *lua.LState) int {
	t := L.CheckTable(1)
	c, err := config(L, t)
	if err != nil {
		L.ArgError(1, err.Error())
	}
	sc := SetConfig{Detector: c}
	field, ok := t.RawGetString("field").(lua.LString)
	if !ok || field == "" {
		L.ArgError(1, "field is required: the name of the field to watch")
	}
	sc.Field = string(field)
	switch tags := t.RawGetString("tags").(type) {
	case *lua.LNilType:
	case *lua.LTable:
		sc.Tags = []string{}
		for i := 1; i <= tags.Len(); i++ {
			s, ok := tags.RawGetInt(i).(lua.LString)
			if !ok || s == "" {
				L.ArgError(1, "tags must be a list of tag names")
			}
			sc.Tags = append(sc.Tags, string(s))
		}
	default:
		L.ArgError(1, "tags must be a list of tag names")
	}
	switch c := t.RawGetString("counter").(type) {
	case *lua.LNilType:
	case lua.LBool:
		sc.Counter = bool(c)
	default:
		L.ArgError(1, "counter must be a boolean")
	}
	switch n := t.RawGetString("max_series").(type) {
	case *lua.LNilType:
	case lua.LNumber:
		sc.MaxSeries = int(n)
		if float64(n) != float64(int(n)) || n < 1 {
			L.ArgError(1, "max_series must be an integer of at least 1")
		}
	default:
		L.ArgError(1, "max_series must be a number")
	}
	set, err := NewSet(sc)
	if err != nil {
		L.ArgError(1, err.Error())
	}
	L.Push(wrap(L, set, setMetatable(L)))
	return 1
}

func checkDetector(L *lua.LState) *Detector {
	ud := L.CheckUserData(1)
	d, ok := ud.Value.(*Detector)
	if !ok {
		L.ArgError(1, "anomaly detector expected")
	}
	return d
}

func checkSet(L *lua.LState) *Set {
	ud := L.CheckUserData(1)
	s, ok := ud.Value.(*Set)
	if !ok {
		L.ArgError(1, "anomaly set expected")
	}
	return s
}

// d:add(ts, value) → score, event or nil.
func luaAdd(L *lua.LState) int {
	d := checkDetector(L)
	tsv := L.CheckAny(2)
	ts, ok := sandbox.NSValue(L, tsv)
	if !ok {
		L.ArgError(2, "timestamp expected (an ns, a number or a decimal string of ns), got "+tsv.Type().String())
	}
	v := float64(L.CheckNumber(3))
	score, ev := d.Add(ts, v)
	L.Push(lua.LNumber(score))
	if ev == nil {
		return 1
	}
	L.Push(eventTable(L, ev, nil))
	return 2
}

func luaCount(L *lua.LState) int {
	L.Push(lua.LNumber(checkDetector(L).Count()))
	return 1
}

// set:process() → score, event or nil; nil when the message has not the
// field or its series is beyond max_series; nil and a message when the
// field is not a number.
func luaProcess(L *lua.LState) int {
	set := checkSet(L)
	m := sandbox.CurrentMessage(L)
	if m == nil {
		L.RaiseError("set:process() reads the message process_message is handling: call it there")
	}
	score, ev, s, err := set.Process(m)
	switch {
	case err == ErrNoField || (err == nil && s == nil):
		L.Push(lua.LNil)
		return 1
	case err != nil:
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(lua.LNumber(score))
	if ev == nil {
		return 1
	}
	L.Push(eventTable(L, ev, s))
	return 2
}

func luaIgnored(L *lua.LState) int {
	L.Push(lua.LNumber(checkSet(L).Ignored()))
	return 1
}

func luaLen(L *lua.LState) int {
	L.Push(lua.LNumber(checkSet(L).Len()))
	return 1
}

func luaMaxSeries(L *lua.LState) int {
	L.Push(lua.LNumber(checkSet(L).MaxSeries()))
	return 1
}

// eventTable is an event as Lua sees it; with s, its series too.
func eventTable(L *lua.LState, ev *Event, s *Series) *lua.LTable {
	t := L.CreateTable(0, 14)
	t.RawSetString("kind", lua.LString(ev.Kind))
	t.RawSetString("score", lua.LNumber(ev.Score))
	t.RawSetString("time", sandbox.NewNS(L, ev.Time))
	t.RawSetString("change_time", sandbox.NewNS(L, ev.ChangeTime))
	t.RawSetString("value", lua.LNumber(ev.Value))
	t.RawSetString("before", lua.LNumber(ev.Before))
	t.RawSetString("after", lua.LNumber(ev.After))
	t.RawSetString("direction", lua.LString(ev.Direction()))
	t.RawSetString("change_point", lua.LBool(ev.ChangePoint()))
	if s != nil {
		t.RawSetString("series", lua.LString(s.Measurement))
		t.RawSetString("key", lua.LString(s.Key))
		tags := L.CreateTable(0, len(s.Tags))
		for _, tag := range s.Tags {
			tags.RawSetString(tag.Name, lua.LString(tag.Value))
		}
		t.RawSetString("tags", tags)
	}
	return t
}
