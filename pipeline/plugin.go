package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Kind is the role of a plugin in a pipeline.
type Kind string

// The three kinds, named as their TOML arrays of tables.
const (
	KindInput  Kind = "inputs"
	KindFilter Kind = "filters"
	KindOutput Kind = "outputs"
)

// Emitter sends messages to the plugin's publish subject. Emit encodes the
// message before it returns, so the caller may reuse m at once. The runtime
// fills headers left empty: UUID, Timestamp (now), Logger (the plugin's
// name), and Hostname (agent name) with Pid (this process) when the message
// names no host: a message relayed from another host keeps its own Pid.
type Emitter interface {
	Emit(m *Message) error
}

// Extender is implemented by the runtime's emitters. EmitExtended sends
// base, a message the filter was handed and has not changed, with extra
// appended to its fields: the message it was decoded from is copied rather
// than encoded again (BatchEncoder.AddExtended), which is what makes a
// filter that adds a tag to every message cheap. base is not modified.
type Extender interface {
	EmitExtended(base *Message, extra []Field) error
}

// LineEmitter is what an input sends to; the runtime implements it.
//
// EmitLine turns one line into a message with the input's decoder (or the
// raw line as the payload of a "log" message when there is none); a line
// that fails to decode is counted and, if the input has a dead_letter
// subject, sent there with the error. The line is only valid during the
// call: the input may reuse it.
//
// EmitLineAt is EmitLine for an input that knows where it read the line
// (see LineOrigin); at, like line, is only valid during the call. A nil at
// is EmitLine.
//
// Flush sends what was emitted before it and returns once it has left the
// process; in durable mode, once the stream has stored it. An input that
// keeps a checkpoint calls Flush before writing one, so that the checkpoint
// never records a line that could still be lost. An error means some of
// those lines were not delivered: the checkpoint must not move.
type LineEmitter interface {
	Emitter
	EmitLine(line []byte) error
	EmitLineAt(line []byte, at *LineOrigin) error
	Flush() error
}

// LineOrigin says where an input read a line. An input that can read the
// same line again (a file after a crash, before its checkpoint caught up)
// gives it with EmitLineAt: the message's UUID is then made from Source and
// Offset (OriginUUID), the same on every read, so that a subscriber drops
// and counts a second copy (see originWindow), and the path becomes a tag.
type LineOrigin struct {
	Path      string  // the file the line is in
	PathField string  // the tag Path is added as; "" adds none
	Source    [8]byte // names the file, and this incarnation of it, among all others
	Offset    int64   // where the line starts in the file
}

// Input produces messages until ctx is done or its source is exhausted
// (stdin, a file read once). Returning nil for an exhausted source lets a
// pipeline of finite inputs end by itself.
type Input interface {
	Run(ctx context.Context, out LineEmitter) error
}

// Gatherer is implemented by inputs that can give what they have once and
// return, for `interoceptor run -once` (as `telegraf --test`): a polled
// input takes one round, a generator sends one message, an input that reads
// a file or standard input reads it to its end. Gather is called after Init,
// instead of Run. Inputs that wait for what may arrive (listeners, tail) do
// not implement it: -once skips them.
type Gatherer interface {
	Gather(ctx context.Context, out LineEmitter) error
}

// Filter handles one message at a time and may emit any number of messages.
// An error is counted against the plugin and logged; the pipeline goes on.
type Filter interface {
	Process(m *Message, out Emitter) error
}

// SubjectFilter is implemented by filters that need the subject a message
// arrived on; the runtime then calls ProcessFrom instead of Process.
type SubjectFilter interface {
	ProcessFrom(subject string, m *Message, out Emitter) error
}

// BatchFilter is implemented by filters that handle a batch more cheaply
// than its messages one by one (a Lua filter starts its watchdog once a
// batch). The runtime then calls ProcessBatch, instead of Process, with
// the messages of one batch that its matcher took; the filter calls failed
// for each message it failed, with the error Process would have returned.
type BatchFilter interface {
	ProcessBatch(msgs []*Message, out Emitter, failed func(m *Message, err error))
}

