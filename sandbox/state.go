package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
	"golang.org/x/time/rate"
)

// Sandbox is one Lua plugin instance: a restricted gopher-lua state running
// one script under limits. Its methods other than Usage must not be called
// concurrently (the plugin serialises them); Usage may be called from any
// goroutine.
type Sandbox struct {
	strs    pipeline.Interner // see str
	name    string
	chunk   string // the script's name in Lua error messages
	opts    Options
	limits  Limits
	log     *slog.Logger
	L       *lua.LState
	globals *lua.LTable
	st      *stopper
	guard   *guard
	wd      *watchdog
	nsMT    *lua.LTable
	rand    *rand.Rand
	created time.Time

	builtin map[lua.LValue]struct{} // library and API values, which Preserve skips
	// libNames are the globals that hold functions and libraries when the
	// script starts, sorted; see load.
	libNames []string
	initial  map[string]lua.LValue // the globals before the script ran (_VERSION...)
	loaded   *lua.LTable           // require's cache: name → module
	files    []string

	// During a call.
	msg         *pipeline.Message // what read_message reads (in, or work once written); nil outside process_message
	in          *pipeline.Message // the message handed in; never changed
	work        pipeline.Message  // in as write_message changed it (write.go)
	workExtends bool              // work is in with fields appended, nothing of in changed
	scratch     pipeline.Message  // write_message converts a value here first
	workPayload []byte            // work's payload, once written
	injects     int
	out         pipeline.Message // reused for every injected message
	payload     []byte           // add_to_payload's buffer, until inject_payload

	// The memory estimate (see limits.go and README).
	estimate      int64
	sinceCheck    int
	timeSinceWalk time.Duration
	lastWalk      time.Duration
	allocsAtWalk  uint64

	prints     *rate.Limiter // print's budget (stdlib.go)
	printsHeld uint64        // lines print left out since the last one it wrote

	term   *TerminatedError
	closed bool

	usageMu sync.Mutex
	usage   Usage
}

// State sizes that the walk cannot see: the LState, its call frames and Go
// closures. Measured with BenchmarkIdleSandbox, rounded up.
const stateOverheadBytes = 8 << 10

// How often the estimate is refreshed between calls: the process's
// allocation counter is read every measureCheckEvery calls, and the state is
// walked when the process allocated at least minGrowth since the last walk
// (the state cannot have grown more than the process allocated) and the
// script has run walkCostFactor times as long as the last walk took (so
// walking costs at most 1/walkCostFactor of the script's time).
const (
	measureCheckEvery = 16
	walkCostFactor    = 20
	minGrowthDivisor  = 64 // minGrowth = MemoryBytes / minGrowthDivisor
)

var errClosed = errors.New("sandbox: closed")

