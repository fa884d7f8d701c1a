package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// lockedSink is an output that holds a lock file under data_dir while it
// runs, named after the plugin, as an output with a disk buffer holds its
// directory: a second instance of the same name cannot start beside it.
// It writes each payload as a line to path; fail makes Init fail.
type lockedSink struct {
	Path string `toml:"path"`
	Fail bool   `toml:"fail"`

	mu   sync.Mutex
	lock string
	f    *os.File
}

func (s *lockedSink) Init(env *pipeline.Env) error {
	if s.Fail {
		return errors.New("cannot start: fail = true")
	}
	s.lock = env.DataPath("locked", ".lock")
	if err := os.MkdirAll(filepath.Dir(s.lock), 0o755); err != nil {
		return err
	}
	lf, err := os.OpenFile(s.lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("another instance holds the lock: %w", err)
	}
	lf.Close()
	s.f, err = os.OpenFile(s.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	return err
}

func (s *lockedSink) Write(batch []*pipeline.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range batch {
		if _, err := fmt.Fprintf(s.f, "%s\n", m.Payload); err != nil {
			return err
		}
	}
	return nil
}

func (s *lockedSink) Close() error {
	if s.f == nil {
		return nil
	}
	s.f.Close()
	return os.Remove(s.lock)
}

// counting passes each message on, counting them: state that a reload
// must not lose.
type counting struct{ n int }

func (c *counting) Process(m *pipeline.Message, out pipeline.Emitter) error {
	c.n++
	return out.Emit(&pipeline.Message{Type: "counted", Payload: fmt.Appendf(nil, "%s #%d", m.Payload, c.n)})
}

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindFilter, Type: "counting_test",
		Sample: "[[filters.counting_test]]\n", New: func() any { return &counting{} }})
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindOutput, Type: "locked_test",
		Sample: "[[outputs.locked_test]]\n", New: func() any { return &lockedSink{} }})
}

// reloadable runs a pipeline from a config file that the test rewrites.
type reloadable struct {
	t    *testing.T
	path string
	rt   *pipeline.Runtime
	conn net.Conn
	sent int
}

func startReloadable(t *testing.T, config string) *reloadable {
	t.Helper()
	p := &reloadable{t: t, path: filepath.Join(t.TempDir(), "p.toml")}
	p.write(config)
	cfg, err := pipeline.LoadConfig(p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.rt, err = pipeline.Start(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("drain: %v", err)
		}
	})
	addr := p.rt.Plugin(pipeline.KindInput, "in").(interface{ Addr() net.Addr }).Addr()
	if p.conn, err = net.Dial("tcp", addr.String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.conn.Close() })
	return p
}

