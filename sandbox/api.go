package sandbox

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/interoceptor/interoceptor/pipeline"
	lua "github.com/yuin/gopher-lua"
)

// Heka's sandbox API. README.md ("API") is the user's description; the
// conventions it fixes are implemented here.

// DefaultSeverity is the severity of an injected message that sets none:
// pipeline.DefaultSeverity (syslog info), as for every other message.
const DefaultSeverity = pipeline.DefaultSeverity

func (s *Sandbox) openAPI(L *lua.LState) {
	for name, fn := range map[string]lua.LGFunction{
		"read_message":   s.readMessage,
		"write_message":  s.writeMessage,
		"read_config":    s.readConfig,
		"inject_message": s.injectMessage,
		"inject_payload": s.injectPayload,
		"add_to_payload": s.addToPayload,
	} {
		s.globals.RawSetString(name, L.NewFunction(fn))
	}
}

// read_message(name [, field_index [, array_index]]) returns a header or a
// field of the message being processed, or nil. read_message(name1, name2,
// ...), with names only, returns each of them: one crossing for several
// values.
func (s *Sandbox) readMessage(L *lua.LState) int {
	name := L.CheckString(1)
	top := L.GetTop()
	if top >= 2 {
		if _, many := L.Get(2).(lua.LString); many {
			for i := 1; i <= top; i++ {
				L.Push(s.readPart(L, i, L.CheckString(i), 0, 0))
			}
			return top
		}
	}
	fi := L.OptInt(2, 0)
	ai := L.OptInt(3, 0)
	L.Push(s.readPart(L, 1, name, fi, ai))
	return 1
}

// readPart is one value of read_message: name is its argument number arg.
func (s *Sandbox) readPart(L *lua.LState, arg int, name string, fi, ai int) lua.LValue {
	m := s.msg
	if m == nil {
		return lua.LNil // outside process_message there is no message
	}
	if field, ok := fieldName(name, "Fields["); ok {
		f := m.FieldAt(field, fi)
		if f == nil || fi < 0 || ai != 0 {
			return lua.LNil
		}
		return s.fieldValue(f)
	}
	if tag, ok := fieldName(name, "Tags["); ok {
		for i := range m.Fields {
			if f := &m.Fields[i]; f.Role == pipeline.RoleTag && f.Name == tag {
				if fi == 0 && ai == 0 {
					return s.fieldValue(f)
				}
				fi--
			}
		}
		return lua.LNil
	}
	switch name {
	case "Type":
		return s.str(m.Type)
	case "Logger":
		return s.str(m.Logger)
	case "Payload":
		return lua.LString(m.Payload)
	case "Hostname":
		return s.str(m.Hostname)
	case "Severity":
		return lua.LNumber(m.Severity)
	case "Pid":
		return lua.LNumber(m.Pid)
	case "Uuid":
		return lua.LString(m.UUID.String())
	case "Timestamp":
		return newNS(L, s.nsMT, m.Timestamp)
	case "Tags":
		// A metric's tags as a table (nil for a message without tags), so
		// that a script can key its state by series.
		var tags *lua.LTable
		for i := range m.Fields {
			if f := &m.Fields[i]; f.Role == pipeline.RoleTag {
				if tags == nil {
					tags = L.NewTable()
				}
				tags.RawSetString(string(s.str(f.Name)), s.fieldValue(f))
			}
		}
		if tags == nil {
			return lua.LNil
		}
		return tags
	}
	L.ArgError(arg, fmt.Sprintf("unknown message part %q (want Type, Logger, Payload, Hostname, Severity, Pid, Uuid, Timestamp, Tags, Fields[name] or Tags[name])", name))
	return lua.LNil
}

// fieldValue converts a field to Lua: strings and bytes to strings, numbers
// to numbers (an int beyond 2^53 loses precision, as any Lua number), bools
// to booleans.
func (s *Sandbox) fieldValue(f *pipeline.Field) lua.LValue {
	switch f.Kind {
	case pipeline.KindString:
		return s.str(f.Str)
	case pipeline.KindBytes:
		return lua.LString(f.Bytes)
	case pipeline.KindInt:
		return lua.LNumber(f.Int)
	case pipeline.KindUint:
		return lua.LNumber(f.Uint)
	case pipeline.KindFloat:
		return lua.LNumber(f.Float)
	case pipeline.KindBool:
		return lua.LBool(f.Bool)
	}
	return lua.LNil
}

