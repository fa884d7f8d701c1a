package sandbox

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// How the limits are enforced; README.md ("Limits") says what each one
// guarantees and how precisely.

// Bounds fixed for every state. MaxArrayIndex is gopher-lua's: an integer
// key below it goes to the table's array part, and setting t[n] on a
// shorter array appends n-#t nils first, so it bounds what one assignment
// can allocate (16 bytes a slot: 16 MiB). Keys at or above it go to the hash
// part, as t[1e9] does. It is a package variable of gopher-lua, set once for
// the process (nothing else here uses gopher-lua).
const (
	maxArrayIndex    = 1 << 20
	callStackSize    = 1000     // Lua frames (Lua 5.1: 200 C levels, 20000 Lua calls)
	registrySize     = 256      // initial value-stack slots (16 bytes each)
	registryMaxSize  = 64 << 10 // value-stack slots at most: 1 MiB
	registryGrowStep = 1024
)

func init() {
	lua.MaxArrayIndex = maxArrayIndex
}

// Termination reasons, as TerminatedError.Reason.
const (
	ReasonMemory  = "memory"
	ReasonTime    = "time"
	ReasonOutput  = "output"
	ReasonInjects = "injects"
	ReasonError   = "error"
)

// stopper is the context gopher-lua checks before every VM instruction
// (L.SetContext). It is done once, when the sandbox is terminated: one
// channel for the sandbox's life instead of a context per call.
type stopper struct {
	done    chan struct{}
	mu      sync.Mutex
	reason  string
	msg     string
	stopped atomic.Bool
}

func newStopper() *stopper { return &stopper{done: make(chan struct{})} }

// stop terminates the sandbox for reason; the first reason wins. It is safe
// from any goroutine.
func (s *stopper) stop(reason, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped.Load() {
		return
	}
	s.reason, s.msg = reason, msg
	s.stopped.Store(true)
	close(s.done)
}