// New compiles the script, opens its restricted state and runs the top
// level once, under the limits. A script that does not compile, or whose
// top level fails, gives a *CompileError; one that breaks a limit while
// initialising gives a *TerminatedError.
func New(opts Options) (*Sandbox, error) {
	src := opts.Source
	if src == "" {
		b, err := os.ReadFile(opts.Script)
		if err != nil {
			return nil, &CompileError{Script: opts.Script, Msg: err.Error()}
		}
		src = string(b)
	}
	s := &Sandbox{
		name:    opts.Name,
		chunk:   opts.Script,
		opts:    opts,
		limits:  opts.Limits.WithDefaults(),
		log:     opts.Log,
		created: time.Now(),
		rand:    rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		prints:  rate.NewLimiter(printBytesPerSecond, printBurstBytes),
	}
	if s.chunk == "" {
		s.chunk = "script"
	}
	if s.name == "" {
		s.name = filepath.Base(s.chunk)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if opts.Script != "" {
		s.files = []string{opts.Script}
	}
	s.st = newStopper()
	s.st.owner = s
	s.guard = &guard{st: s.st, maxBytes: int(min(s.limits.MemoryBytes, int64(^uint(0)>>1)))}
	s.wd = newWatchdog(s.st, s.limits, s.measureInCall)
	s.open()

	fn, err := s.load(src)
	if err != nil {
		s.Close()
		return nil, compileError(s.chunk, err)
	}
	trimProto(fn.Proto)
	s.measure()
	if _, err := s.run(fn); err != nil {
		s.Close()
		var te *TerminatedError
		if errors.As(err, &te) {
			return nil, te
		}
		return nil, s.runtimeCompileError(err)
	}
	s.L.SetTop(0)
	if s.measure(); s.term != nil {
		s.Close()
		return nil, s.term
	}
	return s, nil
}

// load compiles the script as L.Load does, with the sandbox's functions
// and libraries that it names bound to locals of its chunk:
//
//	local inject_message, read_message, string, ... = inject_message, read_message, string, ...
//
// before its first line, so that its functions reach them as upvalues (an
// index) instead of globals (a lookup in a hash table by name): 60 ns less
// a message for a filter that calls read_message, write_message and
// inject_message (BenchmarkBatchMetricTagPassOn). What the script does is
// the same, including replacing one of them (function read_message()
// ... end assigns the local); only a module it requires still sees the
// global. A chunk with too many locals for the extra ones is compiled as
// it is.
func (s *Sandbox) load(src string) (*lua.LFunction, error) {
	chunk, err := parse.Parse(strings.NewReader(src), s.chunk)
	if err != nil {
		return nil, syntaxError(err)
	}
	var names []string
	for _, name := range s.libNames {
		if strings.Contains(src, name) {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		bind := &ast.LocalAssignStmt{Names: names}
		for _, name := range names {
			bind.Exprs = append(bind.Exprs, &ast.IdentExpr{Value: name})
		}
		if proto, err := lua.Compile(append([]ast.Stmt{bind}, chunk...), s.chunk); err == nil {
			return s.L.NewFunctionFromProto(proto), nil
		}
		// Compile again from the source: the compiler may have annotated
		// the tree it failed on.
		return s.L.Load(strings.NewReader(src), s.chunk)
	}
	proto, err := lua.Compile(chunk, s.chunk)
	if err != nil {
		return nil, syntaxError(err)
	}
	return s.L.NewFunctionFromProto(proto), nil
}

// syntaxError is a parse or compile error as L.Load returns it, which
// compileError reads.
func syntaxError(err error) error {
	return &lua.ApiError{Type: lua.ApiErrorSyntax, Object: lua.LString(err.Error()), Cause: err}
}

// open makes the restricted state: see stdlib.go and api.go.
func (s *Sandbox) open() {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       callStackSize,
		RegistrySize:        registrySize,
		RegistryMaxSize:     registryMaxSize,
		RegistryGrowStep:    registryGrowStep,
		MinimizeStackMemory: true,
	})
	L.SetContext(s.st)
	s.L = L
	s.globals = L.G.Global
	s.openLibs(L)
	s.nsMT = openNS(L)
	s.openAPI(L)
	s.loaded = L.CreateTable(0, 4)
	s.builtin = make(map[lua.LValue]struct{}, 64)
	s.initial = make(map[string]lua.LValue, 32)
	s.globals.ForEach(func(k, v lua.LValue) {
		switch v.(type) {
		case *lua.LTable, *lua.LFunction:
			s.builtin[v] = struct{}{}
		default:
			if name, ok := k.(lua.LString); ok {
				s.initial[string(name)] = v
			}
		}
	})
	s.builtin[s.globals] = struct{}{}
	s.globals.ForEach(func(k, v lua.LValue) {
		if name, ok := k.(lua.LString); ok && name != "_G" && (v.Type() == lua.LTFunction || v.Type() == lua.LTTable) {
			s.libNames = append(s.libNames, string(name))
		}
	})
	slices.Sort(s.libNames)
}

// compileError converts gopher-lua's syntax and compile errors of the
// chunk named chunk.
func compileError(chunk string, err error) *CompileError {
	ce := &CompileError{Script: chunk, Msg: err.Error()}
	var aerr *lua.ApiError
	if errors.As(err, &aerr) && aerr.Cause != nil {
		var perr *parse.Error
		var cerr *lua.CompileError
		switch {
		case errors.As(aerr.Cause, &perr):
			if perr.Pos.Line > 0 {
				ce.Line = perr.Pos.Line
				ce.Msg = fmt.Sprintf("near '%s': %s", perr.Token, perr.Message)
			} else {
				ce.Msg = "at end of file: " + perr.Message
			}
		case errors.As(aerr.Cause, &cerr):
			ce.Line, ce.Msg = cerr.Line, cerr.Message
		default:
			ce.Msg = aerr.Cause.Error()
		}
	}
	return ce
}

