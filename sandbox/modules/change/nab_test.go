package change

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sharedData is ../shared/data beside the repository, seen from this
// package's directory. See its README for what the data is.
const sharedData = "../../../../shared/data"

const nabTime = "2006-01-02 15:04:05"

type nabRow struct {
	t time.Time
	v float64
}

type nabWindow struct{ start, end time.Time }

func readNAB(t *testing.T, path string) []nabRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]nabRow, 0, len(recs))
	for _, rec := range recs[1:] { // header: timestamp,value
		ts, err := time.Parse(nabTime, rec[0])
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, nabRow{ts, v})
	}
	return rows
}

func readNABWindows(t *testing.T, path string) map[string][]nabWindow {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string][][2]string
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]nabWindow, len(raw))
	for file, ws := range raw {
		out[file] = []nabWindow{}
		for _, w := range ws {
			start, err1 := time.Parse(nabTime, strings.TrimSuffix(w[0], ".000000"))
			end, err2 := time.Parse(nabTime, strings.TrimSuffix(w[1], ".000000"))
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: bad window %v", file, w)
			}
			out[file] = append(out[file], nabWindow{start, end})
		}
	}
	return out
}

// Transforms applied before the detector, online (each uses only the past).
var nabTransforms = []struct {
	name string
	fn   func(rows []nabRow) []nabRow
}{
	{"raw", func(rows []nabRow) []nabRow { return rows }},
	// seasonal: the residual against the median of the same time of day on
	// the three days before. A mean-shift test sees a daily cycle as changes
	// twice a day; a filter would keep this baseline in a circular_buffer.
	{"seasonal", func(rows []nabRow) []nabRow {
		at := make(map[time.Time]float64, len(rows))
		var out []nabRow
		for _, r := range rows {
			at[r.t] = r.v
			var prev []float64
			for day := 1; day <= 3; day++ {
				if v, ok := at[r.t.AddDate(0, 0, -day)]; ok {
					prev = append(prev, v)
				}
			}
			if len(prev) == 3 {
				slices.Sort(prev)
				out = append(out, nabRow{r.t, r.v - prev[1]})
			}
		}
		return out
	}},
}

type nabDetection struct {
	at   time.Time // the row at which the detector reported the change
	cp   *ChangePoint
	near bool // at falls in a window widened by half its length
}

// TestNAB runs the detector, with its defaults, over labelled NAB series
// and checks that, on the residual against a seasonal baseline, a change is
// reported inside each labelled window and the largest change reported is
// near one. Nothing is asserted on the raw values: on daily-cycle data every
// morning and evening is a genuine change in mean and is reported as such.
// The counts behind the README's figures are logged (go test -v -run NAB).
func TestNAB(t *testing.T) {
	root := filepath.Join(sharedData, "nab-dev")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("skipping: NAB data not found at %s (../shared/data beside the repository): %v", root, err)
	}
	windows := readNABWindows(t, filepath.Join(root, "labels", "combined_windows.json"))
	files := []struct {
		file    string
		checked bool // false: results are logged, not asserted
	}{
		{"artificialWithAnomaly/art_daily_jumpsup.csv", true},
		{"artificialWithAnomaly/art_daily_flatmiddle.csv", true},
		{"artificialNoAnomaly/art_daily_small_noise.csv", true},
		// A real series without a daily cycle whose anomalies are not mean
		// shifts; the detector does not find them (see the README).
		{"realKnownCause/rogue_agent_key_updown.csv", false},
	}
	for _, tf := range files {
		file := tf.file
		rows := readNAB(t, filepath.Join(root, "data", file))
		wins, labelled := windows[file]
		if !labelled {
			t.Fatalf("%s: no labels", file)
		}
		for _, tr := range nabTransforms {
			t.Run(file+"/"+tr.name, func(t *testing.T) {
				series := tr.fn(rows)
				d, _ := New(Config{})
				var dets []nabDetection
				for _, r := range series {
					cp, err := d.Add(r.t.UnixNano(), r.v)
					if err != nil {
						t.Fatal(err)
					}
					if cp != nil {
						dets = append(dets, nabDetection{at: r.t, cp: cp})
					}
				}
				var near, largestNear int
				var maxNear, maxElsewhere float64
				largest := -1
				for i := range dets {
					for _, w := range wins {
						margin := w.end.Sub(w.start) / 2
						if !dets[i].at.Before(w.start.Add(-margin)) && !dets[i].at.After(w.end.Add(margin)) {
							dets[i].near = true
						}
					}
					if diff := math.Abs(dets[i].cp.Difference); dets[i].near {
						near++
						maxNear = max(maxNear, diff)
					} else {
						maxElsewhere = max(maxElsewhere, diff)
					}
					if largest < 0 || math.Abs(dets[i].cp.Difference) > math.Abs(dets[largest].cp.Difference) {
						largest = i
					}
				}
				summary := fmt.Sprintf("%d values, %d changes, %d near a window (window ± half its length, largest |difference| %.1f), %d elsewhere (largest %.1f)",
					len(series), len(dets), near, maxNear, len(dets)-near, maxElsewhere)
				if largest >= 0 {
					l := dets[largest]
					summary += fmt.Sprintf("; largest %+.1f reported %s (change at %s), near a window: %v",
						l.cp.Difference, l.at.Format(nabTime), time.Unix(0, l.cp.Time).UTC().Format(nabTime), l.near)
					if l.near {
						largestNear = 1
					}
				}
				t.Log(summary)
				for _, w := range wins {
					first, big := -1, -1
					for i, det := range dets {
						if det.at.Before(w.start) || det.at.After(w.end) {
							continue
						}
						if first < 0 {
							first = i
						}
						if big < 0 || math.Abs(det.cp.Difference) > math.Abs(dets[big].cp.Difference) {
							big = i
						}
					}
					span := fmt.Sprintf("window %s – %s", w.start.Format(nabTime), w.end.Format(nabTime))
					if first < 0 {
						t.Logf("%s: no change reported inside", span)
						if tf.checked && tr.name == "seasonal" {
							t.Errorf("%s: no change reported inside the labelled %s", file, span)
						}
						continue
					}
					into := func(at time.Time) float64 { return 100 * float64(at.Sub(w.start)) / float64(w.end.Sub(w.start)) }
					t.Logf("%s: first change reported %.0f%% into it (%+.1f), largest %.0f%% into it (%+.1f)",
						span, into(dets[first].at), dets[first].cp.Difference, into(dets[big].at), dets[big].cp.Difference)
				}
				if tf.checked && tr.name == "seasonal" && len(wins) > 0 && largestNear == 0 {
					t.Errorf("%s: the largest change is not near a labelled window", file)
				}
			})
		}
	}
}
