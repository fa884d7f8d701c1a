package sandbox

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// testMessage has every header and every field kind, and a repeated name.
func testMessage() *pipeline.Message {
	m := &pipeline.Message{
		UUID:      pipeline.UUID{0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x70, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0x2a},
		Timestamp: 1700000000123456789,
		Type:      "log",
		Logger:    "nginx",
		Severity:  4,
		Hostname:  "edge-1",
		Pid:       4242,
		Payload:   []byte("GET / 200"),
	}
	m.AddString("path", "/index.html")
	m.AddBytes("raw", []byte{0xff, 0x00, 'x'})
	m.AddInt("status", 200)
	m.AddUint("bytes", 1<<40)
	m.AddFloat("duration", 0.25)
	m.AddBool("cached", true)
	m.AddString("tag", "first")
	m.AddString("tag", "second")
	return m
}

func TestReadMessage(t *testing.T) {
	s, _ := newSandbox(t, "")
	m := testMessage()
	for _, tc := range []struct{ expr, want string }{
		{`read_message("Type")`, "string:log"},
		{`read_message("Logger")`, "string:nginx"},
		{`read_message("Payload")`, "string:GET / 200"},
		{`read_message("Hostname")`, "string:edge-1"},
		{`read_message("Severity")`, "number:4"},
		{`read_message("Pid")`, "number:4242"},
		{`read_message("Uuid")`, "string:018bcfe5-6800-7000-8000-00000000002a"},
		{`read_message("Timestamp")`, "ns:1700000000123456789"},
		{`read_message("Fields[path]")`, "string:/index.html"},
		{`read_message("Fields[raw]")`, "string:\xff\x00x"},
		{`read_message("Fields[status]")`, "number:200"},
		{`read_message("Fields[bytes]")`, "number:1099511627776"},
		{`read_message("Fields[duration]")`, "number:0.25"},
		{`read_message("Fields[cached]")`, "boolean:true"},
		{`read_message("Fields[tag]")`, "string:first"},
		{`read_message("Fields[tag]", 0)`, "string:first"},
		{`read_message("Fields[tag]", 1)`, "string:second"},
		{`read_message("Fields[tag]", 2)`, "nil:nil"},
		{`read_message("Fields[tag]", 0, 1)`, "nil:nil"},
		{`read_message("Fields[tag]", -1)`, "nil:nil"},
		{`read_message("Fields[missing]")`, "nil:nil"},
		{`read_message("Fields[]")`, "nil:nil"},
		{`type(read_message("Timestamp"))`, "string:userdata"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			v, err := eval(t, s, m, tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := show(v); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
	if _, err := eval(t, s, m, `read_message("Severityy")`); err == nil || !strings.Contains(err.Error(), "unknown message part") {
		t.Errorf("unknown name: err = %v", err)
	}
	// Outside process_message there is no message.
	if v, err := eval(t, s, nil, `read_message("Type")`); err != nil || show(v) != "nil:nil" {
		t.Errorf("no message: %v, %v", show(v), err)
	}
}

// TestReadMessageCopiesStrings: a message's strings may alias the batch it
// came in (the Lua filter is pipeline.Transient); what a script reads, and
// may keep, must be its own copy.
func TestReadMessageCopiesStrings(t *testing.T) {
	s, _ := newSandbox(t, "kept = {}")
	var frame pipeline.BatchEncoder
	frame.Add(&pipeline.Message{Type: "log", Hostname: "web-1", Logger: "in",
		Fields: []pipeline.Field{{Name: "path", Kind: pipeline.KindString, Str: "/a"}, {Name: "host", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "web-1"}}})
	dec := pipeline.BatchDecoder{Alias: true}
	msgs, err := dec.Decode(frame.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	expr := `(function() kept = {read_message("Type"), read_message("Hostname"), read_message("Logger"), read_message("Fields[path]"), read_message("Tags").host}; return true end)()`
	if _, err := eval(t, s, msgs[0], expr); err != nil {
		t.Fatal(err)
	}
	clear(frame.Bytes()) // the batch's memory, reused
	got, err := eval(t, s, nil, `table.concat(kept, " ")`)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != "log web-1 in /a web-1" {
		t.Errorf("what the script kept changed with the batch: %q", got.String())
	}
}

func TestReadConfig(t *testing.T) {
	s, _ := newSandbox(t, "", func(o *Options) {
		o.Config = map[string]any{
			"field":  "usage_user",
			"window": int64(120),
			"ratio":  0.5,
			"on":     true,
			"hosts":  []any{"a", "b"},
			"limits": map[string]any{"max": int64(3)},
		}
	})
	for _, tc := range []struct{ expr, want string }{
		{`read_config("field")`, "string:usage_user"},
		{`read_config("window")`, "number:120"},
		{`read_config("ratio")`, "number:0.5"},
		{`read_config("on")`, "boolean:true"},
		{`read_config("hosts")[2]`, "string:b"},
		{`#read_config("hosts")`, "number:2"},
		{`read_config("limits").max`, "number:3"},
		{`read_config("missing")`, "nil:nil"},
	} {
		v, err := eval(t, s, nil, tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := show(v); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func TestInjectMessage(t *testing.T) {
	log := func(fields ...pipeline.Field) *pipeline.Message {
		return &pipeline.Message{Type: "log", Severity: DefaultSeverity, Fields: fields}
	}
	str := func(name, v string) pipeline.Field {
		return pipeline.Field{Name: name, Kind: pipeline.KindString, Str: v}
	}
	flt := func(name string, v float64) pipeline.Field {
		return pipeline.Field{Name: name, Kind: pipeline.KindFloat, Float: v}
	}
	intf := func(name string, v int64) pipeline.Field {
		return pipeline.Field{Name: name, Kind: pipeline.KindInt, Int: v}
	}
	for _, tc := range []struct {
		name, table string
		want        *pipeline.Message
	}{
		{"headers", `{Type = "log", Logger = "me", Payload = "text", Severity = 3, Hostname = "h", Pid = 7,
			Timestamp = ns("1700000000123456789"), Uuid = "018bcfe5-6800-7000-8000-00000000002a"}`,
			&pipeline.Message{Type: "log", Logger: "me", Payload: []byte("text"), Severity: 3, Hostname: "h", Pid: 7,
				Timestamp: 1700000000123456789,
				UUID:      pipeline.UUID{0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x70, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0x2a}}},
		{"defaults", `{Type = "log"}`, log()},
		{"severity zero stays zero", `{Type = "log", Severity = 0}`, &pipeline.Message{Type: "log"}},
		{"severity as a level name", `{Type = "log", Severity = "WARN"}`, &pipeline.Message{Type: "log", Severity: 4}},
		{"severity as a syslog number string", `{Type = "log", Severity = "2"}`, &pipeline.Message{Type: "log", Severity: 2}},
		{"timestamp number", `{Type = "log", Timestamp = 1.5e9}`,
			&pipeline.Message{Type: "log", Severity: DefaultSeverity, Timestamp: 1500000000}},
		{"timestamp string", `{Type = "log", Timestamp = "1700000000123456789"}`,
			&pipeline.Message{Type: "log", Severity: DefaultSeverity, Timestamp: 1700000000123456789}},
		{"scalars sorted by name", `{Type = "log", Fields = {s = "x", n = 3, b = false}}`,
			log(pipeline.Field{Name: "b", Kind: pipeline.KindBool}, flt("n", 3), str("s", "x"))},
		{"typed", `{Type = "log", Fields = {
				i = {value = 3, type = "int"}, u = {value = "18446744073709551615", type = "uint"},
				f = {value = 2, type = "float"}, y = {value = "\0\1", type = "bytes"},
				big = {value = "9007199254740993", type = "int"}, t = {value = ns(5), type = "int"},
				h = {value = 7, value_type = 2, representation = "count"}}}`,
			log(intf("big", 9007199254740993), flt("f", 2), intf("h", 7), intf("i", 3), intf("t", 5),
				pipeline.Field{Name: "u", Kind: pipeline.KindUint, Uint: math.MaxUint64},
				pipeline.Field{Name: "y", Kind: pipeline.KindBytes, Bytes: []byte{0, 1}})},
		{"ns field", `{Type = "log", Fields = {at = ns(42)}}`, log(intf("at", 42))},
		{"repeated", `{Type = "log", Fields = {tag = {"a", "b"}, n = {value = {1, 2}, type = "int"}}}`,
			log(intf("n", 1), intf("n", 2), str("tag", "a"), str("tag", "b"))},
		{"metric", `{Type = "metric", Timestamp = ns(1700000000000000000),
				Fields = {name = "cpu", usage_user = 12.5, usage_system = {value = 3, type = "int"}},
				Tags = {host = "edge-1", cpu = "cpu0"}}`,
			&pipeline.Message{Type: "metric", Severity: DefaultSeverity, Timestamp: 1700000000000000000,
				Fields: []pipeline.Field{
					{Name: "name", Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "cpu"},
					{Name: "cpu", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "cpu0"},
					{Name: "host", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "edge-1"},
					intf("usage_system", 3),
					flt("usage_user", 12.5),
				}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newSandbox(t, "function process_message() inject_message("+tc.table+") end")
			if _, err := s.ProcessMessage(&pipeline.Message{}); err != nil {
				t.Fatal(err)
			}
			if len(c.msgs) != 1 {
				t.Fatalf("%d messages injected, want 1", len(c.msgs))
			}
			if got := c.msgs[0]; !got.Equal(tc.want) {
				t.Errorf("injected\n%+v\nwant\n%+v", got, tc.want)
			}
			if tc.want.Type == pipeline.MetricType {
				if _, err := pipeline.AppendLineProtocol(nil, c.msgs[0]); err != nil {
					t.Errorf("the metric does not write as line protocol: %v", err)
				}
			}
		})
	}
}

func TestInjectMessageErrors(t *testing.T) {
	for _, tc := range []struct{ table, want string }{
		{`{Type = 3}`, ""}, // a number is accepted as a string header
		{`{Type = {}}`, "Type must be a string"},
		{`{Severity = 1.5}`, "Severity must be a 32-bit integer"},
		{`{Severity = "loud"}`, `Severity must be a number or a level name`},
		{`{Severity = {}}`, "Severity must be a number"},
		{`{Timestamp = "soon"}`, "Timestamp must be"},
		{`{Timestamp = {}}`, "Timestamp must be"},
		{`{Uuid = "nope"}`, "Uuid must be"},
		{`{Fields = 1}`, "Fields must be a table"},
		{`{Fields = {[1] = "x"}}`, "keys must be strings"},
		{`{Fields = {x = print}}`, "cannot send a function"},
		{`{Fields = {x = {}}}`, "array of values"},
		{`{Fields = {x = {value = 1.5, type = "int"}}}`, "not a valid int"},
		{`{Fields = {x = {value = -1, type = "uint"}}}`, "not a valid uint"},
		{`{Fields = {x = {value = 1, type = "decimal"}}}`, "unknown type"},
		{`{Fields = {x = {value = 1, type = "bool"}}}`, "not a valid bool"},
		{`{Type = "metric", Fields = {v = 1}}`, "needs Fields.name"},
		{`{Type = "metric", Fields = {name = "cpu"}}`, "at least one value"},
		{`{Type = "metric", Fields = {name = "cpu", v = 1}, Tags = {host = 1}}`, "tag host must be a string"},
	} {
		t.Run(tc.table, func(t *testing.T) {
			s, c := newSandbox(t, "function process_message() inject_message("+tc.table+") end")
			status, err := s.ProcessMessage(&pipeline.Message{})
			if tc.want == "" {
				if err != nil || len(c.msgs) != 1 {
					t.Fatalf("status %d, err %v, %d messages", status, err, len(c.msgs))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || status != -1 {
				t.Fatalf("status %d, err %v; want -1 and an error with %q", status, err, tc.want)
			}
			var te *TerminatedError
			if errors.As(err, &te) {
				t.Fatalf("a bad message terminated the sandbox: %v", err)
			}
		})
	}
}

func TestInjectPayload(t *testing.T) {
	s, c := newSandbox(t, `
function process_message()
  add_to_payload("a=", 1, " b=", 2.5, " ok=", true, " t=", read_message("Timestamp"))
  add_to_payload("\n")
  inject_payload("txt", "summary", "end")
  inject_payload("json", "second", "{}")
end`)
	if _, err := s.ProcessMessage(&pipeline.Message{Timestamp: 1700000000123456789}); err != nil {
		t.Fatal(err)
	}
	if len(c.msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(c.msgs))
	}
	m := c.msgs[0]
	if m.Type != "txt" || string(m.Payload) != "a=1 b=2.5 ok=true t=1700000000123456789\nend" {
		t.Errorf("first: type %q payload %q", m.Type, m.Payload)
	}
	if f := m.Field("payload_name"); f == nil || f.Str != "summary" {
		t.Errorf("payload_name = %+v", f)
	}
	if m := c.msgs[1]; m.Type != "json" || string(m.Payload) != "{}" {
		t.Errorf("second (the buffer must be empty again): type %q payload %q", m.Type, m.Payload)
	}
	if _, err := eval(t, s, nil, `add_to_payload({})`); err == nil {
		t.Error("add_to_payload({}) did not fail")
	}
	if _, err := eval(t, s, nil, `(function() add_to_payload(setmetatable({}, {__tostring = function() return "obj" end})) inject_payload("t", "n") end)()`); err != nil {
		t.Error(err)
	}
	if got := string(c.msgs[len(c.msgs)-1].Payload); got != "obj" {
		t.Errorf("payload of a value with __tostring: %q", got)
	}
}

// A timestamp read from a message and injected again keeps every
// nanosecond, and the arithmetic on it is exact.
func TestTimestampExact(t *testing.T) {
	const ts = 1700000000123456789
	s, c := newSandbox(t, `
function process_message()
  local t = read_message("Timestamp")
  inject_message{Type = "copy", Timestamp = t}
  inject_message{Type = "plus", Timestamp = t + 1}
  inject_message{Type = "minute", Timestamp = t - t % 60e9}
  inject_message{Type = "string", Timestamp = tostring(t)}
  inject_message{Type = "concat", Timestamp = "" .. t}
end`)
	if _, err := s.ProcessMessage(&pipeline.Message{Timestamp: ts}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"copy": ts, "plus": ts + 1, "minute": ts - ts%60_000_000_000, "string": ts, "concat": ts}
	for _, m := range c.msgs {
		if m.Timestamp != want[m.Type] {
			t.Errorf("%s: Timestamp %d, want %d", m.Type, m.Timestamp, want[m.Type])
		}
	}
	if len(c.msgs) != len(want) {
		t.Errorf("%d messages, want %d", len(c.msgs), len(want))
	}
}

func TestNS(t *testing.T) {
	s, _ := newSandbox(t, "")
	m := &pipeline.Message{Timestamp: 1700000000123456789}
	for _, tc := range []struct{ expr, want string }{
		{`read_message("Timestamp")`, "ns:1700000000123456789"},
		{`read_message("Timestamp") + 1`, "ns:1700000000123456790"},
		{`1 + read_message("Timestamp")`, "ns:1700000000123456790"},
		{`read_message("Timestamp") - 1e9`, "ns:1699999999123456789"},
		{`read_message("Timestamp") - ns(1700000000000000000)`, "number:123456789"},
		{`read_message("Timestamp") % 1e9`, "number:123456789"},
		{`ns(-7) % 5`, "number:3"},
		{`read_message("Timestamp") / 1e9`, "number:1.7000000001234567e+09"},
		{`ns(10) * 2.5`, "number:25"},
		{`-ns(5)`, "ns:-5"},
		{`read_message("Timestamp"):seconds()`, "number:1.7000000001234567e+09"},
		{`ns(3):number()`, "number:3"},
		{`tostring(read_message("Timestamp"))`, "string:1700000000123456789"},
		{`"t=" .. read_message("Timestamp") .. "!"`, "string:t=1700000000123456789!"},
		{`ns(1) == ns(1)`, "boolean:true"},
		{`ns(1) ~= ns(2)`, "boolean:true"},
		{`ns(1) < ns(2)`, "boolean:true"},
		{`ns(2) <= ns(2)`, "boolean:true"},
		{`ns(3) > ns(2)`, "boolean:true"},
		{`ns(1) == 1`, "boolean:false"}, // different types, as in Lua
		{`ns("1700000000123456789")`, "ns:1700000000123456789"},
		{`ns(1.5e9)`, "ns:1500000000"},
		{`ns(ns(4))`, "ns:4"},
		{`string.format("%d", read_message("Timestamp"))`, "string:1700000000123456789"},
		{`string.format("%s", read_message("Timestamp"))`, "string:1700000000123456789"},
	} {
		v, err := eval(t, s, m, tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := show(v); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
		}
	}
	for _, expr := range []string{`ns(1) + ns(2)`, `ns({})`, `ns("x")`, `ns(1) < 2`, `ns(9223372036854775807) + 1`, `ns(1) + "x"`} {
		if _, err := eval(t, s, m, expr); err == nil {
			t.Errorf("%s did not fail", expr)
		}
	}
}

func TestNSValue(t *testing.T) {
	s, _ := newSandbox(t, "")
	for _, tc := range []struct {
		expr string
		want int64
		ok   bool
	}{
		{`ns("1700000000123456789")`, 1700000000123456789, true},
		{`1e9`, 1000000000, true},
		{`"-42"`, -42, true},
		{`"4.5"`, 0, false},
		{`1e300`, 0, false},
		{`0/0`, 0, false},
		{`{}`, 0, false},
	} {
		v, err := eval(t, s, nil, tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := NSValue(s.L, v); n != tc.want || ok != tc.ok {
			t.Errorf("NSValue(%s) = %d, %v; want %d, %v", tc.expr, n, ok, tc.want, tc.ok)
		}
	}
}

func TestProcessMessageResults(t *testing.T) {
	for _, tc := range []struct {
		body       string
		wantStatus int
		wantErr    string
	}{
		{"return 0", 0, ""},
		{"", 0, ""},
		{"return", 0, ""},
		{"return -1", -1, ""},
		{"return -2", -2, ""},
		{`return -1, "bad input"`, -1, "bad input"},
		{`return "bad input"`, -1, "bad input"},
		{`error("boom")`, -1, "test.lua:1: boom"},
		{`local x = nil; return x.y`, -1, "attempt to index"},
		{`return {}`, -1, "returned a table"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			s, _ := newSandbox(t, "function process_message() "+tc.body+" end")
			for range 2 { // an error does not stop the sandbox
				status, err := s.ProcessMessage(&pipeline.Message{})
				if status != tc.wantStatus {
					t.Errorf("status %d, want %d", status, tc.wantStatus)
				}
				if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err %v, want %q", err, tc.wantErr)
				}
			}
		})
	}
}

func TestTimerEvent(t *testing.T) {
	s, c := newSandbox(t, `
function timer_event(ns)
  inject_message{Type = "tick", Timestamp = ns, Payload = type(ns)}
end`)
	if s.HasProcessMessage() {
		t.Error("HasProcessMessage for a script without process_message")
	}
	if err := s.TimerEvent(1700000000123456789); err != nil {
		t.Fatal(err)
	}
	if len(c.msgs) != 1 || c.msgs[0].Timestamp != 1700000000123456789 || string(c.msgs[0].Payload) != "userdata" {
		t.Fatalf("injected %+v", c.msgs)
	}
	if _, err := s.ProcessMessage(&pipeline.Message{}); err == nil {
		t.Error("ProcessMessage without process_message did not fail")
	}

	quiet, _ := newSandbox(t, "function process_message() end")
	if err := quiet.TimerEvent(1); err != nil {
		t.Errorf("TimerEvent without timer_event: %v", err)
	}
	if !quiet.HasProcessMessage() {
		t.Error("HasProcessMessage = false")
	}
	failing, _ := newSandbox(t, `function timer_event() error("no") end`)
	if err := failing.TimerEvent(1); err == nil || !strings.Contains(err.Error(), "no") {
		t.Errorf("TimerEvent: %v", err)
	}
}

func TestPrint(t *testing.T) {
	log, buf := logBuffer()
	s, _ := newSandbox(t, `print("hello", 1, nil, ns(5))`, func(o *Options) { o.Log = log.With("plugin", "printer") })
	_ = s
	got := buf.String()
	if !strings.Contains(got, `msg="hello\t1\tnil\t5"`) || !strings.Contains(got, "source=print") {
		t.Errorf("log: %s", got)
	}
	// The owner's logger names the plugin, once.
	if n := strings.Count(got, "plugin="); n != 1 {
		t.Errorf("plugin= appears %d times: %s", n, got)
	}
}

// A script printing in a loop cannot flood the log: what print writes is
// rate-limited, and what it leaves out is counted and announced.
func TestPrintFlood(t *testing.T) {
	log, buf := logBuffer()
	s, _ := newSandbox(t, `function process_message()
  for i = 1, 1000 do print(string.rep("x", 1000)) end
end`, func(o *Options) { o.Log = log })
	for range 10 {
		if _, err := s.ProcessMessage(&pipeline.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	// 10 MB printed; the log holds at most the burst and what the rate
	// allowed while the calls ran.
	logged := buf.Len()
	u := s.Usage()
	t.Logf("printed 10000 lines of 1000 bytes: %d bytes logged, %d lines dropped", logged, u.PrintsDropped)
	if logged > 4*printBurstBytes {
		t.Errorf("%d bytes logged for 10 MB printed; the burst is %d", logged, printBurstBytes)
	}
	if u.PrintsDropped == 0 || u.PrintsDropped >= 10000 {
		t.Errorf("PrintsDropped = %d", u.PrintsDropped)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		src  string
		line int
		msg  string
	}{
		{"x = = 1", 1, "near"},
		{"\n\nlocal function f(\n", 0, "end of file"},
		{"local x = 1\nerror('top level fails')", 2, "top level fails"},
		{"local x = nil\nlocal y = x.field", 2, "attempt to index"},
		{"require('nope')", 1, "module 'nope' not found"},
	} {
		_, err := New(Options{Script: "bad.lua", Source: tc.src})
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("%q: err = %v, want a *CompileError", tc.src, err)
			continue
		}
		if ce.Line != tc.line || !strings.Contains(ce.Msg, tc.msg) || ce.Script != "bad.lua" {
			t.Errorf("%q: %+v, want line %d and %q", tc.src, ce, tc.line, tc.msg)
		}
	}
	if _, err := New(Options{Script: "testdata/does-not-exist.lua"}); err == nil {
		t.Error("a missing script did not fail")
	}
}

func TestScriptFile(t *testing.T) {
	s, err := New(Options{Script: "testdata/counter.lua"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Files(); len(got) != 1 || got[0] != "testdata/counter.lua" {
		t.Errorf("Files = %v", got)
	}
	if s.name != "counter.lua" {
		t.Errorf("default name %q", s.name)
	}
}