// runtimeCompileError converts an error of the top level, taking the line
// from Lua's "chunk:line: message" form when it is the script's own.
func (s *Sandbox) runtimeCompileError(err error) *CompileError {
	msg := err.Error()
	ce := &CompileError{Script: s.chunk, Msg: msg}
	if rest, ok := strings.CutPrefix(msg, s.chunk+":"); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				ce.Line, ce.Msg = n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return ce
}

// usable returns the error a call gets when the sandbox cannot run.
func (s *Sandbox) usable() error {
	if s.term != nil {
		return s.term
	}
	if s.closed {
		return errClosed
	}
	return nil
}

// terminate records the first termination; every later call returns it.
func (s *Sandbox) terminate(reason, msg string) *TerminatedError {
	if s.term == nil {
		s.st.stop(reason, msg) // no-op when the stopper already fired
		r, m, _ := s.st.cause()
		s.term = &TerminatedError{Name: s.name, Reason: r, Msg: m}
	}
	return s.term
}

// run calls fn(args...) under the limits and leaves its results on the
// stack; it returns how many there are. A Lua error is returned as an
// error; a broken limit as the *TerminatedError.
func (s *Sandbox) run(fn lua.LValue, args ...lua.LValue) (int, error) {
	L := s.L
	base := L.GetTop()
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	s.injects = 0
	s.wd.begin(s.estimate)
	err := L.PCall(len(args), lua.MultRet, nil)
	d, allocated := s.wd.end()
	s.account(d)
	n, err := s.outcome(base, err)
	if err != nil {
		return 0, err
	}
	s.timeSinceWalk += d
	s.maybeMeasure(allocated, 1)
	if s.term != nil {
		L.SetTop(base)
		return 0, s.term
	}
	return n, nil
}

// outcome classifies how a call that began with the stack at base ended:
// the number of its results, its Lua error, or the termination.
func (s *Sandbox) outcome(base int, err error) (int, error) {
	L := s.L
	if reason, msg, stopped := s.st.cause(); stopped {
		L.SetTop(base)
		return 0, s.terminate(reason, msg)
	}
	if err != nil {
		msg := errorMessage(err)
		var aerr *lua.ApiError
		switch {
		case strings.HasSuffix(msg, "stack overflow") || strings.HasSuffix(msg, "registry overflow"):
			return 0, s.terminate(ReasonMemory, msg)
		case errors.As(err, &aerr) && aerr.Type == lua.ApiErrorPanic:
			// A Go panic in a builtin or a module that the script did not
			// catch: the state may be half-updated.
			return 0, s.terminate(ReasonError, msg)
		}
		return 0, errors.New(msg)
	}
	return L.GetTop() - base, nil
}

// errorMessage returns a Lua error's message without calling into Lua
// (no __tostring: the call is over and its limits no longer apply).
func errorMessage(err error) string {
	var aerr *lua.ApiError
	if errors.As(err, &aerr) {
		if aerr.Type == lua.ApiErrorPanic {
			return "go panic: " + aerr.Object.String()
		}
		if s, ok := aerr.Object.(lua.LString); ok {
			return string(s)
		}
		return aerr.Object.String()
	}
	return err.Error()
}

func (s *Sandbox) account(d time.Duration) {
	s.usageMu.Lock()
	s.usage.CallTime += d
	s.usage.MaxCallTime = max(s.usage.MaxCallTime, d)
	s.usageMu.Unlock()
}

// maybeMeasure refreshes the memory estimate when the state may have grown
// (see the constants above).
func (s *Sandbox) maybeMeasure(allocatedInCall uint64, calls int) {
	if allocatedInCall > 0 && int64(allocatedInCall) >= s.limits.MemoryBytes/8 {
		s.measure()
		return
	}
	s.sinceCheck += calls
	if s.sinceCheck < measureCheckEvery {
		return
	}
	s.sinceCheck = 0
	if s.timeSinceWalk < walkCostFactor*s.lastWalk {
		return
	}
	if readAllocs()-s.allocsAtWalk >= uint64(s.limits.MemoryBytes/minGrowthDivisor) {
		s.measure()
	}
}

