// Package lua is the Lua script decoder: an input's decoder named by the
// path of a script (`decoder = "plugins/decoders/kv.lua"`) runs that script,
// in the sandbox of filters.lua (Heka's API and limits), on each line.
//
// The script is Heka's decoder: process_message() reads the line with
// read_message("Payload") and injects the decoded message with
// inject_message{...}; it injects nothing for a line that carries no
// message, and returns -1 (or an error) for a line that does not decode.
//
// Lifecycle: Configure reads decoder_config and compiles the script (so that
// `check` reports a syntax error, with its line, on the key "decoder"); Init
// builds the sandbox the runtime uses and watches the files; Close stops.
//
// Calls are serialised by a mutex, as a sandbox runs one call at a time: an
// input with several connections (inputs.tcp) decodes one line at a time,
// so a script decoder's throughput is that of one core, whatever the number
// of connections.
//
// Reload: when the script or a Lua module it required changes on disk, the
// new version is built first and swapped in between two lines, under the
// same mutex; a version that does not build is logged and the running one
// stays. A script that breaks a limit is terminated and every later line
// fails with that termination (counted, dead-lettered) until the file is
// changed and reloads: there is no restart with backoff as in filters.lua.
package lua

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/interoceptor/interoceptor/internal/filewatch"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/sandbox"
	_ "github.com/interoceptor/interoceptor/sandbox/modules/all" // change, circular_buffer, json
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.RegisterScriptDecoder(pipeline.ScriptDecoderRegistration{
		Description: "A Lua decoder script, named by its path (decoder = \"plugins/decoders/kv.lua\")",
		Sample:      sample,
		New:         func(path string) pipeline.Decoder { return New(path) },
	})
}

// New returns the decoder of the script at path, with the default limits.
// It decodes nothing before Configure.
func New(path string) *Decoder {
	return &Decoder{
		Script: path,
		Limits: sandbox.Limits{MemoryBytes: sandbox.DefaultMemoryBytes, CallTime: sandbox.DefaultCallTime,
			OutputBytes: sandbox.DefaultOutputBytes},
		Watch: true,
		log:   slog.New(slog.DiscardHandler),
	}
}

var (
	_ pipeline.ConfigurableDecoder = (*Decoder)(nil)
	_ pipeline.Initializer         = (*Decoder)(nil)
	_ pipeline.Closer              = (*Decoder)(nil)
	_ pipeline.Reloader            = (*Decoder)(nil)
	_ pipeline.StatusReporter      = (*Decoder)(nil)
)

// errTwoInjects fails a line for which the script injected more than once.
var errTwoInjects = errors.New("a decoder injects one message per line")

// Decoder runs a Lua decoder script. Its fields are set by New and Configure.
type Decoder struct {
	Script     string
	Config     map[string]any // decoder_config.config, for read_config
	ModulePath []string
	Limits     sandbox.Limits
	Watch      bool // reload when the files change; Init starts the watch

	log *slog.Logger

	mu      sync.Mutex // held while the script runs and while it is swapped
	sb      *sandbox.Sandbox
	got     *pipeline.Message // the message injected during the call in progress
	injects int
	version int // 1 for the first sandbox, +1 per reload
	closed  bool
	watcher *filewatch.Watcher
}

// Configure reads decoder_config: memory_limit (bytes), time_limit ("50ms"),
// output_limit (bytes), module_path (directories for require) and config
// (the table read_config reads). Then it compiles the script: an error in it
// is a *pipeline.DecoderScriptError.
func (d *Decoder) Configure(table map[string]any) error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, pipeline.InvalidKey(key, format, args...)) }
	for _, k := range slices.Sorted(maps.Keys(table)) {
		v := table[k]
		switch k {
		case "memory_limit":
			n, ok := v.(int64)
			if !ok {
				bad(k, "expected an integer (bytes)")
			} else if err := sandbox.MemoryBytesRange.Check(k, n); err != nil {
				errs = append(errs, err)
			} else {
				d.Limits.MemoryBytes = n
			}
		case "time_limit":
			s, _ := v.(string)
			t, err := time.ParseDuration(s)
			if err != nil {
				bad(k, "expected a duration such as \"50ms\"")
			} else if err := sandbox.CallTimeRange.Check(k, t); err != nil {
				errs = append(errs, err)
			} else {
				d.Limits.CallTime = t
			}
		case "output_limit":
			n, ok := v.(int64)
			if !ok {
				bad(k, "expected an integer (bytes)")
			} else if err := sandbox.OutputBytesRange.Check(k, n); err != nil {
				errs = append(errs, err)
			} else {
				d.Limits.OutputBytes = int(n)
			}
		case "module_path":
			arr, ok := v.([]any)
			if !ok {
				bad(k, "expected an array of directories")
				continue
			}
			d.ModulePath = []string{} // set, even empty: not the default
			for _, x := range arr {
				s, ok := x.(string)
				if !ok {
					bad(k, "expected an array of directories")
					break
				}
				d.ModulePath = append(d.ModulePath, s)
			}
		case "config":
			c, ok := v.(map[string]any)
			if !ok {
				bad(k, "expected a table")
				continue
			}
			d.Config = c
		default:
			bad(k, "unknown key (known: config, memory_limit, module_path, output_limit, time_limit)")
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // the script is tried within valid limits only
	}
	if _, err := os.Stat(d.Script); err != nil {
		return &pipeline.DecoderScriptError{Err: err}
	}
	sb, err := d.build()
	if err != nil {
		return &pipeline.DecoderScriptError{Err: err}
	}
	sb.Close()
	return nil
}

