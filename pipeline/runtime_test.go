package pipeline_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startPipeline starts a runtime on a config and runs it in the background.
// The config must set agent.admin_addr: the default port would collide
// with a make test running beside this one.
func startPipeline(t *testing.T, src string) (*pipeline.Runtime, context.CancelFunc, chan error) {
	t.Helper()
	if !strings.Contains(src, "admin_addr") {
		t.Fatal(`the config sets no agent.admin_addr: set "off" or a port 0 address, not the default 8377 that another test run may hold`)
	}
	rt := startRuntime(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("pipeline did not stop")
		}
	})
	return rt, cancel, done
}

// startRuntime starts the pipeline of src without running it.
func startRuntime(t *testing.T, src string) *pipeline.Runtime {
	t.Helper()
	cfg, err := pipeline.ParseConfig("p.toml", src)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := pipeline.Start(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func lineCount(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// dialTCPInput connects to the address the pipeline's inputs.tcp bound.
func dialTCPInput(t *testing.T, rt *pipeline.Runtime) net.Conn {
	t.Helper()
	addr := rt.Plugin(pipeline.KindInput, "tcp").(interface{ Addr() net.Addr }).Addr()
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// linesIn is a condition for WaitUntil: the file at path has at least want lines.
func linesIn(path string, want int) func() error {
	return func() error {
		if n := lineCount(path); n < want {
			return fmt.Errorf("%d lines in %s so far", n, filepath.Base(path))
		}
		return nil
	}
}

// exactLinesIn is linesIn for exactly want lines.
func exactLinesIn(path string, want int) func() error {
	return func() error {
		if n := lineCount(path); n != want {
			return fmt.Errorf("%d lines in %s so far", n, filepath.Base(path))
		}
		return nil
	}
}

// A running pipeline writes what arrives without waiting for shutdown, and
// its admin API shows the counters.
func TestRunningPipelineWritesAndReports(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	rt, _, _ := startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "127.0.0.1:0"
[[inputs.tcp]]
publish = "gen"
address = "127.0.0.1:0"
[[filters.counter]]
subscribe = ["gen"]
publish = "counts"
ticker_interval = "1h"
[[outputs.file]]
subscribe = ["gen"]
matcher = "Type == 'log'"
path = %q
`, dir, out))
	conn := dialTCPInput(t, rt)
	for i := 0; i < 500; i++ {
		fmt.Fprintf(conn, "line %d\n", i)
	}
	conn.Close()
	pipelinetest.WaitUntil(t, 10*time.Second, "500 lines written while running", exactLinesIn(out, 500))

	// The filter and the output subscribe to the same subject, each at its
	// own pace: the filter may still be counting when the file is complete.
	want := map[string]uint64{"inputs.tcp.in": 500, "inputs.tcp.out": 500, "filters.counter.in": 500, "outputs.file.in": 500, "outputs.file.out": 500}
	pipelinetest.WaitUntil(t, 10*time.Second, "the counters of /api/plugins", func() error {
		resp, err := http.Get("http://" + rt.AdminAddr() + "/api/plugins")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var plugins []pipeline.PluginStatus
		if err := json.NewDecoder(resp.Body).Decode(&plugins); err != nil {
			return err
		}
		got := map[string]uint64{}
		for _, p := range plugins {
			got[string(p.Kind)+"."+p.Name+".in"] = p.Counters.In
			got[string(p.Kind)+"."+p.Name+".out"] = p.Counters.Out
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
			}
		}
		return nil
	})

	m, err := http.Get("http://" + rt.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Body.Close()
	body, _ := io.ReadAll(m.Body)
	for _, line := range []string{
		`interoceptor_plugin_messages_out_total{kind="outputs",name="file",type="file"} 500`,
		`interoceptor_plugin_messages_in_total{kind="filters",name="counter",type="counter"} 500`,
		`interoceptor_plugin_messages_dropped_total{kind="outputs",name="file",type="file"} 0`,
		`interoceptor_plugin_messages_duplicate_total{kind="outputs",name="file",type="file"} 0`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	h, err := http.Get("http://" + rt.AdminAddr() + "/healthz")
	if err != nil || h.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", err, h)
	}
	h.Body.Close()
}

// Lines decoded by an input alias its read buffer until they are encoded
// (TransientDecoder): every point arrives intact, however the buffer is
// reused, over many reads of one connection.
func TestDecodedLinesSurviveTheInputsBuffer(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.lp")
	rt, _, _ := startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.tcp]]
publish = "metrics"
address = "127.0.0.1:0"
decoder = "influx"
[[outputs.file]]
subscribe = ["metrics"]
format = "influx"
path = %q
`, dir, out))
	conn := dialTCPInput(t, rt)
	const n = 20000
	var want strings.Builder
	w := bufio.NewWriterSize(conn, 1000) // writes that split lines anywhere
	for i := range n {
		// Tags out of order (the decoder sorts them), values that differ
		// from line to line, a string value.
		fmt.Fprintf(w, "cpu,zone=z%d,host=h%05d usage=%d.5,note=\"n%d\" %d\n", i%7, i, i, i*3, 1700000000000000000+int64(i))
		fmt.Fprintf(&want, "cpu,host=h%05d,zone=z%d usage=%d.5,note=\"n%d\" %d\n", i, i%7, i, i*3, 1700000000000000000+int64(i))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	pipelinetest.WaitUntil(t, 30*time.Second, "every point written", exactLinesIn(out, n))
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want.String(), "\n")
		for i := range gl {
			if gl[i] != wl[i] {
				t.Fatalf("line %d is %q, want %q", i+1, gl[i], wl[i])
			}
		}
	}
}

// A subscriber to every subject (">") in the process also hears the
// publishers' fences: empty batches, which add no line, and the drain's
// count of batches received and handled still agrees.
func TestFencesPassAWildcardSubscriber(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.log")
	rt, cancel, done := startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.tcp]]
