package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// cpuProfile is a CPU profile, as the Go runtime writes one, of one function
// name on which samples of 10 ms each were taken.
func cpuProfile(name string, samples int64) *profile.Profile {
	fn := &profile.Function{ID: 1, Name: name, SystemName: name, Filename: name + ".go"}
	loc := &profile.Location{ID: 1, Address: 0x1000, Line: []profile.Line{{Function: fn, Line: 10}}}
	return &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
		Function:   []*profile.Function{fn},
		Location:   []*profile.Location{loc},
		Sample:     []*profile.Sample{{Location: []*profile.Location{loc}, Value: []int64{samples, samples * 10_000_000}}},
	}
}

// cpuOf returns the CPU time (ns) that p gives to the function name.
func cpuOf(t *testing.T, p *profile.Profile, name string) int64 {
	t.Helper()
	var total int64
	for _, s := range p.Sample {
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if l.Function.Name == name {
					total += s.Value[1]
				}
			}
		}
	}
	return total
}

func TestMergeWeighsEveryProfileAlike(t *testing.T) {
	// A short scenario (1 s of CPU) and one four times as long: merged, each
	// counts for 4 s, so the short one's hot path is as hot as the long one's.
	short, long := cpuProfile("short", 100), cpuProfile("long", 400)
	merged, weights, err := mergeEqually([]*profile.Profile{short, long})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cpuOf(t, merged, "short"), int64(4e9); got != want {
		t.Errorf("short: %d ns in the merged profile, want %d", got, want)
	}
	if got, want := cpuOf(t, merged, "long"), int64(4e9); got != want {
		t.Errorf("long: %d ns in the merged profile, want %d", got, want)
	}
	if weights[0].factor != 4 || weights[1].factor != 1 || weights[0].cpu != 1e9 {
		t.Errorf("weights %+v, want short 1 s × 4 and long × 1", weights)
	}
}

func TestMergeRefusesWhatIsNotACPUProfile(t *testing.T) {
	heap := cpuProfile("f", 10)
	heap.SampleType = []*profile.ValueType{{Type: "alloc_space", Unit: "bytes"}}
	heap.Sample[0].Value = heap.Sample[0].Value[:1]
	_, _, err := mergeEqually([]*profile.Profile{cpuProfile("g", 10), heap})
	if err == nil || !strings.Contains(err.Error(), "profile 2: not a CPU profile") {
		t.Errorf("merging a heap profile: %v, want profile 2 named as not a CPU profile", err)
	}
	empty := cpuProfile("h", 0)
	if _, _, err := mergeEqually([]*profile.Profile{empty}); err == nil || !strings.Contains(err.Error(), "no CPU samples") {
		t.Errorf("merging a profile without samples: %v, want an error", err)
	}
}

func TestMergeFilesWritesAProfileGoBuildReads(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for name, n := range map[string]int64{"a": 30, "b": 90} {
		path := filepath.Join(dir, name+".pprof")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := cpuProfile(name, n).Write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths = append(paths, path)
	}
	merged, _, err := mergeFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "default.pgo")
	if err := writeProfile(out, merged); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("the written profile does not parse: %v", err)
	}
	if a, b := cpuOf(t, back, "a"), cpuOf(t, back, "b"); a != b || a != 9e8 {
		t.Errorf("read back: a %d ns, b %d ns; want 900 ms each", a, b)
	}
	if _, _, err := mergeFiles([]string{filepath.Join(dir, "missing.pprof")}); err == nil {
		t.Error("a missing file merged without error")
	}
}
