package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// steps are points of cpu,host=a usage_user: 60 around 10, then 60 around
// 20, one a minute from t0, with gen.sh's pseudo-noise.
func steps(t0 time.Time) []float64 {
	var v []float64
	for i := range 120 {
		level := 10.0
		if i >= 60 {
			level = 20
		}
		h := math.Sin(float64(i+1)*12.9898) * 43758.5453
		h -= math.Floor(h)
		v = append(v, level+h-0.5)
	}
	return v
}

// runTool runs the binary from the project's root, as a user would, and
// returns its exit code, stdout and stderr.
func runTool(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = ".."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// `interoceptor replay` runs the shipped change_detect sample over a
// recorded hour: the change comes out once, stamped with the data's time,
// the same in two runs; the summary counts the records and what was
// written; a bad record is an error naming the file and line.
func TestReplayCommand(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2019, 3, 4, 12, 0, 0, 0, time.UTC)
	var lp strings.Builder
	for i, v := range steps(t0) {
		fmt.Fprintf(&lp, "cpu,host=a,cpu=cpu-total usage_user=%.3f %d\n", v, t0.Add(time.Duration(i)*time.Minute).UnixNano())
	}
	data := writeFile(t, filepath.Join(dir, "hour.lp"), lp.String())
	var outs []string
	for run := range 2 {
		out := filepath.Join(dir, fmt.Sprintf("out%d.jsonl", run))
		code, _, stderr := runTool(t, "replay", "-config", "plugins/filters/change_detect.toml", "-from", data, "-out", out)
		if code != 0 {
			t.Fatalf("replay: exit %d\n%s", code, stderr)
		}
		for _, want := range []string{"replayed 120 records of " + data + " (influx); wrote 1 messages to " + out + " (json)",
			"filters.lua[cpu_change]: received 120, in 120, out 1, errors 0, dropped 0"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	if outs[0] != outs[1] {
		t.Errorf("two replays differ:\n%s\n%s", outs[0], outs[1])
	}
	var m struct {
		Timestamp string
		Type      string
		Fields    []struct{ Name, Value any }
	}
	if err := json.Unmarshal([]byte(outs[0]), &m); err != nil {
		t.Fatalf("%v: %s", err, outs[0])
	}
	if want := t0.Add(60 * time.Minute).Format("2006-01-02T15:04:05.000000000Z"); m.Type != "anomaly" || m.Timestamp != want {
		t.Errorf("got %s at %s, want the anomaly at %s", m.Type, m.Timestamp, want)
	}

	bad := writeFile(t, filepath.Join(dir, "bad.csv"), "timestamp,usage_user\n2019-03-04 12:00:00,1\n2019-03-04 12:01:00,n/a\n")
	code, _, stderr := runTool(t, "replay", "-config", "plugins/filters/change_detect.toml", "-from", bad, "-measurement", "cpu")
	if code != 1 || !strings.Contains(stderr, bad+`:3: column "usage_user": "n/a" is not a number`) {
		t.Errorf("bad CSV: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr := runTool(t, "replay", "-config", "plugins/filters/change_detect.toml"); code != 2 || !strings.Contains(stderr, "-from are required") {
		t.Errorf("no -from: exit %d, stderr:\n%s", code, stderr)
	}
}

// `interoceptor eval -json` on a TCPD directory, with the shipped sample
// config: the change point where the level shifts, and the scores.
func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	var vals []string
	for _, v := range steps(time.Time{}) {
		vals = append(vals, fmt.Sprintf("%.3f", v))
	}
	if err := os.MkdirAll(filepath.Join(dir, "datasets"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "datasets", "step.json"), fmt.Sprintf(`{"name": "step", "n_obs": 120, "series": [{"label": "V1", "raw": [%s]}]}`,
		strings.Join(vals, ", ")))
	writeFile(t, filepath.Join(dir, "annotations.json"), `{"step": {"1": [60], "2": [58, 90]}}`)
	code, stdout, stderr := runTool(t, "eval", "-tcpd", dir, "-config", "plugins/filters/change_detect.toml", "-json")
	if code != 0 {
		t.Fatalf("eval: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "[1/1] tcpd step: 120 rows, 1 change points") {
		t.Errorf("no progress line:\n%s", stderr)
	}
	var res struct {
		Detector     string
		TCPD         map[string]float64
		ChangePoints map[string][]int `json:"change_points"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	// Predicted {0, 60}: P 1; recall (2/2 + 2/3)/2 = 5/6; F1 = 10/11.
	if res.Detector != "change_detect" || !slices.Equal(res.ChangePoints["step"], []int{60}) || math.Abs(res.TCPD["f1"]-10.0/11) > 1e-9 {
		t.Errorf("eval -json:\n%s", stdout)
	}
	if code, _, stderr := runTool(t, "eval", "-config", "plugins/filters/change_detect.toml"); code != 2 || !strings.Contains(stderr, "give -nab DIR, -tcpd DIR or both") {
		t.Errorf("eval without data: exit %d\n%s", code, stderr)
	}
}
