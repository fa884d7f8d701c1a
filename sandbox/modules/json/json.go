// Package json is the Lua module "json": json.encode(value) and
// json.decode(text), with json.null standing for JSON's null where Lua's nil
// cannot (inside arrays). Bad input is not an error raised in the script:
// both functions return nil and a message, as cjson's safe mode does.
//
// Lua use and the exact mapping are described in the package README.
package json

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	lua "github.com/yuin/gopher-lua"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/sandbox"
)

// Name is the module's name for require.
const Name = "json"

// MaxDepth is the deepest nesting of tables (encode) and of arrays and
// objects (decode) accepted; the outermost counts as 1.
const MaxDepth = 100

// Loader is the gopher-lua loader of the module: it pushes the module table
// { encode = function, decode = function, null = <sentinel> }.
func Loader(L *lua.LState) int {
	mod := L.NewTable()
	mod.RawSetString("encode", L.NewFunction(luaEncode))
	mod.RawSetString("decode", L.NewFunction(luaDecode))
	mod.RawSetString("null", Null(L))
	L.Push(mod)
	return 1
}

// nullValue marks the json.null userdata.
type nullValue struct{}

// Preserve lets the sandbox keep json.null in preserved globals; Restore
// turns it back into the state's json.null.
func (nullValue) Preserve() ([]byte, error) { return nil, nil }

// NullTypeName names json.null's metatable in the Lua registry, the type
// under which the sandbox preserves it.
const NullTypeName = "json.null"

// nullKey is where a state keeps its json.null, in the Lua registry.
const nullKey = "json.null.value"

// Null returns L's json.null: one userdata per state, created on first use,
// so that v == json.null works in scripts. tostring(json.null) is "null".
func Null(L *lua.LState) lua.LValue {
	reg := L.Get(lua.RegistryIndex).(*lua.LTable)
	if v := reg.RawGetString(nullKey); v != lua.LNil {
		return v
	}
	ud := L.NewUserData()
	ud.Value = nullValue{}
	mt := L.NewTypeMetatable(NullTypeName)
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("null"))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString(NullTypeName))
	L.SetMetatable(ud, mt)
	reg.RawSetString(nullKey, ud)
	return ud
}

// RestoreNull is the sandbox's restore function for json.null: whatever
// was preserved, it is the state's json.null.
func RestoreNull(L *lua.LState, _ []byte) (lua.LValue, error) { return Null(L), nil }

// IsNull reports whether v is a json.null (of any state).
func IsNull(v lua.LValue) bool {
	ud, ok := v.(*lua.LUserData)
	if !ok {
		return false
	}
	_, ok = ud.Value.(nullValue)
	return ok
}

// luaEncode is json.encode(value) → text, or nil and a message.
func luaEncode(L *lua.LState) int {
	e := encoder{visiting: map[*lua.LTable]bool{}, L: L}
	err := e.value(L.CheckAny(1), 0)
	out := e.buf
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(lua.LString(out))
	return 1
}

// luaDecode is json.decode(text) → value, or nil and a message.
func luaDecode(L *lua.LState) int {
	v, err := Decode(L, []byte(L.CheckString(1)))
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(v)
	return 1
}

// Encode returns the JSON text of v:
//   - nil and json.null → null; booleans; strings (invalid UTF-8 becomes
//     U+FFFD, as in encoding/json);
//   - numbers: integers within ±2^53 without a fraction, others as
//     encoding/json writes them; NaN and ±Inf are errors;
//   - a table whose keys are exactly 1..n → an array; an empty table → {};
//     any other table → an object, keys sorted, number keys written as
//     strings; other key types, two keys with the same text, cycles and
//     nesting deeper than MaxDepth are errors;
//   - functions, threads, channels and userdata (but json.null) are errors.
func Encode(v lua.LValue) ([]byte, error) {
	e := encoder{visiting: map[*lua.LTable]bool{}}
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	return e.buf, nil
}

type encoder struct {
	buf      []byte
	visiting map[*lua.LTable]bool
	L        *lua.LState // the calling state, for the sandbox's limits; nil from Encode
	steps    int
}

// checkEvery is how many values the encoder and the decoder handle between
// two checks of the sandbox's limits.
const checkEvery = 4096

func (e *encoder) value(v lua.LValue, depth int) error {
	if e.steps++; e.L != nil && e.steps%checkEvery == 0 {
		sandbox.Check(e.L)
	}
	switch v := v.(type) {
	case *lua.LNilType:
		e.buf = append(e.buf, "null"...)
	case lua.LBool:
		e.buf = strconv.AppendBool(e.buf, bool(v))
	case lua.LNumber:
		b, err := appendNumber(e.buf, float64(v))
		if err != nil {
			return err
		}
		e.buf = b
	case lua.LString:
		e.buf = pipeline.AppendJSONString(e.buf, string(v))
	case *lua.LTable:
		return e.table(v, depth+1)
	case *lua.LUserData:
		if !IsNull(v) {
			return errors.New("cannot encode a userdata")
		}
		e.buf = append(e.buf, "null"...)
	default:
		return fmt.Errorf("cannot encode a %s", v.Type())
	}
	return nil
}

