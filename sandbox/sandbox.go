// Package sandbox hosts Lua plugins: one restricted gopher-lua state per
// plugin instance, Heka's sandbox API, hard limits, and state that can be
// preserved across a reload or a restart.
//
// Lifecycle: New compiles the script and runs its top level once (the
// script's initialisation); then ProcessMessage and TimerEvent are called,
// never concurrently; Close releases the state. A script that breaks a limit
// is terminated: the call returns a *TerminatedError and the sandbox refuses
// every later call (the owner decides whether to start a new one).
//
// This file is the contract the rest of the product builds on; see the
// README for what each limit guarantees and how precisely.
package sandbox

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// Limits bound what one sandbox may use. Zero fields take the defaults.
type Limits struct {
	MemoryBytes    int64         // live Lua memory (estimated, see README); default 8 MiB
	CallTime       time.Duration // the script's own running time in one call (CPU time of its thread, see README); default 100ms
	OutputBytes    int           // size of one injected message (encoded); default 64 KiB
	InjectsPerCall int           // injects during one call; default 1000
}

// Default limits, Heka's where Heka had one.
const (
	DefaultMemoryBytes    = 8 << 20
	DefaultCallTime       = 100 * time.Millisecond
	DefaultOutputBytes    = 64 << 10
	DefaultInjectsPerCall = 1000
)

// WithDefaults returns l with zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MemoryBytes <= 0 {
		l.MemoryBytes = DefaultMemoryBytes
	}
	if l.CallTime <= 0 {
		l.CallTime = DefaultCallTime
	}
	if l.OutputBytes <= 0 {
		l.OutputBytes = DefaultOutputBytes
	}
	if l.InjectsPerCall <= 0 {
		l.InjectsPerCall = DefaultInjectsPerCall
	}
	return l
}

// Options configure a sandbox.
type Options struct {
	Name   string // the plugin instance, for errors and logs
	Script string // path of the Lua file
	// Source, when set, is used instead of reading Script (tests); Script
	// still names it in errors.
	Source string
	// Config is what read_config(key) returns values from: the plugin's
	// [filters.lua.config] table (strings, numbers, booleans, arrays and
	// tables of those).
	Config map[string]any
	// ModulePath lists directories searched, in order, by require("name")
	// for name.lua, after the modules written in Go (change,
	// circular_buffer, json). See ModulePathOr for the plugins' default.
	ModulePath []string
	Limits     Limits
	Log        *slog.Logger // print() goes here, at info level, rate-limited (the owner's attributes name the plugin)
	// Inject receives every message the script injects (inject_message,
	// inject_payload). The message is only valid during the call.
	Inject func(m *pipeline.Message) error
	// PassOn, when set, receives instead of Inject a message that
	// inject_message() passes on with its headers and the fields it came
	// with unchanged: base is the message handed in, extra the fields the
	// script appended (see pipeline.Extender). Only valid during the call.
	PassOn func(base *pipeline.Message, extra []pipeline.Field) error
}

// Usage is what a sandbox has used, for /metrics and /api/plugins.
type Usage struct {
	MemoryBytes    int64         // at the last measurement (between calls, or during one)
	MaxMemoryBytes int64         // the most seen
	Calls          uint64        // process_message and timer_event calls
	CallTime       time.Duration // total time charged to the script (see README, "Time")
	MaxCallTime    time.Duration // the longest call
	PrintsDropped  uint64        // print lines left out of the log by its rate limit
}

// TerminatedError reports a script stopped for breaking a limit or for an
// error it cannot recover from. The sandbox is unusable afterwards.
type TerminatedError struct {
	Name   string // the plugin instance
	Reason string // "memory", "time", "output", "injects" or "error"
	Msg    string
}

func (e *TerminatedError) Error() string {
	return fmt.Sprintf("sandbox %s terminated (%s): %s", e.Name, e.Reason, e.Msg)
}

// CompileError reports a script that does not compile or whose top level
// fails; Line is 0 when unknown.
type CompileError struct {
	Script string
	Line   int
	Msg    string
}

func (e *CompileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Script, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Script, e.Msg)
}
