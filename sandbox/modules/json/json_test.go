package json

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

func newState(t testing.TB) *lua.LState {
	t.Helper()
	L := lua.NewState()
	t.Cleanup(L.Close)
	L.PreloadModule(Name, Loader)
	if err := L.DoString(`json = require "json"`); err != nil {
		t.Fatal(err)
	}
	return L
}

// eval runs `return <expr>` and returns its two results.
func eval(t *testing.T, L *lua.LState, expr string) (lua.LValue, lua.LValue) {
	t.Helper()
	top := L.GetTop()
	if err := L.DoString("return " + expr); err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	defer L.SetTop(top)
	return L.Get(top + 1), L.Get(top + 2)
}

func TestEncode(t *testing.T) {
	tests := []struct {
		lua  string // a Lua expression
		want string
	}{
		{`nil`, `null`},
		{`json.null`, `null`},
		{`true`, `true`},
		{`false`, `false`},
		{`0`, `0`},
		{`-0`, `0`},
		{`42`, `42`},
		{`-17`, `-17`},
		{`2^53`, `9007199254740992`},
		{`-2^53`, `-9007199254740992`},
		{`2^53 + 2`, `9007199254740994`},
		{`2^60`, `1152921504606847000`}, // shortest text that reads back the same
		{`1e21`, `1e+21`},
		{`1.5`, `1.5`},
		{`-0.1`, `-0.1`},
		{`1/3`, `0.3333333333333333`},
		{`1e-7`, `1e-7`},
		{`1.5e300`, `1.5e+300`},
		{`""`, `""`},
		{`"héllo"`, `"héllo"`},
		{`"a\"b\\c\n\r\t\1\31"`, `"a\"b\\c\n\r\t\u0001\u001f"`},
		{`"\255ok"`, `"\ufffdok"`},
		{`"\226\128\168"`, `"\u2028"`},
		{`"</script>&"`, `"</script>&"`},
		{`{}`, `{}`},
		{`{1, 2, 3}`, `[1,2,3]`},
		{`{"a", json.null, "c"}`, `["a",null,"c"]`},
		{`{[1] = "x", [2] = "y"}`, `["x","y"]`},
		{`{[2] = "y"}`, `{"2":"y"}`},
		{`{[1] = "x", [3] = "z"}`, `{"1":"x","3":"z"}`},
		{`{[1.5] = "x"}`, `{"1.5":"x"}`},
		{`{1, 2, x = 3}`, `{"1":1,"2":2,"x":3}`},
		{`{b = 1, a = {c = {true}}, [""] = 0}`, `{"":0,"a":{"c":[true]},"b":1}`},
		{`{{}, {{}}}`, `[{},[{}]]`},
	}
	L := newState(t)
	for _, tt := range tests {
		got, msg := eval(t, L, "json.encode("+tt.lua+")")
		if got.String() != tt.want || msg != lua.LNil {
			t.Errorf("json.encode(%s) = %s, %s; want %s", tt.lua, got, msg, tt.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		setup, lua, want string
	}{
		{``, `0/0`, "no NaN or infinity"},
		{``, `1/0`, "no NaN or infinity"},
		{``, `{x = -1/0}`, "no NaN or infinity"},
		{``, `{[1/0] = 1, 2}`, "no NaN or infinity"},
		{``, `print`, "cannot encode a function"},
		{``, `{f = print}`, "cannot encode a function"},
		{``, `coroutine.create(print)`, "cannot encode a thread"},
		{``, `{[true] = 1}`, "key of type boolean"},
		{``, `{[{}] = 1}`, "key of type table"},
		{``, `{[1] = "a", ["1"] = "b", [3] = 1}`, `two keys written "1"`},
		{`t = {}; t.self = t`, `t`, "contains itself"},
		{`t = {1, {}}; t[2][1] = t`, `t`, "contains itself"},
		{`t = {}; for i = 1, 100 do t = {t} end`, `t`, "nested more than 100 deep"},
	}
	for _, tt := range tests {
		L := newState(t)
		if err := L.DoString(tt.setup); err != nil {
			t.Fatal(err)
		}
		got, msg := eval(t, L, "json.encode("+tt.lua+")")
		if got != lua.LNil || !strings.Contains(msg.String(), tt.want) {
			t.Errorf("json.encode(%s) = %s, %q; want nil and %q", tt.lua, got, msg, tt.want)
		}
	}
	// Shared, not cyclic: fine. 99 levels inside the outer table: fine.
	L := newState(t)
	if err := L.DoString(`
local s = {1}
assert(json.encode({s, s, {s}}) == "[[1],[1],[[1]]]")
local t = {}
for i = 1, 99 do t = {t} end
assert(json.encode(t))`); err != nil {
		t.Error(err)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		json  string
		check string // a Lua expression of v that must be true
	}{
		{`null`, `v == json.null`},
		{`true`, `v == true`},
		{`false`, `v == false`},
		{` 42 `, `v == 42`},
		{`-1.5e3`, `v == -1500`},
		{`1e-400`, `v == 0`},
		{`9007199254740993`, `v == 2^53`},
		{`"a\u00e9\n\"\ud83d\ude00"`, `v == "aé\n\"😀"`},
		{`"\ud800"`, `v == "\239\191\189"`},
		{`[]`, `type(v) == "table" and next(v) == nil`},
		{`{}`, `type(v) == "table" and next(v) == nil`},
		{`[1, "two", null, [3]]`, `#v == 4 and v[1] == 1 and v[2] == "two" and v[3] == json.null and v[4][1] == 3`},
		{`{"a": {"b": [true]}, "": 0, "1": "one"}`, `v.a.b[1] == true and v[""] == 0 and v["1"] == "one" and v[1] == nil`},
		{`{"k": 1, "k": 2}`, `v.k == 2`},
		{`{"n": null}`, `v.n == json.null`},
	}
	L := newState(t)
	for _, tt := range tests {
		L.SetGlobal("text", lua.LString(tt.json))
		if err := L.DoString(`local v, err = json.decode(text); assert(err == nil, err); assert(` + tt.check + `)`); err != nil {
			t.Errorf("json.decode(%s): %v", tt.json, err)
		}
	}
	if err := L.DoString(`assert(tostring(json.null) == "null")`); err != nil {
		t.Error(err)
	}
	if v, err := RestoreNull(L, nil); err != nil || v != Null(L) || !IsNull(v) {
		t.Errorf("RestoreNull = %v, %v; want the state's json.null", v, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		json, want string
	}{
		{``, "unexpected end of input"},
		{`   `, "unexpected end of input"},
		{`[1, 2`, "unexpected end of input"},
		{`{"a":`, "unexpected end of input"},
		{`[1,]`, "invalid character"},
		{`{a: 1}`, "invalid character"},
		{`{"a" 1}`, "invalid character"},
		{`nul`, "unexpected end of input"},
		{`nulL`, "invalid character"},
		{`'x'`, "invalid character"},
		{`NaN`, "invalid character"},
		{`01`, "unexpected data after the value"},
		{`1 2`, "unexpected data after the value"},
		{`{} x`, "invalid character"},
		{`1e400`, "number 1e400 is out of range"},
		{`-1e400`, "out of range"},
		{strings.Repeat("[", 101) + strings.Repeat("]", 101), "nested more than 100 deep"},
		{strings.Repeat(`{"a":`, 101) + "1" + strings.Repeat("}", 101), "nested more than 100 deep"},
	}
	for _, tt := range tests {
		L := newState(t)
		L.SetGlobal("text", lua.LString(tt.json))
		v, msg := eval(t, L, "json.decode(text)")
		if v != lua.LNil || !strings.Contains(msg.String(), tt.want) || !strings.HasPrefix(msg.String(), "json: offset ") {
			t.Errorf("json.decode(%.40s) = %s, %q; want nil and %q", tt.json, v, msg, tt.want)
		}
	}
	L := newState(t)
	L.SetGlobal("text", lua.LString(strings.Repeat("[", 100)+strings.Repeat("]", 100)))
	if v, msg := eval(t, L, "json.decode(text)"); v == lua.LNil {
		t.Errorf("100 levels: %s", msg)
	}
	if err := L.DoString(`json.decode({})`); err == nil || !strings.Contains(err.Error(), "string expected") {
		t.Errorf("json.decode({}): %v, want a raised argument error", err)
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []string{
		`null`, `true`, `0`, `-12`, `0.1`, `1e+300`, `"x\ny"`, `{}`,
		`[1,2,3]`, `[null,null]`, `[[],{}]`,
		`{"a":[1,{"b":null}],"c":"d"}`,
		`{"1":1,"2":2}`,
		`[9007199254740992,-9007199254740992,1.7976931348623157e+308,5e-324]`,
	}
	L := newState(t)
	for _, text := range tests {
		L.SetGlobal("text", lua.LString(text))
		got, msg := eval(t, L, "json.encode(assert(json.decode(text)))")
		want := text
		if text == `[[],{}]` {
			want = `[{},{}]` // an empty table is written {}
		}
		if got.String() != want {
			t.Errorf("round trip of %s: %s %s", text, got, msg)
		}
	}
}

// FuzzDecode checks decode never panics and that what it returns encodes,
// and encodes to a fixed point after one round.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"\ud83d\ude00"`, `1e400`, `[[[[]]]]`, `{"1":1,"2":2}`} {
		f.Add(s)
	}
	L := newState(f)
	f.Fuzz(func(t *testing.T, text string) {
		v, err := Decode(L, []byte(text))
		if err != nil {
			return
		}
		first, err := Encode(v)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", text, err)
		}
		v2, err := Decode(L, first)
		if err != nil {
			t.Fatalf("cannot decode %s (from %q): %v", first, text, err)
		}
		second, err := Encode(v2)
		if err != nil || string(second) != string(first) {
			t.Fatalf("%q: encodes to %s then %s (%v)", text, first, second, err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	L := newState(b)
	if err := L.DoString(`v = {host = "web-1", fields = {cpu = 0.93, mem = 12345678, tags = {"a", "b", "c"}}, ok = true}`); err != nil {
		b.Fatal(err)
	}
	v := L.GetGlobal("v")
	for b.Loop() {
		if _, err := Encode(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	L := newState(b)
	text := []byte(`{"host":"web-1","fields":{"cpu":0.93,"mem":12345678,"tags":["a","b","c"]},"ok":true}`)
	for b.Loop() {
		if _, err := Decode(L, text); err != nil {
			b.Fatal(err)
		}
	}
}