// read_config(key) returns the plugin's config value for key, or nil.
func (s *Sandbox) readConfig(L *lua.LState) int {
	key := L.CheckString(1)
	v, ok := s.opts.Config[key]
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(configValue(L, reflect.ValueOf(v), 0))
	return 1
}

// configValue converts a decoded TOML value to Lua: tables and arrays become
// fresh tables (the script may change them), times become ns.
func configValue(L *lua.LState, v reflect.Value, depth int) lua.LValue {
	if !v.IsValid() || depth > 32 {
		return lua.LNil
	}
	if t, ok := v.Interface().(time.Time); ok {
		return NewNS(L, t.UnixNano())
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return lua.LNumber(d)
	}
	if st, ok := v.Interface().(fmt.Stringer); ok && v.Kind() != reflect.Map && v.Kind() != reflect.Slice {
		return lua.LString(st.String())
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return lua.LNil
		}
		return configValue(L, v.Elem(), depth+1)
	case reflect.String:
		return lua.LString(v.String())
	case reflect.Bool:
		return lua.LBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return lua.LNumber(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return lua.LNumber(v.Uint())
	case reflect.Float32, reflect.Float64:
		return lua.LNumber(v.Float())
	case reflect.Slice, reflect.Array:
		t := L.CreateTable(v.Len(), 0)
		for i := 0; i < v.Len(); i++ {
			t.RawSetInt(i+1, configValue(L, v.Index(i), depth+1))
		}
		return t
	case reflect.Map:
		t := L.CreateTable(0, v.Len())
		it := v.MapRange()
		for it.Next() {
			t.RawSet(configValue(L, it.Key(), depth+1), configValue(L, it.Value(), depth+1))
		}
		return t
	}
	return lua.LString(fmt.Sprint(v.Interface()))
}

// inject_message(t) sends a message built from t; see README for the
// table's form. inject_message() sends the message in hand, with what
// write_message changed in it.
func (s *Sandbox) injectMessage(L *lua.LState) int {
	if L.GetTop() == 0 || L.Get(1) == lua.LNil {
		s.passOn(L)
		return 0
	}
	t := L.CheckTable(1)
	m := &s.out
	m.Reset()
	m.Severity = DefaultSeverity
	if err := s.buildMessage(L, t, m); err != nil {
		L.RaiseError("inject_message: %v", err)
	}
	s.emit(L, m)
	return 0
}

