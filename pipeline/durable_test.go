package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// sinkOutput records payloads in memory and, while failAfter is reached,
// fails with a retryable error: an output that is down.
type sinkOutput struct {
	mu        sync.Mutex
	got       map[string]int // payload -> times written
	order     []string       // payloads in the order written
	path      string         // the "path" tag of the last message
	failAfter int            // 0: never fail
	writes    int
	tries     int             // calls of Write
	batches   map[string]bool // the batches tried, by their first payload
}

var (
	sinksMu sync.Mutex
	sinks   = map[string]*sinkOutput{} // by Key
)

type sinkPlugin struct {
	Key       string `toml:"key"`
	FailAfter int    `toml:"fail_after"`
}

func (p *sinkPlugin) sink() *sinkOutput {
	sinksMu.Lock()
	defer sinksMu.Unlock()
	s := sinks[p.Key]
	if s == nil {
		s = &sinkOutput{got: map[string]int{}, failAfter: p.FailAfter, batches: map[string]bool{}}
		sinks[p.Key] = s
	}
	return s
}

func (p *sinkPlugin) Write(batch []*pipeline.Message) error {
	s := p.sink()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if len(batch) > 0 {
		s.batches[string(batch[0].Payload)] = true
	}
	if s.failAfter > 0 && s.writes+len(batch) > s.failAfter {
		return pipeline.Retryable(errors.New("sink down"))
	}
	s.writes += len(batch)
	for _, m := range batch {
		s.got[string(m.Payload)]++
		s.order = append(s.order, string(m.Payload))
		if f := m.Field("path"); f != nil {
			s.path = f.Str
		}
	}
	return nil
}

func (s *sinkOutput) lastPath() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.path
}

func (s *sinkOutput) count() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.got {
		total += n
	}
	return len(s.got), total
}

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindOutput, Type: "durablesink",
		Description: "test sink", New: func() any { return &sinkPlugin{} }})
}

// sinkOnlyConfig is a pipeline of one durable durablesink of key reading
// subject, which another process publishes, with data_dir dir.
func sinkOnlyConfig(dir, subject, key string) string {
	return fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[outputs.durablesink]]
subscribe = [%q]
external = true
durable = true
key = %q
`, dir, subject, key)
}

func writeLines(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, 0, n)
}

// appendLines appends "line from" to "line to-1" to path.
func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
}

// runToEnd runs a pipeline whose inputs are finite until it drains by itself.
func runToEnd(t *testing.T, src string) *pipeline.Runtime {
	t.Helper()
	rt := startRuntime(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := rt.Run(ctx); err != nil {
		t.Fatalf("run: %v", err)
	}
	return rt
}

func statsOf(rt *pipeline.Runtime, kind pipeline.Kind, name string) pipeline.PluginStatus {
	for _, p := range rt.PluginStatus() {
		if p.Kind == kind && p.Name == name {
			return p
		}
	}
	return pipeline.PluginStatus{}
}

// A durable publisher and a durable file output: everything arrives, with
// the batches stored compressed or not; a plain (not durable) output of the
// same subject reads the compressed batches too.
func TestDurableEndToEnd(t *testing.T) {
	for _, compression := range []string{"s2", "none"} {
		t.Run(compression, func(t *testing.T) {
			dir := t.TempDir()
			in, out, plain := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log"), filepath.Join(dir, "plain.log")
			writeLines(t, in, 3000)
			runToEnd(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
batch_bytes = 4096
durable_compression = %q
[[inputs.file]]
publish = "d.logs"
durable = true
path = %q
[[outputs.file]]
subscribe = ["d.logs"]
durable = true
path = %q
[[outputs.file]]
name = "plain"
subscribe = ["d.logs"]
path = %q
`, dir, compression, in, out, plain))
			if n := lineCount(out); n != 3000 {
				t.Fatalf("output has %d lines, want 3000", n)
			}
			if n := lineCount(plain); n != 3000 {
				t.Fatalf("the plain output has %d lines, want 3000", n)
			}
		})
	}
}

// The output is down when the pipeline stops: what it did not take stays in
// the stream, and the next start with the same data_dir delivers it; on a
// server without the consumer reset too (after the ack wait), since the
// consumer is then left as it is, not deleted (its stream, read by a
// durable subscriber, keeps batches only for its consumers).
func TestDurableSurvivesRestart(t *testing.T) {
	t.Run("reset", testDurableSurvivesRestart)
	t.Run("no reset", func(t *testing.T) {
		defer pipeline.FailConsumerReset(errors.New("no responders available for request"))()
		testDurableSurvivesRestart(t)
	})
}

func testDurableSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	const n = 2000
	writeLines(t, in, n)
	key := t.Name()
	sinksMu.Lock()
	delete(sinks, key) // -count > 1
	sinksMu.Unlock()
	defer pipeline.SetDurableAckWait(time.Second)()
	rt := runToEnd(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
batch_bytes = 2048
[[inputs.file]]
publish = "d.logs"
durable = true
path = %q
[[outputs.durablesink]]
subscribe = ["d.logs"]
durable = true
key = %q
fail_after = 500
`, dir, in, key))
	sinksMu.Lock()
	sink := sinks[key]
	sinksMu.Unlock()
	if d, _ := sink.count(); d == 0 || d >= n {
		t.Fatalf("first run wrote %d distinct lines, want some but not all", d)
	}
	if st := statsOf(rt, pipeline.KindOutput, "durablesink"); st.Counters.Dropped != 0 {
		t.Fatalf("durable output dropped %d", st.Counters.Dropped)
	}

	sink.mu.Lock()
	sink.failAfter = 0 // the output is back
	sink.mu.Unlock()

	// Second start: only the output, the stream is in data_dir.
	cfg, err := pipeline.ParseConfig("p.toml", sinkOnlyConfig(dir, "d.logs", key))
	if err != nil {
		t.Fatal(err)
	}
	rt2, err := pipeline.Start(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt2.Run(ctx) }()
	pipelinetest.WaitUntil(t, 10*time.Second, "every line delivered after the restart", func() error {
		if d, _ := sink.count(); d != n {
			return fmt.Errorf("%d of %d distinct lines so far", d, n)
		}
		return nil
	})
	dups := statsOf(rt2, pipeline.KindOutput, "durablesink").Counters.Duplicates
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, total := sink.count()
	t.Logf("distinct %d, written %d, redelivered (counted) %d", n, total, dups)
	if dups == 0 {
		t.Error("the batch handed back at shutdown was not counted as a possible duplicate")
	}
}

// A batch published again with the same id (a re-publish after a crash) is
// stored once.
func TestDurableRepublishDeduplicated(t *testing.T) {
	dir := t.TempDir()
	rt, _, _ := startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.tcp]]
publish = "d.tcp"
durable = true
address = "127.0.0.1:0"
`, dir))
	conn := dialTCPInput(t, rt)
	fmt.Fprintf(conn, "one\ntwo\n")
	conn.Close()
	js, err := rt.Bus().Conn.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	stream := pipeline.StreamName("d.tcp")
	var si *nats.StreamInfo
	pipelinetest.WaitUntil(t, 5*time.Second, "the batch stored", func() error {
		si, err = js.StreamInfo(stream)
		if err == nil && si.State.Msgs != 1 {
			return fmt.Errorf("%d messages in the stream", si.State.Msgs)
		}
		return err
	})
	if si.Config.Duplicates <= 0 || si.Config.MaxAge != 24*time.Hour || si.Config.MaxBytes != 1<<30 || si.Config.Retention != nats.LimitsPolicy {
		t.Fatalf("stream config %+v", si.Config)
	}
	stored, err := js.GetLastMsg(stream, "d.tcp")
	if err != nil {
		t.Fatal(err)
	}
	id := stored.Header.Get(nats.MsgIdHdr)
	if !strings.HasSuffix(id, "-2") {
		t.Fatalf("batch id %q, want the first UUID and the count 2", id)
	}
	// The same batch again, as after a crash between store and checkpoint.
	msg := &nats.Msg{Subject: "d.tcp", Data: stored.Data, Header: nats.Header{}}
	msg.Header.Set(nats.MsgIdHdr, id)
	ack, err := js.PublishMsg(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Duplicate {
		t.Fatal("re-publish not recognised as a duplicate")
	}
	si, _ = js.StreamInfo(stream)
	if si.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", si.State.Msgs)
	}
}

// flushSink buffers what it is given until Flush, which fails the first
// fail_flushes times, losing what it held, as a file output's buffer does
// on a write error.
type flushSink struct {
	Key         string `toml:"key"`
	FailFlushes int    `toml:"fail_flushes"`

	pending []string
	got     map[string]int
}

var (
	flushSinksMu sync.Mutex
	flushSinks   = map[string]*flushSink{}
)

func (s *flushSink) Init(*pipeline.Env) error {
	flushSinksMu.Lock()
	defer flushSinksMu.Unlock()
	s.got = map[string]int{}
	flushSinks[s.Key] = s
	return nil
}

func (s *flushSink) Write(batch []*pipeline.Message) error {
	flushSinksMu.Lock()
	defer flushSinksMu.Unlock()
	for _, m := range batch {
		s.pending = append(s.pending, string(m.Payload))
	}
	return nil
}

func (s *flushSink) Flush() error {
	flushSinksMu.Lock()
	defer flushSinksMu.Unlock()
	defer func() { s.pending = s.pending[:0] }()
	if s.FailFlushes > 0 {
		s.FailFlushes--
		return pipeline.Retryable(errors.New("flush failed: buffer lost"))
	}
	for _, p := range s.pending {
		s.got[p]++
	}
	return nil
}

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindOutput, Type: "flushsink",
		Description: "test sink that buffers", New: func() any { return &flushSink{} }})
}

