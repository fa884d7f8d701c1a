package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/inputs/tail" // inputs.tail, to feed a real pipeline
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// fullDiskWait bounds each wait of the full-disk tests: generous, for a
// busy machine.
const fullDiskWait = 60 * time.Second

// The output's file is on a small disk that runs full while lines arrive:
// what does not fit is retried, not counted as out, and leaves no torn line;
// once space is freed everything arrives, exactly once and in order.
func TestFileFullDiskLosesNothing(t *testing.T) {
	disk := pipelinetest.Tmpfs(t, 2<<20)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(disk, "out.log")
	const n = 20000 // about 1 MB of lines: more than the room left
	var want strings.Builder
	for i := range n {
		fmt.Fprintf(&want, "line %05d of the full-disk test\n", i)
	}
	if err := os.WriteFile(in, []byte(want.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	free := pipelinetest.FillDisk(t, disk, 200<<10)

	rt, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.tail]]
publish = "logs"
files = [%q]
from_beginning = true
[[outputs.file]]
subscribe = ["logs"]
path = %q
`, dir, in, out))
	counters := func() pipeline.StatsSnapshot {
		for _, p := range rt.PluginStatus() {
			if p.Kind == pipeline.KindOutput {
				c := p.Counters
				return pipeline.StatsSnapshot{In: c.In, Out: c.Out, Dropped: c.Dropped, Errors: c.Errors}
			}
		}
		t.Fatal("no output in the pipeline")
		return pipeline.StatsSnapshot{}
	}
	pipelinetest.WaitUntil(t, fullDiskWait, "a failed write", func() error {
		if c := counters(); c.Errors == 0 {
			return fmt.Errorf("no error counted; %d lines out", c.Out)
		}
		return nil
	})

	// The disk is full and the output retries the same batch: nothing moves.
	c := counters()
	got := readWholeLines(t, out)
	if c.Out >= n || uint64(len(got)) != c.Out || c.Dropped != 0 {
		t.Fatalf("disk full: the file holds %d lines; counters out = %d, dropped = %d; want out < %d, the file's lines all counted as out, none dropped",
			len(got), c.Out, c.Dropped, n)
	}
	t.Logf("disk full: %d of %d lines written, %d write errors", c.Out, n, c.Errors)

	free()
	pipelinetest.WaitUntil(t, fullDiskWait, "every line written once space is freed", func() error {
		if c := counters(); c.Out != n {
			return fmt.Errorf("%d of %d lines out", c.Out, n)
		}
		return nil
	})
	if err := wait(true); err != nil {
		t.Fatal(err)
	}
	if c := counters(); c.In != n || c.Out != n || c.Dropped != 0 {
		t.Errorf("counters in = %d, out = %d, dropped = %d; want %d, %d, 0", c.In, c.Out, c.Dropped, n, n)
	}
	if b, _ := os.ReadFile(out); string(b) != want.String() {
		got := readWholeLines(t, out)
		t.Fatalf("once space was freed the file holds %d lines (%d bytes), not the %d lines sent, each once, in order", len(got), len(b), n)
	}
}

// readWholeLines returns the lines of the file at path, and fails the test
// if its last line is torn (no newline at its end).
func readWholeLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	if !strings.HasSuffix(s, "\n") {
		i := strings.LastIndexByte(s, '\n')
		t.Fatalf("%s ends in a torn line: %q", path, s[i+1:])
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// Where the filesystem cannot reserve space, a write that fails part way is
// cut off again: the file keeps only whole lines, and the batch written again
// once there is room is in it once. A message the format cannot carry is
// counted once, when its batch is written, however often it was tried.
func TestFileFailedWriteIsCutOff(t *testing.T) {
	defer func(r func(*os.File, int64, int64) error) { reserve = r }(reserve)
	reserve = func(*os.File, int64, int64) error { return nil }
	disk := pipelinetest.Tmpfs(t, 1<<20)
	o := newDefault()
	o.Path, o.Format = filepath.Join(disk, "out.lp"), "influx"
	env := initFile(t, o)

	point := func(i int) *pipeline.Message {
		return &pipeline.Message{Type: pipeline.MetricType, Timestamp: int64(i), Fields: []pipeline.Field{
			{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "m"},
			{Name: "v", Kind: pipeline.KindInt, Int: int64(i)},
		}}
	}
	first := []*pipeline.Message{point(0), point(1)}
	if err := o.Write(first); err != nil {
		t.Fatal(err)
	}
	// More lines than the room left, and a log message line protocol
	// cannot carry.
	batch := []*pipeline.Message{{Type: "log", Payload: []byte("not a metric")}}
	for i := 2; i < 20000; i++ {
		batch = append(batch, point(i))
	}
	free := pipelinetest.FillDisk(t, disk, 64<<10)
	for try := 0; try < 3; try++ {
		err := o.Write(batch)
		if err == nil || !pipeline.IsRetryable(err) || !strings.Contains(err.Error(), o.Path) {
			t.Fatalf("Write to a full disk = %v, want a retryable error naming the path", err)
		}
		if got := readWholeLines(t, o.Path); len(got) != len(first) {
			t.Fatalf("after a failed write the file holds %d lines, want the %d before it", len(got), len(first))
		}
	}
	if d := env.Stats.Dropped.Load(); d != 0 {
		t.Fatalf("Dropped = %d while the batch is retried, want 0", d)
	}
	free()
	if err := o.Write(batch); err != nil {
		t.Fatalf("Write once space is freed: %v", err)
	}
	got := readWholeLines(t, o.Path)
	if len(got) != 20000 {
		t.Fatalf("the file holds %d lines, want 20000", len(got))
	}
	for i, l := range got {
		if want := fmt.Sprintf("m v=%di %d", i, i); l != want {
			t.Fatalf("line %d is %q, want %q", i+1, l, want)
		}
	}
	if d, e := env.Stats.Dropped.Load(), env.Stats.Errors.Load(); d != 1 || e != 1 {
		t.Errorf("Dropped = %d, Errors = %d; want 1 and 1: the log message, counted once", d, e)
	}
}
