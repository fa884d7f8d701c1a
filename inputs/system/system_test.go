package system

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

const testHost = "test-host"

// kinds is every field each measurement has on Linux, with its kind: uint
// where Telegraf's value is a uint64, int where it is an int or int64.
var kinds = map[string]map[string]pipeline.FieldKind{
	"cpu": {
		"usage_user": pipeline.KindFloat, "usage_system": pipeline.KindFloat, "usage_idle": pipeline.KindFloat,
		"usage_nice": pipeline.KindFloat, "usage_iowait": pipeline.KindFloat, "usage_irq": pipeline.KindFloat,
		"usage_softirq": pipeline.KindFloat, "usage_steal": pipeline.KindFloat, "usage_guest": pipeline.KindFloat,
		"usage_guest_nice": pipeline.KindFloat,
	},
	"mem": uints("total", "available", "used", "free", "active", "buffered", "cached", "commit_limit",
		"committed_as", "dirty", "high_free", "high_total", "huge_pages_free", "huge_page_size",
		"huge_pages_total", "inactive", "low_free", "low_total", "mapped", "page_tables", "shared", "slab",
		"sreclaimable", "sunreclaim", "swap_cached", "swap_free", "swap_total", "vmalloc_chunk",
		"vmalloc_total", "vmalloc_used", "write_back", "write_back_tmp").
		with("available_percent", pipeline.KindFloat).with("used_percent", pipeline.KindFloat),
	"swap": uints("total", "used", "free", "in", "out").with("used_percent", pipeline.KindFloat),
	"disk": uints("total", "free", "used", "inodes_total", "inodes_free", "inodes_used").
		with("used_percent", pipeline.KindFloat).with("inodes_used_percent", pipeline.KindFloat),
	"diskio": uints("reads", "writes", "read_bytes", "write_bytes", "read_time", "write_time", "io_time",
		"weighted_io_time", "iops_in_progress", "merged_reads", "merged_writes"),
	"net": uints("bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in", "err_out",
		"drop_in", "drop_out").with("speed", pipeline.KindInt),
	"system": fieldKinds{"load1": pipeline.KindFloat, "load5": pipeline.KindFloat, "load15": pipeline.KindFloat,
		"n_cpus": pipeline.KindInt, "uptime": pipeline.KindUint},
	"processes": ints("blocked", "zombies", "stopped", "running", "sleeping", "total", "unknown", "dead",
		"paging", "total_threads", "idle", "parked"),
}

// optional are fields a point may lack: diskio's rates need two rounds
// (and I/O in between), the user counts a readable utmp.
var optional = map[string]fieldKinds{
	"diskio": {"io_await": pipeline.KindFloat, "io_svctm": pipeline.KindFloat, "io_util": pipeline.KindFloat},
	"system": {"n_users": pipeline.KindInt, "n_unique_users": pipeline.KindInt},
}

// tagKeys are the tags of each measurement besides host.
var tagKeys = map[string][]string{
	"cpu": {"cpu"}, "disk": {"device", "fstype", "mode", "path"}, "diskio": {"name"}, "net": {"interface"},
}

type fieldKinds map[string]pipeline.FieldKind

func uints(names ...string) fieldKinds { return kindsOf(pipeline.KindUint, names) }
func ints(names ...string) fieldKinds  { return kindsOf(pipeline.KindInt, names) }

func kindsOf(k pipeline.FieldKind, names []string) fieldKinds {
	m := fieldKinds{}
	for _, n := range names {
		m[n] = k
	}
	return m
}

func (m fieldKinds) with(name string, k pipeline.FieldKind) fieldKinds { m[name] = k; return m }

