package sandbox_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/sandbox"
	_ "github.com/interoceptor/interoceptor/sandbox/modules/all" // change, circular_buffer, json
)

// The Go modules the product ships, as a filter uses them: required by
// name (also setting the global, as Heka's require did), fed ns timestamps,
// and carried across a reload by Preserve and Restore.
const modulesScript = `
require "circular_buffer"
local json = require "json"
local change = require "change"

requests = circular_buffer.new(60, 1, 1)
events = 0

function process_message()
  local ts = read_message("Timestamp")
  requests:add(ts, 1, 1)
  local doc = json.decode(read_message("Payload"))
  events = events + doc.n
  inject_message{Type = "seen", Payload = json.encode({n = events})}
  return 0
end`

func TestGoModules(t *testing.T) {
	for _, name := range []string{"change", "circular_buffer", "json"} {
		found := false
		for _, m := range sandbox.Modules() {
			found = found || m == name
		}
		if !found {
			t.Fatalf("module %s is not registered (have %v)", name, sandbox.Modules())
		}
	}
	var out []string
	opts := sandbox.Options{Name: "modules", Script: "modules.lua", Source: modulesScript,
		Log: slog.New(slog.DiscardHandler),
		Inject: func(m *pipeline.Message) error {
			out = append(out, string(m.Payload))
			return nil
		}}
	s, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const ts = 1700000000123456789
	for i := range 3 {
		if _, err := s.ProcessMessage(&pipeline.Message{Timestamp: ts + int64(i), Payload: []byte(`{"n": 2}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(out, " ") != `{"n":2} {"n":4} {"n":6}` {
		t.Errorf("injected %q", out)
	}
	data, err := s.Preserve()
	if err != nil {
		t.Fatal(err)
	}

	next, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if ok, reason, err := next.Restore(data); !ok || err != nil {
		t.Fatalf("Restore: %v %q %v", ok, reason, err)
	}
	out = nil
	if _, err := next.ProcessMessage(&pipeline.Message{Timestamp: ts, Payload: []byte(`{"n": 1}`)}); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0] != `{"n":7}` {
		t.Errorf("after restore: %q", out)
	}
	if u := next.Usage(); u.MemoryBytes <= 0 || u.MemoryBytes > 1<<20 {
		t.Errorf("usage %+v", u)
	}
}