// cause returns why the sandbox was stopped; ok is false while it runs.
func (s *stopper) cause() (reason, msg string, ok bool) {
	if !s.stopped.Load() {
		return "", "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason, s.msg, true
}

func (s *stopper) Deadline() (time.Time, bool) { return time.Time{}, false }
func (s *stopper) Done() <-chan struct{}       { return s.done }
func (s *stopper) Value(any) any               { return nil }

func (s *stopper) Err() error {
	reason, msg, ok := s.cause()
	if !ok {
		return nil
	}
	return fmt.Errorf("terminated (%s): %s", reason, msg)
}

// guard is what the Go builtins that replace gopher-lua's long-running
// ones (patterns, rep, format, concat, sort) consult: they check for a stop
// every few thousand steps and refuse to build a string larger than the
// memory limit.
type guard struct {
	st       *stopper
	maxBytes int
}

// check raises an error when the sandbox has been stopped.
func (g *guard) check(L *lua.LState) {
	if g.st.stopped.Load() {
		L.RaiseError("%v", g.st.Err())
	}
}

// checkSize stops the sandbox for memory when a string being built would
// be larger than the memory limit.
func (g *guard) checkSize(L *lua.LState, n int) {
	if n > g.maxBytes {
		msg := fmt.Sprintf("string too large (%d bytes; the memory limit is %d)", n, g.maxBytes)
		g.st.stop(ReasonMemory, msg)
		L.RaiseError("%s", msg)
	}
}

// The heap figures the watchdog reads (runtime/metrics, about 250 ns a
// read): what the process allocated in total; the heap's objects now, live
// or not yet swept; what the last GC found live.
const (
	metricAllocs  = "/gc/heap/allocs:bytes"
	metricObjects = "/memory/classes/heap/objects:bytes"
	metricLive    = "/gc/heap/live:bytes"
)

func readMetric(name string) uint64 {
	s := [1]metrics.Sample{{Name: name}}
	metrics.Read(s[:])
	return s[0].Value.Uint64()
}

// readAllocs returns what the process has allocated in total.
func readAllocs() uint64 { return readMetric(metricAllocs) }

// watchdogTick is how often a running call is looked at. Calls shorter than
// a tick cost the watchdog two timer operations and nothing else.
const watchdogTick = time.Millisecond

// watchdog enforces the time limit and the in-call memory limit. A timer
// fires every tick while a call runs; each firing checks the elapsed time
// and what the process has allocated since the first tick. Allocation is
// an upper bound of the state's growth: when it exceeds the room the state
// has left, the watchdog runs a GC and measures the growth of the live
// heap, from the heap's objects at the first tick (which include garbage,
// so the first measure can only be low) and then from one GC to the next
// (exact but for other goroutines' growth). The state's estimate before
// the call plus that growth over the limit terminates the call. See
// README, "Memory".
type watchdog struct {
	st       *stopper
	callTime time.Duration
	memLimit int64
	timer    *time.Timer
	forcedGC atomic.Uint64 // GCs the watchdog ran, for tests and the README

	mu        sync.Mutex
	running   bool
	seq       uint64
	start     time.Time
	excluded  time.Duration // time spent handing messages on (see pause)
	pausedAt  time.Time     // when the current pause began; zero when not paused
	estimate  int64         // the state's size before the call
	sampled   bool          // the baselines are set
	allocBase uint64        // process allocations at the first tick
	heapBase  uint64        // heap objects at the first tick, then live heap at the last forced GC
	afterGC   bool          // heapBase is a live heap
	grown     int64         // growth measured up to heapBase
	allocNext uint64        // allocations that trigger the next GC check
	allocated uint64        // allocations seen during this call, so far
}

func newWatchdog(st *stopper, l Limits) *watchdog {
	w := &watchdog{st: st, callTime: l.CallTime, memLimit: l.MemoryBytes}
	w.timer = time.AfterFunc(time.Hour, w.fire)
	w.timer.Stop()
	return w
}

// begin marks the start of a call into the script.
func (w *watchdog) begin(estimate int64) {
	w.mu.Lock()
	w.running = true
	w.seq++
	w.start = time.Now()
	w.excluded, w.pausedAt = 0, time.Time{}
	w.estimate = estimate
	w.sampled = false
	w.allocated = 0
	w.mu.Unlock()
	w.timer.Reset(min(watchdogTick, w.callTime))
}

// end marks the end of the call; it returns its duration and what the
// process allocated during it as far as the watchdog saw (0 for calls
// shorter than a tick).
func (w *watchdog) end() (time.Duration, uint64) {
	w.mu.Lock()
	w.running = false
	d := time.Since(w.start)
	allocated := w.allocated
	w.mu.Unlock()
	w.timer.Stop()
	return d, allocated
}

func (w *watchdog) close() { w.timer.Stop() }

// pause stops the call's clock while the host works for the script (hands
// an injected message to a slow receiver): the time limit is the script's.
func (w *watchdog) pause() {
	w.mu.Lock()
	w.pausedAt = time.Now()
	w.mu.Unlock()
}

func (w *watchdog) resume() {
	w.mu.Lock()
	w.excluded += time.Since(w.pausedAt)
	w.pausedAt = time.Time{}
	w.mu.Unlock()
}

// elapsed is the call's time so far, pauses left out; under w.mu.
func (w *watchdog) elapsed() time.Duration {
	d := time.Since(w.start) - w.excluded
	if !w.pausedAt.IsZero() {
		d -= time.Since(w.pausedAt)
	}
	return d
}

func (w *watchdog) fire() {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return
	}
	seq := w.seq
	elapsed := w.elapsed()
	if elapsed >= w.callTime {
		w.mu.Unlock()
		w.st.stop(ReasonTime, fmt.Sprintf("call ran %v; the limit is %v", elapsed.Round(time.Millisecond), w.callTime))
		return
	}
	allocs := readAllocs()
	if !w.sampled {
		w.sampled = true
		w.allocBase, w.heapBase, w.afterGC, w.grown = allocs, readMetric(metricObjects), false, 0
		w.allocNext = allocs + w.room()
	}
	w.allocated = allocs - w.allocBase
	needGC := allocs >= w.allocNext
	heapBase, afterGC, grown, estimate := w.heapBase, w.afterGC, w.grown, w.estimate
	w.mu.Unlock()

	var live uint64
	var inUse int64
	if needGC {
		// Only a GC says how much of what was allocated is still alive.
		// It runs concurrently with the script.
		runtime.GC()
		w.forcedGC.Add(1)
		live = readMetric(metricLive)
		d := int64(live) - int64(heapBase)
		if !afterGC && d < 0 {
			d = 0 // the first baseline held garbage
		}
		grown += d
		inUse = estimate + max(grown, 0)
		if inUse > w.memLimit {
			w.st.stop(ReasonMemory, fmt.Sprintf("about %d bytes in use (%d before the call, %d more during it); the limit is %d",
				inUse, estimate, grown, w.memLimit))
			return
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running || w.seq != seq {
		return
	}
	if needGC {
		w.heapBase, w.afterGC, w.grown = live, true, grown
		// The state cannot grow more than the process allocates: look
		// again when it may have reached the limit.
		w.allocNext = readAllocs() + uint64(max(w.memLimit-inUse, w.memLimit/16))
	}
	w.timer.Reset(max(min(watchdogTick, w.callTime-w.elapsed()), time.Microsecond))
}

// room is how much a call may allocate before the watchdog looks at the
// live heap: what the state has left before its limit, but at least an
// eighth of the limit so that a script near its limit that makes garbage
// does not force a GC every tick.
func (w *watchdog) room() uint64 {
	r := w.memLimit - w.estimate
	return uint64(max(r, w.memLimit/8))
}
