package pipeline

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Strict decoding of a parsed TOML table into a plugin's struct. BurntSushi's
// decoder stops at the first error and, inside arrays of tables, reports the
// line of the last element with that key; we want every error, each at its
// own line, in words a user understands, so the tree from toml.Decode is
// walked here against the struct's `toml` tags.

// keyProblem is one error found while decoding a table, with the path of the
// key inside that table (e.g. ["config", "field"]).
type keyProblem struct {
	path []string
	msg  string
}

// decodeTable decodes table into the struct pointed to by dst. Keys listed in
// skip are ignored (they belong to the runtime). fromEnv, if not nil, names
// the ${VAR}s a key's value was expanded from, so that a type error names
// them instead of showing the value. It returns every problem.
func decodeTable(table map[string]any, dst any, skip map[string]bool, fromEnv func(path []string) []string) []keyProblem {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return []keyProblem{{msg: fmt.Sprintf("internal error: plugin config %T is not a pointer to a struct", dst)}}
	}
	d := &tableDecoder{fromEnv: fromEnv}
	d.decodeStruct(table, v.Elem(), nil, skip)
	return d.problems
}

// tableDecoder holds what one decodeTable call finds.
type tableDecoder struct {
	problems []keyProblem
	fromEnv  func(path []string) []string
}

// structKeys returns the TOML keys a struct type accepts, by tag or lowercased field name.
func structKeys(t reflect.Type) map[string]int {
	keys := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("toml"); ok {
			tag, _, _ = strings.Cut(tag, ",")
			if tag == "-" {
				continue
			}
			if tag != "" {
				name = tag
			}
		} else {
			name = strings.ToLower(name)
		}
		keys[name] = i
	}
	return keys
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (d *tableDecoder) decodeStruct(table map[string]any, v reflect.Value, path []string, skip map[string]bool) {
	keys := structKeys(v.Type())
	for _, k := range sortedKeys(table) {
		if skip[k] {
			continue
		}
		p := append(append([]string(nil), path...), k)
		i, ok := keys[k]
		if !ok {
			known := sortedKeys(keys)
			for s := range skip {
				known = append(known, s)
			}
			sort.Strings(known)
			d.problems = append(d.problems, keyProblem{p, fmt.Sprintf("unknown key (known keys: %s)", strings.Join(known, ", "))})
			continue
		}
		// A "file" key holds a path, which may be shown.
		tag := v.Type().Field(i).Tag.Get("secret")
		secret := tag == "true" || tag == "url"
		if msg := d.decodeValue(table[k], v.Field(i), p, secret); msg != "" {
			d.problems = append(d.problems, keyProblem{p, msg})
		}
	}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// tomlTypeName names a decoded TOML value the way the TOML spec does.
func tomlTypeName(x any) string {
	switch x.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", x)
}

// got describes the wrong value x found at path: its TOML type and, unless
// the key is secret or the value came from ${VAR}, the value itself.
func (d *tableDecoder) got(x any, path []string, secret bool) string {
	name := tomlTypeName(x)
	if d.fromEnv != nil {
		if vars := d.fromEnv(path); len(vars) > 0 {
			return fmt.Sprintf("%s (from ${%s})", name, strings.Join(vars, "}, ${"))
		}
	}
	if secret {
		return name
	}
	switch x := x.(type) {
	case string:
		return fmt.Sprintf("%s (%q)", name, x)
	case int64:
		return fmt.Sprintf("%s (%d)", name, x)
	case float64:
		return fmt.Sprintf("%s (%g)", name, x)
	case bool:
		return fmt.Sprintf("%s (%t)", name, x)
	}
	return name
}

// decodeValue sets dst from x and returns a message when the types do not fit.
func (d *tableDecoder) decodeValue(x any, dst reflect.Value, path []string, secret bool) string {
	if dst.CanAddr() && dst.Addr().Type().Implements(textUnmarshaler) {
		s, ok := x.(string)
		if !ok {
			return "expected a string, got " + d.got(x, path, secret)
		}
		if err := dst.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return err.Error()
		}
		return ""
	}
	switch dst.Kind() {
	case reflect.Pointer:
		n := reflect.New(dst.Type().Elem())
		if msg := d.decodeValue(x, n.Elem(), path, secret); msg != "" {
			return msg
		}
		dst.Set(n)
	case reflect.String:
		s, ok := x.(string)
		if !ok {
			return "expected a string, got " + d.got(x, path, secret)
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := x.(bool)
		if !ok {
			return "expected a boolean (true or false), got " + d.got(x, path, secret)
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := x.(int64)
		if !ok {
			return "expected an integer, got " + d.got(x, path, secret)
		}
		if dst.OverflowInt(n) {
			return fmt.Sprintf("%d is out of range", n)
		}
		dst.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := x.(int64)
		if !ok {
			return "expected an integer, got " + d.got(x, path, secret)
		}
		if n < 0 || dst.OverflowUint(uint64(n)) {
			return fmt.Sprintf("%d is out of range (must be 0 or more)", n)
		}
		dst.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		switch n := x.(type) {
		case float64:
			dst.SetFloat(n)
		case int64:
			dst.SetFloat(float64(n))
		default:
			return "expected a number, got " + d.got(x, path, secret)
		}
		if dst.Kind() == reflect.Float32 && dst.Float() > math.MaxFloat32 {
			return "number out of range"
		}
	case reflect.Slice:
		items, ok := asArray(x)
		if !ok {
			return "expected an array, got " + d.got(x, path, secret)
		}
		s := reflect.MakeSlice(dst.Type(), len(items), len(items))
		for i, item := range items {
			p := append(append([]string(nil), path...), fmt.Sprintf("[%d]", i))
			if msg := d.decodeValue(item, s.Index(i), p, secret); msg != "" {
				return fmt.Sprintf("element %d: %s", i, msg)
			}
		}
		dst.Set(s)
	case reflect.Map:
		t, ok := x.(map[string]any)
		if !ok {
			return "expected a table, got " + d.got(x, path, secret)
		}
		if dst.Type().Key().Kind() != reflect.String {
			return "internal error: map key must be a string"
		}
		m := reflect.MakeMapWithSize(dst.Type(), len(t))
		for _, k := range sortedKeys(t) {
			e := reflect.New(dst.Type().Elem()).Elem()
			p := append(append([]string(nil), path...), k)
			if msg := d.decodeValue(t[k], e, p, secret || SecretKeyName(k)); msg != "" {
				d.problems = append(d.problems, keyProblem{p, msg})
				continue
			}
			m.SetMapIndex(reflect.ValueOf(k), e)
		}
		dst.Set(m)
	case reflect.Struct:
		t, ok := x.(map[string]any)
		if !ok {
			return "expected a table, got " + d.got(x, path, secret)
		}
		d.decodeStruct(t, dst, path, nil)
	case reflect.Interface:
		dst.Set(reflect.ValueOf(x))
	default:
		return fmt.Sprintf("internal error: cannot decode into %s", dst.Type())
	}
	return ""
}

func asArray(x any) ([]any, bool) {
	switch a := x.(type) {
	case []any:
		return a, true
	case []map[string]any:
		out := make([]any, len(a))
		for i := range a {
			out[i] = a[i]
		}
		return out, true
	}
	return nil, false
}
