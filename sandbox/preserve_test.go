package sandbox

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	lua "github.com/yuin/gopher-lua"
)

// test_box is a Go module for the tests: box.new(n) returns a userdata
// holding n, with get and set methods; it can be preserved. test_opaque
// returns a userdata that cannot.
type box struct{ n int64 }

func (b *box) Preserve() ([]byte, error) { return []byte(strconv.FormatInt(b.n, 10)), nil }
func (b *box) SizeBytes() int64          { return 8 }

const boxType = "test_box"

func boxMetatable(L *lua.LState) *lua.LTable {
	mt := L.NewTypeMetatable(boxType)
	mt.RawSetString("__index", L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"get": func(L *lua.LState) int {
			L.Push(lua.LNumber(L.CheckUserData(1).Value.(*box).n))
			return 1
		},
		"set": func(L *lua.LState) int {
			L.CheckUserData(1).Value.(*box).n = L.CheckInt64(2)
			return 0
		},
	}))
	return mt
}

func init() {
	RegisterModule("test_box", func(L *lua.LState) int {
		mod := L.NewTable()
		mod.RawSetString("new", L.NewFunction(func(L *lua.LState) int {
			ud := L.NewUserData()
			ud.Value = &box{n: L.CheckInt64(1)}
			ud.Metatable = boxMetatable(L)
			L.Push(ud)
			return 1
		}))
		L.Push(mod)
		return 1
	})
	RegisterRestore(boxType, func(L *lua.LState, data []byte) (lua.LValue, error) {
		n, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return nil, err
		}
		ud := L.NewUserData()
		ud.Value = &box{n: n}
		ud.Metatable = boxMetatable(L)
		return ud, nil
	})
	RegisterModule("test_panic", func(L *lua.LState) int {
		mod := L.NewTable()
		mod.RawSetString("boom", L.NewFunction(func(L *lua.LState) int { panic("boom") }))
		L.Push(mod)
		return 1
	})
	// test_busy.spin(ms) keeps its thread busy for ms milliseconds of CPU
	// time, calling Check as a module must.
	RegisterModule("test_busy", func(L *lua.LState) int {
		mod := L.NewTable()
		mod.RawSetString("spin", L.NewFunction(func(L *lua.LState) int {
			cpu, _ := ownThreadCPU()
			until := cpu + time.Duration(L.CheckNumber(1))*time.Millisecond
			for n := 0; ; n++ {
				if n%1000 == 0 {
					Check(L)
					if now, ok := ownThreadCPU(); !ok || now >= until {
						return 0
					}
				}
			}
		}))
		L.Push(mod)
		return 1
	})
	RegisterModule("test_opaque", func(L *lua.LState) int {
		mod := L.NewTable()
		mod.RawSetString("new", L.NewFunction(func(L *lua.LState) int {
			ud := L.NewUserData()
			ud.Value = struct{}{}
			L.Push(ud)
			return 1
		}))
		L.Push(mod)
		return 1
	})
}

const preservedScript = `
_PRESERVATION_VERSION = %s
local box = require("test_box")
count = 0
names = {"a", "b"}
nested = {x = {y = {z = 1}}, [1] = true, [2.5] = "half", [true] = "yes", [-3] = "neg"}
shared = {v = 1}
refs = {one = shared, two = shared}
cycle = {}
cycle.self = cycle
when = ns("1700000000123456789")
binary = "\0\255\1"
nan, inf, ninf = 0/0, 1/0, -1/0
big = 2^53 + 2
mixed = {fn = print, data = 1, lib = string}
boxed = box.new(7)
opaque = require("test_opaque").new()
local hidden = "locals are not globals"
function helper() end

function process_message()
  count = count + 1
  names[#names + 1] = read_message("Type")
  boxed:set(boxed:get() + 1)
  when = read_message("Timestamp")
end`

