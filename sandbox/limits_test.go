package sandbox

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// Hostile scripts: each is stopped within its limit plus a generous margin,
// with the right reason, and the process goes on.

const margin = 2 * time.Second

var testLimits = Limits{MemoryBytes: 8 << 20, CallTime: 100 * time.Millisecond, OutputBytes: 1 << 10, InjectsPerCall: 10}

func withLimits(o *Options) { o.Limits = testLimits }

// hostile runs body in process_message and wants a termination for reason.
// For the limits other than time, the time limit is raised so that the
// test checks the limit it is about, also under the race detector.
func hostile(t *testing.T, body, reason string) {
	t.Helper()
	limits := testLimits
	if reason != ReasonTime {
		limits.CallTime = time.Second
	}
	s, _ := newSandbox(t, "function process_message()\n"+body+"\nend", func(o *Options) { o.Limits = limits })
	var err error
	within(t, limits.CallTime+margin, func() { _, err = s.ProcessMessage(&pipeline.Message{}) })
	te := wantTerminated(t, err, reason)
	// Every later call gets the same error.
	if _, err2 := s.ProcessMessage(&pipeline.Message{}); err2 != te {
		t.Errorf("later call: %v, want the same *TerminatedError", err2)
	}
	if err2 := s.TimerEvent(0); err2 != te {
		t.Errorf("later timer_event: %v, want the same *TerminatedError", err2)
	}
	if _, err2 := s.Preserve(); err2 != te {
		t.Errorf("Preserve after termination: %v", err2)
	}
}

func TestHostileScripts(t *testing.T) {
	for _, tc := range []struct {
		name, body, reason string
	}{
		{"infinite loop", "while true do end", ReasonTime},
		{"infinite loop in pcall", "while true do pcall(function() while true do end end) end", ReasonTime},
		{"loop in an error handler", "while true do xpcall(function() error('x') end, function() while true do end end) end", ReasonTime},
		{"tables forever", "local t = {} while true do t[#t+1] = {} end", ""},
		{"strings forever", "local t = {} local i = 0 while true do i = i + 1 t[i] = 'x' .. i end", ""},
		{"doubling string", "local s = 'x' while true do s = s .. s end", ""},
		{"string.rep", `local s = string.rep("x", 1e9)`, ReasonMemory},
		{"rep of a long string", `local s = string.rep(string.rep("x", 1e6), 1e3)`, ReasonMemory},
		{"catastrophic pattern", `local s = string.rep("a", 1e5) s:find(".-.-.-.-b")`, ReasonTime},
		{"quadratic balance", `local s = string.rep("(", 1e5) s:find("%b()")`, ReasonTime},
		{"catastrophic gsub", `local s = string.rep("a", 3e4) s:gsub(".-.-.-b", "")`, ReasonTime},
		{"gsub blow-up", `local s = string.rep("a", 1e6) s:gsub("", string.rep("b", 100))`, ReasonMemory},
		{"table.concat blow-up", `local t = {} local s = string.rep("x", 1e5) for i = 1, 1000 do t[i] = s end table.concat(t)`, ReasonMemory},
		{"format blow-up", `local s = string.rep("x", 3e6) string.format("%s%s%s", s, s, s)`, ReasonMemory},
		{"slow sort", `local t = {} for i = 1, 1e5 do t[i] = -i end table.sort(t, function(a, b) for i = 1, 100 do end return a < b end)`, ReasonTime},
		{"recursion", "local function f() return 1 + f() end f()", ReasonMemory},
		{"unpack", "unpack({}, 1, 1e8)", ReasonMemory},
		{"injects", `for i = 1, 100 do inject_message{Type = "x"} end`, ReasonInjects},
		{"injects in pcall", `for i = 1, 100 do pcall(inject_message, {Type = "x"}) end`, ReasonInjects},
		{"large message", `inject_message{Type = "x", Payload = string.rep("x", 2000)}`, ReasonOutput},
		{"large payload", `for i = 1, 1000 do add_to_payload("0123456789") end`, ReasonOutput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reason == "" {
				// memory or time, whichever comes first
				s, _ := newSandbox(t, "function process_message()\n"+tc.body+"\nend", withLimits)
				var err error
				within(t, testLimits.CallTime+margin, func() { _, err = s.ProcessMessage(&pipeline.Message{}) })
				te := wantTerminatedAny(t, err, ReasonMemory, ReasonTime)
				t.Logf("%s: %v", tc.name, te)
				return
			}
			hostile(t, tc.body, tc.reason)
		})
	}
}