func (p *reloadable) write(config string) {
	p.t.Helper()
	if err := os.WriteFile(p.path, []byte(config), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// reload rewrites the config and reloads it, returning each plugin's action
// ("FAILED: why" for a plugin that failed).
func (p *reloadable) reload(config string) (map[string]string, error) {
	p.t.Helper()
	p.write(config)
	results, err := p.rt.Reload("")
	actions := map[string]string{}
	for _, r := range results {
		actions[r.Plugin] = r.Action
		if !r.OK {
			actions[r.Plugin] = "FAILED: " + r.Error
		}
	}
	return actions, err
}

// send sends one numbered line to the tcp input.
func (p *reloadable) send() {
	p.t.Helper()
	if _, err := fmt.Fprintf(p.conn, "line %d\n", p.sent); err != nil {
		p.t.Fatal(err)
	}
	p.sent++
}

func (p *reloadable) status(name string) pipeline.PluginStatus {
	for _, s := range p.rt.PluginStatus() {
		if s.Name == name {
			return s
		}
	}
	p.t.Fatalf("no plugin %q in the status", name)
	return pipeline.PluginStatus{}
}

// tcpIn is the head of the configs of these tests: [agent] and a tcp input
// "in" on address, publishing to "raw".
func tcpIn(dir, address string) string {
	return fmt.Sprintf(`[agent]
data_dir = %q
admin_addr = "off"
[[inputs.tcp]]
name = "in"
publish = "raw"
address = %q
`, filepath.Join(dir, "var"), address)
}

func TestReloadAppliesTheDifferenceByIdentity(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	config := func(sinkPath string, extra string) string {
		return tcpIn(dir, "127.0.0.1:0") + fmt.Sprintf(`[[outputs.locked_test]]
name = "sink"
subscribe = ["raw"]
path = %q
%s`, sinkPath, extra)
	}
	p := startReloadable(t, config(a, ""))
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "line 0 in a.txt", exactLinesIn(a, 1))

	// The same file: every plugin unchanged.
	if actions, err := p.reload(config(a, "")); err != nil || actions["inputs.tcp[in]"] != "unchanged" || actions["outputs.locked_test[sink]"] != "unchanged" {
		t.Fatalf("reload of the same config: %v, %v", actions, err)
	}
	// A new path: the output is replaced; the new instance starts only once
	// the old one has closed (else it would find the lock taken).
	if actions, err := p.reload(config(b, "")); err != nil || actions["outputs.locked_test[sink]"] != "replaced" ||
		actions["inputs.tcp[in]"] != "unchanged" {
		t.Fatalf("reload with a new path: %v, %v", actions, err)
	}
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "line 1 in b.txt", exactLinesIn(b, 1))
	if n := lineCount(a); n != 1 {
		t.Errorf("a.txt has %d lines after the output moved to b.txt, want 1", n)
	}

	// A new version that cannot start: reported, the plugin is failed, and
	// what it is sent meanwhile is counted as dropped.
	actions, err := p.reload(config(b, "fail = true\n"))
	if err != nil || !strings.Contains(actions["outputs.locked_test[sink]"], "FAILED: the new version did not start") {
		t.Fatalf("reload with a failing output: %v, %v", actions, err)
	}
	if st := p.status("sink"); st.State != "failed" {
		t.Errorf("state %q, want failed", st.State)
	}
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "line 2 counted as dropped", func() error {
		if n := p.status("sink").Counters.Dropped; n != 1 {
			return fmt.Errorf("%d dropped", n)
		}
		return nil
	})
	// Fixed: the next reload starts it again, though its table is the one
	// that failed before.
	if actions, err := p.reload(config(b, "")); err != nil || actions["outputs.locked_test[sink]"] != "replaced" {
		t.Fatalf("reload after the fix: %v, %v", actions, err)
	}
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "line 3 in b.txt", exactLinesIn(b, 2))

	// Added and removed.
	c := filepath.Join(dir, "c.txt")
	second := fmt.Sprintf("[[outputs.locked_test]]\nname = \"second\"\nsubscribe = [\"raw\"]\npath = %q\n", c)
	if actions, err := p.reload(config(b, second)); err != nil || actions["outputs.locked_test[second]"] != "added" {
		t.Fatalf("reload adding an output: %v, %v", actions, err)
	}
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "line 4 in b.txt and c.txt", func() error {
		if err := exactLinesIn(b, 3)(); err != nil {
			return err
		}
		return exactLinesIn(c, 1)()
	})
	if actions, err := p.reload(config(b, "")); err != nil || actions["outputs.locked_test[second]"] != "removed" {
		t.Fatalf("reload removing an output: %v, %v", actions, err)
	}
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "line 5 in b.txt", exactLinesIn(b, 4))
	if n := lineCount(c); n != 1 {
		t.Errorf("c.txt has %d lines after its output was removed, want 1", n)
	}

	// Refused: a config with an error, and an [agent] change. Nothing
	// changes; the error names the file and line.
	var refused *pipeline.ReloadRefusedError
	_, err = p.reload(config(b, "[[outputs.locked_test]]\nname = \"x\"\nsubscribe = [\"raw\"]\npath = 42\n"))
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "p.toml:15") || !strings.Contains(err.Error(), `"path"`) {
		t.Fatalf("reload of a broken config: %v; want a ReloadRefusedError naming p.toml:15 and the key", err)
	}
	_, err = p.reload(strings.Replace(config(b, ""), "admin_addr", "name = \"elsewhere\"\nadmin_addr", 1))
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "agent.name changed: only a restart applies") {
		t.Fatalf("reload of an [agent] change: %v", err)
	}
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "line 6 in b.txt", exactLinesIn(b, 5))
}

