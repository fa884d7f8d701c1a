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
//
// Because gopher-lua calls Done between every two instructions, on the
// goroutine running the script, Done is also where the watchdog gets work
// done on that goroutine (start the thread's CPU clock, measure the state):
// the watchdog sets pending, and the next instruction runs service first.
type stopper struct {
	done    chan struct{}
	mu      sync.Mutex
	reason  string
	msg     string
	stopped atomic.Bool
	pending atomic.Bool
	service func()   // set once, before the first call
	owner   *Sandbox // for CurrentMessage
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
func (s *stopper) Value(any) any               { return nil }

// Done is called by the VM before every instruction; see the type. It
// returns nil while the sandbox runs, and the closed channel once it is
// stopped: gopher-lua asks again before each instruction, so the stop is
// seen at the next one, and its select on a nil channel costs less than on
// an open one (4% of a filter's call). So the stopper is a context for the
// VM alone: nothing may keep its Done to wait on.
func (s *stopper) Done() <-chan struct{} {
	s.serve()
	if s.stopped.Load() {
		return s.done
	}
	return nil
}

// serve runs what the watchdog asked of the script's goroutine, if
// anything; it must be called on that goroutine, between two steps.
func (s *stopper) serve() {
	if s.pending.Load() {
		s.pending.Store(false)
		s.service()
	}
}

func (s *stopper) Err() error {
	reason, msg, ok := s.cause()
	if !ok {
		return nil
	}
	return fmt.Errorf("terminated (%s): %s", reason, msg)
}

// Check lets a module written in Go that loops over data of unbounded
// size (a JSON text, a large table) honour the limits: call it with the
// module function's L every few thousand steps. It serves the watchdog, so
// that the call's running time is charged to the script and its memory
// measured, and raises the termination error once the sandbox has been
// stopped. Outside a sandbox it does nothing.
func Check(L *lua.LState) {
	st, ok := L.Context().(*stopper)
	if !ok {
		return
	}
	st.serve()
	if st.stopped.Load() {
		L.RaiseError("%v", st.Err())
	}
}

// guard is what the Go builtins that replace gopher-lua's long-running
// ones (patterns, rep, format, concat, sort) consult: they check for a stop
// every few thousand steps and refuse to build a string larger than the
// memory limit.
type guard struct {
	st       *stopper
	maxBytes int
}

// check raises an error when the sandbox has been stopped. Builtins call
// it every few thousand steps, so it also serves the watchdog.
func (g *guard) check(L *lua.LState) {
	g.st.serve()
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

// readAllocs returns what the process has allocated in total
// (runtime/metrics, about 250 ns a read).
func readAllocs() uint64 {
	s := [1]metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s[:])
	return s[0].Value.Uint64()
}

// watchdogTick is how often a running call is looked at. Calls shorter than
// a tick cost the watchdog two timer operations and nothing else.
const watchdogTick = time.Millisecond

// The time a call is charged (see README, "Time"). At its first tick the
// watchdog asks the script's goroutine to lock itself to its thread and
// start that thread's CPU clock; from then on the call is charged the CPU
// time its thread used, so a pause of the process (SIGSTOP, a VM stolen
// away), a starved core or a goroutine waiting for its turn costs the
// script nothing. Before that, and where threads have no readable clock,
// it is charged its wall time less the stalls of the whole process, which
// the watchdog sees as its own ticks arriving late.
const (
	// clockStartCap bounds the wall time charged between asking for the
	// thread clock and its start: a starved goroutine may take long to
	// reach its next instruction, but the script ran little of that time.
	clockStartCap = 5 * watchdogTick
	// stallSlack is how late a tick may be before the lateness counts as
	// a stall of the process rather than the script's time.
	stallSlack = watchdogTick
)

// The in-call memory check (see README, "Memory"). Each tick reads what the
// process has allocated; once that passed the room the state has left
// since it was last measured, the watchdog asks the script's goroutine to
// measure the state between two instructions (the walk of estimate.go, with
// the values on the stack), and stops the call when the state's own size
// is over the limit. Other goroutines' allocations can only make it
// measure sooner: what is charged is what the state holds. inCallWalkCost
// bounds the share of the script's time spent measuring.
const inCallWalkCost = 4

// useThreadClock is haveThreadClock; tests turn it off to check the wall
// clock's accounting.
var useThreadClock = haveThreadClock

// watchdog enforces the time limit and the in-call memory limit; see the
// constants above. Its timer fires every tick while a call runs.
type watchdog struct {
	st       *stopper
	callTime time.Duration
	memLimit int64
	timer    *time.Timer
	// measure walks the state (globals, registry and the values on the
	// stack) and returns its estimated size; on the script's goroutine.
	measure func() int64
	walks   atomic.Uint64 // in-call measurements, for tests and the README

	fired atomic.Bool // fire ran since begin: a batch restarts the accounting

	// host says whether the script's goroutine works for the host (see
	// enterHost): hostNo, hostYes, or hostPaused once a tick paused the
	// clock for it. Outside mu: enterHost runs for every message a script
	// injects or passes on.
	host atomic.Int32

	mu      sync.Mutex
	running bool
	start   time.Time
	due     time.Time // when the timer should fire next

	// Wall-clock accounting, until the thread clock runs.
	stalled  time.Duration // the process was seen stopped
	excluded time.Duration // the host worked for the script (see pause)
	// When the current pause began, as time since start (one monotonic
	// clock read, where time.Now reads two clocks); paused says whether
	// one runs.
	pausedAt time.Duration
	paused   bool

	// Thread-clock accounting.
	wantClock   bool          // fire asked for the thread clock
	askedAt     time.Duration // the wall time charged when it asked
	locked      bool          // the script's goroutine is locked to its thread
	tid         int           // that thread; 0 while the wall clock is used
	cpuAt       time.Duration // the thread's CPU time when the clock started
	charged     time.Duration // what was charged before it started
	cpuExcluded time.Duration // CPU time of pauses
	pausedCPU   time.Duration // the thread's CPU time when the current pause began

	// Memory.
	estimate    int64  // the state's size, before the call and at each in-call walk
	sampled     bool   // allocBase is set
	allocBase   uint64 // process allocations at the first tick
	allocAtWalk uint64 // process allocations when the state was last measured
	wantWalk    bool
	nextWalk    time.Duration // charged time before which no walk starts
	allocated   uint64        // allocations seen during this call, so far
}

func newWatchdog(st *stopper, l Limits, measure func() int64) *watchdog {
	w := &watchdog{st: st, callTime: l.CallTime, memLimit: l.MemoryBytes, measure: measure}
	w.timer = time.AfterFunc(time.Hour, w.fire)
	w.timer.Stop()
	st.service = w.service
	return w
}

// begin marks the start of a call into the script.
func (w *watchdog) begin(estimate int64) {
	w.mu.Lock()
	w.running = true
	w.start = time.Now()
	d := min(watchdogTick, w.callTime)
	w.due = w.start.Add(d)
	w.stalled, w.excluded, w.pausedAt, w.paused = 0, 0, 0, false
	w.host.Store(hostNo)
	w.wantClock, w.askedAt, w.tid, w.charged, w.cpuExcluded = false, 0, 0, 0, 0
	w.estimate = estimate
	w.sampled, w.wantWalk, w.nextWalk = false, false, 0
	w.allocated = 0
	w.mu.Unlock()
	w.fired.Store(false)
	w.timer.Reset(d)
}

// ticked reports whether the watchdog has looked at the call since begin.
func (w *watchdog) ticked() bool { return w.fired.Load() }

// end marks the end of the call; it returns the time charged to it and what
// the process allocated during it as far as the watchdog saw (0 for calls
// shorter than a tick). It runs on the script's goroutine.
func (w *watchdog) end() (time.Duration, uint64) {
	w.timer.Stop()
	w.mu.Lock()
	d := w.elapsed()
	w.running = false
	w.tid = 0
	allocated := w.allocated
	locked := w.locked
	w.locked = false
	w.mu.Unlock()
	if w.st.pending.Load() {
		w.st.pending.Store(false) // asked too late for this call
	}
	if locked {
		runtime.UnlockOSThread()
	}
	return d, allocated
}

func (w *watchdog) close() { w.timer.Stop() }

// pause stops the call's clock while the host works for the script
// (measures the state; for what may wait on others, see enterHost): the
// time limit is the script's. On the script's goroutine.
func (w *watchdog) pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tid != 0 {
		w.pausedCPU, _ = ownThreadCPU()
	}
	w.pausedAt, w.paused = time.Since(w.start), true
}

