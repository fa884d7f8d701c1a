package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// The JetStream store (data_dir, with the tail's checkpoint) is on a small
// disk that runs full while a durable tail → file pipeline runs: storing
// fails, the tail holds, and once space is freed the pipeline goes on by
// itself, with every line written once. nats-server keeps a stream's write
// error until JetStream restarts; the runtime restarts it.
func TestDurableFullDiskResumes(t *testing.T) {
	disk := pipelinetest.Tmpfs(t, 8<<20)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	const first, n = 100, 3000
	writeLines(t, in, first)
	cfg, err := pipeline.ParseConfig("p.toml", fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
stream_max_bytes = 2097152
batch_bytes = 4096
[[inputs.tail]]
publish = "d.logs"
durable = true
files = [%q]
from_beginning = true
checkpoint_interval = "100ms"
[[outputs.file]]
subscribe = ["d.logs"]
durable = true
path = %q
`, disk, in, out))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	rt, err := pipeline.Start(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	pipelinetest.WaitUntil(t, 30*time.Second, "the first lines written", exactLinesIn(out, first))

	free := pipelinetest.FillDisk(t, disk, 0)
	appendLines(t, in, first, n)
	tailErrors := func() uint64 { return statsOf(rt, pipeline.KindInput, "tail").Counters.Errors }
	pipelinetest.WaitUntil(t, 60*time.Second, "storing failing", func() error {
		if tailErrors() == 0 {
			return fmt.Errorf("no error counted by the tail; %d lines written", lineCount(out))
		}
		return nil
	})
	if got := lineCount(out); got >= n {
		t.Fatalf("the output has all %d lines though the store is full", got)
	}
	if read := statsOf(rt, pipeline.KindInput, "tail").Counters.In; read >= n {
		t.Errorf("the tail read all %d lines though none could be stored: it should hold", read)
	}
	if !strings.Contains(logs.String(), "JetStream store cannot be written") {
		t.Errorf("no error logged for the full store:\n%s", logs.String())
	}

	free()
	pipelinetest.WaitUntil(t, 60*time.Second, "every line written once space is freed", linesIn(out, n))
	cancel()
	stopped = true
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range n {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if b, _ := os.ReadFile(out); string(b) != want.String() {
		t.Fatalf("the output holds %d lines, not the %d written, each once, in order", lineCount(out), n)
	}
	o := statsOf(rt, pipeline.KindOutput, "file").Counters
	if o.Out != n || o.Dropped != 0 {
		t.Errorf("outputs.file out = %d, dropped = %d; want %d and 0", o.Out, o.Dropped, n)
	}
	if !strings.Contains(logs.String(), "JetStream restarted") {
		t.Errorf("no line logged for the restart:\n%s", logs.String())
	}
	t.Logf("tail errors %d, output duplicates %d", tailErrors(), o.Duplicates)
}

// nats-server turns JetStream off on some store errors (a permission
// denied, a clustered store out of space): the runtime turns it on again, and
// durable publishers, which retried meanwhile, go on.
func TestDurableJetStreamTurnedOffComesBack(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.log")
	writeLines(t, in, 10)
	rt, _, _ := startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.tail]]
publish = "d.logs"
durable = true
files = [%q]
from_beginning = true
[[outputs.file]]
subscribe = ["d.logs"]
durable = true
path = %q
`, dir, in, out))
	pipelinetest.WaitUntil(t, 30*time.Second, "the first lines written", exactLinesIn(out, 10))
	srv := rt.Bus().Server
	if err := srv.ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	appendLines(t, in, 10, 20)
	pipelinetest.WaitUntil(t, 60*time.Second, "JetStream on again and every line written", func() error {
		if !srv.JetStreamEnabled() {
			return errors.New("JetStream still off")
		}
		return exactLinesIn(out, 20)()
	})
}