func TestPreserveRoundTrip(t *testing.T) {
	log, logs := logBuffer()
	src := strings.Replace(preservedScript, "%s", "1", 1)
	old, _ := newSandbox(t, src, func(o *Options) { o.Log = log })
	for i := range 3 {
		if _, err := old.ProcessMessage(&pipeline.Message{Type: "t" + strconv.Itoa(i), Timestamp: 1700000000987654321}); err != nil {
			t.Fatal(err)
		}
	}
	data, err := old.Preserve()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatalf("not JSON: %s", data)
	}
	if !strings.Contains(logs.String(), "opaque") {
		t.Errorf("no warning about the userdata that cannot be preserved: %s", logs.String())
	}
	for _, leak := range []string{"locals are not", "helper", "read_message", `"string"`} {
		if strings.Contains(string(data), leak) {
			t.Errorf("preserved data holds %q: %s", leak, data)
		}
	}

	s, _ := newSandbox(t, src)
	ok, reason, err := s.Restore(data)
	if !ok || err != nil {
		t.Fatalf("Restore: %v, %q, %v", ok, reason, err)
	}
	runEvalCases(t, s, []evalCase{
		{`count`, "3"},
		{`table.concat(names, ",")`, "a,b,t0,t1,t2"},
		{`nested.x.y.z, nested[1], nested[2.5], nested[true], nested[-3]`, "1 true half yes neg"},
		{`refs.one == refs.two, refs.one == shared, refs.one.v`, "true true 1"},
		{`cycle.self == cycle`, "true"},
		{`tostring(when), type(when)`, "1700000000987654321 userdata"},
		{`binary == "\0\255\1"`, "true"},
		{`nan ~= nan, inf == 1/0, ninf == -1/0`, "true true true"},
		{`big == 2^53 + 2`, "true"},
		{`mixed.fn, mixed.data, mixed.lib`, "nil 1 nil"},
		{`boxed:get()`, "10"},
		{`type(opaque), type(helper), string.format("%d", 1)`, "userdata function 1"},
		{`_PRESERVATION_VERSION`, "1"},
	})
	// The restored state runs on.
	if _, err := s.ProcessMessage(&pipeline.Message{Type: "t3"}); err != nil {
		t.Fatal(err)
	}
	runEvalCases(t, s, []evalCase{{`count, boxed:get(), names[#names]`, "4 11 t3"}})

	// Preserve is deterministic.
	again, err := old.Preserve()
	if err != nil || string(again) != string(data) {
		t.Errorf("a second Preserve differs")
	}
}

func TestPreserveVersion(t *testing.T) {
	for _, tc := range []struct {
		saved, current string
		restored       bool
	}{
		{"1", "1", true},
		{"1", "2", false},
		{`"v1"`, `"v1"`, true},
		{`"v1"`, `"v2"`, false},
		{"nil", "nil", true},
		{"nil", "1", false},
		{"1", "nil", false},
	} {
		t.Run(tc.saved+"→"+tc.current, func(t *testing.T) {
			old, _ := newSandbox(t, strings.Replace(preservedScript, "%s", tc.saved, 1))
			if _, err := old.ProcessMessage(&pipeline.Message{Type: "x"}); err != nil {
				t.Fatal(err)
			}
			data, err := old.Preserve()
			if err != nil {
				t.Fatal(err)
			}
			s, _ := newSandbox(t, strings.Replace(preservedScript, "%s", tc.current, 1))
			ok, reason, err := s.Restore(data)
			if err != nil || ok != tc.restored {
				t.Fatalf("Restore: %v, %q, %v; want restored %v", ok, reason, err, tc.restored)
			}
			want := "1"
			if !ok {
				want = "0"
				if !strings.Contains(reason, "_PRESERVATION_VERSION") {
					t.Errorf("reason %q", reason)
				}
			}
			runEvalCases(t, s, []evalCase{{`count`, want}})
		})
	}
}

func TestRestoreErrors(t *testing.T) {
	s, _ := newSandbox(t, "x = 1")
	for _, data := range []string{
		``, `{`, `{"format": "other", "version": 1}`,
		`{"format": "interoceptor.lua.preserve", "version": 99}`,
		`{"format": "interoceptor.lua.preserve", "version": 1, "preservation_version": null, "globals": {"t": [["x", {"ud": "nobody", "data": ""}]]}}`,
		`{"format": "interoceptor.lua.preserve", "version": 1, "preservation_version": null, "globals": {"t": [["x", {"ref": 9}]]}}`,
		`{"format": "interoceptor.lua.preserve", "version": 1, "preservation_version": null, "globals": {"t": [["x"]]}}`,
		`{"format": "interoceptor.lua.preserve", "version": 1, "preservation_version": null, "globals": "x"}`,
	} {
		ok, _, err := s.Restore([]byte(data))
		if ok || err == nil {
			t.Errorf("Restore(%s) = %v, %v; want an error", data, ok, err)
		}
		var te *TerminatedError
		if errors.As(err, &te) {
			t.Fatalf("Restore(%s) terminated the sandbox", data)
		}
	}
	runEvalCases(t, s, []evalCase{{`x`, "1"}}) // nothing was restored
}

// Restored data over the memory limit terminates the sandbox.
func TestRestoreOverLimit(t *testing.T) {
	big, _ := newSandbox(t, `data = {} for i = 1, 20000 do data[i] = string.rep("x", 100) .. i end`,
		func(o *Options) { o.Limits.CallTime = 5 * time.Second })
	data, err := big.Preserve()
	if err != nil {
		t.Fatal(err)
	}
	small, _ := newSandbox(t, "", func(o *Options) { o.Limits.MemoryBytes = 1 << 20 })
	_, _, err = small.Restore(data)
	wantTerminated(t, err, ReasonMemory)
}

func TestPreserveTooDeep(t *testing.T) {
	s, _ := newSandbox(t, `deep = {} local t = deep for i = 1, 2000 do t.next = {} t = t.next end`)
	if _, err := s.Preserve(); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("Preserve: %v", err)
	}
}
