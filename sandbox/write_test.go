package sandbox

import (
	"bytes"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// passOn runs body in process_message over a copy of in, then
// inject_message(), and returns what was sent; the message handed in must
// come out of the call unchanged. It runs body twice: once with Inject
// alone, once as filters.lua runs it, over in decoded from a frame with
// Options.PassOn set, where a message that only gained fields is encoded by
// copying its record (pipeline.BatchEncoder.AddExtended). Both must send the
// same message, byte for byte, and the record must be copied exactly when
// nothing of in was changed.
func passOn(t *testing.T, in *pipeline.Message, body string) *pipeline.Message {
	t.Helper()
	src := "function process_message()\n" + body + "\ninject_message()\nend"
	s, c := newSandbox(t, src)
	m := in.Clone()
	if _, err := s.ProcessMessage(m); err != nil {
		t.Fatal(err)
	}
	if !m.Equal(in) {
		t.Errorf("the message handed in was changed:\n%+v\nwant\n%+v", m, in)
	}
	if len(c.msgs) != 1 {
		t.Fatalf("%d messages sent, want 1", len(c.msgs))
	}
	out := c.msgs[0]

	var enc pipeline.BatchEncoder
	extended := 0
	s2, _ := newSandbox(t, src, func(o *Options) {
		o.Inject = func(m *pipeline.Message) error { enc.Add(m); return nil }
		o.PassOn = func(base *pipeline.Message, extra []pipeline.Field) error {
			extended++
			enc.AddExtended(base, extra)
			return nil
		}
	})
	dec := pipeline.BatchDecoder{Alias: true}
	msgs, err := dec.Decode(pipeline.EncodeMessage(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.ProcessMessage(msgs[0]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc.Bytes(), pipeline.EncodeMessage(out)) {
		t.Errorf("passed on with Options.PassOn, the frame differs from the one Inject's message makes")
	}
	untouched := out.Type == in.Type && out.Logger == in.Logger && out.Hostname == in.Hostname &&
		bytes.Equal(out.Payload, in.Payload) && out.Severity == in.Severity && out.Pid == in.Pid &&
		out.Timestamp == in.Timestamp && out.UUID == in.UUID && len(out.Fields) >= len(in.Fields) &&
		(&pipeline.Message{Fields: out.Fields[:len(in.Fields)]}).Equal(&pipeline.Message{Fields: in.Fields})
	if want := map[bool]int{true: 1, false: 0}[untouched]; extended != want {
		t.Errorf("Options.PassOn called %d times, want %d (the message handed in kept whole: %v)", extended, want, untouched)
	}
	return out
}

func TestPassOnUnchanged(t *testing.T) {
	in := testMessage()
	out := passOn(t, in, "")
	if !out.Equal(in) {
		t.Errorf("sent\n%+v\nwant\n%+v", out, in)
	}
	if !bytes.Equal(pipeline.EncodeMessage(out), pipeline.EncodeMessage(in)) {
		t.Error("the message passed on does not encode byte for byte as the one handed in")
	}
}

func TestWriteMessage(t *testing.T) {
	in := testMessage()
	metric := benchMetric()
	metric.Timestamp = 1700000000000000000
	str := func(name, v string) pipeline.Field {
		return pipeline.Field{Name: name, Kind: pipeline.KindString, Str: v}
	}
	for _, tc := range []struct {
		name, body string
		in         *pipeline.Message
		want       func(m *pipeline.Message)
	}{
		{"headers", `write_message("Type", "access"); write_message("Logger", "me"); write_message("Hostname", "h2")
			write_message("Payload", "new text"); write_message("Severity", 2); write_message("Pid", 7)
			write_message("Timestamp", ns("1700000000999999999")); write_message("Uuid", "018bcfe5-6800-7000-8000-0000000000ff")`,
			in, func(m *pipeline.Message) {
				m.Type, m.Logger, m.Hostname, m.Payload, m.Severity, m.Pid = "access", "me", "h2", []byte("new text"), 2, 7
				m.Timestamp = 1700000000999999999
				m.UUID[15] = 0xff
			}},
		{"number as a string header", `write_message("Type", 5)`, in, func(m *pipeline.Message) { m.Type = "5" }},
		{"severity as a level name", `write_message("Severity", "error")`, in, func(m *pipeline.Message) { m.Severity = 3 }},
		{"new field appended", `write_message("Fields[env]", "prod")`, in,
			func(m *pipeline.Message) { m.Fields = append(m.Fields, str("env", "prod")) }},
		{"new typed field", `write_message("Fields[n]", {value = 3, type = "int"})`, in,
			func(m *pipeline.Message) { m.AddInt("n", 3) }},
		{"new field: a number is a float", `write_message("Fields[n]", 3)`, in,
			func(m *pipeline.Message) { m.AddFloat("n", 3) }},
		{"existing field keeps its kind and place", `write_message("Fields[status]", 404); write_message("Fields[bytes]", "18446744073709551615")`, in,
			func(m *pipeline.Message) { m.Field("status").Int = 404; m.Field("bytes").Uint = 1<<64 - 1 }},
		{"kind changed with a typed value", `write_message("Fields[status]", {value = "404", type = "string"})`, in,
			func(m *pipeline.Message) { *m.Field("status") = str("status", "404") }},
		{"field_index", `write_message("Fields[tag]", "2nd", nil, 1)`, in,
			func(m *pipeline.Message) { m.FieldAt("tag", 1).Str = "2nd" }},
		{"field_index one past the last appends", `write_message("Fields[tag]", "third", "", 2)`, in,
			func(m *pipeline.Message) { m.AddString("tag", "third") }},
		{"nil removes", `write_message("Fields[tag]", nil, nil, 0); write_message("Fields[missing]", nil)`, in,
			func(m *pipeline.Message) {
				i := 6
				m.Fields = append(m.Fields[:i], m.Fields[i+1:]...)
			}},
		{"representation is accepted", `write_message("Fields[duration]", 0.5, "s")`, in,
			func(m *pipeline.Message) { m.Field("duration").Float = 0.5 }},
		{"read after write", `write_message("Fields[status]", read_message("Fields[status]") + 1)
			write_message("Payload", read_message("Payload") .. "!")`, in,
			func(m *pipeline.Message) { m.Field("status").Int = 201; m.Payload = []byte("GET / 200!") }},
		{"a tag added to a metric", `write_message("Tags[env]", "prod"); write_message("Tags[host]", "edge-2")`, metric,
			func(m *pipeline.Message) {
				m.Field("host").Str = "edge-2"
				m.Fields = append(m.Fields, pipeline.Field{Name: "env", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "prod"})
			}},
		{"a metric's value", `write_message("Fields[user]", read_message("Fields[user]") * 2)`, metric,
			func(m *pipeline.Message) { m.Field("user").Float = 25 }},
		{"the measurement", `write_message("Fields[name]", "cpu2")`, metric,
			func(m *pipeline.Message) { m.Field("name").Str = "cpu2" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := passOn(t, tc.in, tc.body)
			want := tc.in.Clone()
			tc.want(want)
			if !out.Equal(want) {
				t.Errorf("sent\n%+v\nwant\n%+v", out, want)
			}
			if want.Type == pipeline.MetricType {
				if _, err := pipeline.AppendLineProtocol(nil, out); err != nil {
					t.Errorf("the metric does not write as line protocol: %v", err)
				}
			}
		})
	}
}

func TestWriteMessageErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`write_message("EnvVersion", "1")`, "unknown message part"},
		{`write_message("Type", {})`, "Type must be a string"},
		{`write_message("Severity", 1.5)`, "Severity must be a 32-bit integer"},
		{`write_message("Severity", "loud")`, "Severity must be a number or a level name"},
		{`write_message("Pid", 2^40)`, "Pid must be a 32-bit integer"},
		{`write_message("Timestamp", "soon")`, "Timestamp must be"},
		{`write_message("Uuid", "nope")`, "Uuid must be"},
		{`write_message("Fields[status]", 1.5)`, "not a valid int"},
		{`write_message("Fields[status]", "x")`, "not a valid int"},
		{`write_message("Fields[x]", print)`, "cannot send a function"},
		{`write_message("Fields[x]", {1, 2})`, "writes one value"},
		{`write_message("Fields[tag]", "x", nil, 3)`, "beyond the next one"},
		{`write_message("Fields[tag]", "x", nil, -1)`, "field_index must be 0 or more"},
		{`write_message("Fields[tag]", "x", nil, 0, 1)`, "array_index must be 0"},
		{`write_message("Fields[tag]", "x", 5)`, "representation must be a string"},
		{`write_message("Type", "x", nil, 1)`, "field_index applies to"},
		{`write_message("Tags[host]", 5)`, "tag host must be a string"},
		{`write_message("Fields[]", 5)`, "needs a name"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			s, c := newSandbox(t, "function process_message() "+tc.body+" inject_message() end")
			in := testMessage()
			m := in.Clone()
			status, err := s.ProcessMessage(m)
			if err == nil || !strings.Contains(err.Error(), tc.want) || status != -1 {
				t.Fatalf("status %d, err %v; want -1 and an error with %q", status, err, tc.want)
			}
			if len(c.msgs) != 0 || !m.Equal(in) {
				t.Errorf("a failed write sent %d messages or changed the message handed in", len(c.msgs))
			}
			if err := s.usable(); err != nil {
				t.Fatalf("a bad write terminated the sandbox: %v", err)
			}
		})
	}
	// The measurement stays a non-empty string.
	s, _ := newSandbox(t, `function process_message() write_message("Fields[name]", "") end`)
	if _, err := s.ProcessMessage(benchMetric()); err == nil || !strings.Contains(err.Error(), "measurement") {
		t.Errorf("empty measurement: err = %v", err)
	}
	// Outside process_message there is nothing to write or pass on.
	s, _ = newSandbox(t, `function timer_event() write_message("Type", "x") end`)
	if err := s.TimerEvent(1); err == nil || !strings.Contains(err.Error(), "outside process_message") {
		t.Errorf("write in timer_event: err = %v", err)
	}
	s, _ = newSandbox(t, `function timer_event() inject_message() end`)
	if err := s.TimerEvent(1); err == nil || !strings.Contains(err.Error(), "give a table") {
		t.Errorf("pass on in timer_event: err = %v", err)
	}
}