// The states of watchdog.host.
const (
	hostNo     = iota // the script runs
	hostYes           // the host works for it, no tick has seen it yet
	hostPaused        // a tick saw it and paused the clock
)

// enterHost and leaveHost bracket what the host does for the script that
// may wait on others (hand an injected message to a slow receiver): a
// pause that costs two atomic operations, not two clock reads and two
// locks, as it runs for every message passed on. The clock stops at the
// first tick that sees the host working (fire), so the host's time up to
// that tick, under a tick, is charged to the script: a receiver that
// takes a second is not. On the script's goroutine.
func (w *watchdog) enterHost() { w.host.Store(hostYes) }

func (w *watchdog) leaveHost() {
	if w.host.Swap(hostNo) == hostPaused {
		w.resume()
	}
}

// pauseForHost is pause as fire does it, on the timer's goroutine when it
// finds the host working for the script; under w.mu.
func (w *watchdog) pauseForHost(now time.Time) {
	if w.host.Load() != hostYes {
		return
	}
	var cpu time.Duration
	if w.tid != 0 {
		var ok bool
		if cpu, ok = threadCPU(w.tid); !ok {
			return // charged, and looked at again at the next tick
		}
	}
	if !w.host.CompareAndSwap(hostYes, hostPaused) {
		return // the host is done
	}
	w.pausedCPU, w.pausedAt, w.paused = cpu, now.Sub(w.start), true
}

