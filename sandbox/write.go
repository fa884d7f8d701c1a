package sandbox

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/interoceptor/interoceptor/pipeline"
	lua "github.com/yuin/gopher-lua"
)

// Changing the message in hand: write_message and inject_message() with no
// argument. README.md ("write_message") is the user's description.
//
// The message the runtime hands in is never changed: the first
// write_message of a call copies its headers and its field list (not the
// fields' strings) into s.work, which read_message reads from then on and
// inject_message() sends. So a message the call fails goes to dead_letter
// as it came, and the fields the script did not touch are the decoded ones,
// byte for byte.

// setMessage makes m the message in hand for a call (nil after it).
func (s *Sandbox) setMessage(m *pipeline.Message) {
	s.in, s.msg = m, m
}

// writable returns the message write_message changes: s.work, a copy of
// the message in hand made at the call's first write. The caller changes a
// header or one of the fields handed in; writableAt is for the others.
func (s *Sandbox) writable() *pipeline.Message {
	m := s.writableAt(-1)
	s.workExtends = false
	return m
}

// writableAt is writable for a change to field idx of the message in hand,
// or for appending a field (idx -1). While only fields beyond those handed
// in change, the message is passed on as the one handed in extended
// (Options.PassOn), whose fields are not encoded again.
func (s *Sandbox) writableAt(idx int) *pipeline.Message {
	if s.msg != &s.work {
		in := s.in
		fields := append(s.work.Fields[:0], in.Fields...)
		s.work = *in
		s.work.Fields = fields
		s.msg = &s.work
		s.workExtends = true
	}
	if idx >= 0 && idx < len(s.in.Fields) {
		s.workExtends = false
	}
	return &s.work
}

// write_message(name, value [, representation [, field_index [, array_index]]])
// changes a header or a field of the message in hand.
func (s *Sandbox) writeMessage(L *lua.LState) int {
	name := L.CheckString(1)
	v := L.Get(2)
	if r := L.Get(3); r != lua.LNil {
		if _, ok := r.(lua.LString); !ok {
			L.ArgError(3, "representation must be a string or nil, not a "+describe(r))
		}
	}
	fi := L.OptInt(4, 0)
	ai := L.OptInt(5, 0)
	if s.in == nil {
		L.RaiseError("write_message: there is no message outside process_message")
	}
	if fi < 0 {
		L.ArgError(4, fmt.Sprintf("field_index must be 0 or more, not %d", fi))
	}
	if ai != 0 {
		L.ArgError(5, "array_index must be 0: a field holds one value (arrays are repeated fields)")
	}
	if field, ok := fieldName(name, "Fields["); ok {
		if err := s.writeField(L, field, pipeline.RoleField, v, fi); err != nil {
			L.RaiseError("write_message: %v", err)
		}
		return 0
	}
	if tag, ok := fieldName(name, "Tags["); ok {
		if err := s.writeField(L, tag, pipeline.RoleTag, v, fi); err != nil {
			L.RaiseError("write_message: %v", err)
		}
		return 0
	}
	if fi != 0 {
		L.ArgError(4, "field_index applies to Fields[name] and Tags[name] only")
	}
	if err := s.writeHeader(L, name, v); err != nil {
		L.RaiseError("write_message: %v", err)
	}
	return 0
}

// fieldName returns name of "Fields[name]" (prefix "Fields[").
func fieldName(s, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || !strings.HasSuffix(rest, "]") {
		return "", false
	}
	return rest[:len(rest)-1], true
}

func (s *Sandbox) writeHeader(L *lua.LState, name string, v lua.LValue) error {
	str := func() (string, error) {
		switch x := v.(type) {
		case lua.LString:
			return string(x), nil
		case lua.LNumber:
			return lua.LVAsString(x), nil
		}
		return "", fmt.Errorf("%s must be a string, not %s", name, describeValue(v))
	}
	i32 := func() (int32, error) {
		x, ok := v.(lua.LNumber)
		if !ok || float64(x) != math.Trunc(float64(x)) || x < math.MinInt32 || x > math.MaxInt32 {
			return 0, fmt.Errorf("%s must be a 32-bit integer, not %s", name, describeValue(v))
		}
		return int32(x), nil
	}
	switch name {
	case "Type", "Logger", "Hostname", "Payload":
		x, err := str()
		if err != nil {
			return err
		}
		m := s.writable()
		switch name {
		case "Type":
			m.Type = x
		case "Logger":
			m.Logger = x
		case "Hostname":
			m.Hostname = x
		case "Payload":
			// Never into the runtime's buffer: the message handed in keeps its payload.
			s.workPayload = append(s.workPayload[:0], x...)
			m.Payload = s.workPayload
		}
	case "Severity", "Pid":
		if sv, ok := v.(lua.LString); ok && name == "Severity" {
			sev, ok := pipeline.ParseSeverity(string(sv))
			if !ok {
				return fmt.Errorf("the Severity must be a number or %s, not %q", pipeline.SeverityNames, string(sv))
			}
			s.writable().Severity = sev
			return nil
		}
		x, err := i32()
		if err != nil {
			return err
		}
		if name == "Severity" {
			s.writable().Severity = x
		} else {
			s.writable().Pid = x
		}
	case "Timestamp":
		n, ok := NSValue(L, v)
		if !ok {
			return fmt.Errorf("the Timestamp must be an ns, a number of nanoseconds or a decimal string, not %s", describeValue(v))
		}
		s.writable().Timestamp = n
	case "Uuid":
		u, ok := parseUUID(v)
		if !ok {
			return fmt.Errorf("the Uuid must be a UUID in text form or 16 bytes, not %s", describeValue(v))
		}
		s.writable().UUID = u
	default:
		return fmt.Errorf("unknown message part %q (want Type, Logger, Payload, Hostname, Severity, Pid, Uuid, Timestamp, Fields[name] or Tags[name])", name)
	}
	return nil
}

