package lua_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/decoders/decodertest"
	"github.com/interoceptor/interoceptor/decoders/lua"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
	"github.com/interoceptor/interoceptor/sandbox"
)

// versionScript injects the line's n=<digits> as a field, with the
// script's version; it rejects a line without n.
const versionScript = `
local VERSION = %d
function process_message()
  local n = string.match(read_message("Payload"), "n=(%%d+)")
  if not n then return -1, "no n" end
  inject_message{Type = "v" .. VERSION, Fields = {n = tonumber(n), version = VERSION}}
end
`

func writeScript(t *testing.T, path, src string) {
	t.Helper()
	// write then rename, as editors do, so that a reload never reads half a file
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// newDecoder writes src as a script, configures the decoder with table and
// inits it as the runtime does; it is closed when the test ends.
func newDecoder(t *testing.T, src string, table map[string]any, env *pipeline.Env) (*lua.Decoder, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "d.lua")
	writeScript(t, path, src)
	d := lua.New(path)
	if err := d.Configure(table); err != nil {
		t.Fatal(err)
	}
	if env == nil {
		env = pipelinetest.Env(pipeline.KindInput, "stdin", "in")
	}
	pipelinetest.Init(t, d, env)
	return d, path
}

func decode(d *lua.Decoder, line string) (*pipeline.Message, error) {
	m := &pipeline.Message{Timestamp: 42, Hostname: "h"}
	m.AddString("stale", "from a previous line")
	err := d.Decode([]byte(line), m)
	return m, err
}

// TestGolden runs the cases of testdata/, each directory with its script
// (see decoders/decodertest).
func TestGolden(t *testing.T) {
	for _, g := range []struct{ script, cases string }{
		{"../../plugins/decoders/kv.lua", "testdata/kv"},
		{"testdata/outcomes/outcomes.lua", "testdata/outcomes"},
		{"testdata/configure/good.lua", "testdata/configure"},
		{"testdata/broken/broken.lua", "testdata/broken"},
		{"testdata/no-entry/none.lua", "testdata/no-entry"},
		{"testdata/missing/missing.lua", "testdata/missing"},
	} {
		t.Run(filepath.Base(g.cases), func(t *testing.T) { decodertest.Run(t, g.script, g.cases) })
	}
}

// The fields the script injects replace those of the message, which the
// golden cases, starting from a message without fields, cannot show; and a
// decoder used without Init builds its sandbox on the first line.
func TestFieldsReplaceTheMessages(t *testing.T) {
	d := lua.New("../../plugins/decoders/kv.lua")
	if err := d.Configure(nil); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m, err := decode(d, "a=1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Field("stale") != nil || m.Field("a") == nil || len(m.Fields) != 1 {
		t.Errorf("fields: %+v", m.Fields)
	}
}

// Editing the script changes the output between two lines: every line
// decodes, by the old version or the new one, and the new one takes over.
func TestHotReload(t *testing.T) {
	d, path := newDecoder(t, fmt.Sprintf(versionScript, 1), nil, nil)
	if m, err := decode(d, "n=1"); err != nil || m.Type != "v1" {
		t.Fatalf("v1: %+v, %v", m, err)
	}
	writeScript(t, path, fmt.Sprintf(versionScript, 2))
	n := 1
	pipelinetest.WaitUntil(t, 5*time.Second, "the new version at work", func() error {
		n++
		m, err := decode(d, fmt.Sprintf("n=%d", n))
		if err != nil {
			t.Fatalf("line %d lost during the reload: %v", n, err)
		}
		if f := m.Field("n"); f == nil || f.Float != float64(n) {
			t.Fatalf("line %d: fields %+v", n, m.Fields)
		}
		if m.Type != "v2" {
			return fmt.Errorf("line %d decoded as %s", n, m.Type)
		}
		return nil
	})
	if d.Version() != 2 {
		t.Errorf("version %d, want 2", d.Version())
	}
}

