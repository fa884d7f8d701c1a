package pipeline_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// An agent tailing a file crashes before its checkpoint caught up, and
// reads the lines after the checkpoint again: the central drops the copies
// by their origin ids and counts them, so its output has each line once.
// Each message carries its file's path as a tag.
func TestLinesReadAgainAreDroppedAndCounted(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	rt, _, _ := startPipeline(t, fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = "off"
[nats]
listen = %q
[[outputs.durablesink]]
subscribe = ["agent.>"]
external = true
key = "readagain"
`, filepath.Join(dir, "central"), addr))
	log := filepath.Join(dir, "app.log")
	writeLines(t, log, 1000)
	agentCfg := fmt.Sprintf(`
[agent]
name = "edge"
data_dir = %q
admin_addr = "off"
[nats]
url = "nats://%s"
[[inputs.tail]]
publish = "agent.tail"
files = [%q]
from_beginning = true
`, filepath.Join(dir, "edge"), addr, log)
	sink := (&sinkPlugin{Key: "readagain"}).sink()
	runAgent := func(want int) {
		t.Helper()
		_, cancel, done := startPipeline(t, agentCfg)
		pipelinetest.WaitUntil(t, 10*time.Second, fmt.Sprintf("%d lines at the central", want), func() error {
			if _, total := sink.count(); total < want {
				return fmt.Errorf("%d so far", total)
			}
			return nil
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		done <- nil // for startPipeline's cleanup
	}
	runAgent(1000)

	// The crash: the checkpoint still says the agent had sent 400 lines.
	cpPath := filepath.Join(dir, "edge", "tail", "tail.json")
	b, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	var cp map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // "since" is in nanoseconds: no float64 rounding
	if err := dec.Decode(&cp); err != nil {
		t.Fatal(err)
	}
	resume := len("line 0\n")*10 + len("line 00\n")*90 + len("line 000\n")*300 // the start of line 400
	for _, e := range cp["files"].(map[string]any) {
		e.(map[string]any)["offset"] = resume
	}
	b, _ = json.Marshal(cp)
	if err := os.WriteFile(cpPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	appendLines(t, log, 1000, 1100)
	runAgent(1100)
	pipelinetest.WaitUntil(t, 5*time.Second, "the copies counted", func() error {
		if dups := statsOf(rt, pipeline.KindOutput, "durablesink").Counters.Duplicates; dups < 600 {
			return fmt.Errorf("%d duplicates counted so far", dups)
		}
		return nil
	})
	distinct, total := sink.count()
	dups := statsOf(rt, pipeline.KindOutput, "durablesink").Counters.Duplicates
	if distinct != 1100 || total != 1100 {
		t.Fatalf("the sink got %d lines, %d distinct; want each of 1100 once", total, distinct)
	}
	if dups != 600 {
		t.Fatalf("%d duplicates counted; the agent read lines 400-999 again", dups)
	}
	if p := sink.lastPath(); p != log {
		t.Fatalf("path tag %q, want %q", p, log)
	}
}
