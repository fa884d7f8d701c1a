package all

import (
	"slices"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/sandbox"
)

// script uses the three modules the way a filter does, keeping its state in
// globals so that the sandbox can preserve it.
const script = `
local change = require "change"
local circular_buffer = require "circular_buffer"
local json = require "json"

detector = change.new{window = 40, min_samples = 5}
cb = circular_buffer.new(10, 1, 60)
cb:set_header(1, "Values")
changes = 0
count = 0

function process_message()
  count = count + 1
  if count == 1 then nulls = {json.null, json.decode('{"a":null}')} end
  local ts, v = read_message("Timestamp"), read_message("Fields[value]")
  cb:add(ts, 1, v)
  local cp = detector:add(ts, v)
  if cp then
    changes = changes + 1
    assert(type(cp.time) == "userdata", "an ns timestamp comes back as an ns")
    inject_payload("json", "change", json.encode{direction = cp.direction, index = cp.index, time = tostring(cp.time)})
  end
  return 0
end

function timer_event(ns)
  assert(count == 40 and nulls, "globals survive a restore")
  assert(nulls[1] == json.null and nulls[2].a == json.null, "json.null survives a restore")
  inject_payload("cbuf", "values", tostring(cb))
end
`

func TestInSandbox(t *testing.T) {
	want := []string{"change", "circular_buffer", "json"}
	for _, name := range want {
		if !slices.Contains(sandbox.Modules(), name) {
			t.Fatalf("module %s is not registered: %v", name, sandbox.Modules())
		}
	}
	var injected []string
	newSandbox := func() *sandbox.Sandbox {
		s, err := sandbox.New(sandbox.Options{Name: "test", Source: script, Inject: func(m *pipeline.Message) error {
			injected = append(injected, m.Type+" "+string(m.Payload))
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	s := newSandbox()
	const start = int64(1_700_000_000_000_000_000)
	send := func(s *sandbox.Sandbox, i int, v float64) {
		t.Helper()
		m := &pipeline.Message{Timestamp: start + int64(i)*60e9}
		m.AddFloat("value", v)
		if status, err := s.ProcessMessage(m); status != 0 || err != nil {
			t.Fatalf("message %d: %d %v", i, status, err)
		}
	}
	for i := range 30 {
		send(s, i, 1)
	}
	data, err := s.Preserve()
	if err != nil {
		t.Fatal(err)
	}
	s2 := newSandbox()
	if ok, reason, err := s2.Restore(data); !ok || err != nil {
		t.Fatalf("restore: %v %s %v", ok, reason, err)
	}
	for i := 30; i < 40; i++ {
		send(s2, i, 5)
	}
	if err := s2.TimerEvent(start + 40*60e9); err != nil {
		t.Fatal(err)
	}
	if len(injected) != 2 {
		t.Fatalf("injected %q, want a change and a cbuf", injected)
	}
	if want := `json {"direction":"up","index":31,"time":"1700001800000000000"}`; injected[0] != want {
		t.Errorf("change: %s, want %s", injected[0], want)
	}
	// Rows start on whole minutes, and 1.7e9 s is 20 s into one: the oldest
	// of the ten rows ending with message 39 starts at 1700001780 s.
	if !strings.HasPrefix(injected[1], `cbuf {"time":1700001780,"rows":10,"columns":1,"seconds_per_row":60,"column_info":[{"name":"Values"`) ||
		!strings.HasSuffix(injected[1], "\n5\n5\n5\n5\n5\n5\n5\n5\n5\n5\n") {
		t.Errorf("cbuf: %s", injected[1])
	}
}
