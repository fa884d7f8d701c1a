package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
	"github.com/nats-io/nats.go"
)

// testJS is JetStream on a connection of its own to rt's embedded server:
// API replies on the bus's would count as batches in the drain check.
func testJS(t *testing.T, rt *pipeline.Runtime) nats.JetStreamContext {
	t.Helper()
	return pipelinetest.JetStream(t, "", nats.InProcessServer(rt.Bus().Server))
}

// keepToLimits makes stream keep its batches to its limits, as earlier
// versions made every stream.
func keepToLimits(t *testing.T, rt *pipeline.Runtime, stream string) {
	t.Helper()
	js := testJS(t, rt)
	si, err := js.StreamInfo(stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := si.Config
	cfg.Retention = nats.LimitsPolicy
	if _, err := js.UpdateStream(&cfg); err != nil {
		t.Fatal(err)
	}
}

// streamHolds is a condition for WaitUntil: stream has retention and holds
// want batches.
func streamHolds(js nats.JetStreamContext, stream string, retention nats.RetentionPolicy, want uint64) func() error {
	return func() error {
		si, err := js.StreamInfo(stream)
		if err != nil {
			return err
		}
		if si.Config.Retention != retention || si.State.Msgs != want {
			return fmt.Errorf("%s: %s retention, %d batches (%d stored in all)", stream, si.Config.Retention, si.State.Msgs, si.State.LastSeq)
		}
		return nil
	}
}

// durableRetentionConfig is a durable TCP input (influx lines; what does
// not parse goes to a durable dead-letter subject) and a durable output.
func durableRetentionConfig(dir, key string) string {
	return fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
batch_bytes = 1024
[[inputs.tcp]]
publish = "r.metrics"
address = "127.0.0.1:0"
decoder = "influx"
dead_letter = "r.bad"
durable = true
[[outputs.durablesink]]
subscribe = ["r.metrics"]
durable = true
key = %q
`, dir, key)
}

// sendMetrics sends n metric lines, every tenth of them broken, and returns
// how many parse.
func sendMetrics(t *testing.T, rt *pipeline.Runtime, from, n int) (good int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < from+n; i++ {
		if i%10 == 0 {
			fmt.Fprintf(&b, "broken line %d\n", i)
			continue
		}
		fmt.Fprintf(&b, "cpu,host=edge-%d user=%d.5 %d\n", i, i%100, 1700000000000000000+i)
		good++
	}
	conn := dialTCPInput(t, rt)
	defer conn.Close()
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	return good
}

// freshSink is the key of a durablesink of the test's own, none of whose
// writes are left from an earlier run (-count > 1).
func freshSink(t *testing.T) string {
	key := t.Name()
	sinksMu.Lock()
	delete(sinks, key)
	sinksMu.Unlock()
	return key
}

// waitWritten waits until the durablesink of key has written want
// messages in all.
func waitWritten(t *testing.T, key string, want int, what string) {
	t.Helper()
	pipelinetest.WaitUntil(t, 20*time.Second, what, func() error {
		sinksMu.Lock()
		s := sinks[key]
		sinksMu.Unlock()
		total := 0
		if s != nil {
			_, total = s.count()
		}
		if total != want {
			return fmt.Errorf("%d of %d written", total, want)
		}
		return nil
	})
}

// A stream a durable subscriber reads is the buffer of its durable
// subscribers: once the output has written and acked every batch, the
// stream holds none (they were stored: its last sequence says how many), so
// neither its disk nor nats-server's memory keeps what was written. The
// dead letters, which nobody here reads, are kept to the stream's limits
// for whoever looks at them.
func TestDurableStreamHoldsWhatSubscribersHaveNotWritten(t *testing.T) {
	key := freshSink(t)
	rt, _, _ := startPipeline(t, durableRetentionConfig(t.TempDir(), key))
	const n = 2000
	good := sendMetrics(t, rt, 0, n)
	waitWritten(t, key, good, "every metric written")
	js := testJS(t, rt)
	pipelinetest.WaitUntil(t, 10*time.Second, "the metrics stream emptied", streamHolds(js, pipeline.StreamName("r.metrics"), nats.InterestPolicy, 0))
	si, err := js.StreamInfo(pipeline.StreamName("r.metrics"))
	if err != nil {
		t.Fatal(err)
	}
	if si.State.LastSeq < 20 {
		t.Fatalf("metrics stream: %d batches stored, want the lines in many batches", si.State.LastSeq)
	}
	bad, err := js.StreamInfo(pipeline.StreamName("r.bad"))
	if err != nil {
		t.Fatal(err)
	}
	if bad.Config.Retention != nats.LimitsPolicy || bad.State.Msgs == 0 || bad.State.Msgs != bad.State.LastSeq {
		t.Fatalf("dead letters: %s retention, %d batches held of %d stored; want all kept", bad.Config.Retention, bad.State.Msgs, bad.State.LastSeq)
	}
}

// A stream an earlier version made is kept to its limits, holding what its
// consumers have written; the next start of a durable subscriber makes it
// a stream kept by interest, and the server removes what they have all
// acked.
func TestDurableStreamOfAnEarlierVersion(t *testing.T) {
	dir := t.TempDir()
	key := freshSink(t)
	stream := pipeline.StreamName("r.metrics")
	src := durableRetentionConfig(dir, key)
	rt := startRuntime(t, src)
	keepToLimits(t, rt, stream)
	stop := runInBackground(t, rt)
	good := sendMetrics(t, rt, 0, 500)
	waitWritten(t, key, good, "every metric written")
	si, err := testJS(t, rt).StreamInfo(stream)
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs == 0 || si.Config.Retention != nats.LimitsPolicy {
		t.Fatalf("before the restart: %s retention, %d batches held; want them all kept", si.Config.Retention, si.State.Msgs)
	}
	stop()

	rt2, _, _ := startPipeline(t, src)
	pipelinetest.WaitUntil(t, 10*time.Second, "the written batches removed", streamHolds(testJS(t, rt2), stream, nats.InterestPolicy, 0))
	good2 := sendMetrics(t, rt2, 500, 500)
	waitWritten(t, key, good+good2, "the metrics sent after the restart written")
}

// What agents store before the central's durable subscriber first starts
// is kept for it (the stream keeps its batches to its limits while no
// durable subscriber reads it), and reaches it when it starts; from then on
// the stream is kept by interest.
func TestDurableStreamKeepsWhatComesBeforeItsSubscriber(t *testing.T) {
	dir := t.TempDir()
	key := freshSink(t)
	stream := pipeline.StreamName("r.early")
	rt := startRuntime(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.tcp]]
publish = "r.early"
address = "127.0.0.1:0"
durable = true
`, dir))
	stop := runInBackground(t, rt)
	conn := dialTCPInput(t, rt)
	fmt.Fprintf(conn, "one\ntwo\nthree\n")
	conn.Close()
	pipelinetest.WaitUntil(t, 10*time.Second, "the lines stored", streamHolds(testJS(t, rt), stream, nats.LimitsPolicy, 1))
	stop()

	rt2, _, _ := startPipeline(t, sinkOnlyConfig(dir, "r.early", key))
	waitWritten(t, key, 3, "the lines stored before the subscriber written")
	pipelinetest.WaitUntil(t, 10*time.Second, "the written batch removed", streamHolds(testJS(t, rt2), stream, nats.InterestPolicy, 0))
}