// Output writes a batch of messages. An error wrapped with Retryable is
// retried with backoff; any other error drops the batch, counted. A message
// the output cannot write (say, a log message in line protocol) is skipped
// and counted by the output in Env.Stats.Dropped (and Errors, with a log
// line); the runtime counts the rest of the batch as Out.
type Output interface {
	Write(batch []*Message) error
}

// Transient is implemented by filters and outputs that keep nothing of the
// messages they are given once Process, ProcessBatch or Write returns,
// their strings included: outputs.file formats them into bytes, a Lua
// filter copies what a script reads. Their messages' strings are then not
// copied out of the batch that came from NATS: they alias it, as payloads
// do (see BatchDecoder.Alias). A plugin that keeps a message's string (in a
// map, in a queue) must not implement it, or it keeps whole batches alive.
type Transient interface {
	KeepsNothing()
}

// Validator is implemented by plugins that check their decoded config. It
// runs in `interoceptor check` as well as `run`, so it must not acquire
// anything (no listening, no opening files for writing). Return MissingKey or
// InvalidKey so that the error names the key and its line.
type Validator interface {
	Validate() error
}

// Initializer is implemented by plugins that acquire resources before
// running (bind a socket, open a file).
type Initializer interface {
	Init(env *Env) error
}

// KeyError is a config error about one key of a plugin's table.
type KeyError struct {
	Key     string
	Missing bool
	Msg     string
}

func (e *KeyError) Error() string {
	if e.Missing {
		return fmt.Sprintf("missing required key %q", e.Key)
	}
	return fmt.Sprintf("key %q: %s", e.Key, e.Msg)
}

// MissingKey reports that a required key was not set.
func MissingKey(key string) error { return &KeyError{Key: key, Missing: true} }