// writeField sets the fi-th field called name (Fields[name]) or tag
// (Tags[name]) to v; nil removes it. An existing field keeps its kind,
// role and place, and v must convert to that kind exactly; fi one past the
// last field of that name appends a new one, typed as inject_message types
// a value ({value = v, type = ...} for another kind than the default).
func (s *Sandbox) writeField(L *lua.LState, name string, role pipeline.FieldRole, v lua.LValue, fi int) error {
	what := "Fields"
	if role == pipeline.RoleTag {
		what = "Tags"
	}
	idx, count := -1, 0
	for i := range s.msg.Fields {
		f := &s.msg.Fields[i]
		if f.Name != name || (role == pipeline.RoleTag) != (f.Role == pipeline.RoleTag) {
			continue
		}
		if count == fi {
			idx = i
		}
		count++
	}
	if name == "" {
		return fmt.Errorf("%s[] needs a name", what)
	}
	if idx >= 0 && s.msg.Fields[idx].Role == pipeline.RoleMeasurement {
		if str, ok := v.(lua.LString); !ok || str == "" {
			return fmt.Errorf("the measurement (Fields[%s]) must be a non-empty string, not %s", name, describeValue(v))
		}
	}
	if v == lua.LNil {
		if idx >= 0 {
			m := s.writableAt(idx)
			m.Fields = slices.Delete(m.Fields, idx, idx+1)
		}
		return nil // removing what is not there changes nothing
	}
	if idx < 0 && fi > count {
		return fmt.Errorf("%s[%s] has %d fields of that name; field_index %d is beyond the next one", what, name, count, fi)
	}
	if role == pipeline.RoleTag {
		str, ok := v.(lua.LString)
		if !ok {
			return fmt.Errorf("tag %s must be a string, not %s", name, describeValue(v))
		}
		m := s.writableAt(idx)
		if idx >= 0 {
			m.Fields[idx].Str = string(str)
		} else {
			m.Fields = append(m.Fields, pipeline.Field{Name: name, Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: string(str)})
		}
		return nil
	}
	if idx < 0 {
		// A new field, typed as inject_message types it. appendField
		// appends to a scratch message first: a bad value changes nothing.
		s.scratch.Fields = s.scratch.Fields[:0]
		if err := appendField(L, &s.scratch, name, v); err != nil {
			return err
		}
		if len(s.scratch.Fields) != 1 {
			return fmt.Errorf("field %s: write_message writes one value; give an array to inject_message, or write each with its field_index", name)
		}
		m := s.writableAt(-1)
		m.Fields = append(m.Fields, s.scratch.Fields[0])
		return nil
	}
	old := &s.msg.Fields[idx]
	kind, typed := old.Kind, true
	if t, ok := v.(*lua.LTable); ok {
		// {value = v, type = ...} may change an existing field's kind.
		s.scratch.Fields = s.scratch.Fields[:0]
		if err := appendField(L, &s.scratch, name, t); err != nil {
			return err
		}
		if len(s.scratch.Fields) != 1 {
			return fmt.Errorf("field %s: write_message writes one value", name)
		}
		f := s.scratch.Fields[0]
		f.Role = old.Role
		s.writableAt(idx).Fields[idx] = f
		return nil
	}
	s.scratch.Fields = s.scratch.Fields[:0]
	if err := appendScalar(L, &s.scratch, name, v, kind, typed); err != nil {
		return err
	}
	f := s.scratch.Fields[0]
	f.Role = old.Role
	s.writableAt(idx).Fields[idx] = f
	return nil
}

// passOn sends the message in hand, with what write_message changed:
// inject_message() without a table.
func (s *Sandbox) passOn(L *lua.LState) {
	if s.msg == nil {
		L.RaiseError("inject_message: there is no message in hand outside process_message; give a table")
	}
	if s.opts.PassOn == nil {
		s.emit(L, s.msg)
		return
	}
	switch {
	case s.msg == s.in:
		s.emitExtended(L, s.in, nil)
	case s.workExtends:
		s.emitExtended(L, s.in, s.work.Fields[len(s.in.Fields):])
	default:
		s.emit(L, s.msg)
	}
}