// measure walks the state and terminates it when the estimate is over the
// limit.
func (s *Sandbox) measure() {
	t0 := time.Now()
	s.allocsAtWalk = readAllocs()
	n := s.size(false)
	s.lastWalk = time.Since(t0)
	s.timeSinceWalk = 0
	s.estimate = n
	s.recordMemory(n)
	if n > s.limits.MemoryBytes {
		s.terminate(ReasonMemory, fmt.Sprintf("about %d bytes in use; the limit is %d", n, s.limits.MemoryBytes))
	}
}

// measureInCall is the watchdog's walk during a call, between two
// instructions: the state with the values on its stack (a call's locals).
// The watchdog stops the call when it is over the limit.
func (s *Sandbox) measureInCall() int64 {
	n := s.size(true)
	s.recordMemory(n)
	return n
}

// size estimates what the state holds: everything reachable from its
// globals, registry and loaded modules and, with stack, from the values of
// the calls in progress.
func (s *Sandbox) size(stack bool) int64 {
	roots := []lua.LValue{s.globals, s.L.G.Registry, s.loaded, s.L.GetMetatable(lua.LString(""))}
	if stack {
		roots = append(roots, stackValues(s.L)...)
	}
	return estimateSize(roots, s.limits.MemoryBytes) + registryBytes(s.L) + stateOverheadBytes + int64(cap(s.payload))
}

func (s *Sandbox) recordMemory(n int64) {
	s.usageMu.Lock()
	s.usage.MemoryBytes = n
	s.usage.MaxMemoryBytes = max(s.usage.MaxMemoryBytes, n)
	s.usageMu.Unlock()
}

// ProcessMessage runs process_message() with m as the message read_message
// reads. status is what the script returned: 0 (also for no value) when it
// handled the message, negative when it failed it. A script that returns an
// error string (or -1 and a message), or that raises an error, gets status
// -1 and that error; the sandbox goes on. A broken limit gives the
// *TerminatedError, and every later call gets it too.
func (s *Sandbox) ProcessMessage(m *pipeline.Message) (status int, err error) {
	if err := s.usable(); err != nil {
		return -1, err
	}
	fn := s.globals.RawGetString("process_message")
	if fn.Type() != lua.LTFunction {
		return -1, fmt.Errorf("%s: the script has no process_message function", s.chunk)
	}
	s.countCall()
	s.setMessage(m)
	n, err := s.run(fn)
	s.setMessage(nil)
	if err != nil {
		return -1, err
	}
	status, err = s.results("process_message", n)
	s.L.SetTop(0)
	return status, err
}

// results interprets what an entry point returned.
func (s *Sandbox) results(entry string, n int) (int, error) {
	if n == 0 {
		return 0, nil
	}
	L := s.L
	first := L.Get(-n)
	switch v := first.(type) {
	case lua.LNumber:
		status := int(v)
		if n > 1 {
			if msg, ok := L.Get(-n + 1).(lua.LString); ok && status < 0 {
				return status, errors.New(string(msg))
			}
		}
		return status, nil
	case lua.LString:
		return -1, errors.New(string(v))
	case *lua.LNilType:
		return 0, nil
	}
	return -1, fmt.Errorf("%s returned a %s; want a number, an error string or nothing", entry, first.Type())
}

func (s *Sandbox) countCall() { s.countCalls(1) }

func (s *Sandbox) countCalls(n int) {
	s.usageMu.Lock()
	s.usage.Calls += uint64(n)
	s.usageMu.Unlock()
}

// Result is what ProcessMessages says of one message: what ProcessMessage
// would have returned for it.
type Result struct {
	Status int
	Err    error
}