func wantTerminatedAny(t *testing.T, err error, reasons ...string) *TerminatedError {
	t.Helper()
	for _, r := range reasons {
		if te, ok := err.(*TerminatedError); ok && te.Reason == r {
			return te
		}
	}
	t.Fatalf("err = %v, want a *TerminatedError for one of %v", err, reasons)
	return nil
}

// The memory watchdog, not the time limit, stops a script that allocates
// fast: with a long time limit the call ends for memory.
func TestMemoryStopsBeforeTime(t *testing.T) {
	s, _ := newSandbox(t, "function process_message() local t = {} while true do t[#t+1] = {} end end",
		func(o *Options) { o.Limits = Limits{MemoryBytes: 8 << 20, CallTime: 30 * time.Second} })
	var err error
	within(t, 10*time.Second, func() { _, err = s.ProcessMessage(&pipeline.Message{}) })
	te := wantTerminated(t, err, ReasonMemory)
	t.Log(te)
}

// A script that grows a little on every call is stopped by the estimate
// between calls.
func TestMemoryGrowthAcrossCalls(t *testing.T) {
	s, _ := newSandbox(t, `
data = {}
function process_message()
  for i = 1, 100 do data[#data + 1] = string.rep("x", 100) .. #data end
end`, func(o *Options) { o.Limits = Limits{MemoryBytes: 4 << 20} })
	var err error
	calls := 0
	for calls = 0; calls < 10000 && err == nil; calls++ {
		_, err = s.ProcessMessage(&pipeline.Message{})
	}
	te := wantTerminated(t, err, ReasonMemory)
	// 100 strings of ~120 bytes (plus slots) a call: the limit is reached
	// after ~250 calls; the estimate may lag.
	u := s.Usage()
	t.Logf("stopped after %d calls: %v; usage %+v", calls, te, u)
	if calls > 1000 {
		t.Errorf("stopped after %d calls, want fewer than 1000", calls)
	}
}

func TestTopLevelLimits(t *testing.T) {
	for _, tc := range []struct{ src, reason string }{
		{"while true do end", ReasonTime},
		{`x = string.rep("x", 1e9)`, ReasonMemory},
		{"local function f() return f() + 1 end f()", ReasonMemory},
		{`big = {} for i = 1, 1e6 do big[i] = "value " .. i end`, ReasonMemory + "|" + ReasonTime},
	} {
		t.Run(tc.src, func(t *testing.T) {
			var err error
			within(t, testLimits.CallTime+margin, func() {
				_, err = New(Options{Source: tc.src, Limits: testLimits})
			})
			te := wantTerminatedAny(t, err, strings.Split(tc.reason, "|")...)
			t.Log(te)
		})
	}
}

// Sparse integer keys do not allocate the gap: t[1e9] goes to the hash
// part, and below MaxArrayIndex the gap is bounded.
func TestSparseKeys(t *testing.T) {
	s, _ := newSandbox(t, `
function process_message()
  local t = {}
  t[1e9] = 1
  t[2^53] = 2
  t[-5] = 3
  t[5e7] = 4
  return t[1e9] + t[2^53] + t[-5] + t[5e7] == 10 and 0 or -1
end`, withLimits)
	var status int
	var err error
	within(t, 500*time.Millisecond, func() { status, err = s.ProcessMessage(&pipeline.Message{}) })
	if status != 0 || err != nil {
		t.Fatalf("status %d, err %v", status, err)
	}
	if u := s.Usage(); u.MaxMemoryBytes > 1<<20 {
		t.Errorf("memory %d after sparse keys", u.MaxMemoryBytes)
	}
}

// What is not there cannot be reached: each attempt is an error or nil,
// and the sandbox goes on.
func TestNoEscape(t *testing.T) {
	s, _ := newSandbox(t, "", withLimits)
	for _, expr := range []string{
		`os.execute("true")`, `os.exit(1)`, `os.getenv("HOME")`, `os.remove("x")`,
		`io.open("/etc/passwd")`, `io.write("x")`,
		`load("return 1")`, `loadstring("return 1")`, `dofile("/etc/passwd")`, `loadfile("x")`,
		`getfenv(0)`, `setfenv(1, {})`, `debug.getinfo(1)`, `debug.sethook()`,
		`require("io")`, `require("os")`, `require("debug")`, `require("../../etc/passwd")`, `require("ffi")`,
		`package.loadlib("x", "y")`, `module("x")`, `collectgarbage("count")`, `newproxy(true)`,
		`string.dump(print)`, `coroutine.create(print)`, `channel.make()`, `_printregs()`,
	} {
		v, err := eval(t, s, nil, expr)
		if err == nil && show(v) != "nil:nil" {
			t.Errorf("%s = %s, want an error or nil", expr, show(v))
		}
		var te *TerminatedError
		if asTerminated(err, &te) {
			t.Fatalf("%s terminated the sandbox: %v", expr, err)
		}
	}
	for _, name := range []string{"io", "debug", "package", "coroutine", "channel", "load", "loadstring",
		"dofile", "loadfile", "getfenv", "setfenv", "collectgarbage", "newproxy", "module"} {
		if v, _ := eval(t, s, nil, name); show(v) != "nil:nil" {
			t.Errorf("global %s = %s, want nil", name, show(v))
		}
	}
	v, err := eval(t, s, nil, `(function() local n = 0 for k in pairs(os) do n = n + 1 end return n end)()`)
	if err != nil || show(v) != "number:3" {
		t.Errorf("os has %s entries, want 3 (time, clock, date)", show(v))
	}
}