// A durable batch is acked only once the output's Flush has written it: a
// Flush that fails loses the buffer, and the batch is written again, not
// acked along with a later batch whose Flush succeeded.
func TestDurableFlushFailureIsNotAcked(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	const n = 3000
	writeLines(t, in, n)
	// A tail, so that the pipeline does not end (and drain) by itself:
	// while draining a durable batch that fails is left in the stream.
	rt, cancel, done := startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
batch_bytes = 4096
[[inputs.tail]]
publish = "d.logs"
durable = true
files = [%q]
from_beginning = true
[[outputs.flushsink]]
subscribe = ["d.logs"]
durable = true
key = %q
fail_flushes = 3
`, dir, in, t.Name()))
	counts := func() (distinct, total int) {
		flushSinksMu.Lock()
		defer flushSinksMu.Unlock()
		sink := flushSinks[t.Name()]
		for _, c := range sink.got {
			total += c
		}
		return len(sink.got), total
	}
	pipelinetest.WaitUntil(t, 20*time.Second, "every line written", func() error {
		if d, _ := counts(); d != n {
			return fmt.Errorf("%d of %d distinct lines so far", d, n)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil // for startPipeline's cleanup
	distinct, total := counts()
	st := statsOf(rt, pipeline.KindOutput, "flushsink")
	if distinct != n || total != n {
		t.Fatalf("the output has %d lines, %d distinct; want each of %d once", total, distinct, n)
	}
	if st.Counters.Errors != 3 || st.Counters.Out != n || st.Counters.Dropped != 0 {
		t.Fatalf("counters %+v; want 3 errors (the failed flushes), out %d, none dropped", st.Counters, n)
	}
}

// A process that stopped with batches delivered and not acked (its output
// down at shutdown; or a crash) gets them again as soon as it starts, before
// the batches that follow them, not after the ack wait: the output writes
// the file's lines in order, so that no span of the origin window is split
// by a restart.
func TestDurableUnackedComeAgainFirst(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	const n = 3000
	writeLines(t, in, n)
	key := t.Name()
	sinksMu.Lock()
	delete(sinks, key) // -count > 1
	sinksMu.Unlock()
	runToEnd(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
batch_bytes = 1024
[[inputs.file]]
publish = "d.logs"
durable = true
path = %q
[[outputs.durablesink]]
subscribe = ["d.logs"]
durable = true
key = %q
fail_after = 500
`, dir, in, key))
	sinksMu.Lock()
	sink := sinks[key]
	sinksMu.Unlock()
	sink.mu.Lock()
	first := len(sink.order)
	sink.failAfter = 0
	sink.mu.Unlock()

	rt, cancel, done := startPipeline(t, sinkOnlyConfig(dir, "d.logs", key))
	pipelinetest.WaitUntil(t, 20*time.Second, "every line delivered after the restart", func() error {
		if d, _ := sink.count(); d != n {
			return fmt.Errorf("%d of %d distinct lines so far", d, n)
		}
		return nil
	})
	dups := statsOf(rt, pipeline.KindOutput, "durablesink").Counters.Duplicates
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil // for startPipeline's cleanup
	sink.mu.Lock()
	defer sink.mu.Unlock()
	last := -1
	for _, p := range sink.order[first:] {
		var i int
		if _, err := fmt.Sscanf(p, "line %d", &i); err != nil {
			t.Fatal(err)
		}
		if i <= last {
			t.Fatalf("after the restart line %d was written after line %d: the batches not acked came late", i, last)
		}
		last = i
	}
	if first == 0 || first > 500 || last != n-1 {
		t.Fatalf("%d lines before the restart, the last after it %d; want some, at most 500, and %d", first, last, n-1)
	}
	if dups == 0 {
		t.Error("the batches handed back at shutdown were not counted as possible duplicates")
	}
}

// slowFilter passes each message on; the first one it gets takes pause to
// handle, as a Lua filter waiting for its restart does.
type slowFilter struct {
	Pause pipeline.Duration `toml:"pause"`
	once  sync.Once
}

func (f *slowFilter) Process(m *pipeline.Message, out pipeline.Emitter) error {
	f.once.Do(func() { time.Sleep(time.Duration(f.Pause)) }) // the slow call itself, not a wait for a condition
	return out.Emit(m)
}

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindFilter, Type: "slowfilter",
		Description: "test filter", New: func() any { return &slowFilter{} }})
}