// InvalidKey reports that a key's value is not acceptable, and why.
func InvalidKey(key, format string, args ...any) error {
	return &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Ticker is implemented by filters that act on ticker_interval. Tick is also
// called once when the pipeline drains, with final set, so that totals held
// by the filter are not lost.
type Ticker interface {
	Tick(now time.Time, final bool, out Emitter) error
}

// Closer is implemented by plugins that hold resources.
type Closer interface {
	Close() error
}

// Reloader is implemented by plugins that can load a new version of
// themselves while running (a Lua filter's script). Reload builds and
// checks the new version first; on error the old one keeps running and the
// error says why. The runtime calls it on SIGHUP and POST /api/reload.
type Reloader interface {
	Reload() error
}

// Reconfigurer is implemented by plugins that can take a new version of
// their own table while running (a Lua filter's script, config and limits).
// On a reload the runtime loads the config files again and, when they load
// and the plugin's table is there (same kind, type and name), hands the
// plugin that table decoded and validated as next, a value of the
// plugin's own type, instead of calling Reload. Like Reload, Reconfigure
// builds the new version first; on error the old one keeps running.
type Reconfigurer interface {
	Reconfigure(next any) error
}

// StatusReporter is implemented by plugins with state worth showing in
// /api/plugins (a script's version, why it was stopped). Status is called
// from other goroutines than the plugin's calls: it must be safe for that.
// A "state" key, when the runtime would say "running", replaces that
// state ("restarting", "stopped": a Lua filter waiting for a restart or
// stopped for good).
type StatusReporter interface {
	Status() map[string]any
}

// GaugeReporter is implemented by plugins with their own measures; each key
// becomes the Prometheus gauge interoceptor_plugin_<key> with the plugin's
// labels (e.g. lua_memory_bytes), or a counter (see CounterReporter). The
// keys are also the names /api/plugins and inputs.internal show. Like
// Status, safe for concurrent use.
type GaugeReporter interface {
	Gauges() map[string]float64
}

// CounterReporter is implemented by a GaugeReporter some of whose keys are
// monotonic counters since start (calls, retries, points written): /metrics
// exposes those as Prometheus counters interoceptor_plugin_<key>_total, as
// Prometheus' naming rules ask. The key itself keeps no "_total", so that
// /api/plugins and inputs.internal (where InfluxDB fields need no suffix)
// show the same name for a gauge or a counter.
type CounterReporter interface {
	IsCounter(key string) bool
}

// Flusher is implemented by outputs that buffer: Flush is called after each
// batch when no more messages are waiting (in durable mode after every
// batch, before its ack), and before Close.
type Flusher interface {
	Flush() error
}

// Decoder turns one line of input into a message. m arrives with the input's
// headers set, Severity DefaultSeverity and Payload holding the line, which
// is only valid during the call; the decoder sets Type, Fields and, if the
// line carries them, Timestamp and Severity (SeverityFromFields, from a
// level field), and may clear Payload.
//
// A decoder may also implement Initializer and Closer: the runtime calls
// Init (with the input's Env) after Configure on the decoder it uses, and
// Close when the pipeline stops. `check` calls neither.
type Decoder interface {
	Decode(line []byte, m *Message) error
}

// TransientDecoder is implemented by decoders that can decode without
// copying: the message's strings may alias line. The runtime calls
// DecodeTransient instead of Decode where the message is encoded, and
// forgotten, before the line's memory is used again (an input's EmitLine);
// Decode is used everywhere else. The two must give the same message.
type TransientDecoder interface {
	Decoder
	DecodeTransient(line []byte, m *Message) error
}

// ConfigurableDecoder is implemented by decoders that take options, from the
// input's decoder_config table. Configure is called once, on a decoder fresh
// from New, before any Decode: at config load to check the table, and again
// by the runtime on the decoder it uses. table is nil when decoder_config is
// not set. Return MissingKey or InvalidKey (with the key inside the table,
// "pattern") so that the error names decoder_config.pattern and its line.
type ConfigurableDecoder interface {
	Decoder
	Configure(table map[string]any) error
}

// DecoderScriptError is returned by Configure for a decoder script that
// cannot be used (missing, does not compile); the config reports it on the
// key "decoder", which names the script, rather than "decoder_config".
type DecoderScriptError struct{ Err error }

func (e *DecoderScriptError) Error() string { return e.Err.Error() }
func (e *DecoderScriptError) Unwrap() error { return e.Err }

// IsDecoderScript reports whether a decoder name is the path of a Lua
// decoder script ("plugins/decoders/kv.lua") rather than a registered name.
func IsDecoderScript(name string) bool { return strings.HasSuffix(name, ".lua") }

// Env is what the runtime gives a plugin at Init.
type Env struct {
	Kind   Kind
	Type   string
	Name   string
	Log    *slog.Logger
	Agent  AgentConfig
	Ticker time.Duration // ticker_interval, zero when not set
	Stats  *PluginStats
	// Host is the pipeline the plugin runs in; nil outside one (a plugin
	// under test), which a plugin that uses it must allow for.
	Host Host
}

// Host is what a plugin may ask of the pipeline it runs in (the Runtime),
// beyond its own Env: when the pipeline stops, and how the whole pipeline
// is doing, for a plugin that watches it (inputs.internal). Its methods are
// safe for concurrent use.
type Host interface {
	// Stopping is closed once the pipeline begins to stop: a plugin that
	// waits for something not needed to finish the work (a Lua filter's
	// restart backoff) stops waiting then, so that the drain is not held
	// up.
	Stopping() <-chan struct{}
	// PluginStatus reports every plugin's identity, subjects, counters
	// and state, as /api/plugins shows them.
	PluginStatus() []PluginStatus
	// NATSStats reports the counters of the pipeline's NATS connection.
	NATSStats() NATSStats
	// JetStream returns a JetStream context on the pipeline's NATS (the
	// embedded server's, or the configured one's), for a plugin that keeps
	// state in a key-value bucket (outputs.notify). It errors when the
	// server runs no JetStream.
	JetStream() (nats.JetStreamContext, error)
}

// APIHandler is implemented by plugins that serve part of the admin API
// (outputs.notify: /api/alerts, /api/silences). The admin server hands a
// request whose path is one of APIPaths, or under one followed by "/", to
// ServeAPI of the first running plugin (in config order) that claims it,
// behind the same host check, authentication and cross-site guard as the
// rest of the API; the built-in paths cannot be claimed. A request may name
// the plugin with ?plugin=NAME when several claim a path. Like Status,
// ServeAPI is called from other goroutines than the plugin's calls. Its
// answer is sent once it returns (no streaming), with the config's secrets
// hidden in the body and the header values.
type APIHandler interface {
	APIPaths() []string
	ServeAPI(w http.ResponseWriter, r *http.Request)
}

// retryable marks an output error as worth retrying.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Retryable wraps err so that the runtime retries the batch with backoff.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryable{err}
}