// A reload that changes only a runtime key of a filter (its matcher) moves
// the filter's instance, with its state, to the new runner; its counters
// go on.
func TestReloadKeepsAFilterInstanceWhenOnlyItsRuntimeKeysChange(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	config := func(matcher string) string {
		return tcpIn(dir, "127.0.0.1:0") + fmt.Sprintf(`[[filters.counting_test]]
name = "count"
subscribe = ["raw"]
publish = "counted"
%s
[[outputs.file]]
subscribe = ["counted"]
path = %q
`, matcher, out)
	}
	p := startReloadable(t, config(""))
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "the first line", exactLinesIn(out, 1))
	before := p.rt.Plugin(pipeline.KindFilter, "count")
	if actions, err := p.reload(config(`matcher = "Type == 'log'"`)); err != nil || actions["filters.counting_test[count]"] != "replaced" {
		t.Fatalf("reload with a matcher: %v, %v", actions, err)
	}
	if after := p.rt.Plugin(pipeline.KindFilter, "count"); after != before {
		t.Errorf("the filter's instance changed (%p → %p): its state is lost", before, after)
	}
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "the second line", exactLinesIn(out, 2))
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "line 1 #2") {
		t.Errorf("out.txt:\n%s\nwant line 1 counted as the filter's second message", b)
	}
	if st := p.status("count"); st.Counters.In != 2 {
		t.Errorf("the filter's counter says %d in, want 2 (counters go on across a reload)", st.Counters.In)
	}
}

// An input whose own keys change is replaced by a new instance that binds
// the same address before the old one closes (SO_REUSEPORT): the port never
// refuses a connection, the old instance's connections are closed, and a
// client that connects again is served by the new one.
func TestReloadReplacesAnInputOnTheSamePort(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	out := filepath.Join(dir, "out.txt")
	config := func(maxConns int) string {
		return tcpIn(dir, addr) + fmt.Sprintf(`max_connections = %d
[[outputs.file]]
subscribe = ["raw"]
path = %q
`, maxConns, out)
	}
	p := startReloadable(t, config(10))
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "line 0", exactLinesIn(out, 1))
	if actions, err := p.reload(config(20)); err != nil || actions["inputs.tcp[in]"] != "replaced" {
		t.Fatalf("reload with a new max_connections on the same address: %v, %v", actions, err)
	}
	// The old instance closed its connection.
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := p.conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on the old instance's connection: %v, want it closed", err)
	}
	if p.conn, err = net.Dial("tcp", addr); err != nil {
		t.Fatal(err)
	}
	p.send()
	pipelinetest.WaitUntil(t, 10*time.Second, "line 1 through the new instance", exactLinesIn(out, 2))
}

// A reload that replaces the only running input by one that ends at once
// and one that runs: the first one's end is not taken for that of every
// input while the reload starts the second (the pipeline would drain and
// stop with the new TCP input running).
func TestReloadInputsThatEndAtOnce(t *testing.T) {
	dir := t.TempDir()
	p := startReloadable(t, tcpIn(dir, "127.0.0.1:0"))
	var next strings.Builder
	fmt.Fprintf(&next, "[agent]\ndata_dir = %q\nadmin_addr = \"off\"\n\n", filepath.Join(dir, "var"))
	next.WriteString("[[inputs.generator]]\nname = \"once\"\npublish = \"x\"\nrate = 0\ncount = 1\n\n")
	for i := range 200 {
		fmt.Fprintf(&next, "[[filters.ticking_test]]\nname = \"tick%d\"\nsubscribe = [\"x\"]\nticker_interval = \"1h\"\n\n", i)
	}
	next.WriteString("[[inputs.tcp]]\nname = \"steady\"\npublish = \"x\"\naddress = \"127.0.0.1:0\"\n")
	actions, err := p.reload(next.String())
	if err != nil {
		t.Fatalf("reload: %v (%v)", err, actions)
	}
	pipelinetest.WaitUntil(t, 20*time.Second, "the generator to end and inputs.tcp to start", func() error {
		if s := p.status("once").State; s != "stopped" {
			return fmt.Errorf("the generator is %s", s)
		}
		if s := p.status("steady").State; s == "starting" {
			return errors.New("inputs.tcp is starting") // the runners before it are slow to start
		}
		return nil
	})
	// Had its end been taken for the last, the pipeline would now be
	// stopping: it stops the TCP input first.
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if s := p.status("steady").State; s != "running" {
			t.Fatalf("inputs.tcp is %s: the pipeline took the generator's end for that of every input", s)
		}
	}
}