// A durable batch that a filter takes longer than the ack wait to handle
// is not redelivered meanwhile (the runner tells the server it is in
// progress): each line reaches the output once. The lines go in one batch
// (batch_linger is long, so the input's batch goes out only when it ends,
// however slowly it runs): batches already delivered and queued behind a
// slow one come again after the ack wait (30 s), counted as duplicates
// (README, Delivery).
func TestDurableSlowFilterIsNotRedelivered(t *testing.T) {
	defer pipeline.SetDurableAckWait(300 * time.Millisecond)()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	const n = 50
	writeLines(t, in, n)
	key := t.Name()
	sinksMu.Lock()
	delete(sinks, key) // -count > 1
	sinksMu.Unlock()
	rt := runToEnd(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
batch_linger = "10s"
[[inputs.file]]
publish = "d.in"
durable = true
path = %q
[[filters.slowfilter]]
subscribe = ["d.in"]
publish = "d.out"
durable = true
pause = "1500ms"
[[outputs.durablesink]]
subscribe = ["d.out"]
durable = true
key = %q
`, dir, in, key))
	sinksMu.Lock()
	sink := sinks[key]
	sinksMu.Unlock()
	if sink == nil {
		var all []string
		for _, st := range rt.PluginStatus() {
			all = append(all, fmt.Sprintf("%s.%s %s %+v", st.Kind, st.Name, st.State, st.Counters))
		}
		t.Fatalf("the output got nothing: %s", strings.Join(all, "; "))
	}
	if distinct, total := sink.count(); distinct != n || total != n {
		t.Errorf("the output got %d lines, %d distinct; want each of %d once", total, distinct, n)
	}
	if st := statsOf(rt, pipeline.KindFilter, "slowfilter"); st.Counters.Duplicates != 0 || st.Counters.In != n {
		t.Errorf("filter counters %+v", st.Counters)
	}
}

// An earlier version's consumer restart, cut short by a crash after it
// deleted the consumer and before it added it again, left where it was to
// start under data_dir: the next start creates the consumer there, not at
// the stream's start (which would write the whole stream again), and counts
// the batches delivered before it as possible duplicates. (Restarts are a
// consumer reset now, with no such window.)
func TestDurableConsumerRestartCutShort(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	const n = 2000
	writeLines(t, in, n)
	// The lines are stored, in many batches; no consumer reads them yet.
	runToEnd(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
batch_bytes = 1024
[[inputs.file]]
publish = "d.logs"
durable = true
path = %q
`, dir, in))

	key := t.Name()
	sinksMu.Lock()
	delete(sinks, key) // -count > 1
	sinksMu.Unlock()
	cfg, err := pipeline.ParseConfig("p.toml", sinkOnlyConfig(dir, "d.logs", key))
	if err != nil {
		t.Fatal(err)
	}
	// The crash: the consumer (never made here) is gone, its restart saved.
	const start, delivered = 11, 15
	stream := pipeline.StreamName("d.logs")
	if err := pipeline.SaveConsumerRestart(dir, cfg.Plugins[0], "d.logs", stream, start, delivered); err != nil {
		t.Fatal(err)
	}
	rt, err := pipeline.Start(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	js := testJS(t, rt)
	si, err := js.StreamInfo(stream)
	if err != nil || si.State.LastSeq < 2*start {
		t.Fatalf("stream %s: %v, %+v; want at least %d batches stored", stream, err, si, 2*start)
	}
	var consumer *nats.ConsumerInfo
	for ci := range js.ConsumersInfo(stream) {
		consumer = ci
	}
	if consumer == nil || consumer.Config.DeliverPolicy != nats.DeliverByStartSequencePolicy || consumer.Config.OptStartSeq != start {
		t.Fatalf("consumer %+v; want one delivering from stream sequence %d", consumer, start)
	}
	var sink *sinkOutput // made by its first write
	last := fmt.Sprintf("line %d", n-1)
	pipelinetest.WaitUntil(t, 20*time.Second, "the last line written", func() error {
		sinksMu.Lock()
		sink = sinks[key]
		sinksMu.Unlock()
		if sink == nil {
			return errors.New("nothing written yet")
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if c := sink.got[last]; c != 1 {
			return fmt.Errorf("%q written %d times, %d distinct lines so far", last, c, len(sink.got))
		}
		return nil
	})
	sink.mu.Lock()
	first, distinct := sink.order[0], len(sink.got)
	sink.mu.Unlock()
	if first == "line 0" || distinct >= n {
		t.Errorf("the output got %d of %d lines, the first %q: want those from stream sequence %d on, not the whole stream",
			distinct, n, first, start)
	}
	if dups := statsOf(rt, pipeline.KindOutput, "durablesink").Counters.Duplicates; dups == 0 {
		t.Error("the batches delivered before the crash were not counted as possible duplicates")
	}
	if _, err := os.Stat(filepath.Join(dir, "dedup")); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "dedup", "*.restart")); len(left) > 0 {
		t.Errorf("restart files left once the consumer was created: %v", left)
	}
}
