package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The reload scenario: generator → filters.lua → file (json). The script is
// rewritten reloadCount times while messages flow, and each version's first
// message tells when it took over.

const (
	reloadCount    = 10
	reloadInterval = 300 * time.Millisecond // between two rewrites, at least
	reloadRate     = 1000                   // generator messages per second
	reloadWait     = 10 * time.Second       // for one version's first message, before the run fails
	reloadTarget   = time.Second
)

// reloadScript injects one "version" message on the first message each
// version handles. VERSION is local, so each version has its own;
// last_version is global, so preserve_data carries it into the next version
// (as filters/lua/lua_test.go's countingScript does).
const reloadScript = `-- written by bench/cmd/benchrun for the reload scenario
local VERSION = %d
function process_message()
  if last_version ~= VERSION then
    last_version = VERSION
    inject_message({Type = "version", Fields = {version = VERSION}})
  end
  return 0
end
`

// reloadVersion is what one rewrite of the script measured.
type reloadVersion struct {
	version  int
	renamed  time.Time // just before the new file was renamed over the script
	reloaded time.Time // the first "script reloaded" record after that; zero if none
	seen     time.Time // the timestamp of the version's first message: when it was injected
}

func (v reloadVersion) latency() time.Duration { return v.seen.Sub(v.renamed) }

// reloadResult is the run of the reload scenario.
type reloadResult struct {
	versions  []reloadVersion // 1 … reloadCount; version 0 is the one the pipeline starts with
	generated int64           // messages the generator sent, from its "stopped" record
	user, sys time.Duration
	maxRSS    int64
}

// latencies returns the rename → first message latencies, sorted.
func (r reloadResult) latencies() []time.Duration {
	var out []time.Duration
	for _, v := range r.versions {
		out = append(out, v.latency())
	}
	slices.Sort(out)
	return out
}