func asTerminated(err error, te **TerminatedError) bool {
	t, ok := err.(*TerminatedError)
	if ok {
		*te = t
	}
	return ok
}

// A __tostring that never returns on an error object does not hang the
// host, which reports errors without calling into Lua.
func TestErrorObjectWithToString(t *testing.T) {
	s, _ := newSandbox(t, `
function process_message()
  error(setmetatable({}, {__tostring = function() while true do end end}))
end`, withLimits)
	var err error
	within(t, margin, func() { _, err = s.ProcessMessage(&pipeline.Message{}) })
	if err == nil || !strings.HasPrefix(err.Error(), "table: ") {
		t.Errorf("err = %v", err)
	}
}

// Metamethods on _G do not run outside a call: the host reads globals raw.
func TestGlobalsMetatable(t *testing.T) {
	s, _ := newSandbox(t, `
function process_message() return 0 end
setmetatable(_G, {__index = function() while true do end end, __newindex = function() while true do end end})`, withLimits)
	within(t, margin, func() {
		if _, err := s.ProcessMessage(&pipeline.Message{}); err != nil {
			t.Error(err)
		}
		if err := s.TimerEvent(0); err != nil {
			t.Error(err)
		}
		if _, err := s.Preserve(); err != nil {
			t.Error(err)
		}
	})
}

// After many terminated sandboxes the process is fine and their memory is
// given back.
func TestTerminatedSandboxesAreReleased(t *testing.T) {
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 5 {
		s, _ := newSandbox(t, "function process_message() local t = {} while true do t[#t+1] = {} end end",
			func(o *Options) { o.Limits = Limits{MemoryBytes: 4 << 20, CallTime: time.Second} })
		_, err := s.ProcessMessage(&pipeline.Message{})
		wantTerminatedAny(t, err, ReasonMemory, ReasonTime)
		s.Close()
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
		t.Errorf("heap grew %d bytes after closing terminated sandboxes", grown)
	}
}

