package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// Preservation (Heka's preserve_data): the script's global data, as JSON.
//
//	{"format": "interoceptor.lua.preserve", "version": 1,
//	 "preservation_version": <value or null>,
//	 "globals": <table>}
//
// A value is a JSON string (a Lua string that is valid UTF-8), a number,
// true or false, or an object: {"b64": "..."} for other strings,
// {"num": "NaN" | "+Inf" | "-Inf"}, {"ns": "<digits>"}, {"id": n, "t":
// [[key, value], ...]} for a table, {"ref": n} for a table seen before
// (shared tables and cycles survive), {"ud": type, "data": base64} for a
// module's userdata.

const (
	preserveFormat  = "interoceptor.lua.preserve"
	preserveVersion = 1
	versionGlobal   = "_PRESERVATION_VERSION"
)

type preserved struct {
	Format              string          `json:"format"`
	Version             int             `json:"version"`
	PreservationVersion json.RawMessage `json:"preservation_version"`
	Globals             any             `json:"globals"`
}

// Preserve returns the script's global data: every global whose value is a
// string, number, boolean, ns, table of those, or module value that can be
// preserved. Functions, the libraries, the API and required modules are
// left out; so are metatables, and userdata that cannot be preserved (with
// a warning in the log).
func (s *Sandbox) Preserve() ([]byte, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	e := &encoder{s: s, ids: map[*lua.LTable]int{}}
	globals, err := e.table(s.globals, "_G", true)
	if err != nil {
		return nil, err
	}
	pv, err := e.versionOf(s.globals.RawGetString(versionGlobal))
	if err != nil {
		return nil, err
	}
	if len(e.skipped) > 0 {
		s.log.Warn("preserve: values that cannot be preserved were left out", "plugin", s.name,
			"values", strings.Join(e.skipped, ", "))
	}
	return json.Marshal(preserved{Format: preserveFormat, Version: preserveVersion, PreservationVersion: pv, Globals: globals})
}

// maxPreserveDepth bounds the nesting of preserved tables (the encoder
// and the JSON decoder recurse).
const maxPreserveDepth = 1000

type encoder struct {
	s       *Sandbox
	depth   int
	ids     map[*lua.LTable]int
	skipped []string
}

func (e *encoder) versionOf(v lua.LValue) (json.RawMessage, error) {
	if v == lua.LNil {
		return json.RawMessage("null"), nil
	}
	x, ok, err := e.value(v, versionGlobal)
	if err != nil || !ok {
		return nil, fmt.Errorf("preserve: %s must be data, not a %s", versionGlobal, describe(v))
	}
	return json.Marshal(x)
}

func (e *encoder) skip(path string, v lua.LValue) {
	if len(e.skipped) < 20 {
		e.skipped = append(e.skipped, path+" ("+describe(v)+")")
	}
}

// table encodes t; top is the globals table, whose library and API
// entries are skipped.
func (e *encoder) table(t *lua.LTable, path string, top bool) (any, error) {
	if id, ok := e.ids[t]; ok {
		return map[string]any{"ref": id}, nil
	}
	if e.depth >= maxPreserveDepth {
		return nil, fmt.Errorf("preserve: %s: tables nested more than %d deep", path, maxPreserveDepth)
	}
	e.depth++
	defer func() { e.depth-- }()
	id := len(e.ids) + 1
	e.ids[t] = id
	type kv struct {
		k, v lua.LValue
	}
	var entries []kv
	t.ForEach(func(k, v lua.LValue) { entries = append(entries, kv{k, v}) })
	// Stable output: keys by type, then value.
	sort.Slice(entries, func(i, j int) bool { return keyLess(entries[i].k, entries[j].k) })
	out := make([]any, 0, len(entries))
	for _, en := range entries {
		if _, lib := e.s.builtin[en.v]; lib || en.v.Type() == lua.LTFunction {
			continue
		}
		if name, ok := en.k.(lua.LString); top && ok && e.s.initial[string(name)] == en.v {
			continue // _VERSION and the like, unchanged
		}
		kpath := path + "[" + keyString(en.k) + "]"
		if top {
			kpath = keyString(en.k)
		}
		switch en.k.(type) {
		case lua.LString, lua.LNumber, lua.LBool:
		default:
			e.skip(kpath+" key", en.k)
			continue
		}
		k, _, err := e.value(en.k, kpath)
		if err != nil {
			return nil, err
		}
		v, ok, err := e.value(en.v, kpath)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, []any{k, v})
		}
	}
	return map[string]any{"id": id, "t": out}, nil
}