// runInBackground runs rt until the returned stop is called, which waits
// for its drain.
func runInBackground(t *testing.T, rt *pipeline.Runtime) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("pipeline did not stop")
		}
	}
}

// A reload that adds the stream's first durable subscriber makes it a
// stream kept by interest, as a start does; the subscriber gets what was
// stored before it.
func TestDurableStreamKeptByInterestAfterAReload(t *testing.T) {
	key := freshSink(t)
	input := fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.tcp]]
name = "in"
publish = "r.reload"
address = "127.0.0.1:0"
durable = true
`, t.TempDir())
	p := startReloadable(t, input)
	stream := pipeline.StreamName("r.reload")
	fmt.Fprintf(p.conn, "one\ntwo\n")
	js := testJS(t, p.rt)
	pipelinetest.WaitUntil(t, 10*time.Second, "the lines stored", streamHolds(js, stream, nats.LimitsPolicy, 1))
	if _, err := p.reload(input + fmt.Sprintf(`
[[outputs.durablesink]]
subscribe = ["r.reload"]
durable = true
key = %q
`, key)); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(p.conn, "three\n")
	waitWritten(t, key, 3, "the lines before and after the reload written")
	pipelinetest.WaitUntil(t, 10*time.Second, "the written batches removed", streamHolds(js, stream, nats.InterestPolicy, 0))
}
