package tail

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// data_dir is on a small disk that runs full: the lines still go out, the
// checkpoint write fails (counted) and leaves the one before it whole, and
// once space is freed the checkpoint catches up by itself; a restart then
// reads only what is new.
func TestTailCheckpointOnFullDisk(t *testing.T) {
	dataDir := pipelinetest.Tmpfs(t, 512<<10)
	path := filepath.Join(t.TempDir(), "app.log")
	lines := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "line %d\n", i)
		}
		return b.String()
	}
	writeFile(t, path, lines(0, 100))
	size1 := int64(len(lines(0, 100)))
	offset := func() int64 {
		c := readCheckpoint(t, dataDir)
		for _, e := range c.Files {
			return e.Offset
		}
		return -1
	}
	offsetIs := func(want int64) func() error {
		return func() error {
			if got := offset(); got != want {
				return fmt.Errorf("checkpoint offset %d, want %d", got, want)
			}
			return nil
		}
	}

	p := newTail(path)
	p.FromBeginning = true
	var logs syncBuffer
	env := pipelinetest.Env(pipeline.KindInput, "tail", "tail")
	env.Agent.DataDir = dataDir
	env.Log = slog.New(slog.NewTextHandler(&logs, nil))
	out := &pipelinetest.Collector{LinesOnly: true}
	stop := pipelinetest.StartInput(t, p, env, out)
	out.WaitFor(t, 100, wait)
	pipelinetest.WaitUntil(t, wait, "the checkpoint at the end of the first lines", offsetIs(size1))

	free := pipelinetest.FillDisk(t, dataDir, 0)
	appendTo(t, path, lines(100, 200))
	out.WaitFor(t, 200, wait)
	errorsBefore := env.Stats.Errors.Load()
	pipelinetest.WaitUntil(t, wait, "checkpoint writes failing, and retried", func() error {
		if n := env.Stats.Errors.Load() - errorsBefore; n < 3 {
			return fmt.Errorf("%d failed writes so far", n)
		}
		return nil
	})
	if got := offset(); got != size1 {
		t.Fatalf("checkpoint offset %d while the disk is full, want the last one written (%d), whole", got, size1)
	}
	if left, _ := filepath.Glob(filepath.Join(dataDir, "tail", "*.tmp*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %q", left)
	}

	free()
	size2 := size1 + int64(len(lines(100, 200)))
	pipelinetest.WaitUntil(t, wait, "the checkpoint catching up once space is freed", offsetIs(size2))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// One error while it failed, however many tries, and one line when it
	// works again.
	failed := strings.Count(logs.String(), "cannot write checkpoint")
	again := strings.Count(logs.String(), "checkpoint written again")
	if failed != 1 || again != 1 || !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("logged %d failures and %d recoveries, want 1 and 1 naming the cause:\n%s", failed, again, logs.String())
	}

	appendTo(t, path, lines(200, 201))
	p2 := newTail(path)
	out2, _, _ := start(t, p2, dataDir)
	pipelinetest.WaitUntil(t, wait, "the line written after the stop", func() error {
		if got := out2.Lines(); !slices.Contains(got, "line 200") {
			return fmt.Errorf("lines so far: %q", got)
		}
		return nil
	})
	if got := out2.Lines(); len(got) != 1 {
		t.Errorf("after a restart: %q, want only the new line", got)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger on another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