// ProcessMessages runs process_message over msgs in order, with the
// outcome for each that ProcessMessage would give, at less cost a
// message: the watchdog is started once for the batch rather than once a
// call, and restarted at the next message once it has looked at the
// batch (after a tick, a millisecond), so each message is held to
// CallTime on its own, charged at most that tick of the messages before
// it. Injects are counted per message; the memory estimate is refreshed
// between batches and, as in any call, at the watchdog's ticks.
//
// It appends one Result a message to results and returns them. A
// termination ends the batch: the message it happened in gets the
// *TerminatedError, and the messages after it are not processed (the
// slice is shorter than msgs). An unusable sandbox, or a script without
// process_message, gives the error and no results.
func (s *Sandbox) ProcessMessages(msgs []*pipeline.Message, results []Result) ([]Result, error) {
	if err := s.usable(); err != nil {
		return results, err
	}
	fn := s.globals.RawGetString("process_message")
	if fn.Type() != lua.LTFunction {
		return results, fmt.Errorf("%s: the script has no process_message function", s.chunk)
	}
	L := s.L
	running, calls, unmeasured := false, 0, 0
	var d time.Duration
	var allocated uint64
	finish := func() {
		if running {
			d, allocated = s.wd.end()
			s.account(d)
			running = false
		}
	}
	defer func() { s.countCalls(calls) }()
	for _, m := range msgs {
		if !running {
			s.wd.begin(s.estimate)
			running = true
		}
		calls++
		unmeasured++
		s.setMessage(m)
		s.injects = 0
		L.Push(fn)
		err := L.PCall(0, lua.MultRet, nil)
		s.setMessage(nil)
		if s.st.stopped.Load() {
			finish()
		}
		n, err := s.outcome(0, err)
		if err == nil {
			var status int
			status, err = s.results("process_message", n)
			results = append(results, Result{Status: status, Err: err})
		} else {
			results = append(results, Result{Status: -1, Err: err})
		}
		L.SetTop(0)
		if s.term != nil {
			finish()
			return results, nil
		}
		if s.wd.ticked() {
			// Each message is charged its own time: the next one starts
			// a fresh accounting.
			finish()
			if s.measured(&results, d, allocated, unmeasured) {
				return results, nil
			}
			unmeasured = 0
		}
	}
	if running {
		finish()
		s.measured(&results, d, allocated, unmeasured)
	}
	return results, nil
}

// measured is run's memory check after calls of a batch: a state over its
// limit terminates the last call, as it would have one call alone.
func (s *Sandbox) measured(results *[]Result, d time.Duration, allocated uint64, calls int) bool {
	s.timeSinceWalk += d
	s.maybeMeasure(allocated, calls)
	if s.term == nil {
		return false
	}
	(*results)[len(*results)-1] = Result{Status: -1, Err: s.term}
	return true
}

// TimerEvent runs timer_event(ns) with ns as an ns userdata; it does
// nothing when the script has no timer_event. An error string returned or
// raised by the script is returned as an error.
func (s *Sandbox) TimerEvent(ns int64) error {
	if err := s.usable(); err != nil {
		return err
	}
	fn := s.globals.RawGetString("timer_event")
	if fn.Type() != lua.LTFunction {
		return nil
	}
	s.countCall()
	n, err := s.run(fn, newNS(s.L, s.nsMT, ns))
	if err != nil {
		return err
	}
	status, err := s.results("timer_event", n)
	s.L.SetTop(0)
	if err == nil && status < 0 {
		err = fmt.Errorf("timer_event returned %d", status)
	}
	return err
}

// HasProcessMessage reports whether the script defines process_message
// (a script with only timer_event is an input of sorts).
func (s *Sandbox) HasProcessMessage() bool {
	if s.closed {
		return false
	}
	return s.globals.RawGetString("process_message").Type() == lua.LTFunction
}

// Files returns the script's path and the paths of the Lua modules it has
// required so far, for a watcher that reloads on change. A module required
// lazily (inside process_message) appears after its first use.
func (s *Sandbox) Files() []string {
	return append([]string(nil), s.files...)
}

// Usage returns what the sandbox has used. MemoryBytes is the estimate at
// its last refresh (see README); it may be called from any goroutine.
func (s *Sandbox) Usage() Usage {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	return s.usage
}

// Close releases the state. Calls after Close fail.
func (s *Sandbox) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.wd.close()
	s.L.Close()
}
