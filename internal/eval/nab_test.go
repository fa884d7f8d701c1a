package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// toyNAB is one file of 20 rows, five minutes apart, with one window over
// rows 10 to 13; its probation is rows 0 to 2 (15% of 20).
func toyNAB() *NABSeries {
	s := &NABSeries{Name: "cat/a.csv", Windows: [][2]int{{10, 13}}}
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 20 {
		t := t0.Add(time.Duration(i) * 5 * time.Minute)
		s.Timestamps = append(s.Timestamps, t.Format(NABTimeLayout))
		s.Times = append(s.Times, t.UnixNano())
		s.Values = append(s.Values, "1")
		s.Numbers = append(s.Numbers, 1)
	}
	return s
}

func spikes(n int, at ...int) []float64 {
	s := make([]float64, n)
	for _, i := range at {
		s[i] = 1
	}
	return s
}

// Hand-made cases. The weights, with NAB's scaled sigmoid
// σ(x) = 2/(1+e^(5x)) − 1 and maxTP = σ(−1) = 0.9866143:
//   - a detection at row i of the window [10, 13] is worth
//     σ(−(13−i+1)/4)/maxTP: row 10 σ(−1)/maxTP = 1; row 13 σ(−0.25)/maxTP =
//     0.5545998/0.9866143 = 0.562124;
//   - a false positive before the window costs FP (0.11 standard, 0.22 low
//     FP); one at row i after it FP × σ((i−13)/3): rows 14..19 give σ =
//     −0.68226, −0.93110, −0.98661, −0.99746, −0.99952, −0.99991 (sum
//     −5.59686, × 0.11 = −0.615655);
//   - a window with no detection costs FN (1, or 2 for low FN);
//   - normalised = 100 × (raw + FN) / (TP + FN) for this one window.
func TestScoreNABHandMade(t *testing.T) {
	s := toyNAB()
	for _, tc := range []struct {
		name   string
		scores []float64
		// per profile: standard, reward_low_FP_rate, reward_low_FN_rate
		thr, raw, norm [3]float64
	}{
		// At the window's first row: worth 1, no false positive, at 1.0.
		{"first row of the window", spikes(20, 10), [3]float64{1, 1, 1}, [3]float64{1, 1, 1}, [3]float64{100, 100, 100}},
		// Row 13 (0.562124) and a false positive at row 5 (−FP): raw
		// 0.452124, 0.342124 (FP 0.22), 0.452124; normalised 100 × 1.452124/2
		// = 72.606, 100 × 1.342124/2 = 67.106, 100 × 2.452124/3 = 81.737.
		{"last row and a false positive", spikes(20, 13, 5), [3]float64{1, 1, 1},
			[3]float64{0.452124, 0.342124, 0.452124}, [3]float64{72.606, 67.106, 81.737}},
		// All zero: the threshold 0 detects every row: the window's best
		// (row 10, 1) − 7 rows before it × FP − the rows after it: standard
		// 1 − 0.77 − 0.615655 = −0.385655 (30.717); low FP 1 − 1.54 −
		// 1.231310 = −1.771310 is worse than detecting nothing (−1, at 1.1:
		// 0); low FN −0.385655 against null −2 (53.812).
		{"all zero", spikes(20), [3]float64{0, 1.1, 0},
			[3]float64{-0.385655, -1, -0.385655}, [3]float64{30.717, 0, 53.812}},
		// A detection in the probation is not scored: as all zero.
		{"in the probation", spikes(20, 1), [3]float64{0, 1.1, 0},
			[3]float64{-0.385655, -1, -0.385655}, [3]float64{30.717, 0, 53.812}},
	} {
		got, err := ScoreNAB([]*NABSeries{s}, [][]float64{tc.scores})
		if err != nil {
			t.Fatal(err)
		}
		for p := range NABProfiles {
			g := got[p]
			if g.Threshold != tc.thr[p] || math.Abs(g.Raw-tc.raw[p]) > 1e-5 || math.Abs(g.Normalized-tc.norm[p]) > 1e-3 {
				t.Errorf("%s, %s: threshold %v, raw %.6f, normalised %.3f; want %v, %.6f, %.3f", tc.name, g.Profile,
					g.Threshold, g.Raw, g.Normalized, tc.thr[p], tc.raw[p], tc.norm[p])
			}
		}
	}
	// At a fixed threshold: the false positive at row 5 and row 13, as above;
	// the all-zero scores detect nothing at 1: −1 (0).
	at, err := ScoreNABAt([]*NABSeries{s, s}, [][]float64{spikes(20, 13, 5), spikes(20)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Two windows: raw 0.452124 − 1, normalised 100 × (raw + 2)/4.
	if want := 100 * (0.452124 - 1 + 2) / 4; math.Abs(at[0].Normalized-want) > 1e-3 || at[0].Threshold != 1 {
		t.Errorf("at 1: %.3f at %v, want %.3f", at[0].Normalized, at[0].Threshold, want)
	}
}

// projectRoot is the directory with go.mod.
func projectRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// sharedData returns ../shared/data/NAME relative to the project root, or
// skips the test when it is absent.
func sharedData(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(projectRoot(t), "..", "shared", "data", name)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s is absent (the evaluation data lives in ../shared/data beside the project): skipped", dir)
	}
	return dir
}

// zscores is a simple online detector, for a realistic set of scores: the
// distance of each value from the mean of the 50 before it, in standard
// deviations, squashed into [0, 1].
func zscores(v []float64) []float64 {
	out := make([]float64, len(v))
	for i := range v {
		lo := max(0, i-50)
		if i-lo < 5 {
			continue
		}
		var sum, sq float64
		for _, x := range v[lo:i] {
			sum += x
		}
		mean := sum / float64(i-lo)
		for _, x := range v[lo:i] {
			sq += (x - mean) * (x - mean)
		}
		sd := math.Sqrt(sq/float64(i-lo)) + 1e-9
		z := math.Abs(v[i]-mean) / sd
		out[i] = 1 - math.Exp(-z/4)
	}
	return out
}

// The Go scorer agrees with ../shared/tools/nabscore.py, NAB's sweeper, to
// 0.1 on NAB's dev split, for several sets of scores.
func TestScoreNABAgreesWithNabscorePy(t *testing.T) {
	dir := sharedData(t, "nab-dev")
	script := filepath.Join(projectRoot(t), "..", "shared", "tools", "nabscore.py")
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 to run nabscore.py: skipped")
	}
	if _, err := os.Stat(script); err != nil {
		t.Skipf("%s is absent: skipped", script)
	}
	series, err := ReadNAB(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 31 {
		t.Fatalf("%d series in %s, want 31", len(series), dir)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	sets := map[string]func(s *NABSeries) []float64{
		"random": func(s *NABSeries) []float64 {
			out := make([]float64, len(s.Times))
			for i := range out {
				out[i] = rng.Float64()
			}
			return out
		},
		"zeros": func(s *NABSeries) []float64 { return make([]float64, len(s.Times)) },
		"starts": func(s *NABSeries) []float64 { // 1 at each window's first row
			out := make([]float64, len(s.Times))
			for _, w := range s.Windows {
				out[w[0]] = 1
			}
			return out
		},
		"zscore": func(s *NABSeries) []float64 { return zscores(s.Numbers) },
	}
	results := t.TempDir()
	for det, gen := range sets {
		t.Run(det, func(t *testing.T) {
			scores := make([][]float64, len(series))
			for i, s := range series {
				scores[i] = gen(s)
				if err := WriteNABResult(results, det, s, scores[i]); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ScoreNAB(series, scores)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(python, script, dir, results, det).Output()
			if err != nil {
				t.Fatalf("nabscore.py: %v", err)
			}
			var want map[string]struct{ Threshold, Raw, Normalized float64 }
			if err := json.Unmarshal(out, &want); err != nil {
				t.Fatalf("nabscore.py said %s: %v", out, err)
			}
			var line []string
			for _, g := range got {
				w := want[g.Profile]
				line = append(line, fmt.Sprintf("%s %.2f (py %.2f)", g.Profile, g.Normalized, w.Normalized))
				if math.Abs(g.Normalized-w.Normalized) > 0.1 {
					t.Errorf("%s: normalised %.3f, nabscore.py %.3f", g.Profile, g.Normalized, w.Normalized)
				}
			}
			t.Log(strings.Join(line, ", "))
		})
	}
}