// buildMessage fills m from the table t.
func (s *Sandbox) buildMessage(L *lua.LState, t *lua.LTable, m *pipeline.Message) error {
	var err error
	str := func(name string, dst *string) {
		switch v := t.RawGetString(name).(type) {
		case *lua.LNilType:
		case lua.LString:
			*dst = string(v)
		case lua.LNumber:
			*dst = lua.LVAsString(v)
		default:
			err = fmt.Errorf("%s must be a string, not a %s", name, describe(v))
		}
	}
	i32 := func(name string, dst *int32) {
		switch v := t.RawGetString(name).(type) {
		case *lua.LNilType:
		case lua.LNumber:
			if float64(v) != math.Trunc(float64(v)) || v < math.MinInt32 || v > math.MaxInt32 {
				err = fmt.Errorf("%s must be a 32-bit integer, not %v", name, v)
			}
			*dst = int32(v)
		default:
			err = fmt.Errorf("%s must be a number, not a %s", name, describe(v))
		}
	}
	str("Type", &m.Type)
	str("Logger", &m.Logger)
	str("Hostname", &m.Hostname)
	if v, ok := t.RawGetString("Severity").(lua.LString); ok {
		// A level name or syslog number as a log line has it: "warn", "3".
		sev, ok := pipeline.ParseSeverity(string(v))
		if !ok {
			return fmt.Errorf("the Severity must be a number or %s, not %q", pipeline.SeverityNames, string(v))
		}
		m.Severity = sev
	} else {
		i32("Severity", &m.Severity)
	}
	i32("Pid", &m.Pid)
	var payload string
	str("Payload", &payload)
	if err != nil {
		return err
	}
	m.Payload = append(m.Payload, payload...)
	if v := t.RawGetString("Timestamp"); v != lua.LNil {
		n, ok := NSValue(L, v)
		if !ok {
			return fmt.Errorf("the Timestamp must be an ns, a number of nanoseconds or a decimal string, not %s", describeValue(v))
		}
		m.Timestamp = n
	}
	if v := t.RawGetString("Uuid"); v != lua.LNil {
		u, ok := parseUUID(v)
		if !ok {
			return fmt.Errorf("the Uuid must be a UUID in text form or 16 bytes, not %s", describeValue(v))
		}
		m.UUID = u
	}

	// A point: Type "metric", or any message with Tags (a detector's
	// anomaly is stored next to the data it is about).
	metric := m.Type == pipeline.MetricType || t.RawGetString("Tags") != lua.LNil
	fields, _ := t.RawGetString("Fields").(*lua.LTable)
	if v := t.RawGetString("Fields"); v != lua.LNil && fields == nil {
		return fmt.Errorf("the Fields must be a table, not a %s", describe(v))
	}
	if metric {
		if fields == nil {
			return fmt.Errorf("a metric needs Fields.%s, the measurement", pipeline.MeasurementField)
		}
		name, ok := fields.RawGetString(pipeline.MeasurementField).(lua.LString)
		if !ok || name == "" {
			return fmt.Errorf("a metric needs Fields.%s, the measurement, as a non-empty string", pipeline.MeasurementField)
		}
		m.Fields = append(m.Fields, pipeline.Field{Name: pipeline.MeasurementField, Kind: pipeline.KindString,
			Role: pipeline.RoleMeasurement, Str: string(name)})
	}
	if v := t.RawGetString("Tags"); v != lua.LNil {
		tags, ok := v.(*lua.LTable)
		if !ok {
			return fmt.Errorf("the Tags must be a table, not a %s", describe(v))
		}
		keys, err := sortedKeys(tags, "Tags")
		if err != nil {
			return err
		}
		for _, k := range keys {
			val, ok := tags.RawGetString(k).(lua.LString)
			if !ok {
				return fmt.Errorf("tag %s must be a string, not a %s", k, describe(tags.RawGetString(k)))
			}
			m.Fields = append(m.Fields, pipeline.Field{Name: k, Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: string(val)})
		}
	}
	if fields != nil {
		keys, err := sortedKeys(fields, "Fields")
		if err != nil {
			return err
		}
		values := 0
		for _, k := range keys {
			if metric && k == pipeline.MeasurementField {
				continue
			}
			n := len(m.Fields)
			if err := appendField(L, m, k, fields.RawGetString(k)); err != nil {
				return err
			}
			values += len(m.Fields) - n
		}
		if metric && values == 0 {
			return fmt.Errorf("a metric needs at least one value in Fields besides %s", pipeline.MeasurementField)
		}
	}
	return nil
}

// sortedKeys returns the string keys of t in byte order (a Lua table has no
// order; the message gets a stable one).
func sortedKeys(t *lua.LTable, what string) ([]string, error) {
	var keys []string
	var bad lua.LValue
	t.ForEach(func(k, _ lua.LValue) {
		if ks, ok := k.(lua.LString); ok {
			keys = append(keys, string(ks))
		} else if bad == nil {
			bad = k
		}
	})
	if bad != nil {
		return nil, fmt.Errorf("%s keys must be strings, not %s", what, describeValue(bad))
	}
	sort.Strings(keys)
	return keys, nil
}

// Heka's value_type codes, accepted as well as type names.
var hekaValueTypes = map[int]pipeline.FieldKind{
	0: pipeline.KindString, 1: pipeline.KindBytes, 2: pipeline.KindInt, 3: pipeline.KindFloat, 4: pipeline.KindBool,
}

// appendField appends the field name = v: a scalar, an array of scalars
// (a repeated field), or {value = scalar or array, type = "int" | ...}.
func appendField(L *lua.LState, m *pipeline.Message, name string, v lua.LValue) error {
	kind, typed := pipeline.FieldKind(0), false
	if t, ok := v.(*lua.LTable); ok && t.RawGetString("value") != lua.LNil {
		v = t.RawGetString("value")
		switch tv := t.RawGetString("type").(type) {
		case *lua.LNilType:
		case lua.LString:
			k, ok := pipeline.ParseFieldKind(string(tv))
			if !ok {
				return fmt.Errorf("field %s: unknown type %q (want string, bytes, int, uint, float or bool)", name, string(tv))
			}
			kind, typed = k, true
		default:
			return fmt.Errorf("field %s: type must be a string", name)
		}
		if vt, ok := t.RawGetString("value_type").(lua.LNumber); ok && !typed {
			k, ok := hekaValueTypes[int(vt)]
			if !ok {
				return fmt.Errorf("field %s: unknown value_type %v", name, vt)
			}
			kind, typed = k, true
		}
	}
	if arr, ok := v.(*lua.LTable); ok {
		n := arr.Len()
		if n == 0 {
			return fmt.Errorf("field %s: a table value must be an array of values or {value = ..., type = ...}", name)
		}
		for i := 1; i <= n; i++ {
			if err := appendScalar(L, m, name, arr.RawGetInt(i), kind, typed); err != nil {
				return err
			}
		}
		return nil
	}
	return appendScalar(L, m, name, v, kind, typed)
}