publish = "lines"
address = "127.0.0.1:0"
[[outputs.file]]
subscribe = [">"]
path = %q
`, dir, out))
	conn := dialTCPInput(t, rt)
	const n = 30000 // 3 MB: a dozen fences
	w := bufio.NewWriter(conn)
	for i := range n {
		fmt.Fprintf(w, "%-99d\n", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	pipelinetest.WaitUntil(t, 30*time.Second, "every line written", exactLinesIn(out, n))
	if rt.FencesSent() == 0 {
		t.Fatal("no fence sent")
	}
	for _, st := range rt.PluginStatus() {
		if c := st.Counters; c.Errors != 0 || c.Dropped != 0 {
			t.Errorf("%s.%s[%s]: %d errors, %d dropped; a fence must decode to nothing", st.Kind, st.Type, st.Name, c.Errors, c.Dropped)
		}
	}
	cancel()
	select {
	case err := <-done:
		done <- err // for startPipeline's cleanup
		if err != nil {
			t.Fatalf("the pipeline stopped with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the pipeline did not stop")
	}
	if got := lineCount(out); got != n {
		t.Fatalf("%d lines after the drain, want %d", got, n)
	}
}

// ticking is a filter with a ticker that passes nothing on.
type ticking struct{ _ int }

func (*ticking) Process(*pipeline.Message, pipeline.Emitter) error { return nil }
func (*ticking) Tick(time.Time, bool, pipeline.Emitter) error      { return nil }

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindFilter, Type: "ticking_test",
		Sample: "[[filters.ticking_test]]\n", New: func() any { return &ticking{} }})
}

// TestInputsThatEndAtOnce: a pipeline ends when every input has finished,
// not when those listed first finish before the last has started (a
// generator with a count beside inputs.internal ended the pipeline so,
// after the internal input's first round).
func TestInputsThatEndAtOnce(t *testing.T) {
	// A generator that ends after one message, then runners that take a
	// while to start (each a ticker's goroutine), then a TCP input, which
	// runs until it is stopped.
	src := strings.Builder{}
	src.WriteString("[agent]\nadmin_addr = \"off\"\n\n[[inputs.generator]]\nname = \"once\"\npublish = \"x\"\nrate = 0\ncount = 1\n\n")
	for i := range 200 {
		fmt.Fprintf(&src, "[[filters.ticking_test]]\nname = \"tick%d\"\nsubscribe = [\"x\"]\nticker_interval = \"1h\"\n\n", i)
	}
	src.WriteString("[[inputs.tcp]]\nname = \"steady\"\npublish = \"x\"\naddress = \"127.0.0.1:0\"\n")
	rt, _, done := startPipeline(t, src.String())
	pipelinetest.WaitUntil(t, 20*time.Second, "the generator to end and inputs.tcp to start", func() error {
		if s := statsOf(rt, pipeline.KindInput, "once").State; s != "stopped" {
			return fmt.Errorf("the generator is %s", s)
		}
		if s := statsOf(rt, pipeline.KindInput, "steady").State; s == "starting" {
			return errors.New("inputs.tcp is starting") // the runners before it are slow to start
		}
		return nil
	})
	// Had its end been taken for the last, the pipeline would now be
	// stopping: it stops the TCP input first.
	deadline := time.After(500 * time.Millisecond)
	for {
		select {
		case err := <-done:
			t.Fatalf("the pipeline ended (%v) with inputs.tcp running", err)
		case <-deadline:
			return
		case <-time.After(5 * time.Millisecond):
		}
		if s := statsOf(rt, pipeline.KindInput, "steady").State; s != "running" {
			t.Fatalf("inputs.tcp is %s: the pipeline took the generator's end for that of every input", s)
		}
	}
}