// An output that stays down at shutdown (a disk still full) is retried for
// the grace once, from its first failure, not once per batch: each batch
// after that is tried once and counted as dropped, so the shutdown ends.
func TestDrainGivesUpOnADeadOutputOnce(t *testing.T) {
	defer pipeline.SetDrainRetryGrace(500 * time.Millisecond)()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	const n = 200
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
batch_bytes = 512
[[inputs.file]]
publish = "logs"
path = %q
[[outputs.durablesink]]
subscribe = ["logs"]
key = %q
fail_after = 1
`, dir, in, key))
	sinksMu.Lock()
	s := sinks[key]
	sinksMu.Unlock()
	s.mu.Lock()
	tries, batches := s.tries, len(s.batches)
	s.mu.Unlock()
	t.Logf("%d batches, %d tries", batches, tries)
	if batches < 10 || tries >= 2*batches {
		t.Errorf("%d tries for %d batches: want at least 10 batches, most of them tried once", tries, batches)
	}
	// fail_after = 1 lets a batch of one line through.
	_, written := s.count()
	if c := statsOf(rt, pipeline.KindOutput, "durablesink").Counters; c.In != n || c.Out != uint64(written) || c.Out+c.Dropped != n {
		t.Errorf("in = %d, out = %d, dropped = %d, written %d; want in = %d = out + dropped, out = written", c.In, c.Out, c.Dropped, written, n)
	}
}

// flakySink waits for the drain, then fails the first try of its first and
// third batch and takes pause to write its second: an output that fails
// now and then while the pipeline stops.
type flakySink struct {
	Key   string            `toml:"key"`
	Pause pipeline.Duration `toml:"pause"`

	rt    *pipeline.Runtime
	calls int
	got   map[string]int
}

var (
	flakySinksMu sync.Mutex
	flakySinks   = map[string]*flakySink{}
)

func (s *flakySink) Init(env *pipeline.Env) error {
	flakySinksMu.Lock()
	defer flakySinksMu.Unlock()
	s.rt, s.got = env.Host.(*pipeline.Runtime), map[string]int{}
	flakySinks[s.Key] = s
	return nil
}

func (s *flakySink) Write(batch []*pipeline.Message) error {
	for deadline := time.Now().Add(time.Minute); !s.rt.Draining() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	flakySinksMu.Lock()
	defer flakySinksMu.Unlock()
	s.calls++
	switch s.calls {
	case 1, 4:
		return pipeline.Retryable(errors.New("sink failing for a moment"))
	case 3:
		time.Sleep(time.Duration(s.Pause)) // the slow write itself
	}
	for _, m := range batch {
		s.got[string(m.Payload)]++
	}
	return nil
}

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindOutput, Type: "flakysink",
		Description: "test sink failing now and then", New: func() any { return &flakySink{} }})
}

// At shutdown the grace of a failing output runs from its first failure
// since it last wrote: a failure early in a long drain does not make a
// later one, after writes that worked, drop its batch at the first try.
func TestDrainRetryGraceStartsAgainAfterAWrite(t *testing.T) {
	const grace = 300 * time.Millisecond
	defer pipeline.SetDrainRetryGrace(grace)()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	const n = 200
	writeLines(t, in, n)
	rt := runToEnd(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
batch_bytes = 512
[[inputs.file]]
publish = "logs"
path = %q
[[outputs.flakysink]]
subscribe = ["logs"]
key = %q
pause = %q
`, dir, in, t.Name(), 3*grace))
	flakySinksMu.Lock()
	s := flakySinks[t.Name()]
	calls, distinct, total := s.calls, len(s.got), 0
	for _, c := range s.got {
		total += c
	}
	flakySinksMu.Unlock()
	c := statsOf(rt, pipeline.KindOutput, "flakysink").Counters
	if calls < 5 || distinct != n || total != n || c.Out != n || c.Dropped != 0 {
		t.Errorf("%d writes; the output has %d lines, %d distinct; out = %d, dropped = %d: want every one of %d lines written once, none dropped",
			calls, total, distinct, c.Out, c.Dropped, n)
	}
}