// appendScalar appends one value. Untyped: a string is a string, a number
// a float, a boolean a bool, an ns an int. Typed: the value is converted to
// the kind, exactly or not at all.
func appendScalar(L *lua.LState, m *pipeline.Message, name string, v lua.LValue, kind pipeline.FieldKind, typed bool) error {
	f := pipeline.Field{Name: name}
	if !typed {
		switch x := v.(type) {
		case lua.LString:
			f.Kind, f.Str = pipeline.KindString, string(x)
		case lua.LNumber:
			f.Kind, f.Float = pipeline.KindFloat, float64(x)
		case lua.LBool:
			f.Kind, f.Bool = pipeline.KindBool, bool(x)
		default:
			n, ok := isNS(v)
			if !ok {
				return fmt.Errorf("field %s: cannot send a %s", name, describe(v))
			}
			f.Kind, f.Int = pipeline.KindInt, n
		}
		m.Fields = append(m.Fields, f)
		return nil
	}
	f.Kind = kind
	bad := func() error {
		return fmt.Errorf("field %s: %s is not a valid %s", name, describeValue(v), kind)
	}
	switch kind {
	case pipeline.KindString, pipeline.KindBytes:
		s, ok := v.(lua.LString)
		if !ok {
			return bad()
		}
		if kind == pipeline.KindString {
			f.Str = string(s)
		} else {
			f.Bytes = append(f.Bytes, s...)
		}
	case pipeline.KindInt:
		n, ok := exactInt(L, v)
		if !ok {
			return bad()
		}
		f.Int = n
	case pipeline.KindUint:
		switch x := v.(type) {
		case lua.LString:
			u, err := strconv.ParseUint(strings.TrimSpace(string(x)), 10, 64)
			if err != nil {
				return bad()
			}
			f.Uint = u
		default:
			n, ok := exactInt(L, v)
			if !ok || n < 0 {
				return bad()
			}
			f.Uint = uint64(n)
		}
	case pipeline.KindFloat:
		switch x := v.(type) {
		case lua.LNumber:
			f.Float = float64(x)
		default:
			n, ok := isNS(v)
			if !ok {
				return bad()
			}
			f.Float = float64(n)
		}
	case pipeline.KindBool:
		b, ok := v.(lua.LBool)
		if !ok {
			return bad()
		}
		f.Bool = bool(b)
	}
	m.Fields = append(m.Fields, f)
	return nil
}

// exactInt converts an integral number, an ns or a decimal string to an
// int64; 3.5 is not an int.
func exactInt(L *lua.LState, v lua.LValue) (int64, bool) {
	if x, ok := v.(lua.LNumber); ok && float64(x) != math.Trunc(float64(x)) {
		return 0, false
	}
	return NSValue(L, v)
}

// describeValue shows a value in an error message, briefly.
func describeValue(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		if len(x) > 40 {
			return strconv.Quote(string(x[:40])) + "..."
		}
		return strconv.Quote(string(x))
	case lua.LNumber:
		return x.String()
	}
	return "a " + describe(v)
}

func parseUUID(v lua.LValue) (pipeline.UUID, bool) {
	s, ok := v.(lua.LString)
	if !ok {
		return pipeline.UUID{}, false
	}
	if len(s) == 16 {
		var u pipeline.UUID
		copy(u[:], s)
		return u, true
	}
	return pipeline.ParseUUID(string(s))
}

// emit checks an injected message against the limits and hands it on.
func (s *Sandbox) emit(L *lua.LState, m *pipeline.Message) {
	s.checkInject(L, pipeline.EncodedSize(m))
	if s.opts.Inject == nil {
		return
	}
	s.wd.enterHost()
	err := s.opts.Inject(m)
	s.wd.leaveHost()
	if err != nil {
		L.RaiseError("inject: %v", err)
	}
}