// maxExactInt is 2^53: integers up to it are exact as float64.
const maxExactInt = 1 << 53

func appendNumber(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("cannot encode %v: JSON has no NaN or infinity", f)
	}
	if f == math.Trunc(f) && math.Abs(f) <= maxExactInt {
		return strconv.AppendInt(b, int64(f), 10), nil
	}
	// As encoding/json: plain notation from 1e-6 to 1e21, else an exponent
	// without a leading zero (1e-07 → 1e-7).
	abs := math.Abs(f)
	if abs < 1e-6 || abs >= 1e21 {
		n := len(b)
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		if m := len(b); m-n >= 4 && b[m-4] == 'e' && b[m-3] == '-' && b[m-2] == '0' {
			b[m-2] = b[m-1]
			b = b[:m-1]
		}
		return b, nil
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), nil
}

func (e *encoder) table(t *lua.LTable, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("cannot encode tables nested more than %d deep", MaxDepth)
	}
	if e.visiting[t] {
		return errors.New("cannot encode a table that contains itself")
	}
	e.visiting[t] = true
	defer delete(e.visiting, t)

	n, maxInt, onlyInts := 0, 0, true
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		n++
		if onlyInts {
			f, ok := k.(lua.LNumber)
			if ok && float64(f) == math.Trunc(float64(f)) && f >= 1 && f <= math.MaxInt32 {
				maxInt = max(maxInt, int(f))
			} else {
				onlyInts = false
			}
		}
	}
	if n == 0 {
		e.buf = append(e.buf, "{}"...)
		return nil
	}
	if onlyInts && maxInt == n {
		e.buf = append(e.buf, '[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(t.RawGetInt(i), depth); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		return nil
	}

	type member struct {
		key string
		val lua.LValue
	}
	members := make([]member, 0, n)
	var err error
	t.ForEach(func(k, v lua.LValue) {
		switch k := k.(type) {
		case lua.LString:
			members = append(members, member{string(k), v})
		case lua.LNumber:
			b, nerr := appendNumber(nil, float64(k))
			if nerr != nil {
				err = nerr
			}
			members = append(members, member{string(b), v})
		default:
			if err == nil {
				err = fmt.Errorf("cannot encode a table key of type %s", k.Type())
			}
		}
	})
	if err != nil {
		return err
	}
	slices.SortFunc(members, func(a, b member) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	e.buf = append(e.buf, '{')
	for i, m := range members {
		if i > 0 {
			if m.key == members[i-1].key {
				return fmt.Errorf("cannot encode a table with two keys written %q", m.key)
			}
			e.buf = append(e.buf, ',')
		}
		e.buf = pipeline.AppendJSONString(e.buf, m.key)
		e.buf = append(e.buf, ':')
		if err := e.value(m.val, depth); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// Decode returns the Lua value of the JSON text data, created in L: objects
// and arrays become tables (arrays 1..n), null becomes L's json.null,
// numbers become Lua numbers (integers beyond ±2^53 lose precision; a
// number beyond the float64 range is an error). Nesting deeper than
// MaxDepth, anything after the value, and invalid JSON are errors.
func Decode(L *lua.LState, data []byte) (lua.LValue, error) {
	d := decoder{L: L, dec: json.NewDecoder(bytes.NewReader(data)), null: Null(L)}
	d.dec.UseNumber()
	v, err := d.value(0)
	if err != nil {
		return lua.LNil, d.wrap(err)
	}
	if _, err := d.dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("unexpected data after the value")
		}
		return lua.LNil, d.wrap(err)
	}
	return v, nil
}

type decoder struct {
	L     *lua.LState
	dec   *json.Decoder
	null  lua.LValue
	steps int
}

func (d *decoder) wrap(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = errors.New("unexpected end of input")
	}
	return fmt.Errorf("json: offset %d: %w", d.dec.InputOffset(), err)
}

func (d *decoder) value(depth int) (lua.LValue, error) {
	if d.steps++; d.steps%checkEvery == 0 {
		sandbox.Check(d.L)
	}
	tok, err := d.dec.Token()
	if err != nil {
		return lua.LNil, err
	}
	switch tok := tok.(type) {
	case nil:
		return d.null, nil
	case bool:
		return lua.LBool(tok), nil
	case string:
		return lua.LString(tok), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(tok), 64)
		if err != nil {
			return lua.LNil, fmt.Errorf("number %s is out of range", tok)
		}
		return lua.LNumber(f), nil
	case json.Delim:
		if depth+1 > MaxDepth {
			return lua.LNil, fmt.Errorf("arrays and objects nested more than %d deep", MaxDepth)
		}
		t := d.L.NewTable()
		for d.dec.More() {
			var key string
			if tok == '{' {
				k, err := d.dec.Token()
				if err != nil {
					return lua.LNil, err
				}
				key = k.(string) // the decoder allows only strings here
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return lua.LNil, err
			}
			if tok == '{' {
				t.RawSetString(key, v)
			} else {
				t.Append(v)
			}
		}
		if _, err := d.dec.Token(); err != nil { // the closing ] or }
			return lua.LNil, err
		}
		return t, nil
	}
	return lua.LNil, fmt.Errorf("unexpected token %v", tok)
}