// runReload runs the reload scenario once, in a fresh temporary directory.
func runReload(bin string) (res reloadResult, err error) {
	dir, keep, err := runDir()
	if err != nil {
		return res, err
	}
	defer keep(&err)
	script := filepath.Join(dir, "version.lua")
	outPath := filepath.Join(dir, "out.jsonl")
	if err := writeVersion(script, 0); err != nil {
		return res, err
	}
	cfg := fmt.Sprintf(`# written by bench/cmd/benchrun for the reload scenario
[agent]
name = "bench"
data_dir = %q
admin_addr = "off"

[nats]
url = ""  # the embedded server

[[inputs.generator]]
publish = "bench.generated"
rate = %d

[[filters.lua]]
subscribe = ["bench.generated"]
publish = "bench.versions"
script = %q
module_path = []
preserve_data = true

[[outputs.file]]
subscribe = ["bench.versions"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), reloadRate, script, outPath)
	cfgPath := filepath.Join(dir, "pipeline.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return res, err
	}

	proc, _, err := startPipeline(bin, dir, cfgPath, false)
	if err != nil {
		return res, err
	}
	defer proc.end(&err)
	cmd, log, exited, resultPath := proc.cmd, proc.log, proc.exited, proc.result
	if err := waitRunning(log, exited, 30*time.Second); err != nil {
		return res, err
	}

	out := &versionTail{path: outPath}
	if _, err := out.wait(0, 30*time.Second, exited); err != nil {
		return res, err
	}
	for v := 1; v <= reloadCount; v++ {
		next := time.Now().Add(reloadInterval)
		tmp := filepath.Join(dir, ".version.lua.tmp")
		if err := writeVersion(tmp, v); err != nil {
			return res, err
		}
		// The time is taken before the rename: a preemption between the two
		// (the load generator shares the cores) can only make a latency longer.
		rv := reloadVersion{version: v, renamed: time.Now()}
		if err := os.Rename(tmp, script); err != nil { // as editors do
			return res, err
		}
		if rv.seen, err = out.wait(v, reloadWait, exited); err != nil {
			return res, err
		}
		res.versions = append(res.versions, rv)
		progress("%-10s version %2d: first message %s after the rename", reloadKey, v, rv.latency().Round(time.Millisecond))
		time.Sleep(time.Until(next))
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return res, err
	}
	select {
	case <-exited:
	case <-time.After(time.Minute):
		return res, errors.New("no exit within 1m of SIGTERM")
	}
	s, err := readSpawned(resultPath)
	if err != nil {
		return res, err
	}
	if s.ExitCode != 0 {
		return res, fmt.Errorf("exit code %d, want 0", s.ExitCode)
	}
	res.user, res.sys, res.maxRSS = time.Duration(s.UserNs), time.Duration(s.SysNs), s.MaxRSSKiB*1024
	return res, verifyReload(&res, log.String(), out)
}

func writeVersion(path string, v int) error {
	return os.WriteFile(path, fmt.Appendf(nil, reloadScript, v), 0o644)
}

// verifyReload checks that every version announced itself exactly once, in
// order, that no message was lost or failed, and pairs each rewrite with its
// "script reloaded" record.
func verifyReload(res *reloadResult, log string, out *versionTail) error {
	if err := out.read(); err != nil {
		return err
	}
	want := make([]int, reloadCount+1)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(out.order, want) {
		return fmt.Errorf("the versions' messages came in this order: %v, want %v", out.order, want)
	}
	gen, filter, outRec, err := cleanChain(log, luaPlugin, outputPlugin)
	if err != nil {
		return err
	}
	if filter.In != gen.Out || filter.Out != reloadCount+1 || outRec.Out != reloadCount+1 {
		return fmt.Errorf("counters: generator out=%d, filter in=%d out=%d, output out=%d; want filter in = generator out, and %d messages",
			gen.Out, filter.In, filter.Out, outRec.Out, reloadCount+1)
	}
	res.generated = gen.Out

	var reloads []time.Time
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Time        time.Time
			Msg, Plugin string
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "script reloaded" && rec.Plugin == luaPlugin {
			reloads = append(reloads, rec.Time)
		}
	}
	if len(reloads) != reloadCount {
		return fmt.Errorf("%d \"script reloaded\" records for %s, want %d (one per rewrite)", len(reloads), luaPlugin, reloadCount)
	}
	for i := range res.versions {
		res.versions[i].reloaded = reloads[i]
	}
	return nil
}

// versionTail follows the json output file and notes each "version" message.
type versionTail struct {
	path    string
	off     int64
	partial []byte
	seen    map[int]time.Time // version → the timestamp of its first message
	order   []int             // the versions, in the order of their messages
}

// wait returns the timestamp of version v's first message, waiting up to d.
func (t *versionTail) wait(v int, d time.Duration, exited <-chan struct{}) (time.Time, error) {
	deadline := time.Now().Add(d)
	for {
		if err := t.read(); err != nil {
			return time.Time{}, err
		}
		if ts, ok := t.seen[v]; ok {
			return ts, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no message from version %d of the script within %s (versions seen: %v)", v, d, t.order)
		}
		if err := sleepOrExit(exited); err != nil {
			return time.Time{}, err
		}
	}
}

// read takes in what was appended to the file since the last read.
func (t *versionTail) read() error {
	f, err := os.Open(t.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	t.off += int64(len(b))
	t.partial = append(t.partial, b...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			return nil
		}
		line := t.partial[:i]
		t.partial = t.partial[i+1:]
		if err := t.take(line); err != nil {
			return err
		}
	}
}

func (t *versionTail) take(line []byte) error {
	var m struct {
		Timestamp time.Time
		Type      string
		Fields    []struct {
			Name  string
			Value any
		}
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return fmt.Errorf("output line %q: %w", line, err)
	}
	if m.Type != "version" {
		return fmt.Errorf("output line %q: not a version message", line)
	}
	for _, f := range m.Fields {
		if n, ok := f.Value.(float64); ok && f.Name == "version" {
			v := int(n)
			if t.seen == nil {
				t.seen = map[int]time.Time{}
			}
			if _, dup := t.seen[v]; !dup {
				t.seen[v] = m.Timestamp
			}
			t.order = append(t.order, v)
			return nil
		}
	}
	return fmt.Errorf("output line %q: no version field", line)
}
