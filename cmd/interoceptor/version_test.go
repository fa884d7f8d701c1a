package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// --version, -v and version print the same one line, never with an empty
// part.
func TestVersionFlags(t *testing.T) {
	line := regexp.MustCompile(`^interoceptor \S+ \(commit \S+, go\S+, (built|committed) \S+\)\n$`)
	var first string
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}, {"-version"}} {
		var stdout, stderr bytes.Buffer
		if code := dispatch(args, &stdout, &stderr); code != 0 || !line.MatchString(stdout.String()) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
		if first == "" {
			first = stdout.String()
		} else if stdout.String() != first {
			t.Errorf("%v prints %q, version prints %q", args, stdout.String(), first)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"version", "-json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var bi buildInfo
	if err := json.Unmarshal(stdout.Bytes(), &bi); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if bi.Version == "" || bi.Commit == "" || bi.Date == "" || bi.Go != runtime.Version() {
		t.Errorf("version -json = %+v", bi)
	}
}

// The Makefile's -X values win; without them the toolchain's stamp of a
// plain go build or go install is used; without either, placeholders.
func TestMakeBuildInfo(t *testing.T) {
	stamp := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "1cba553a1b2c3d4e5f60718293a4b5c6d7e8f901"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
		{Key: "-pgo", Value: "/src/interoceptor/cmd/interoceptor/default.pgo"},
	}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		info                  *debug.BuildInfo
		want                  string
	}{
		{"ldflags", "v0.3.0", "1cba553", "2026-12-07T09:00:00Z", stamp,
			"interoceptor v0.3.0 (commit 1cba553, GO, built 2026-12-07T09:00:00Z)"},
		{"go build", "", "", "", stamp,
			"interoceptor dev (commit 1cba553a1b2c-dirty, GO, committed 2026-12-01T10:00:00Z)"},
		{"go install @version", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}},
			"interoceptor v0.3.0 (commit unknown, GO, built unknown)"},
		{"nothing", "", "", "", nil,
			"interoceptor dev (commit unknown, GO, built unknown)"},
	} {
		got := makeBuildInfo(tc.version, tc.commit, tc.date, tc.info).String()
		if want := strings.Replace(tc.want, "GO", runtime.Version(), 1); got != want {
			t.Errorf("%s: %q, want %q", tc.name, got, want)
		}
	}
	if got := makeBuildInfo("", "", "", stamp).PGO; got != "default.pgo" {
		t.Errorf("built with -pgo=/src/.../default.pgo: pgo %q, want the file's name", got)
	}
	if got := makeBuildInfo("", "", "", &debug.BuildInfo{}).PGO; got != "" {
		t.Errorf("built without a profile: pgo %q", got)
	}
}
