// Package pipelinetest has helpers for testing plugins against the contracts
// of package pipeline, the way net/http/httptest serves net/http: an Env, a
// Collector that keeps what a plugin emits (and Stopped, which takes
// nothing), Init and StartInput that take a plugin through its lifecycle as
// the runtime does, and CheckSample, which keeps a plugin's sample.toml and
// its defaults in step.
package pipelinetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/interoceptor/interoceptor/pipeline"
)

// StopTimeout is how long the stop function of StartInput waits for Run to
// return once its context has ended.
const StopTimeout = 5 * time.Second

// Env returns the Env the runtime would give a plugin, for a test: its
// logger discards everything and its stats start at zero.
func Env(kind pipeline.Kind, typ, name string) *pipeline.Env {
	return &pipeline.Env{Kind: kind, Type: typ, Name: name,
		Log: slog.New(slog.DiscardHandler), Stats: new(pipeline.PluginStats)}
}

// Collector is a LineEmitter (and so an Emitter) that keeps a deep copy of
// every message and line it is given: both are only valid during the call.
// The zero value takes both; it is safe for concurrent use.
type Collector struct {
	// LinesOnly makes Emit fail, for an input that must send every line
	// through EmitLine (and so through its decoder).
	LinesOnly bool
	// MessagesOnly makes EmitLine fail, for a plugin that builds its own
	// messages.
	MessagesOnly bool

	mu      sync.Mutex
	lines   []string
	origins []pipeline.LineOrigin // of each line; zero for one without
	msgs    []*pipeline.Message
}

var _ pipeline.LineEmitter = (*Collector)(nil)

// Emit keeps a copy of m. Then, as the runtime does, it stamps m's empty
// UUID and Timestamp in place: a plugin that reuses its message must not
// carry them over to the next one.
func (c *Collector) Emit(m *pipeline.Message) error {
	if c.LinesOnly {
		return errors.New("pipelinetest: Emit called on a LinesOnly collector: this plugin emits lines, not messages")
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, m.Clone())
	c.mu.Unlock()
	if m.Timestamp == 0 || m.UUID == (pipeline.UUID{}) {
		now := time.Now()
		if m.Timestamp == 0 {
			m.Timestamp = now.UnixNano()
		}
		if m.UUID == (pipeline.UUID{}) {
			m.UUID = pipeline.NewUUID(now)
		}
	}
	return nil
}

// EmitLine keeps a copy of line.
func (c *Collector) EmitLine(line []byte) error {
	return c.EmitLineAt(line, nil)
}

// EmitLineAt keeps a copy of line and of its origin.
func (c *Collector) EmitLineAt(line []byte, at *pipeline.LineOrigin) error {
	if c.MessagesOnly {
		return errors.New("pipelinetest: EmitLine called on a MessagesOnly collector: this plugin emits messages, not lines")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, string(line))
	var o pipeline.LineOrigin
	if at != nil {
		o = *at
	}
	c.origins = append(c.origins, o)
	return nil
}

// Flush returns nil: a Collector keeps every line as it is emitted.
func (c *Collector) Flush() error { return nil }

// ErrStopped is what Stopped returns from every call.
var ErrStopped = errors.New("pipelinetest: pipeline stopped")

// Stopped is a LineEmitter of a pipeline that has stopped: every call fails
// with ErrStopped, as the runtime's emitter fails once its pipeline cannot
// take more: for testing that an input's Run then ends with that error.
type Stopped struct{}

var _ pipeline.LineEmitter = Stopped{}

func (Stopped) Emit(*pipeline.Message) error                  { return ErrStopped }
func (Stopped) EmitLine([]byte) error                         { return ErrStopped }
func (Stopped) EmitLineAt([]byte, *pipeline.LineOrigin) error { return ErrStopped }
func (Stopped) Flush() error                                  { return ErrStopped }

// Origins returns the origins of the lines emitted so far, in the order of
// Lines: the zero LineOrigin for a line emitted without one.
func (c *Collector) Origins() []pipeline.LineOrigin {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.origins)
}

// Lines returns the lines emitted so far, in order.
func (c *Collector) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// Messages returns the copies of the messages emitted so far, in order.
func (c *Collector) Messages() []*pipeline.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// Len returns how many lines and messages were emitted so far, together.
func (c *Collector) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines) + len(c.msgs)
}

// WaitFor waits until at least n lines and messages, together, have been
// emitted, and fails the test if that takes longer than timeout.
func (c *Collector) WaitFor(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	WaitUntil(t, timeout, fmt.Sprintf("%d lines and messages", n), func() error {
		if got := c.Len(); got < n {
			return fmt.Errorf("%d so far", got)
		}
		return nil
	})
}