func keyString(k lua.LValue) string {
	if s, ok := k.(lua.LString); ok {
		return string(s)
	}
	return k.String()
}

func keyLess(a, b lua.LValue) bool {
	if a.Type() != b.Type() {
		return a.Type() < b.Type()
	}
	switch x := a.(type) {
	case lua.LString:
		return x < b.(lua.LString)
	case lua.LNumber:
		return x < b.(lua.LNumber)
	case lua.LBool:
		return !bool(x) && bool(b.(lua.LBool))
	}
	return false
}

// value encodes one value; ok is false for a value that is left out.
func (e *encoder) value(v lua.LValue, path string) (any, bool, error) {
	switch x := v.(type) {
	case lua.LString:
		if utf8.ValidString(string(x)) {
			return string(x), true, nil
		}
		return map[string]any{"b64": base64.StdEncoding.EncodeToString([]byte(x))}, true, nil
	case lua.LNumber:
		f := float64(x)
		switch {
		case math.IsNaN(f):
			return map[string]any{"num": "NaN"}, true, nil
		case math.IsInf(f, 1):
			return map[string]any{"num": "+Inf"}, true, nil
		case math.IsInf(f, -1):
			return map[string]any{"num": "-Inf"}, true, nil
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), true, nil
	case lua.LBool:
		return bool(x), true, nil
	case *lua.LTable:
		t, err := e.table(x, path, false)
		return t, err == nil, err
	case *lua.LUserData:
		if n, ok := x.Value.(nsValue); ok {
			return map[string]any{"ns": strconv.FormatInt(int64(n), 10)}, true, nil
		}
		p, ok := x.Value.(Preserver)
		typeName := e.s.userdataType(x)
		if !ok || typeName == "" {
			e.skip(path, v)
			return nil, false, nil
		}
		data, err := p.Preserve()
		if err != nil {
			return nil, false, fmt.Errorf("preserve %s: %w", path, err)
		}
		return map[string]any{"ud": typeName, "data": base64.StdEncoding.EncodeToString(data)}, true, nil
	case *lua.LFunction:
		return nil, false, nil
	}
	e.skip(path, v)
	return nil, false, nil
}

// userdataType returns the registered restore type whose metatable ud
// has, or "".
func (s *Sandbox) userdataType(ud *lua.LUserData) string {
	registryMu.RLock()
	names := make([]string, 0, len(restorers))
	for n := range restorers {
		names = append(names, n)
	}
	registryMu.RUnlock()
	for _, n := range names {
		if mt := s.L.GetTypeMetatable(n); mt != lua.LNil && mt == ud.Metatable {
			return n
		}
	}
	return ""
}