// build makes a sandbox from the files as they are now.
func (d *Decoder) build() (*sandbox.Sandbox, error) {
	sb, err := sandbox.New(sandbox.Options{
		Name: "decoder " + d.Script, Script: d.Script, Config: d.Config, ModulePath: sandbox.ModulePathOr(d.ModulePath, d.Script),
		Limits: d.Limits, Log: d.log, Inject: d.inject,
	})
	if err != nil {
		return nil, err
	}
	if !sb.HasProcessMessage() {
		sb.Close()
		return nil, fmt.Errorf("%s: a decoder script needs a process_message function", d.Script)
	}
	return sb, nil
}

// inject keeps the first message the script injects; under d.mu.
func (d *Decoder) inject(m *pipeline.Message) error {
	d.injects++
	if d.injects > 1 {
		return errTwoInjects
	}
	d.got = m.Clone() // m is only valid during the call, and m's line is the input's buffer
	return nil
}

// Init builds the sandbox and, with Watch, starts watching its files.
func (d *Decoder) Init(env *pipeline.Env) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if env != nil && env.Log != nil {
		d.log = env.Log
	}
	if d.sb == nil {
		sb, err := d.build()
		if err != nil {
			return err
		}
		d.sb, d.version = sb, 1
	}
	if d.Watch && d.watcher == nil {
		if err := d.watch(); err != nil {
			return fmt.Errorf("watching %s: %w", d.Script, err)
		}
	}
	return nil
}

// Decode runs process_message() with the line as Payload and m's headers,
// then copies the message the script injected into m: Type, Payload,
// Severity and Fields (replacing m's), and Timestamp, Logger, Hostname and
// Pid when the script set them (otherwise m's stay, and the runtime fills
// them). A line for which the script injects nothing is
// pipeline.ErrSkipLine. A decoder used without Init builds its sandbox on
// the first line and does not watch the files.
func (d *Decoder) Decode(line []byte, m *pipeline.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("decoder closed")
	}
	if d.sb == nil {
		sb, err := d.build()
		if err != nil {
			return err
		}
		d.sb, d.version = sb, 1
	}
	m.Payload = line
	d.got, d.injects = nil, 0
	status, err := d.sb.ProcessMessage(m)
	got, injects := d.got, d.injects
	d.got = nil
	switch {
	case injects > 1:
		return errTwoInjects
	case err != nil:
		return err // a *sandbox.TerminatedError until the file is changed
	case status < 0:
		return fmt.Errorf("process_message returned %d", status)
	case got == nil:
		return pipeline.ErrSkipLine
	}
	m.Type, m.Payload, m.Severity = got.Type, got.Payload, got.Severity
	m.Fields = append(m.Fields[:0], got.Fields...)
	if got.Timestamp != 0 {
		m.Timestamp = got.Timestamp
	}
	if got.Logger != "" {
		m.Logger = got.Logger
	}
	if got.Hostname != "" {
		m.Hostname = got.Hostname
	}
	if got.Pid != 0 {
		m.Pid = got.Pid
	}
	return nil
}

// Reload builds the script as it is on disk now and swaps it in between
// two lines; if it does not build, the running version stays.
func (d *Decoder) Reload() error {
	sb, err := d.build()
	if err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		sb.Close()
		return nil
	}
	old := d.sb
	d.sb = sb
	d.version++
	version := d.version
	if d.watcher != nil {
		d.watcher.Add(sb.Files())
	}
	d.mu.Unlock()
	if old != nil {
		old.Close()
	}
	d.log.Info("decoder script reloaded", "script", d.Script, "version", version)
	return nil
}

// Status reports the script and its version for /api/plugins (under the
// input's "decoder").
func (d *Decoder) Status() map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return map[string]any{"script": d.Script, "version": d.version}
}

// Version is 1 for the first script and one more per reload.
func (d *Decoder) Version() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version
}

// reloadDebounce lets an editor finish writing before the file is read.
const reloadDebounce = 50 * time.Millisecond

// watch reloads the script when it, or a Lua module it required, changes;
// under d.mu.
func (d *Decoder) watch() error {
	w, err := filewatch.Watch(filewatch.Files(d.watchedFiles), reloadDebounce, func() {
		if err := d.Reload(); err != nil {
			d.log.Error("decoder reload failed; the previous version keeps running", "err", err)
		}
	}, d.log)
	if err != nil {
		return err
	}
	d.watcher = w
	w.Add(d.sb.Files())
	return nil
}

func (d *Decoder) watchedFiles() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sb == nil {
		return []string{d.Script}
	}
	return d.sb.Files()
}

// Close stops watching and closes the sandbox; later lines fail.
func (d *Decoder) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	w := d.watcher
	d.mu.Unlock()
	if w != nil {
		w.Close()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sb != nil {
		d.sb.Close()
		d.sb = nil
	}
	return nil
}
