package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// TestDurableKill9Duplicates is issue 9's item 6: one process tails a file
// written at 20k lines/s into a file output, both durable, and is killed
// with SIGKILL three times at random points and started again on the same
// data_dir. No line may be lost; the output may write twice only the lines
// of the batch it was writing when killed (in doubt: perhaps written,
// perhaps not), which is at most one batch per kill; and the duplicates
// counter must account for every line the file has twice.
//
// After each start the process logs how many lines it holds in doubt and,
// as they come again, that it wrote them (and counted them). The counter of
// a process is read from the admin API just before it is killed, once it
// has written again all that it held in doubt: nothing it counts later can
// be a line written twice.
func TestDurableKill9Duplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~20 s")
	}
	const (
		rate       = 20_000 // lines/s
		writeFor   = 8 * time.Second
		kills      = 3
		batchBytes = 64 << 10
		// A batch holds at most batch_bytes of encoded messages (and one
		// message more), each more than its 99-byte line.
		batchLines = batchBytes/99 + 1
		plugin     = "outputs.file[file]"
	)
	dir := t.TempDir()
	logFile := writeFile(t, filepath.Join(dir, "app.log"), "")
	out := filepath.Join(dir, "out.log")
	cfg := fmt.Sprintf(`
[agent]
name = "one"
data_dir = %q
admin_addr = "127.0.0.1:0"
[nats]
batch_bytes = %d
[[inputs.tail]]
files = [%q]
from_beginning = true
durable = true
publish = "logs.app"
[[outputs.file]]
subscribe = ["logs.app"]
durable = true
path = %q
`, filepath.Join(dir, "var"), batchBytes, logFile, out)

	type life struct {
		inDoubt, rewritten int     // lines held in doubt at the start; in doubt written again since
		duplicates         float64 // the output's counter at the end of its life
		killedAt           int64   // lines written to the input file at the kill
	}
	var lives []life
	// settled waits until p has written again every line it held in doubt.
	settled := func(p *proc) life {
		t.Helper()
		var l life
		pipelinetest.WaitUntil(t, 60*time.Second, "the lines in doubt written again", func() error {
			log := p.stderr.String()
			l = life{}
			for _, rec := range logRecords(log, "durable: origins restored") {
				l.inDoubt += int(rec["in_doubt_lines"].(float64))
			}
			for _, rec := range logRecords(log, "durable: wrote lines in doubt since a crash (perhaps written before it); counted as duplicates") {
				l.rewritten += int(rec["lines"].(float64))
			}
			if l.rewritten < l.inDoubt {
				return fmt.Errorf("%d of %d written again", l.rewritten, l.inDoubt)
			}
			return nil
		})
		return l
	}

	w := startSeqWriter(t, logFile, rate, writeFor)
	p := runPipeline(t, dir, "one", cfg)
	for k := 0; k < kills; k++ {
		p.waitRunning(t)
		// A random point: some thousands of lines after this start.
		target := countLines(t, out) + 2000 + rand.IntN(15000)
		pipelinetest.WaitUntil(t, 30*time.Second, "the output to grow", func() error {
			select {
			case <-w.done: // the writer stopped: kill once the output has caught up
				target = min(target, int(w.written.Load()))
			default:
			}
			return hasLines(t, out, target)()
		})
		l := settled(p)
		l.duplicates = pluginCounters(t, p, plugin)["duplicates"]
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		p.wait(t, 10*time.Second)
		l.killedAt = w.written.Load()
		lives = append(lives, l)
		p = runPipeline(t, dir, "one", cfg)
	}
	p.waitRunning(t)
	<-w.done
	n := int(w.written.Load())
	waitSeqLines(t, out, n, 60*time.Second)
	last := settled(p)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	last.duplicates = stoppedCounters(t, p.stderr.String(), plugin)["duplicates"]
	lives = append(lives, last)

	seen := make([]int, n)
	if m := countSeqLines(t, out, seen, true); m != 0 {
		t.Fatalf("%d lines missing", m)
	}
	twice := 0
	for _, c := range seen {
		twice += c - 1
	}
	var inDoubt, rewritten int
	var counted float64
	for i, l := range lives {
		end := "stopped"
		if i < kills {
			end = fmt.Sprintf("killed after %d lines written", l.killedAt)
		}
		t.Logf("start %d: %d lines in doubt, %d of them written again; duplicates counted %v; %s",
			i, l.inDoubt, l.rewritten, l.duplicates, end)
		if l.inDoubt > batchLines {
			t.Errorf("start %d: %d lines in doubt, more than one batch (%d lines)", i, l.inDoubt, batchLines)
		}
		inDoubt += l.inDoubt
		rewritten += l.rewritten
		counted += l.duplicates
	}
	t.Logf("%d lines, %d kills: %d written twice; %d lines were in doubt; the output counted %v duplicates (copies dropped, and lines in doubt written again)",
		n, kills, twice, inDoubt, counted)
	if twice > rewritten || rewritten != inDoubt {
		t.Errorf("%d lines written twice, %d in doubt written again, %d in doubt: want twice <= written again == in doubt", twice, rewritten, inDoubt)
	}
	if counted < float64(twice) || counted < float64(rewritten) {
		t.Errorf("duplicates counted %v, fewer than the %d lines written twice or the %d lines in doubt written again", counted, twice, rewritten)
	}
}

// logRecords returns the JSON log records with message msg.
func logRecords(log, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// pluginCounters reads a plugin's counters from the admin API of p.
func pluginCounters(t *testing.T, p *proc, plugin string) map[string]float64 {
	t.Helper()
	recs := logRecords(p.stderr.String(), "admin API listening")
	if len(recs) == 0 {
		t.Fatal("no \"admin API listening\" record")
	}
	resp, err := http.Get(recs[0]["url"].(string) + "api/plugins")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var plugins []struct {
		Kind, Type, Name string
		Counters         map[string]float64
	}
	if err := json.NewDecoder(resp.Body).Decode(&plugins); err != nil {
		t.Fatal(err)
	}
	for _, pl := range plugins {
		if fmt.Sprintf("%s.%s[%s]", pl.Kind, pl.Type, pl.Name) == plugin {
			return pl.Counters
		}
	}
	t.Fatalf("no plugin %s in /api/plugins", plugin)
	return nil
}