// emitExtended is emit for the message handed in with extra appended to
// its fields, through Options.PassOn.
func (s *Sandbox) emitExtended(L *lua.LState, base *pipeline.Message, extra []pipeline.Field) {
	s.checkInject(L, pipeline.EncodedSizeExtended(base, extra))
	s.wd.enterHost()
	err := s.opts.PassOn(base, extra)
	s.wd.leaveHost()
	if err != nil {
		L.RaiseError("inject: %v", err)
	}
}

// checkInject counts an inject of a message of size bytes (encoded) and
// terminates the script if it breaks a limit.
func (s *Sandbox) checkInject(L *lua.LState, size int) {
	s.injects++
	if s.injects > s.limits.InjectsPerCall {
		msg := fmt.Sprintf("more than %d injects in one call", s.limits.InjectsPerCall)
		s.terminate(ReasonInjects, msg)
		L.RaiseError("%s", msg)
	}
	if size > s.limits.OutputBytes {
		msg := fmt.Sprintf("injected message of %d bytes; the limit is %d", size, s.limits.OutputBytes)
		s.terminate(ReasonOutput, msg)
		L.RaiseError("%s", msg)
	}
}

// add_to_payload(...) appends its arguments to the payload buffer, which
// inject_payload sends. The buffer lasts across calls until then.
func (s *Sandbox) addToPayload(L *lua.LState) int {
	s.appendPayload(L, 1)
	return 0
}

func (s *Sandbox) appendPayload(L *lua.LState, from int) {
	for i := from; i <= L.GetTop(); i++ {
		v := L.Get(i)
		var str string
		switch x := v.(type) {
		case lua.LString:
			str = string(x)
		case lua.LNumber:
			str = lua.LVAsString(x)
		case lua.LBool:
			str = strconv.FormatBool(bool(x))
		default:
			// An ns gives its digits; a module value with __tostring (a
			// circular buffer, say) what that returns.
			if L.GetMetaField(v, "__tostring") == lua.LNil {
				L.ArgError(i, "string, number, boolean, ns or a value with __tostring expected, got "+describe(v))
			}
			sv, ok := L.ToStringMeta(v).(lua.LString)
			if !ok {
				L.ArgError(i, "__tostring did not return a string")
			}
			str = string(sv)
		}
		if len(s.payload)+len(str) > s.limits.OutputBytes {
			msg := fmt.Sprintf("payload of more than %d bytes", s.limits.OutputBytes)
			s.terminate(ReasonOutput, msg)
			L.RaiseError("%s", msg)
		}
		s.payload = append(s.payload, str...)
	}
}

// inject_payload(type, name, ...) sends the payload buffer plus its other
// arguments as a message of Type type with the field payload_name = name,
// and empties the buffer.
func (s *Sandbox) injectPayload(L *lua.LState) int {
	typ := L.OptString(1, "txt")
	name := L.OptString(2, "")
	s.appendPayload(L, 3)
	m := &s.out
	m.Reset()
	m.Type, m.Severity = typ, DefaultSeverity
	m.Payload = append(m.Payload, s.payload...)
	m.AddString("payload_name", name)
	s.payload = s.payload[:0]
	if cap(s.payload) > 64<<10 {
		s.payload = nil // do not keep a large buffer for the rest of the sandbox's life
	}
	s.emit(L, m)
	return 0
}

// CurrentMessage returns the message process_message is handling, for a
// module written in Go that reads it itself rather than through
// read_message calls (the anomaly module reads a field and the tags of
// every message); nil outside process_message or outside a sandbox. The
// message is only valid during the call.
func CurrentMessage(L *lua.LState) *pipeline.Message {
	if st, ok := L.Context().(*stopper); ok && st.owner != nil {
		return st.owner.msg
	}
	return nil
}

// str is a message's string as a Lua string that is a copy: the message's
// may alias the batch it came in (the Lua filter is pipeline.Transient), and
// a script that keeps one must not keep the whole batch. Copies of strings
// that repeat (names, hosts, tag values) are shared.
func (s *Sandbox) str(x string) lua.LString {
	return lua.LString(s.strs.String(unsafe.Slice(unsafe.StringData(x), len(x))))
}