func TestUsage(t *testing.T) {
	s, _ := newSandbox(t, `
data = {}
function process_message() for i = 1, 1000 do data[i] = i end end`)
	for range 3 {
		if _, err := s.ProcessMessage(&pipeline.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	s.measure()
	u := s.Usage()
	if u.Calls != 3 || u.CallTime <= 0 || u.MaxCallTime <= 0 || u.MaxCallTime > u.CallTime {
		t.Errorf("usage %+v", u)
	}
	if u.MemoryBytes < 16*1000 || u.MaxMemoryBytes < u.MemoryBytes {
		t.Errorf("memory %d (max %d) for a table of 1000 numbers", u.MemoryBytes, u.MaxMemoryBytes)
	}
}

// The estimate is within a factor of two of what the Go heap says the
// state's data costs.
func TestMemoryEstimate(t *testing.T) {
	if raceEnabled {
		t.Skip("heap measurements are not reliable under the race detector")
	}
	for _, tc := range []struct{ name, src string }{
		{"array of numbers", `data = {} for i = 1, 100000 do data[i] = i + 0.5 end`},
		{"string keys", `data = {} for i = 1, 30000 do data["key" .. i] = i end`},
		{"strings", `data = {} for i = 1, 30000 do data[i] = string.rep("x", 100) .. i end`},
		{"small tables", `data = {} for i = 1, 20000 do data[i] = {x = i, y = "v"} end`},
		{"closures", `data = {} for i = 1, 20000 do local v = i data[i] = function() return v end end`},
		{"churned keys", `data = {} for i = 1, 50000 do data["k" .. i] = true data["k" .. (i - 1)] = nil end`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			empty, _ := newSandbox(t, "", func(o *Options) { o.Limits.MemoryBytes = 1 << 30 })
			empty.measure()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.GC() // and the pools' victim caches
			runtime.ReadMemStats(&before)
			s, _ := newSandbox(t, tc.src, func(o *Options) {
				o.Limits = Limits{MemoryBytes: 1 << 30, CallTime: 10 * time.Second}
			})
			runtime.GC()
			runtime.ReadMemStats(&after)
			s.measure()
			heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			est := s.Usage().MemoryBytes
			ratio := float64(est) / float64(heap)
			t.Logf("%s: estimate %d, heap %d, ratio %.2f (empty state: %d)", tc.name, est, heap, ratio, empty.Usage().MemoryBytes)
			if ratio < 0.5 || ratio > 2 {
				t.Errorf("estimate %d is not within a factor of two of the heap growth %d", est, heap)
			}
			runtime.KeepAlive(s)
		})
	}
}

// A call that makes much garbage but keeps little is not stopped for
// memory, even when the state is already large: the watchdog measures what
// stays alive, not what was allocated.
func TestGarbageIsNotGrowth(t *testing.T) {
	s, _ := newSandbox(t, `
data = {}
function process_message()
  -- keep ~40 KB more each call
  for i = 1, 200 do data[#data + 1] = string.rep("d", 100) .. #data end
  -- and make ~13 MB of garbage
  local n = 0
  for i = 1, 1e5 do local s = string.rep("x", 100) .. i n = n + #s end
  return 0
end`, func(o *Options) { o.Limits = Limits{MemoryBytes: 8 << 20, CallTime: 20 * time.Second} })
	for i := range 10 {
		if _, err := s.ProcessMessage(&pipeline.Message{}); err != nil {
			t.Fatalf("call %d: %v (usage %+v)", i, err, s.Usage())
		}
	}
	t.Logf("usage %+v, in-call walks %d", s.Usage(), s.wd.walks.Load())
}

// The time a slow receiver takes to accept an injected message is not the
// script's.
func TestSlowInjectIsNotScriptTime(t *testing.T) {
	s, _ := newSandbox(t, `function process_message() for i = 1, 3 do inject_message{Type = "x"} end end`,
		func(o *Options) {
			o.Limits.CallTime = 50 * time.Millisecond
			o.Inject = func(*pipeline.Message) error { time.Sleep(40 * time.Millisecond); return nil }
		})
	if _, err := s.ProcessMessage(&pipeline.Message{}); err != nil {
		t.Fatalf("a call slowed by its receiver was stopped: %v", err)
	}
}

// The same for a message passed on (Options.PassOn) in a batch, with a
// receiver that keeps the CPU busy, so that the thread clock, once it runs,
// sees the host's work too: each call spends three times the limit in the
// host, and is charged only the ticks that it took to see it there.
func TestBusyPassOnIsNotScriptTime(t *testing.T) {
	const limit = 50 * time.Millisecond
	passes := 0
	s, _ := newSandbox(t, `function process_message()
  write_message("Fields[a]", 1)
  for i = 1, 3 do inject_message() end
end`,
		func(o *Options) {
			o.Limits.CallTime = limit
			o.PassOn = func(*pipeline.Message, []pipeline.Field) error {
				passes++
				for start := time.Now(); time.Since(start) < limit; {
				}
				return nil
			}
		})
	msgs := []*pipeline.Message{{Type: "a"}, {Type: "b"}, {Type: "c"}}
	results, err := s.ProcessMessages(msgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(msgs) {
		t.Fatalf("%d results for %d messages: %+v", len(results), len(msgs), results)
	}
	for i, r := range results {
		if r.Err != nil {
			t.Errorf("message %d, slowed by its receiver, was stopped: %v", i, r.Err)
		}
	}
	if passes != 3*len(msgs) {
		t.Errorf("%d messages passed on, want %d", passes, 3*len(msgs))
	}
}

// A Go panic in a module that the script does not catch terminates the
// sandbox with reason "error"; one it catches with pcall is a Lua error.
func TestGoPanicTerminates(t *testing.T) {
	s, _ := newSandbox(t, `
local p = require("test_panic")
function process_message()
  local ok, err = pcall(p.boom)
  if ok then return -1 end
  p.boom()
end`)
	_, err := s.ProcessMessage(&pipeline.Message{})
	te := wantTerminated(t, err, ReasonError)
	if !strings.Contains(te.Msg, "go panic: boom") {
		t.Errorf("message %q", te.Msg)
	}
}