// syncBuffer is a log destination safe for the watcher's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBrokenEditKeepsTheRunningVersion(t *testing.T) {
	var logs syncBuffer
	env := pipelinetest.Env(pipeline.KindInput, "stdin", "in")
	env.Log = slog.New(slog.NewTextHandler(&logs, nil))
	d, path := newDecoder(t, fmt.Sprintf(versionScript, 1), nil, env)
	writeScript(t, path, "function process_message(\n")
	pipelinetest.WaitUntil(t, 5*time.Second, "the failed reload logged", func() error {
		if l := logs.String(); !strings.Contains(l, "reload failed") {
			return fmt.Errorf("the log so far: %q", l)
		}
		return nil
	})
	if !strings.Contains(logs.String(), "d.lua:") {
		t.Errorf("the log does not say where the script is broken:\n%s", logs.String())
	}
	if m, err := decode(d, "n=3"); err != nil || m.Type != "v1" || d.Version() != 1 {
		t.Errorf("after a broken edit: %+v, %v, version %d", m, err, d.Version())
	}
	// fixing the file reloads it
	writeScript(t, path, fmt.Sprintf(versionScript, 3))
	pipelinetest.WaitUntil(t, 5*time.Second, "the fixed script loaded", func() error {
		if v := d.Version(); v != 2 {
			return fmt.Errorf("version %d", v)
		}
		return nil
	})
	if m, err := decode(d, "n=4"); err != nil || m.Type != "v3" {
		t.Errorf("after the fix: %+v, %v", m, err)
	}
}

// An endless loop is stopped by time_limit; the decoder then fails every
// line with the termination, quickly, until the file is changed.
func TestHostileScriptIsTerminated(t *testing.T) {
	d, path := newDecoder(t, `
function process_message()
  if read_message("Payload") == "loop" then while true do end end
  inject_message{Type = "ok"}
end`, map[string]any{"time_limit": "50ms"}, nil)
	_, err := decode(d, "loop")
	var te *sandbox.TerminatedError
	if !errors.As(err, &te) || te.Reason != "time" {
		t.Fatalf("got %v, want a time termination", err)
	}
	if _, err := decode(d, "fine"); !errors.As(err, &te) {
		t.Errorf("after the termination: %v", err)
	}
	writeScript(t, path, `function process_message() inject_message{Type = "fixed"} end`)
	pipelinetest.WaitUntil(t, 5*time.Second, "the fixed script at work", func() error {
		m, err := decode(d, "fine")
		if err == nil && m.Type != "fixed" {
			return fmt.Errorf("decoded as %s", m.Type)
		}
		return err
	})
}

func TestDecodeAfterClose(t *testing.T) {
	d, _ := newDecoder(t, fmt.Sprintf(versionScript, 1), nil, nil)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := decode(d, "n=1"); err == nil {
		t.Error("a closed decoder decoded")
	}
}

// FuzzDecode: whatever the line, a trivial script's Decode does not panic
// and gives the line back as Payload.
func FuzzDecode(f *testing.F) {
	path := filepath.Join(f.TempDir(), "echo.lua")
	if err := os.WriteFile(path, []byte(`
function process_message()
  local p = read_message("Payload")
  inject_message{Type = "echo", Payload = p, Fields = {len = #p, first = string.sub(p, 1, 1)}}
end`), 0o644); err != nil {
		f.Fatal(err)
	}
	d := lua.New(path)
	if err := d.Configure(nil); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.Close() })
	f.Add([]byte("a=1 b=2"))
	f.Add([]byte{0, 0xff, '\n'})
	f.Fuzz(func(t *testing.T, line []byte) {
		m := &pipeline.Message{}
		err := d.Decode(line, m)
		if err != nil {
			if len(line) > 32<<10 { // beyond output_limit
				return
			}
			t.Fatalf("%q: %v", line, err)
		}
		if !bytes.Equal(m.Payload, line) || m.Type != "echo" {
			t.Fatalf("%q: got %+v", line, m)
		}
	})
}
