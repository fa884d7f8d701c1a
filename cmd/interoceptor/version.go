package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
)

// Set at build time by the Makefile:
// -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
// A plain `go build` or `go install` leaves them empty, and buildInfo falls
// back on what the Go toolchain stamped into the binary.
var (
	version = ""
	commit  = ""
	date    = ""
)

// buildInfo is what `interoceptor version` prints.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`         // short hash, "-dirty" when built from a modified tree; "unknown"
	Go      string `json:"go"`             // the Go version that built the binary
	Date    string `json:"date"`           // RFC 3339; "unknown"
	DateIs  string `json:"date_is"`        // "built", or "committed" when only the commit's time is known
	Dirty   bool   `json:"dirty,omitzero"` // built from a tree with uncommitted changes (from the toolchain's stamp)
	// PGO names the CPU profile the compiler optimized the binary with
	// (cmd/interoceptor/default.pgo, see `make pgo`); empty without one.
	PGO string `json:"pgo,omitzero"`
}

// readBuildInfo fills buildInfo from the ldflags values, else from
// debug.ReadBuildInfo (vcs.revision, vcs.time, vcs.modified, the module
// version of `go install ...@vX`), else "dev" and "unknown": never empty.
func readBuildInfo() buildInfo {
	info, _ := debug.ReadBuildInfo()
	return makeBuildInfo(version, commit, date, info)
}

// makeBuildInfo is readBuildInfo for the given ldflags values and
// toolchain stamp (nil when there is none).
func makeBuildInfo(version, commit, date string, info *debug.BuildInfo) buildInfo {
	bi := buildInfo{Version: version, Commit: commit, Date: date, DateIs: "built", Go: runtime.Version()}
	if info != nil {
		var rev, vcsTime string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				bi.Dirty = s.Value == "true"
			case "-pgo":
				bi.PGO = filepath.Base(s.Value) // the path, absolute without -trimpath
			}
		}
		if bi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
		if bi.Commit == "" && rev != "" {
			bi.Commit = rev[:min(len(rev), 12)]
			if bi.Dirty {
				bi.Commit += "-dirty"
			}
		}
		if bi.Date == "" && vcsTime != "" {
			bi.Date, bi.DateIs = vcsTime, "committed"
		}
	}
	if bi.Version == "" {
		bi.Version = "dev"
	}
	if bi.Commit == "" {
		bi.Commit = "unknown"
	}
	if bi.Date == "" {
		bi.Date = "unknown"
	}
	return bi
}

// String is the one line for people:
// "interoceptor v0.3.0 (commit 1cba553a1b2c, go1.26.8, built 2026-12-07T10:00:00Z)".
func (bi buildInfo) String() string {
	return fmt.Sprintf("interoceptor %s (commit %s, %s, %s %s)", bi.Version, bi.Commit, bi.Go, bi.DateIs, bi.Date)
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "", stderr)
	asJSON := fs.Bool("json", false, "print a JSON object (version, commit, go, date, date_is, and pgo when built with a profile) for scripts")
	if code, done := parse(fs, args); done {
		return code
	}
	bi := readBuildInfo()
	if *asJSON {
		b, _ := json.Marshal(bi)
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	fmt.Fprintln(stdout, bi)
	return 0
}
