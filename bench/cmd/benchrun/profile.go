package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// profileTop is how many functions the report lists from a profile.
const profileTop = 25

// profilePath is where run i of sc writes its CPU profile, or "" without
// -cpuprofile.
func (o options) profilePath(sc scenario, i int) string {
	if o.cpuprofile == "" {
		return ""
	}
	return filepath.Join(o.cpuprofile, fmt.Sprintf("%s-run%d.pprof", sc.key, i))
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
// of its median run's profile.
func (rep *report) writeProfiles(b *strings.Builder) {
	if rep.opts.cpuprofile == "" {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## CPU profiles\n\n")
	w("Each run above wrote a CPU profile (`interoceptor run -cpuprofile FILE`, asked for by `benchrun -cpuprofile %s`);\n", rep.opts.cpuprofile)
	w("here, for each scenario, the %d functions of its median run that used the most CPU themselves (`go tool pprof -top`).\n", profileTop)
	w("Profiling costs a few percent of CPU, so these runs' figures are not quite those of an unprofiled binary.\n\n")
	for _, s := range rep.scenarios {
		r := s.median()
		if r.profile == "" {
			continue
		}
		w("### %s\n\n```\n%s\n```\n\n", s.sc.title, profileSummary(rep.opts.bin, r.profile))
	}
}