// Restore sets the globals saved by Preserve into this sandbox, which
// should be fresh from New. When the script's _PRESERVATION_VERSION is not
// the one saved, nothing is restored: restored is false and reason says
// why. err reports data that cannot be read (nothing is restored then
// either), or a *TerminatedError when the restored data is over the memory
// limit.
func (s *Sandbox) Restore(data []byte) (restored bool, reason string, err error) {
	if err := s.usable(); err != nil {
		return false, "", err
	}
	var p struct {
		Format              string          `json:"format"`
		Version             int             `json:"version"`
		PreservationVersion json.RawMessage `json:"preservation_version"`
		Globals             json.RawMessage `json:"globals"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return false, "", fmt.Errorf("restore: %w", err)
	}
	if p.Format != preserveFormat || p.Version != preserveVersion {
		return false, "", fmt.Errorf("restore: not preserved data of version %d (format %q, version %d)", preserveVersion, p.Format, p.Version)
	}
	e := &encoder{s: s, ids: map[*lua.LTable]int{}}
	current, err := e.versionOf(s.globals.RawGetString(versionGlobal))
	if err != nil {
		return false, "", err
	}
	saved := p.PreservationVersion
	if len(saved) == 0 {
		saved = json.RawMessage("null")
	}
	if !bytes.Equal(compactJSON(saved), compactJSON(current)) {
		return false, fmt.Sprintf("%s changed from %s to %s", versionGlobal, saved, current), nil
	}
	dec := json.NewDecoder(bytes.NewReader(p.Globals))
	dec.UseNumber()
	var globals any
	if err := dec.Decode(&globals); err != nil {
		return false, "", fmt.Errorf("restore: %w", err)
	}
	// Decode inside a protected call: a module's restore function may
	// raise a Lua error, and the limits apply.
	d := &decoder{L: s.L, tables: map[int]*lua.LTable{}}
	var decoded *lua.LTable
	var derr error
	_, err = s.run(s.L.NewFunction(func(L *lua.LState) int {
		t, err := d.value(globals)
		if err != nil {
			derr = err
			return 0
		}
		var ok bool
		if decoded, ok = t.(*lua.LTable); !ok {
			derr = errors.New("restore: globals are not a table")
		}
		return 0
	}))
	if err == nil {
		err = derr
	}
	var te *TerminatedError
	if errors.As(err, &te) {
		return false, "", te
	}
	if err != nil {
		return false, "", fmt.Errorf("restore: %w", err)
	}
	s.L.SetTop(0)
	decoded.ForEach(func(k, v lua.LValue) { s.globals.RawSet(k, v) })
	if s.measure(); s.term != nil {
		return false, "", s.term
	}
	return true, "", nil
}

func compactJSON(b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return b
	}
	return out.Bytes()
}

type decoder struct {
	L      *lua.LState
	tables map[int]*lua.LTable
}

func (d *decoder) value(x any) (lua.LValue, error) {
	switch v := x.(type) {
	case string:
		return lua.LString(v), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, err
		}
		return lua.LNumber(f), nil
	case bool:
		return lua.LBool(v), nil
	case map[string]any:
		return d.object(v)
	}
	return nil, fmt.Errorf("unexpected %T in preserved data", x)
}

func (d *decoder) object(o map[string]any) (lua.LValue, error) {
	str := func(k string) (string, bool) {
		s, ok := o[k].(string)
		return s, ok
	}
	if s, ok := str("b64"); ok {
		b, err := base64.StdEncoding.DecodeString(s)
		return lua.LString(b), err
	}
	if s, ok := str("num"); ok {
		f, err := strconv.ParseFloat(s, 64)
		return lua.LNumber(f), err
	}
	if s, ok := str("ns"); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		return NewNS(d.L, n), err
	}
	if ref, ok := o["ref"].(json.Number); ok {
		id, _ := ref.Int64()
		t, ok := d.tables[int(id)]
		if !ok {
			return nil, fmt.Errorf("reference to table %d before its definition", id)
		}
		return t, nil
	}
	if typeName, ok := str("ud"); ok {
		data, _ := str("data")
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, err
		}
		fn := restorer(typeName)
		if fn == nil {
			return nil, fmt.Errorf("no module restores %q values", typeName)
		}
		v, err := fn(d.L, b)
		if err != nil {
			return nil, fmt.Errorf("restoring a %s: %w", typeName, err)
		}
		return v, nil
	}
	entries, ok := o["t"].([]any)
	if !ok {
		return nil, fmt.Errorf("unexpected object in preserved data")
	}
	t := d.L.CreateTable(0, 0)
	if id, ok := o["id"].(json.Number); ok {
		n, _ := id.Int64()
		d.tables[int(n)] = t
	}
	for _, en := range entries {
		pair, ok := en.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("unexpected table entry in preserved data")
		}
		k, err := d.value(pair[0])
		if err != nil {
			return nil, err
		}
		v, err := d.value(pair[1])
		if err != nil {
			return nil, err
		}
		t.RawSet(k, v)
	}
	return t, nil
}