// IsRetryable reports whether err was wrapped with Retryable.
func IsRetryable(err error) bool {
	var r retryable
	return errors.As(err, &r)
}

// notProcessed marks a filter's error for a message it could not process at
// all (its script stopped).
type notProcessed struct{ err error }

func (e notProcessed) Error() string { return e.err.Error() }
func (e notProcessed) Unwrap() error { return e.err }

// NotProcessed wraps the error of a filter that did not process a message
// at all (a Lua script terminated during the call, or stopped for good):
// the runtime sends the message to the filter's dead_letter subject, with
// the error, or counts it as dropped when there is none.
func NotProcessed(err error) error {
	if err == nil {
		return nil
	}
	return notProcessed{err}
}

// IsNotProcessed reports whether err was wrapped with NotProcessed.
func IsNotProcessed(err error) bool {
	var e notProcessed
	return errors.As(err, &e)
}

// Registration describes a plugin type to the registry.
//
// The lifecycle of a plugin, written once (as Caddy does):
//
//  1. construct: the registered New returns the plugin struct filled with
//     its defaults;
//  2. decode: the plugin's TOML table is decoded into that struct, strictly
//     (an unknown key is an error);
//  3. validate: if the plugin implements Validator, Validate checks the
//     decoded values, at config load (`check` stops here); an error stops
//     the pipeline from starting;
//  4. init: if the plugin implements Initializer, Init validates what it
//     could not before and acquires what it needs; an error stops the
//     pipeline from starting, and Close is still called;
//  5. run: inputs Run until their context ends or their source is exhausted;
//     filters Process each matching message and Tick on ticker_interval;
//     outputs Write batches;
//  6. cleanup: if the plugin implements Closer, Close is called once, after
//     everything in flight has been handed to it.
type Registration struct {
	Kind        Kind
	Type        string
	Description string
	Sample      string     // the plugin's sample.toml, embedded
	New         func() any // returns the plugin with its defaults set
	// OwnMessages marks an input that builds its messages itself (metrics,
	// syslog records) and emits no lines: decoder and dead_letter are
	// errors on it, not silently unused.
	OwnMessages bool
}

// DecoderRegistration describes a decoder to the registry.
type DecoderRegistration struct {
	Name        string
	Description string
	Sample      string // an input using the decoder, with its decoder_config: the decoder's sample.toml, embedded
	New         func() Decoder
}

// ScriptDecoderRegistration describes the decoder of Lua scripts, which
// decodes with the script an input's decoder names (see IsDecoderScript).
type ScriptDecoderRegistration struct {
	Description string
	Sample      string // as DecoderRegistration's
	// New returns the decoder of the script at path; it does nothing
	// before Configure, which loads the script.
	New func(path string) Decoder
}