func (w *watchdog) resume() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tid != 0 {
		if cpu, ok := ownThreadCPU(); ok {
			w.cpuExcluded += cpu - w.pausedCPU
		}
	}
	w.excluded += time.Since(w.start) - w.pausedAt
	w.pausedAt, w.paused = 0, false
}

// elapsed is the time charged to the call so far; under w.mu.
func (w *watchdog) elapsed() time.Duration { return w.elapsedAt(time.Now()) }

// elapsedAt is elapsed with the wall clock read at now, so that a stall
// is either both in now and in the tick's lateness, or in neither.
func (w *watchdog) elapsedAt(now time.Time) time.Duration {
	if w.wantClock && !w.locked {
		// Asked for, not started: the goroutine has not reached its next
		// instruction, starved of a core or inside one builtin (which
		// checks in every few thousand steps).
		return min(w.wallElapsed(now), w.askedAt+clockStartCap)
	}
	if w.tid != 0 {
		cpu := w.pausedCPU
		if !w.paused {
			var ok bool
			if cpu, ok = threadCPU(w.tid); !ok {
				return w.wallElapsed(now)
			}
		}
		return w.charged + cpu - w.cpuAt - w.cpuExcluded
	}
	return w.wallElapsed(now)
}

// wallElapsed is the call's wall time up to now, pauses and stalls left
// out.
func (w *watchdog) wallElapsed(now time.Time) time.Duration {
	end := now.Sub(w.start)
	if w.paused {
		end = w.pausedAt
	}
	return end - w.excluded - w.stalled
}

// service runs on the script's goroutine, between two instructions, what
// fire asked for.
func (w *watchdog) service() {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return
	}
	startClock := w.wantClock && w.tid == 0 && !w.locked
	walk := w.wantWalk
	w.wantWalk = false
	w.mu.Unlock()
	if startClock {
		w.startClock()
	}
	if walk {
		w.walk()
	}
}

// startClock locks the script's goroutine to its thread (until end) and
// starts charging the thread's CPU time.
func (w *watchdog) startClock() {
	runtime.LockOSThread()
	tid := currentThread()
	cpu, ok := ownThreadCPU()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.locked = true
	if !ok || tid == 0 {
		return // the wall clock stays
	}
	w.charged = min(w.wallElapsed(time.Now()), w.askedAt+clockStartCap)
	w.tid, w.cpuAt = tid, cpu
}

// walk measures the state mid-call and stops the call when it is over the
// memory limit.
func (w *watchdog) walk() {
	w.pause()
	t0 := time.Now()
	n := w.measure()
	cost := time.Since(t0)
	w.resume()
	w.walks.Add(1)
	w.mu.Lock()
	w.estimate = n
	w.allocAtWalk = readAllocs()
	w.nextWalk = w.elapsed() + inCallWalkCost*cost
	w.mu.Unlock()
	if n > w.memLimit {
		w.st.stop(ReasonMemory, fmt.Sprintf("about %d bytes in use; the limit is %d", n, w.memLimit))
	}
}

func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running {
		return
	}
	w.fired.Store(true)
	now := time.Now()
	// A late tick while the clock is paused is not a stall to leave out:
	// the pause leaves it out already.
	if late := now.Sub(w.due); late > stallSlack && w.tid == 0 && !w.paused {
		w.stalled += late - stallSlack
	}
	w.pauseForHost(now)
	elapsed := w.elapsedAt(now)
	if elapsed >= w.callTime {
		clock := "of CPU time"
		if w.tid == 0 {
			clock = fmt.Sprintf("(wall clock, less %v of stalls)", w.stalled.Round(time.Millisecond))
		}
		w.st.stop(ReasonTime, fmt.Sprintf("call ran %v %s; the limit is %v", elapsed.Round(time.Millisecond), clock, w.callTime))
		return
	}
	ask := false
	if useThreadClock && !w.wantClock {
		w.wantClock, w.askedAt, ask = true, elapsed, true
	}
	allocs := readAllocs()
	if !w.sampled {
		w.sampled = true
		w.allocBase, w.allocAtWalk = allocs, allocs
	}
	w.allocated = allocs - w.allocBase
	if !w.wantWalk && allocs-w.allocAtWalk >= w.room() && elapsed >= w.nextWalk {
		w.wantWalk, ask = true, true
	}
	if ask {
		w.st.pending.Store(true)
	}
	// Due from now, as read above: a stall after that read is in the next
	// tick's lateness.
	d := max(min(watchdogTick, w.callTime-elapsed), time.Microsecond)
	w.due = now.Add(d)
	w.timer.Reset(d)
}

// room is how much the process may allocate before the state is measured:
// what the state has left before its limit, but at least an eighth of the
// limit so that a script near its limit that makes garbage is not measured
// every tick.
func (w *watchdog) room() uint64 {
	r := w.memLimit - w.estimate
	return uint64(max(r, w.memLimit/8))
}