// TestSystemOnThisHost reads this machine's /proc: every measurement comes
// with its tags and fields of the right kinds, and values that make sense.
func TestSystemOnThisHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fields checked are Linux's")
	}
	s := newDefault()
	s.Interval = pipeline.Duration(100 * time.Millisecond) // the least interval takes
	out := &pipelinetest.Collector{MessagesOnly: true}
	pipelinetest.StartInput(t, s, testEnv(), out)
	// cpu needs two rounds; wait for a third so that diskio has its rates.
	pipelinetest.WaitUntil(t, 10*time.Second, "three rounds", func() error {
		if n := len(rounds(out.Messages())); n < 3 {
			return fmt.Errorf("%d rounds so far", n)
		}
		return nil
	})

	all := rounds(out.Messages())
	for i, r := range all[:3] {
		got := map[string]int{}
		for _, m := range r {
			got[m.Measurement()]++
		}
		for _, name := range Collectors {
			if name == "cpu" && i == 0 {
				if got[name] != 0 {
					t.Errorf("round 1 has %d cpu points: the first round can have no percentages", got[name])
				}
				continue
			}
			if got[name] == 0 && name != "net" { // a host may have no interface up but lo
				t.Errorf("round %d has no %s point: %v", i+1, name, got)
			}
		}
	}

	var nCPUs int64
	cpus := map[string]bool{}
	for _, r := range all[:3] {
		for _, m := range r {
			checkPoint(t, m)
			f := fields(m)
			switch m.Measurement() {
			case "cpu":
				cpus[tag(m, "cpu")] = true
				var sum float64
				for name, v := range f {
					if v.(float64) < 0 || v.(float64) > 100 {
						t.Errorf("cpu %s: %s = %v, want a percentage", tag(m, "cpu"), name, v)
					}
					sum += v.(float64)
				}
				if math.Abs(sum-100) > 1e-6 {
					t.Errorf("cpu %s: the usage fields add up to %v, want 100", tag(m, "cpu"), sum)
				}
			case "mem":
				total := f["total"].(uint64)
				if total == 0 || f["used"].(uint64) > total || f["available"].(uint64) > total || f["free"].(uint64) > total {
					t.Errorf("mem: used %v, available %v, free %v of total %v", f["used"], f["available"], f["free"], total)
				}
				checkPercent(t, "mem used_percent", f["used_percent"], f["used"], f["total"])
				checkPercent(t, "mem available_percent", f["available_percent"], f["available"], f["total"])
			case "swap":
				if f["used"].(uint64) > f["total"].(uint64) || f["free"].(uint64) > f["total"].(uint64) {
					t.Errorf("swap: used %v, free %v of total %v", f["used"], f["free"], f["total"])
				}
			case "disk":
				if slices.Contains(s.IgnoreFS, tag(m, "fstype")) {
					t.Errorf("disk %s: fstype %s is in ignore_fs", tag(m, "path"), tag(m, "fstype"))
				}
				inodes := f["inodes_total"].(uint64)
				if f["total"].(uint64) == 0 || f["used"].(uint64)+f["free"].(uint64) > f["total"].(uint64) ||
					inodes >= f["inodes_free"].(uint64) && f["inodes_used"].(uint64)+f["inodes_free"].(uint64) != inodes {
					t.Errorf("disk %s: sizes do not add up: %v", tag(m, "path"), f)
				}
				if mode := tag(m, "mode"); mode != "rw" && mode != "ro" && mode != "unknown" {
					t.Errorf("disk %s: mode %q", tag(m, "path"), mode)
				}
			case "diskio":
				if io, ok := f["io_util"]; ok && io.(float64) < 0 {
					t.Errorf("diskio %s: io_util %v", tag(m, "name"), io)
				}
			case "net":
				if tag(m, "interface") == "lo" {
					t.Error("net: loopback reported although interfaces is empty")
				}
			case "system":
				nCPUs = f["n_cpus"].(int64)
				if f["load1"].(float64) < 0 || f["uptime"].(uint64) == 0 {
					t.Errorf("system: %v", f)
				}
			case "processes":
				var states int64
				for _, k := range []string{"blocked", "zombies", "stopped", "running", "sleeping", "unknown", "dead", "paging", "idle", "parked"} {
					states += f[k].(int64)
				}
				// This test's own process is running or sleeping.
				if total := f["total"].(int64); total < 1 || states != total || f["total_threads"].(int64) < total {
					t.Errorf("processes: states add up to %d, total %d, threads %d", states, total, f["total_threads"])
				}
			}
		}
	}
	if want := int(nCPUs) + 1; len(cpus) != want || !cpus["cpu-total"] || !cpus["cpu0"] {
		t.Errorf("cpu tags %v, want cpu-total and one per CPU (n_cpus = %d)", cpus, nCPUs)
	}
}