var registry = struct {
	sync.RWMutex
	plugins  map[Kind]map[string]Registration
	decoders map[string]DecoderRegistration
	script   *ScriptDecoderRegistration // set by RegisterScriptDecoder
}{
	plugins:  map[Kind]map[string]Registration{},
	decoders: map[string]DecoderRegistration{},
}

// Register adds a plugin type; it is called from the plugin package's init
// and panics on a duplicate or on a constructor that returns the wrong kind.
func Register(r Registration) {
	registry.Lock()
	defer registry.Unlock()
	switch r.Kind {
	case KindInput, KindFilter, KindOutput:
	default:
		panic(fmt.Sprintf("pipeline: register %q: unknown kind %q", r.Type, r.Kind))
	}
	byType := registry.plugins[r.Kind]
	if byType == nil {
		byType = map[string]Registration{}
		registry.plugins[r.Kind] = byType
	}
	if _, dup := byType[r.Type]; dup {
		panic(fmt.Sprintf("pipeline: %s.%s registered twice", r.Kind, r.Type))
	}
	p := r.New()
	var ok bool
	switch r.Kind {
	case KindInput:
		_, ok = p.(Input)
	case KindFilter:
		_, ok = p.(Filter)
	case KindOutput:
		_, ok = p.(Output)
	}
	if !ok {
		panic(fmt.Sprintf("pipeline: %s.%s: %T does not implement the %s contract", r.Kind, r.Type, p, r.Kind))
	}
	byType[r.Type] = r
}

// RegisterDecoder adds a decoder; it panics on a duplicate name.
func RegisterDecoder(r DecoderRegistration) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.decoders[r.Name]; dup {
		panic(fmt.Sprintf("pipeline: decoder %q registered twice", r.Name))
	}
	registry.decoders[r.Name] = r
}

// RegisterScriptDecoder sets the decoder of the decoders named by the path
// of a Lua script (see IsDecoderScript). The decoders/lua package calls it
// from init, so that pipeline does not depend on the sandbox. It panics when
// called twice.
func RegisterScriptDecoder(r ScriptDecoderRegistration) {
	registry.Lock()
	defer registry.Unlock()
	if registry.script != nil {
		panic("pipeline: script decoder registered twice")
	}
	registry.script = &r
}

// ScriptDecoder returns the registration of the decoder of Lua scripts, if
// there is one.
func ScriptDecoder() (ScriptDecoderRegistration, bool) {
	registry.RLock()
	defer registry.RUnlock()
	if registry.script == nil {
		return ScriptDecoderRegistration{}, false
	}
	return *registry.script, true
}

// Lookup returns the registration of a plugin type.
func Lookup(kind Kind, typ string) (Registration, bool) {
	registry.RLock()
	defer registry.RUnlock()
	r, ok := registry.plugins[kind][typ]
	return r, ok
}

// LookupDecoder returns the registration of a decoder: a registered name,
// or the path of a Lua script when a script decoder is registered.
func LookupDecoder(name string) (DecoderRegistration, bool) {
	registry.RLock()
	defer registry.RUnlock()
	r, ok := registry.decoders[name]
	if !ok && IsDecoderScript(name) && registry.script != nil {
		script := registry.script
		return DecoderRegistration{Name: name, Description: script.Description, Sample: script.Sample,
			New: func() Decoder { return script.New(name) }}, true
	}
	return r, ok
}

// Plugins lists every registered plugin, by kind and then type.
func Plugins() []Registration {
	registry.RLock()
	defer registry.RUnlock()
	var out []Registration
	for _, byType := range registry.plugins {
		for _, r := range byType {
			out = append(out, r)
		}
	}
	order := map[Kind]int{KindInput: 0, KindFilter: 1, KindOutput: 2}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return order[out[i].Kind] < order[out[j].Kind]
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// Decoders lists every registered decoder by name.
func Decoders() []DecoderRegistration {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]DecoderRegistration, 0, len(registry.decoders))
	for _, r := range registry.decoders {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