// WaitUntil polls cond until it returns nil, and fails the test if that
// takes longer than timeout, naming what it waited for and the last error
// cond returned, which should say what it saw: a deadline instead of a sleep,
// and a failure that says why. Polls start a millisecond apart and back off
// to 50ms, so that a quick condition is seen at once and a slow one does not
// spin.
func WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
			return // only a fake TB's Fatalf returns
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// GaugeIs is a condition for WaitUntil: p's gauge name equals want.
func GaugeIs(p pipeline.GaugeReporter, name string, want float64) func() error {
	return func() error {
		if got := p.Gauges()[name]; got != want {
			return fmt.Errorf("%s = %v", name, got)
		}
		return nil
	}
}

// Init takes p, a plugin with its config set, through validate and init as
// the runtime does (each step only if p implements it), and closes it when
// the test ends if it is a Closer. A failure fails the test at once.
func Init(t testing.TB, p any, env *pipeline.Env) {
	t.Helper()
	initialise(t, p, env)
	if c, ok := p.(pipeline.Closer); ok {
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// initialise validates and inits p. When Init fails, p is closed all the
// same, as the runtime does, before the test fails.
func initialise(t testing.TB, p any, env *pipeline.Env) {
	t.Helper()
	if v, ok := p.(pipeline.Validator); ok {
		if err := v.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	}
	if i, ok := p.(pipeline.Initializer); ok {
		if err := i.Init(env); err != nil {
			if c, ok := p.(pipeline.Closer); ok {
				c.Close()
			}
			t.Fatalf("Init: %v", err)
		}
	}
}

// CheckInitFails checks what the contract asks of a plugin whose Init cannot
// acquire what it needs (an address in use, a path that cannot be opened):
// Init returns an error whose text holds want, what the user has to fix; and
// Close, which the runtime still calls, succeeds.
func CheckInitFails(t testing.TB, p pipeline.Initializer, env *pipeline.Env, want string) {
	t.Helper()
	err := p.Init(env)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Init = %v, want an error naming %s", err, want)
	}
	if c, ok := p.(pipeline.Closer); ok {
		if err := c.Close(); err != nil {
			t.Errorf("Close after a failed Init: %v", err)
		}
	}
}

// StartInput validates and inits in, then runs it on its own goroutine,
// emitting to out, as the runtime does. stop ends Run's context, waits up to
// StopTimeout for Run to return, closes in if it is a Closer, and returns
// Run's error (or Close's, or one saying Run did not return). The test's
// cleanup stops it too, if the test has not.
func StartInput(t testing.TB, in pipeline.Input, env *pipeline.Env, out *Collector) (stop func() error) {
	t.Helper()
	initialise(t, in, env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, out) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(StopTimeout):
				runErr = fmt.Errorf("the input's Run did not return within %v of its context ending", StopTimeout)
			}
			if c, ok := in.(pipeline.Closer); ok {
				if err := c.Close(); err != nil && runErr == nil {
					runErr = err
				}
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return stop
}

// CheckSample checks that the registered sample.toml of a plugin and its
// defaults agree:
//
//   - the sample holds exactly one [[kind.typ]] table, which decodes strictly
//     (no key the plugin does not know) and validates;
//   - it shows the shared keys a table of its kind needs (name; publish for
//     an input or a filter; subscribe for a filter or an output;
//     ticker_interval for a plugin that ticks);
//   - every key of the plugin (every toml tag of its struct) is in it;
//   - each of them is set to its default, except the keys named in examples,
//     whose values are examples and whose default is the zero value: the
//     required keys, and the optional ones that are empty by default but
//     worth showing (filters.lua's config table).
//
// It runs from the module's root, where the README runs the binary, so that
// the paths a sample names (a script, a module directory) are found.
func CheckSample(t testing.TB, kind pipeline.Kind, typ string, examples ...string) {
	t.Helper()
	chdirModuleRoot(t)
	reg, ok := pipeline.Lookup(kind, typ)
	if !ok {
		t.Fatalf("%s.%s is not registered", kind, typ)
	}
	want := reg.New()
	if v := reflect.ValueOf(want); v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		t.Fatalf("%s.%s: New returns %T, want a pointer to a struct", kind, typ, want)
	}
	var doc map[string]map[string][]map[string]any
	if _, err := toml.Decode(reg.Sample, &doc); err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	tables := doc[string(kind)][typ]
	if len(tables) != 1 {
		t.Fatalf("sample.toml has %d [[%s.%s]] tables, want 1", len(tables), kind, typ)
	}
	keys := tables[0]
	for _, k := range sampleSharedKeys(kind, want) {
		if _, ok := keys[k]; !ok {
			t.Errorf("sample.toml lacks the shared key %q", k)
		}
	}
	for _, k := range pipeline.SharedKeys(kind) {
		delete(keys, k)
	}
	var src bytes.Buffer
	if err := toml.NewEncoder(&src).Encode(keys); err != nil {
		t.Fatal(err)
	}
	got := reflect.New(reflect.TypeOf(want).Elem())
	md, err := toml.Decode(src.String(), got.Interface())
	if err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("sample.toml has keys the plugin does not know: %v", u)
	}
	if v, ok := got.Interface().(pipeline.Validator); ok {
		if err := v.Validate(); err != nil {
			t.Errorf("sample.toml does not validate: %v", err)
		}
	}
	fields := got.Elem().Type()
	for _, key := range examples {
		i := fieldIndex(fields, key)
		if i < 0 {
			t.Fatalf("%T has no field for the key %q", want, key)
		}
		got.Elem().Field(i).SetZero()
	}
	if !reflect.DeepEqual(got.Interface(), want) {
		t.Errorf("sample.toml decodes to %+v, want the defaults %+v", got.Interface(), want)
	}
	for i := range fields.NumField() {
		if key := tomlKey(fields.Field(i)); key != "" {
			if _, ok := keys[key]; !ok {
				t.Errorf("sample.toml lacks key %q", key)
			}
		}
	}
}

