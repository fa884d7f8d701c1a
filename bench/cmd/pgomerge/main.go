// Command pgomerge merges CPU profiles into the one the compiler optimizes
// the binary with (profile-guided optimization: cmd/interoceptor/default.pgo,
// which `go build` reads by itself). It is what `make pgo` runs on the
// profiles of benchrun's throughput scenarios.
//
// Every input counts alike: its samples are scaled up so that its CPU time
// equals the largest input's, so a scenario that ran ten times longer (a
// Lua filter building tables) does not crowd out the others' hot paths.
//
//	go run ./bench/cmd/pgomerge -o cmd/interoceptor/default.pgo bench/work/pgo/*.pprof
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/pprof/profile"
)

func main() {
	out := flag.String("o", "", "the merged profile `file` to write")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: pgomerge -o merged.pgo profile.pprof...")
		os.Exit(2)
	}
	merged, inputs, err := mergeFiles(flag.Args())
	if err == nil {
		err = writeProfile(*out, merged)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgomerge:", err)
		os.Exit(1)
	}
	for _, in := range inputs {
		fmt.Printf("%-40s %8.2fs CPU, weight %.2f\n", in.path, float64(in.cpu)/1e9, in.weight)
	}
	fmt.Printf("wrote %s\n", *out)
}

// input is one profile read, with its CPU time (ns) and the factor its
// samples were scaled by.
type input struct {
	path   string
	cpu    int64
	weight float64
}

// mergeFiles reads the profiles at paths and merges them with equal weights.
func mergeFiles(paths []string) (*profile.Profile, []input, error) {
	profs := make([]*profile.Profile, len(paths))
	for i, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		profs[i], err = profile.Parse(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	merged, weights, err := mergeEqually(profs)
	if err != nil {
		return nil, nil, err
	}
	inputs := make([]input, len(paths))
	for i, path := range paths {
		inputs[i] = input{path: path, cpu: weights[i].cpu, weight: weights[i].factor}
	}
	return merged, inputs, nil
}

type weight struct {
	cpu    int64   // the profile's CPU time before scaling, ns
	factor float64 // what its sample values were multiplied by
}

// mergeEqually scales each CPU profile up to the CPU time of the largest
// and merges them. Scaling up, never down, keeps every sample: a value
// scaled below one would round to nothing. profs are changed.
func mergeEqually(profs []*profile.Profile) (*profile.Profile, []weight, error) {
	if len(profs) == 0 {
		return nil, nil, errors.New("no profiles to merge")
	}
	weights := make([]weight, len(profs))
	var most int64
	for i, p := range profs {
		cpu, err := cpuTime(p)
		if err != nil {
			return nil, nil, fmt.Errorf("profile %d: %w", i+1, err)
		}
		weights[i].cpu = cpu
		most = max(most, cpu)
	}
	for i, p := range profs {
		weights[i].factor = float64(most) / float64(weights[i].cpu)
		p.Scale(weights[i].factor)
	}
	merged, err := profile.Merge(profs)
	if err != nil {
		return nil, nil, err
	}
	return merged, weights, nil
}

// cpuTime is the sum of a CPU profile's "cpu" sample values, in ns.
func cpuTime(p *profile.Profile) (int64, error) {
	at := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			at = i
		}
	}
	if at < 0 {
		return 0, errors.New("not a CPU profile (no cpu/nanoseconds sample type)")
	}
	var total int64
	for _, s := range p.Sample {
		total += s.Value[at]
	}
	if total <= 0 {
		return 0, errors.New("no CPU samples")
	}
	return total, nil
}

// writeProfile writes p gzipped to path, through a temporary file so that a
// failed write leaves the old profile in place.
func writeProfile(path string, p *profile.Profile) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pgomerge-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := p.Write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
