package e2e

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestCentralDownTenSeconds is issue 5's failure test (b): the central
// pipeline, which runs the NATS server its agents connect to, is stopped for
// 10 s while two agents keep tailing files that are being written; one agent
// is a plain client of the central's listen address, the other a leaf node
// of it. When the central is back, every line of both files arrives, once.
//
// While the central is down a durable publisher cannot store its batch: it
// retries with the same batch id, the tail stops reading (its file is the
// buffer) and its checkpoint does not move. The central's stream and its
// consumers' positions survive the restart in its data_dir.
func TestCentralDownTenSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~25 s")
	}
	const (
		rate     = 5_000 // lines/s per file
		duration = 16 * time.Second
		downFor  = 10 * time.Second
	)
	dir := t.TempDir()
	client, leaf := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	outDirect, outLeaf := filepath.Join(dir, "direct.out"), filepath.Join(dir, "leaf.out")
	centralCfg := fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = "off"
[nats]
listen = %q
leafnode_listen = %q
[[outputs.file]]
name = "direct"
subscribe = ["logs.direct"]
external = true
durable = true
path = %q
[[outputs.file]]
name = "leaf"
subscribe = ["logs.leaf"]
external = true
durable = true
path = %q
`, filepath.Join(dir, "central-var"), client, leaf, outDirect, outLeaf)
	central := runPipeline(t, dir, "central", centralCfg)
	central.waitRunning(t) // its consumers made the streams

	agent := func(name, natsKeys, subject string) (*proc, string) {
		file := writeFile(t, filepath.Join(dir, name+".log"), "")
		p := runPipeline(t, dir, name, fmt.Sprintf(`
[agent]
name = %q
data_dir = %q
admin_addr = "off"
[nats]
%s
[[inputs.tail]]
files = [%q]
from_beginning = true
durable = true
publish = %q
`, name, filepath.Join(dir, name+"-var"), natsKeys, file, subject))
		p.waitRunning(t)
		return p, file
	}
	direct, directFile := agent("direct", fmt.Sprintf("url = \"nats://%s\"", client), "logs.direct")
	leafAgent, leafFile := agent("leaf", fmt.Sprintf("leafnode_remotes = [\"nats-leaf://%s\"]", leaf), "logs.leaf")

	wDirect := startSeqWriter(t, directFile, rate, duration)
	wLeaf := startSeqWriter(t, leafFile, rate, duration)

	time.Sleep(2 * time.Second)
	central.signal(t, syscall.SIGTERM)
	if code := central.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("central exit %d after SIGTERM:\n%s", code, lastLines(central.stderr.String(), 20))
	}
	stopped := time.Now()
	atStop := [2]int64{wDirect.written.Load(), wLeaf.written.Load()}
	time.Sleep(downFor)
	central = runPipeline(t, dir, "central", centralCfg)
	central.waitRunning(t)
	back := time.Now()
	t.Logf("central down %s; lines written meanwhile: direct %d, leaf %d",
		back.Sub(stopped).Round(time.Millisecond), wDirect.written.Load()-atStop[0], wLeaf.written.Load()-atStop[1])

	<-wDirect.done
	<-wLeaf.done
	for _, c := range []struct {
		name  string
		w     *seqWriter
		out   string
		agent *proc
	}{{"direct", wDirect, outDirect, direct}, {"leaf", wLeaf, outLeaf, leafAgent}} {
		n := int(c.w.written.Load())
		waitSeqLines(t, c.out, n, 30*time.Second)
		caughtUp := time.Since(c.w.end)
		retries, first, last, errs := warnings(c.agent.stderr.String(), "durable publish failed, retrying")
		t.Logf("%s agent: %d lines, all at the central %s after the writer stopped (%s after the central came back); "+
			"%d failed publishes logged from %s to %s after the stop (%v)",
			c.name, n, caughtUp.Round(time.Millisecond), time.Since(back).Round(time.Millisecond), retries,
			first.Sub(stopped).Round(time.Millisecond), last.Sub(stopped).Round(time.Millisecond), errs)
		if retries == 0 {
			t.Errorf("%s agent: no publish failed while the central was down: was it really down?", c.name)
		}
	}
	for _, p := range []*proc{direct, leafAgent, central} {
		p.signal(t, syscall.SIGTERM)
		if code := p.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM:\n%s", code, lastLines(p.stderr.String(), 20))
		}
	}
	for _, c := range []struct {
		out string
		w   *seqWriter
	}{{outDirect, wDirect}, {outLeaf, wLeaf}} {
		seen := make([]int, c.w.written.Load())
		if m := countSeqLines(t, c.out, seen, true); m != 0 {
			t.Fatalf("%s: %d lines missing after shutdown", filepath.Base(c.out), m)
		}
		dups := 0
		for _, k := range seen {
			dups += k - 1
		}
		t.Logf("%s: %d lines, %d written twice", filepath.Base(c.out), len(seen), dups)
	}
}