// CheckDecoderSample checks the registered sample.toml of a decoder, named
// as an input's decoder key names it (a registered name, or the path of a
// Lua script for the decoder of scripts):
//
//   - the sample holds exactly one plugin table, that of an input which
//     emits lines, whose decoder is this one (for the decoder of scripts,
//     the path of a script);
//   - it shows the input's name and publish, and, for a decoder that takes
//     options, a decoder_config table;
//   - it passes the checks of `interoceptor check` (pipeline.ParseConfig):
//     the input's keys, strictly, and decoder_config through the decoder's
//     Configure.
//
// Like CheckSample, it runs from the module's root.
func CheckDecoderSample(t testing.TB, name string) {
	t.Helper()
	chdirModuleRoot(t)
	reg, ok := pipeline.LookupDecoder(name)
	if !ok {
		t.Fatalf("decoder %q is not registered", name)
	}
	if reg.Sample == "" {
		t.Fatalf("decoder %q is registered without a sample", name)
	}
	var doc map[string]map[string][]map[string]any
	if _, err := toml.Decode(reg.Sample, &doc); err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	var tables []map[string]any
	var where []string
	for kind, byType := range doc {
		for typ, ts := range byType {
			tables = append(tables, ts...)
			for range ts {
				where = append(where, kind+"."+typ)
			}
		}
	}
	if len(tables) != 1 || doc[string(pipeline.KindInput)] == nil {
		t.Fatalf("sample.toml has the tables %v, want one input", where)
	}
	typ := strings.TrimPrefix(where[0], string(pipeline.KindInput)+".")
	if in, ok := pipeline.Lookup(pipeline.KindInput, typ); !ok || in.OwnMessages {
		t.Fatalf("sample.toml: %s is not an input that emits lines", where[0])
	}
	keys := tables[0]
	for _, k := range []string{"name", "publish"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("sample.toml lacks the shared key %q", k)
		}
	}
	decoder, _ := keys["decoder"].(string)
	if pipeline.IsDecoderScript(name) && !pipeline.IsDecoderScript(decoder) || !pipeline.IsDecoderScript(name) && decoder != name {
		t.Errorf("sample.toml: decoder = %q, want %q", decoder, name)
	}
	if _, takesOptions := reg.New().(pipeline.ConfigurableDecoder); takesOptions && keys["decoder_config"] == nil {
		t.Errorf("sample.toml has no decoder_config table to show the options of %q", name)
	}
	if _, err := pipeline.ParseConfig("sample.toml", reg.Sample); err != nil {
		t.Errorf("sample.toml does not pass check: %v", err)
	}
}

// chdirModuleRoot makes the module's root (where go.mod is) the working
// directory until the test ends.
func chdirModuleRoot(t testing.TB) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
	t.Chdir(dir)
}

// sampleSharedKeys are the shared keys a sample must show for plugin p of
// the given kind.
func sampleSharedKeys(kind pipeline.Kind, p any) []string {
	keys := []string{"name"}
	switch kind {
	case pipeline.KindInput:
		keys = append(keys, "publish")
	case pipeline.KindFilter:
		keys = append(keys, "subscribe", "publish")
	case pipeline.KindOutput:
		keys = append(keys, "subscribe")
	}
	if _, ok := p.(pipeline.Ticker); ok {
		keys = append(keys, "ticker_interval")
	}
	return keys
}

// fieldIndex returns the index of the field of struct type typ that decodes
// from key, -1 for none.
func fieldIndex(typ reflect.Type, key string) int {
	for i := range typ.NumField() {
		if tomlKey(typ.Field(i)) == key {
			return i
		}
	}
	return -1
}

// tomlKey returns the key a struct field decodes from, "" for none.
func tomlKey(f reflect.StructField) string {
	key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if key == "-" {
		return ""
	}
	return key
}
