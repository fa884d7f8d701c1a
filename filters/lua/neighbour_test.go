package lua_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// hostileScripts are the scripts a hostile tester tried, each terminated
// by its own limits (or harmless). The keys after the script are its own.
var hostileScripts = []struct{ name, src, keys string }{
	{"loop", `function process_message() while true do end end`, ""},
	{"tables", `t = {} function process_message() while true do t[#t+1] = {} end end`, ""},
	{"doubling", `function process_message() local s = 'x' while true do s = s .. s end end`, `time_limit = "5s"`},
	{"rep", `function process_message() local s = string.rep("x", 1e9) return 0 end`, ""},
	{"pattern", `function process_message() local s = string.rep("a", 1e5) s:find(".-.-.-.-.-b") return 0 end`, ""},
	{"recursion", `local function f() return 1 + f() end function process_message() return f() end`, ""},
	{"injects", `function process_message() for i = 1, 1e6 do inject_message({Type = "flood"}) end end`, ""},
	{"print", `function process_message() for i = 1, 100 do print(string.rep("p", 1000)) end return 0 end`, ""},
	// Holds 7 MB, under its own 8 MiB: not terminated, but its memory
	// must not be charged to its neighbour.
	{"holder", `held = {} function process_message()
  if #held < 7000 then for i = 1, 100 do held[#held+1] = string.rep("h", 1000) .. #held end end
  return 0
end`, ""},
	{"escape", `function process_message()
  local reached = {}
  for _, name in ipairs({"io", "load", "getfenv", "debug", "loadstring", "dofile", "require", "collectgarbage"}) do
    if _G[name] and name ~= "require" then reached[#reached+1] = name end
  end
  if os.execute or os.getenv or os.exit then reached[#reached+1] = "os" end
  if pcall(require, "os") and package then reached[#reached+1] = "package" end
  if #reached > 0 then error("reached " .. table.concat(reached, ",")) end
  return 0
end`, ""},
}

// healthyScript injects one message per message it gets, and keeps a
// little state; it must get, and pass on, every message, whatever its
// neighbour does.
const healthyScript = `seen = {}
function process_message()
  seen[#seen % 1000 + 1] = read_message("Payload")
  inject_message({Type = "healthy", Payload = read_message("Payload")})
  return 0
end`

// Each hostile script beside a healthy filter, several runs: the healthy
// filter is never stopped and passes on every message every time. Its
// limits are its own: a neighbour's memory, time or output is not charged
// to it.
func TestHostileNeighboursDoNotHurtAHealthyFilter(t *testing.T) {
	const n, runs = 2000, 3
	for _, h := range hostileScripts {
		t.Run(h.name, func(t *testing.T) {
			for run := range runs {
				dir := t.TempDir()
				out := filepath.Join(dir, "out.jsonl")
				rt, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "in"
rate = 0
count = %d
[[filters.lua]]
name = "healthy"
subscribe = ["in"]
publish = "out"
script = %q
[[filters.lua]]
name = "hostile"
subscribe = ["in"]
publish = "hostile"
script = %q
max_restarts = 0
%s
[[outputs.file]]
subscribe = ["out"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), n, writeScript(t, dir, "healthy", healthyScript),
					writeScript(t, dir, "hostile", h.src), h.keys, out))
				if err := wait(false); err != nil {
					t.Fatal(err)
				}
				passed := 0
				for _, m := range jsonMessages(t, out) {
					if m["type"] == "healthy" {
						passed++
					}
				}
				healthy, hostile := pluginStatus(rt, "healthy"), pluginStatus(rt, "hostile")
				if passed != n || healthy.Counters.Errors != 0 || healthy.Status["terminated"] != nil {
					t.Errorf("run %d: the healthy filter passed %d of %d messages; counters %+v, status %v",
						run, passed, n, healthy.Counters, healthy.Status)
				}
				term, _ := hostile.Status["terminated"].(map[string]any)
				t.Logf("run %d: hostile %s: state %s, terminated %v", run, h.name, hostile.State, term)
				if strings.HasPrefix(h.name, "escape") && hostile.Counters.Errors != 0 {
					t.Errorf("the escape script reached something: counters %+v", hostile.Counters)
				}
			}
		})
	}
}

// The case the hostile tester found: a healthy filter whose injects wait
// for a slow consumer (backpressure), beside a script that holds almost its
// own 8 MiB. The healthy filter's calls last long enough to be watched, and
// what the holder keeps alive must not be charged to it.
func TestNeighbourMemoryIsNotCharged(t *testing.T) {
	const n = 20000
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	rt, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
max_pending_bytes = 1048576
[[inputs.generator]]
publish = "in"
rate = 0
count = %d
[[filters.lua]]
name = "healthy"
subscribe = ["in"]
publish = "out"
script = %q
[[filters.lua]]
name = "holder"
subscribe = ["in"]
publish = "held"
script = %q
[[filters.lua]]
name = "slow"
subscribe = ["out"]
publish = "slowed"
script = %q
[[outputs.file]]
subscribe = ["slowed"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), n, writeScript(t, dir, "healthy", healthyScript),
		writeScript(t, dir, "holder", `held = {}
function process_message()
  -- Keeps about 6 MB of its 8 MiB, and replaces some of it every call.
  for i = 1, 25 do held[math.random(6000)] = string.rep("h", 1000) .. math.random() end
  return 0
end`),
		writeScript(t, dir, "slow", `function process_message()
  local x = 0
  for i = 1, 2000 do x = x + i end
  inject_message({Type = "healthy", Payload = read_message("Payload")})
  return 0
end`), out))
	if err := wait(false); err != nil {
		t.Fatal(err)
	}
	healthy := pluginStatus(rt, "healthy")
	if got := len(jsonMessages(t, out)); got != n || healthy.Status["terminated"] != nil {
		t.Errorf("%d of %d messages passed; healthy status %v, counters %+v", got, n, healthy.Status, healthy.Counters)
	}
	for _, name := range []string{"healthy", "holder", "slow"} {
		if term := pluginStatus(rt, name).Status["terminated"]; term != nil {
			t.Errorf("%s was terminated: %v", name, term)
		}
	}
}
