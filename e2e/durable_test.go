package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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
// again after the restart, with new message ids the stream cannot
// de-duplicate: they are expected, and must all come after the offset the
// restarted agent resumed from. Duplicates before it could only be
// redeliveries, which the central counts.
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
checkpoint_interval = "100ms"
`, filepath.Join(dir, "agent-var"), url, logFile, subject)
	agent := runPipeline(t, dir, "agent", agentCfg)
	agent.waitRunning(t) // its stream now exists

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

	// The writer appends numbered lines of 100 bytes at rate for duration.
	var written atomic.Int64
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		begin := time.Now()
		var buf []byte
		for n := 0; time.Since(begin) < duration; {
			due := int(time.Since(begin).Seconds() * rate)
			buf = buf[:0]
			for ; n < due; n++ {
				buf = append(append(buf, seqLine(n)...), '\n')
			}
			if _, err := f.Write(buf); err != nil {
				t.Error(err)
				return
			}
			written.Store(int64(n))
			time.Sleep(5 * time.Millisecond)
		}
	}()

	time.Sleep(time.Second)
	if err := agent.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	agent.wait(t, 10*time.Second)
	killedAt := written.Load()
	time.Sleep(500 * time.Millisecond)
	agent = runPipeline(t, dir, "agent", agentCfg)
	agent.waitRunning(t)
	<-writerDone
	n := int(written.Load())

	seen := make([]int, n)
	// missing counts the lines not in the central's output yet; while it is
	// being written its last line may be partial, so only the final count
	// (strict) rejects a line that is not one of the writer's.
	missing := func(strict bool) int {
		clear(seen)
		for _, s := range readLines(t, out) {
			f := strings.Fields(s)
			i := -1
			if len(s) == 99 && len(f) == 3 && f[0] == "line" {
				i, _ = strconv.Atoi(f[1])
			}
			if i >= 0 && i < n {
				seen[i]++
			} else if strict {
				t.Fatalf("unexpected line %q in the central's output", s)
			}
		}
		m := 0
		for _, c := range seen {
			if c == 0 {
				m++
			}
		}
		return m
	}
	deadline := time.Now().Add(15 * time.Second)
	for m := missing(false); m > 0; m = missing(false) {
		if time.Now().After(deadline) {
			first := -1
			for i, c := range seen {
				if c == 0 {
					first = i
					break
				}
			}
			t.Fatalf("%d of %d lines never reached the central (first missing: %d)", m, n, first)
		}
		time.Sleep(200 * time.Millisecond)
	}

	agent.signal(t, syscall.SIGTERM)
	if code := agent.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("agent exit %d after SIGTERM", code)
	}
	central.signal(t, syscall.SIGTERM)
	if code := central.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("central exit %d after SIGTERM", code)
	}
	if m := missing(true); m != 0 {
		t.Fatalf("%d lines missing after shutdown", m)
	}

	// Where the restarted agent resumed: every line before it was stored.
	resumed := -1
	for _, line := range strings.Split(agent.stderr.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "following file" && rec["from"] == "checkpoint" {
			off, _ := rec["offset"].(float64)
			resumed = int(off) / 100 // seqLine is 99 bytes and a newline
		}
	}
	if resumed < 0 {
		t.Fatalf("the restarted agent did not resume from a checkpoint:\n%s", lastLines(agent.stderr.String(), 20))
	}
	extra, extraBefore := 0, 0
	for i, c := range seen {
		if c > 1 {
			extra += c - 1
			if i < resumed {
				extraBefore += c - 1
			}
		}
	}
	centralDup := stoppedCounters(t, central.stderr.String(), "outputs.file[file]")["duplicates"]
	agentDup := stoppedCounters(t, agent.stderr.String(), "inputs.tail[tail]")["duplicates"]
	t.Logf("written %d lines (%d when the agent was killed); the central wrote %d, %d unique; "+
		"restart resumed at line %d; %d duplicates, %d of them before it; "+
		"reported: central redeliveries %v, stream de-duplicated %v",
		n, killedAt, n+extra, n, resumed, extra, extraBefore, centralDup, agentDup)
	if float64(extraBefore) > centralDup {
		t.Fatalf("%d lines before the resume offset were written twice, but the central reports %v duplicates",
			extraBefore, centralDup)
	}
}