// A write changes nothing the next call sees: each call starts from the
// message handed in.
func TestWriteIsPerCall(t *testing.T) {
	s, c := newSandbox(t, `function process_message()
  if read_message("Fields[env]") then return -1, "a write leaked into the next call" end
  write_message("Fields[env]", "prod"); write_message("Payload", "x")
  inject_message()
end`)
	for i := 0; i < 3; i++ {
		if _, err := s.ProcessMessage(testMessage()); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.msgs) != 3 || string(c.msgs[2].Payload) != "x" || c.msgs[2].Field("env") == nil {
		t.Fatalf("sent %+v", c.msgs)
	}
}

func TestReadMessageMany(t *testing.T) {
	s, _ := newSandbox(t, "")
	m := benchMetric()
	v, err := eval(t, s, m, `table.concat({read_message("Fields[user]", "Fields[system]", "Type", "Tags[host]")}, ",")`)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String(); got != "12.5,3.25,metric,edge-0001" {
		t.Errorf("got %q", got)
	}
	v, err = eval(t, s, m, `select("#", read_message("Fields[user]", "Fields[missing]", "Tags[host]"))`)
	if err != nil || v.String() != "3" {
		t.Errorf("count = %v, %v; want 3", v, err)
	}
	v, err = eval(t, s, m, `select(3, read_message("Fields[user]", "Fields[missing]", "Tags[host]"))`)
	if err != nil || v.String() != "edge-0001" {
		t.Errorf("third = %v, %v", v, err)
	}
	if _, err := eval(t, s, m, `read_message("Fields[user]", "Nope")`); err == nil || !strings.Contains(err.Error(), "bad argument #2") {
		t.Errorf("bad second name: err = %v", err)
	}
}

// pipeline.EncodedSize is what the output limit compares: the codec's size
// exactly, for the messages a script sends.
func TestEncodedSize(t *testing.T) {
	big := testMessage()
	big.Payload = bytes.Repeat([]byte("x"), 300)
	big.Timestamp = -1
	big.Pid = -5
	for _, m := range []*pipeline.Message{{}, testMessage(), benchMetric(), benchLine(), big} {
		if got, want := pipeline.EncodedSize(m), len(pipeline.EncodeMessage(m)); got != want {
			t.Errorf("EncodedSize = %d, EncodeMessage is %d bytes (%+v)", got, want, m)
		}
	}
}

// A message passed on is held to the output limit like one built.
func TestPassOnOutputLimit(t *testing.T) {
	s, _ := newSandbox(t, `function process_message() write_message("Payload", string.rep("x", 2000)) inject_message() end`,
		func(o *Options) { o.Limits.OutputBytes = 1024 })
	_, err := s.ProcessMessage(testMessage())
	wantTerminated(t, err, ReasonOutput)
}
