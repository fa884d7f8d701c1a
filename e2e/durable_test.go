package e2e

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// TestDurableTailSurvivesKill9 is issue 5's failure test (a): an agent
// tailing a file written at 20k lines/s is killed with SIGKILL and started
// again on the same data_dir; every line must reach the central pipeline.
//
// Both processes use one external nats-server with JetStream: the central's
// durable subscriber needs the agent's stream to exist when it starts, and
// the agent's stream must live in a server that outlives the agent, so
// neither can host the server (an embedded server in the central would have
// to start before the stream it needs exists).
//
// Lines the agent emitted after its last checkpoint are read and stored
// again after the restart, in batches the stream cannot de-duplicate; their
// messages have the ids they had the first time (file and offset), so the
// central drops them, counts them, and writes each line once.
func TestDurableTailSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~10 s")
	}
	const (
		rate     = 20_000 // lines/s
		duration = 3 * time.Second
		subject  = "e2e.tail"
	)
	url, _ := startNatsServer(t, "-js", "-sd", filepath.Join(t.TempDir(), "js"))
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	out := filepath.Join(dir, "central.log")
	writeFile(t, logFile, "")

	agentCfg := fmt.Sprintf(`
[agent]
name = "agent"
data_dir = %q
admin_addr = "off"
[nats]
url = %q
batch_bytes = 524288
batch_linger = "200ms"
[[inputs.tail]]
files = [%q]
from_beginning = true
durable = true
publish = %q
`, filepath.Join(dir, "agent-var"), url, logFile, subject)
	agent := runPipeline(t, dir, "agent", agentCfg)
	agent.waitRunning(t) // its stream now exists
	observeStream(t, url, subject)

	central := runPipeline(t, dir, "central", fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = "off"
[nats]
url = %q
[[outputs.file]]
subscribe = [%q]
external = true
durable = true
path = %q
`, filepath.Join(dir, "central-var"), url, subject, out))
	central.waitRunning(t)

	w := startSeqWriter(t, logFile, rate, duration)

	// Half-way between two checkpoints (checkpoint_interval is 1s), when
	// batches sent after the last one are in the stream.
	time.Sleep(1500 * time.Millisecond)
	if err := agent.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	agent.wait(t, 10*time.Second)
	killedAt := w.written.Load()
	time.Sleep(500 * time.Millisecond)
	agent = runPipeline(t, dir, "agent", agentCfg)
	agent.waitRunning(t)
	<-w.done
	n := int(w.written.Load())
	waitSeqLines(t, out, n, 15*time.Second)

	agent.signal(t, syscall.SIGTERM)
	if code := agent.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exit %d after SIGTERM", code)
	}
	central.signal(t, syscall.SIGTERM)
	if code := central.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("central exit %d after SIGTERM", code)
	}
	seen := make([]int, n)
	if m := countSeqLines(t, out, seen, true); m != 0 {
		t.Fatalf("%d lines missing after shutdown", m)
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("line %d written %d times by the central", i, c)
		}
	}

	// The stream holds every line the agents stored: those the restarted
	// agent read again after its checkpoint are in it twice, with the ids
	// they had the first time, and the central dropped and counted them.
	stored := linesInStream(t, url, subject)
	centralDup := stoppedCounters(t, central.stderr.String(), "outputs.file[file]")["duplicates"]
	agentDup := stoppedCounters(t, agent.stderr.String(), "inputs.tail[tail]")["duplicates"]
	t.Logf("written %d lines (%d when the agent was killed); the stream stored %d, %d of them read again after the restart; "+
		"the central wrote %d and counted %v duplicates; the stream de-duplicated %v re-published lines",
		n, killedAt, stored, stored-n, n, centralDup, agentDup)
	if float64(stored-n) != centralDup {
		t.Fatalf("%d lines were stored twice, but the central counted %v duplicates", stored-n, centralDup)
	}
}

// observeStream gives subject's stream a durable consumer that never acks,
// so that it keeps every batch stored for linesInStream to count: a stream
// keeps a batch only until its durable consumers have all acked it.
func observeStream(t *testing.T, url, subject string) {
	t.Helper()
	js := pipelinetest.JetStream(t, url)
	if _, err := js.AddConsumer(pipeline.StreamName(subject), &nats.ConsumerConfig{Durable: "e2e_observer", AckPolicy: nats.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
}

// linesInStream counts the messages in the batches of subject's stream.
func linesInStream(t *testing.T, url, subject string) int {
	t.Helper()
	js := pipelinetest.JetStream(t, url)
	stream := pipeline.StreamName(subject)
	info, err := js.StreamInfo(stream)
	if err != nil {
		t.Fatal(err)
	}
	var dec pipeline.BatchDecoder
	n := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := js.GetMsg(stream, seq)
		if err != nil {
			t.Fatalf("stream %s, message %d: %v", stream, seq, err)
		}
		data, err := pipeline.BatchData(&nats.Msg{Data: m.Data, Header: m.Header}) // stored compressed
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := dec.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		n += len(msgs)
	}
	return n
}