// checkPoint checks what every point has: Type metric, the measurement
// first, the host tag and the measurement's tags sorted, every field of the
// measurement with its kind and no other, and a line protocol form.
func checkPoint(t *testing.T, m *pipeline.Message) {
	t.Helper()
	name := m.Measurement()
	if m.Type != pipeline.MetricType || !m.IsMetric() || m.Fields[0].Name != pipeline.MeasurementField {
		t.Fatalf("not a metric with its measurement first: %+v", m)
	}
	var tags []string
	for _, f := range m.Fields[1:] {
		if f.Role == pipeline.RoleTag {
			tags = append(tags, f.Name)
		}
	}
	want := slices.Sorted(slices.Values(append([]string{"host"}, tagKeys[name]...)))
	if !slices.Equal(tags, want) {
		t.Errorf("%s: tags %v, want %v", name, tags, want)
	}
	if h := tag(m, "host"); h != testHost {
		t.Errorf("%s: host tag %q, want the agent's name %q", name, h, testHost)
	}
	seen := map[string]bool{}
	for _, f := range m.Fields[1:] {
		if f.Role != pipeline.RoleField {
			continue
		}
		k, ok := kinds[name][f.Name]
		if !ok {
			k, ok = optional[name][f.Name]
		}
		switch {
		case !ok:
			t.Errorf("%s: unexpected field %s", name, f.Name)
		case f.Kind != k:
			t.Errorf("%s: field %s is %v, want %v", name, f.Name, f.Kind, k)
		case f.Kind == pipeline.KindFloat && (math.IsNaN(f.Float) || math.IsInf(f.Float, 0)):
			t.Errorf("%s: field %s = %v", name, f.Name, f.Float)
		}
		seen[f.Name] = true
	}
	for f := range kinds[name] {
		if !seen[f] {
			t.Errorf("%s: no field %s", name, f)
		}
	}
	if _, err := pipeline.AppendLineProtocol(nil, m); err != nil {
		t.Errorf("%s: does not write as line protocol: %v", name, err)
	}
}

func checkPercent(t *testing.T, what string, pct, part, whole any) {
	t.Helper()
	want := 100 * float64(part.(uint64)) / float64(whole.(uint64))
	if p := pct.(float64); p < 0 || p > 100 || math.Abs(p-want) > 1e-9 {
		t.Errorf("%s = %v, want %v", what, p, want)
	}
}

