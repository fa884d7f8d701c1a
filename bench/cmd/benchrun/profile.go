package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// profileTop is how many functions the report lists from a profile.
const profileTop = 25

// profilePath is where the profiled run of sc writes its CPU profile, or
// "" without -cpuprofile.
func (o options) profilePath(sc scenario) string {
	if o.cpuprofile == "" {
		return ""
	}
	return filepath.Join(o.cpuprofile, sc.key+".pprof")
}

// profileSummary is `go tool pprof -top` of a profile, the functions that
// use the most CPU themselves (flat), as pprof prints them.
func profileSummary(bin, profile string) string {
	out, err := exec.Command("go", "tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", profileTop), bin, profile).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof failed: %v\n%s", err, out)
	}
	// pprof's header names the binary's path and the time of the run: keep
	// the totals, drop the rest.
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") || strings.HasPrefix(l, "Type:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// writeProfiles writes, for each scenario run with -cpuprofile, the summary
// of its profiled run.
func (rep *report) writeProfiles(b *strings.Builder) {
	if rep.opts.cpuprofile == "" {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## CPU profiles\n\n")
	w("After its measured runs, each throughput scenario ran once more with a CPU profile (`interoceptor run -cpuprofile FILE`,\n")
	w("asked for by `benchrun -cpuprofile %s`), a run counted in no figure above: profiling costs CPU and memory.\n", rep.opts.cpuprofile)
	w("Here, for each scenario, the %d functions of that run that used the most CPU themselves (`go tool pprof -top`).\n\n", profileTop)
	for _, s := range rep.scenarios {
		if s.profile == "" {
			continue
		}
		w("### %s\n\n```\n%s\n```\n\n", s.sc.title, profileSummary(rep.opts.bin, s.profile))
	}
}
