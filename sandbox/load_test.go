package sandbox

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	lua "github.com/yuin/gopher-lua"
)

// The API and the libraries a script names reach its functions as
// upvalues (locals of the chunk), not as globals looked up by name at
// each call.
func TestAPIIsBoundToLocals(t *testing.T) {
	s, _ := newSandbox(t, `function process_message()
  local v = read_message("Fields[user]")
  write_message("Fields[x]", string.upper(tostring(v)))
  inject_message()
end`)
	fn, ok := s.globals.RawGetString("process_message").(*lua.LFunction)
	if !ok {
		t.Fatal("no process_message")
	}
	for _, name := range []string{"read_message", "write_message", "inject_message", "string", "tostring"} {
		if !slices.Contains(fn.Proto.DbgUpvalues, name) {
			t.Errorf("%s is not an upvalue of process_message (upvalues %v)", name, fn.Proto.DbgUpvalues)
		}
		for _, c := range fn.Proto.Constants {
			if c == lua.LString(name) {
				t.Errorf("process_message looks %s up as a global", name)
			}
		}
	}
	m := &pipeline.Message{Fields: []pipeline.Field{{Name: "user", Kind: pipeline.KindString, Str: "ab"}}}
	if _, err := s.ProcessMessage(m); err != nil {
		t.Fatal(err)
	}
}

// Bound to locals, the API behaves as the globals did: a script may
// replace a function for its own code, the globals stay as they were
// (a module sees them), and a global the script sets is a global.
func TestBoundAPIKeepsLuaSemantics(t *testing.T) {
	s, c := newSandbox(t, `
function read_message(name) return "mine: " .. name end
count = 0
function process_message()
  count = count + 1
  if read_message("x") ~= "mine: x" then error("the script's own read_message was not called") end
  if _G.read_message == read_message then error("the global was replaced") end
  inject_message{Payload = _G.read_message("Payload")}
end`)
	if _, err := s.ProcessMessage(&pipeline.Message{Payload: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	if len(c.msgs) != 1 || string(c.msgs[0].Payload) != "p" {
		t.Errorf("sent %+v, want one message with the payload read by the global read_message", c.msgs)
	}
	if v := s.globals.RawGetString("count"); v != lua.LNumber(1) {
		t.Errorf("count = %v, want the global 1", v)
	}
}

// A chunk that already has nearly as many locals as Lua allows is
// compiled as it is, not refused for the locals the sandbox would add.
func TestChunkWithManyLocalsStillLoads(t *testing.T) {
	var b strings.Builder
	for i := range 198 {
		fmt.Fprintf(&b, "local v%d = %d\n", i, i)
	}
	b.WriteString("function process_message() inject_message{Payload = tostring(v197)} end\n")
	s, c := newSandbox(t, b.String())
	if _, err := s.ProcessMessage(&pipeline.Message{}); err != nil {
		t.Fatal(err)
	}
	if len(c.msgs) != 1 || string(c.msgs[0].Payload) != "197" {
		t.Errorf("sent %+v", c.msgs)
	}
}