func TestCollectChoosesTheMeasurements(t *testing.T) {
	cases := [][]string{{"mem"}, {"system", "swap"}, {"processes", "disk", "diskio"}}
	for _, collect := range cases {
		t.Run(strings.Join(collect, ","), func(t *testing.T) {
			s := newDefault()
			s.Collect = collect
			got := map[string]bool{}
			for _, m := range gatherOnce(t, s) {
				got[m.Measurement()] = true
			}
			want := map[string]bool{}
			for _, c := range collect {
				want[c] = true
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("collect = %v gave the measurements %v", collect, got)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	t.Run("mount_points", func(t *testing.T) {
		s := newDefault()
		s.Collect, s.MountPoints, s.IgnoreFS = []string{"disk"}, []string{"/"}, []string{}
		msgs := gatherOnce(t, s)
		if len(msgs) != 1 || tag(msgs[0], "path") != "/" {
			t.Fatalf("mount_points = [\"/\"] gave %d points, want one for /", len(msgs))
		}
	})
	t.Run("ignore_fs", func(t *testing.T) {
		s := newDefault()
		s.Collect, s.MountPoints, s.IgnoreFS = []string{"disk"}, []string{"/"}, []string{}
		fstype := tag(gatherOnce(t, s)[0], "fstype")
		s = newDefault()
		s.Collect, s.MountPoints, s.IgnoreFS = []string{"disk"}, []string{"/"}, []string{fstype}
		if msgs := gatherOnce(t, s); len(msgs) != 0 {
			t.Errorf("ignore_fs = [%q] still reports /: %d points", fstype, len(msgs))
		}
	})
	t.Run("interfaces", func(t *testing.T) {
		s := newDefault()
		s.Collect, s.Interfaces = []string{"net"}, []string{"l?"}
		msgs := gatherOnce(t, s)
		if len(msgs) != 1 || tag(msgs[0], "interface") != "lo" {
			t.Fatalf("interfaces = [\"l?\"] gave %d points, want one for lo", len(msgs))
		}
		checkPoint(t, msgs[0])
	})
	t.Run("totalcpu only", func(t *testing.T) {
		s := newDefault()
		s.Collect, s.PerCPU = []string{"cpu"}, false
		msgs := gatherTwice(t, s)
		if len(msgs) != 1 || tag(msgs[0], "cpu") != "cpu-total" {
			t.Fatalf("percpu = false gave %d points, want cpu-total alone", len(msgs))
		}
	})
	t.Run("percpu only", func(t *testing.T) {
		s := newDefault()
		s.Collect, s.TotalCPU = []string{"cpu"}, false
		for _, m := range gatherTwice(t, s) {
			if tag(m, "cpu") == "cpu-total" {
				t.Fatal("totalcpu = false still reports cpu-total")
			}
		}
	})
}

func TestIntervalPacing(t *testing.T) {
	t.Run("the first round at once", func(t *testing.T) {
		s := newDefault()
		s.Collect, s.Interval = []string{"mem"}, pipeline.Duration(time.Hour)
		out := &pipelinetest.Collector{MessagesOnly: true}
		pipelinetest.StartInput(t, s, testEnv(), out)
		out.WaitFor(t, 1, 5*time.Second)
	})
	t.Run("then every interval", func(t *testing.T) {
		const interval = 100 * time.Millisecond // the least interval takes
		s := newDefault()
		s.Collect, s.Interval = []string{"mem", "swap"}, pipeline.Duration(interval)
		out := &pipelinetest.Collector{MessagesOnly: true}
		began := time.Now()
		stop := pipelinetest.StartInput(t, s, testEnv(), out)
		out.WaitFor(t, 10, 10*time.Second)
		took := time.Since(began)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		rs := rounds(out.Messages())
		for i, r := range rs {
			if len(r) != 2 || r[0].Measurement() != "mem" || r[1].Measurement() != "swap" {
				t.Errorf("round %d: %d points, want mem and swap with one timestamp", i+1, len(r))
			}
			if i > 0 {
				if gap := time.Duration(r[0].Timestamp - rs[i-1][0].Timestamp); gap < interval*9/10 {
					t.Errorf("rounds %d and %d are %v apart, want about %v", i, i+1, gap, interval)
				}
			}
		}
		if least := 4 * interval * 9 / 10; took < least {
			t.Errorf("5 rounds took %v, want at least %v", took, least)
		}
	})
}

// TestCPUPercentages checks the arithmetic against a /proc/stat of known
// counters: two rounds give one point per CPU, whose shares add up to 100.
func TestCPUPercentages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/stat")
	}
	proc := t.TempDir()
	t.Setenv("HOST_PROC", proc)
	writeStat := func(lines ...string) {
		t.Helper()
		data := strings.Join(lines, "\n") + "\nintr 1 2 3\nctxt 4\n"
		if err := os.WriteFile(filepath.Join(proc, "stat"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	//          user nice system idle iowait irq softirq steal guest guest_nice
	writeStat("cpu  1000 100 500 8000 200 10 20 30 100 10",
		"cpu0 500 50 250 4000 100 5 10 15 50 5",
		"cpu1 500 50 250 4000 100 5 10 15 50 5")
	s := newDefault()
	s.Collect = []string{"cpu"}
	pipelinetest.Init(t, s, testEnv())
	out := &pipelinetest.Collector{MessagesOnly: true}
	if err := s.gather(context.Background(), out, time.Now()); err != nil || out.Len() != 0 {
		t.Fatalf("first round: %v, %d points; want none", err, out.Len())
	}
	// Over the interval: cpu0 spends 100 ticks of 1000 on guest within user
	// (300), its iowait goes backwards; cpu1 did not run at all.
	writeStat("cpu  1300 100 600 8500 150 10 20 30 200 10",
		"cpu0 800 50 350 4500 50 5 10 15 150 5",
		"cpu1 500 50 250 4000 100 5 10 15 50 5")
	if err := s.gather(context.Background(), out, time.Now()); err != nil {
		t.Fatal(err)
	}
	msgs := out.Messages()
	if len(msgs) != 2 {
		t.Fatalf("second round: %d points, want cpu-total and cpu0 (cpu1 had no time pass)", len(msgs))
	}
	want := map[string]float64{"usage_user": 100 * 200.0 / 900, "usage_system": 100 * 100.0 / 900,
		"usage_idle": 100 * 500.0 / 900, "usage_guest": 100 * 100.0 / 900}
	for _, m := range msgs {
		f := fields(m)
		var sum float64
		for k, v := range f {
			sum += v.(float64)
			if w := want[k]; math.Abs(v.(float64)-w) > 1e-9 {
				t.Errorf("%s %s = %v, want %v", tag(m, "cpu"), k, v, w)
			}
		}
		if math.Abs(sum-100) > 1e-9 {
			t.Errorf("%s: shares add up to %v", tag(m, "cpu"), sum)
		}
	}
}

func TestProcessStates(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	proc := t.TempDir()
	t.Setenv("HOST_PROC", proc)
	stat := func(pid int, comm, state string, threads int) {
		t.Helper()
		dir := filepath.Join(proc, fmt.Sprint(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// pid (comm) state, then fields 4 to 19, num_threads (20), and more.
		line := fmt.Sprintf("%d (%s) %s 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 %d 0 100 1000 10\n", pid, comm, state, threads)
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stat(1, "init", "S", 1)
	stat(2, "a (weird) name", "R", 4)
	stat(3, "kworker/0:1", "I", 1)
	stat(4, "zombie", "Z", 1)
	stat(5, "stopped", "T", 1)
	stat(6, "traced", "t", 2)
	stat(7, "disk", "D", 1)
	stat(8, "odd", "?", 1)
	if err := os.MkdirAll(filepath.Join(proc, "self"), 0o755); err != nil { // not a pid: not counted
		t.Fatal(err)
	}
	s := newDefault()
	s.Collect = []string{"processes"}
	msgs := gatherOnce(t, s)
	if len(msgs) != 1 {
		t.Fatalf("%d points, want 1", len(msgs))
	}
	want := map[string]any{"blocked": int64(1), "zombies": int64(1), "stopped": int64(2), "running": int64(1),
		"sleeping": int64(1), "total": int64(8), "unknown": int64(1), "dead": int64(0), "paging": int64(0),
		"total_threads": int64(12), "idle": int64(1), "parked": int64(0)}
	if got := fields(msgs[0]); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("processes = %v\nwant        %v", got, want)
	}
}

// TestPermissionDenied: a collector that may not read what it needs is
// logged once, counted once and skipped from then on; the others go on.
func TestPermissionDenied(t *testing.T) {
	s := newDefault()
	s.Collect = []string{"mem", "swap"}
	env := testEnv()
	logs := &logRecorder{}
	env.Log = slog.New(logs)
	pipelinetest.Init(t, s, env)
	calls := 0
	s.collectors[0].collect = func(context.Context, *round) error {
		calls++
		return &fs.PathError{Op: "open", Path: "/proc/meminfo", Err: fs.ErrPermission}
	}
	out := &pipelinetest.Collector{MessagesOnly: true}
	for range 3 {
		if err := s.gather(context.Background(), out, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 || env.Stats.Errors.Load() != 1 || logs.count(slog.LevelWarn) != 1 {
		t.Errorf("mem called %d times, %d errors, %d warnings; want each once", calls, env.Stats.Errors.Load(), logs.count(slog.LevelWarn))
	}
	if n := len(out.Messages()); n != 3 {
		t.Errorf("%d points, want swap in each of 3 rounds", n)
	}
}

// TestTransientErrorsAreRetried: any other error is counted every time and
// the collector is tried again next round.
func TestTransientErrorsAreRetried(t *testing.T) {
	s := newDefault()
	s.Collect = []string{"mem"}
	env := testEnv()
	pipelinetest.Init(t, s, env)
	calls := 0
	s.collectors[0].collect = func(context.Context, *round) error { calls++; return errors.New("short read") }
	for range 3 {
		if err := s.gather(context.Background(), &pipelinetest.Collector{}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 3 || env.Stats.Errors.Load() != 3 {
		t.Errorf("called %d times, %d errors; want 3 of each", calls, env.Stats.Errors.Load())
	}
}

func TestRunEndsWhenEmitFails(t *testing.T) {
	s := newDefault()
	s.Collect = []string{"mem"}
	pipelinetest.Init(t, s, testEnv())
	err := s.Run(context.Background(), pipelinetest.Stopped{})
	if !errors.Is(err, pipelinetest.ErrStopped) {
		t.Errorf("Run = %v, want Emit's error", err)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*System)
		wantKey string
	}{
		{name: "defaults", edit: func(*System) {}},
		{name: "some collectors", edit: func(s *System) { s.Collect = []string{"disk", "net"} }},
		{name: "no cpu, no cpu options needed", edit: func(s *System) { s.Collect, s.PerCPU, s.TotalCPU = []string{"mem"}, false, false }},
		{name: "zero interval", edit: func(s *System) { s.Interval = 0 }, wantKey: "interval"},
		{name: "nothing to collect", edit: func(s *System) { s.Collect = []string{} }, wantKey: "collect"},
		{name: "unknown collector", edit: func(s *System) { s.Collect = []string{"cpu", "gpu"} }, wantKey: "collect"},
		{name: "collector twice", edit: func(s *System) { s.Collect = []string{"mem", "mem"} }, wantKey: "collect"},
		{name: "cpu with no cpu", edit: func(s *System) { s.PerCPU, s.TotalCPU = false, false }, wantKey: "percpu"},
		{name: "bad pattern", edit: func(s *System) { s.Interfaces = []string{"eth["} }, wantKey: "interfaces"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newDefault()
			tc.edit(s)
			err := s.Validate()
			var ke *pipeline.KeyError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantKey != "" && (!errors.As(err, &ke) || ke.Key != tc.wantKey):
				t.Errorf("Validate = %v, want an error on key %q", err, tc.wantKey)
			}
		})
	}
}

// TestSample keeps sample.toml and the code in step.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindInput, "system") }

func newDefault() *System {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "system")
	return reg.New().(*System)
}

func testEnv() *pipeline.Env {
	env := pipelinetest.Env(pipeline.KindInput, "system", "system")
	env.Agent.Name = testHost
	return env
}

// gatherOnce inits s and returns the points of one round.
func gatherOnce(t *testing.T, s *System) []*pipeline.Message {
	t.Helper()
	pipelinetest.Init(t, s, testEnv())
	out := &pipelinetest.Collector{MessagesOnly: true}
	if err := s.gather(context.Background(), out, time.Now()); err != nil {
		t.Fatal(err)
	}
	return out.Messages()
}

// gatherTwice inits s and returns the points of its second round, 20ms
// after the first, long enough for the CPU counters to move.
func gatherTwice(t *testing.T, s *System) []*pipeline.Message {
	t.Helper()
	gatherOnce(t, s)
	time.Sleep(20 * time.Millisecond)
	out := &pipelinetest.Collector{MessagesOnly: true}
	if err := s.gather(context.Background(), out, time.Now()); err != nil {
		t.Fatal(err)
	}
	return out.Messages()
}

// rounds groups points by timestamp, in order; the last group is left out
// as it may not be complete yet.
func rounds(msgs []*pipeline.Message) [][]*pipeline.Message {
	var out [][]*pipeline.Message
	for i, m := range msgs {
		if i == 0 || m.Timestamp != msgs[i-1].Timestamp {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], m)
	}
	if len(out) > 0 {
		out = out[:len(out)-1]
	}
	return out
}

func tag(m *pipeline.Message, key string) string {
	for _, f := range m.Fields {
		if f.Role == pipeline.RoleTag && f.Name == key {
			return f.Str
		}
	}
	return ""
}

// fields returns a point's values by name.
func fields(m *pipeline.Message) map[string]any {
	out := map[string]any{}
	for _, f := range m.Fields {
		if f.Role == pipeline.RoleField {
			out[f.Name] = f.Value()
		}
	}
	return out
}

// logRecorder is a slog.Handler that counts records by level.
type logRecorder struct {
	mu     sync.Mutex
	levels []slog.Level
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.levels = append(l.levels, r.Level)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(level slog.Level) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, lv := range l.levels {
		if lv == level {
			n++
		}
	}
	return n
}
