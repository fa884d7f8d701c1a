package eval

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// NABSeries is one file of the Numenta Anomaly Benchmark: its rows as
// written, their times, and its labelled anomaly windows as row indices.
type NABSeries struct {
	Name       string   // "realKnownCause/nyc_taxi.csv", as the labels name it
	Timestamps []string // as in the file: "2014-07-01 00:00:00"
	Values     []string // as in the file
	Times      []int64  // Timestamps, in ns (UTC)
	Numbers    []float64
	Windows    [][2]int // first and last row of each window, in the labels' order
}

// Category is the folder of the series: "realKnownCause".
func (s *NABSeries) Category() string { return path.Dir(s.Name) }

// NABTimeLayout is how NAB writes its timestamps, in UTC.
const NABTimeLayout = "2006-01-02 15:04:05"

// ReadNAB reads a NAB directory (data/<category>/<file>.csv and
// labels/combined_windows.json): every file the labels name, in name order,
// as NAB's scorer takes them.
func ReadNAB(dir string) ([]*NABSeries, error) {
	b, err := os.ReadFile(filepath.Join(dir, "labels", "combined_windows.json"))
	if err != nil {
		return nil, fmt.Errorf("nab: %w", err)
	}
	var labels map[string][][2]string
	if err := json.Unmarshal(b, &labels); err != nil {
		return nil, fmt.Errorf("nab: labels/combined_windows.json: %w", err)
	}
	names := make([]string, 0, len(labels))
	for name := range labels {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*NABSeries
	for _, name := range names {
		s, err := readNABFile(filepath.Join(dir, "data", filepath.FromSlash(name)), name)
		if err != nil {
			return nil, err
		}
		rows := make(map[string]int, len(s.Timestamps))
		for i, ts := range s.Timestamps {
			rows[ts] = i // the last row of a time, as nabscore.py takes it
		}
		for _, w := range labels[name] {
			var win [2]int
			for k, ts := range w {
				ts, _, _ = strings.Cut(ts, ".") // "2014-04-10 07:15:00.000000"
				i, ok := rows[ts]
				if !ok {
					return nil, fmt.Errorf("nab: %s: window %v: no row at %s", name, w, ts)
				}
				win[k] = i
			}
			s.Windows = append(s.Windows, win)
		}
		out = append(out, s)
	}
	return out, nil
}

func readNABFile(file, name string) (*NABSeries, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("nab: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("nab: %s: %w", file, err)
	}
	if len(header) != 2 || header[0] != "timestamp" || header[1] != "value" {
		return nil, fmt.Errorf("nab: %s:1: header %q, want timestamp,value", file, strings.Join(header, ","))
	}
	s := &NABSeries{Name: name}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("nab: %s: %w", file, err)
		}
		t, err := time.ParseInLocation(NABTimeLayout, row[0], time.UTC)
		if err != nil {
			return nil, fmt.Errorf("nab: %s:%d: timestamp %q: want %s", file, line, row[0], NABTimeLayout)
		}
		v, err := strconv.ParseFloat(row[1], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("nab: %s:%d: value %q is not a number", file, line, row[1])
		}
		// NAB has rows of the same time (a clock set back): they are kept, in order.
		if n := len(s.Times); n > 0 && t.UnixNano() < s.Times[n-1] {
			return nil, fmt.Errorf("nab: %s:%d: %s is before the row before", file, line, row[0])
		}
		s.Timestamps = append(s.Timestamps, row[0])
		s.Values = append(s.Values, row[1])
		s.Times = append(s.Times, t.UnixNano())
		s.Numbers = append(s.Numbers, v)
	}
	if len(s.Times) == 0 {
		return nil, fmt.Errorf("nab: %s: no rows", file)
	}
	return s, nil
}

// WriteNABResult writes a detector's scores of one series as NAB does:
// dir/<detector>/<category>/<detector>_<file>.csv with the columns
// timestamp,value,anomaly_score,label (label 1 for rows inside a window).
func WriteNABResult(dir, detector string, s *NABSeries, scores []float64) error {
	if len(scores) != len(s.Timestamps) {
		return fmt.Errorf("nab: %s: %d scores for %d rows", s.Name, len(scores), len(s.Timestamps))
	}
	file := filepath.Join(dir, detector, filepath.FromSlash(s.Category()), detector+"_"+path.Base(s.Name))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	inWindow := make([]bool, len(scores))
	for _, w := range s.Windows {
		for i := w[0]; i <= w[1]; i++ {
			inWindow[i] = true
		}
	}
	var b strings.Builder
	b.WriteString("timestamp,value,anomaly_score,label\n")
	for i, sc := range scores {
		label := "0"
		if inWindow[i] {
			label = "1"
		}
		b.WriteString(s.Timestamps[i] + "," + s.Values[i] + "," + strconv.FormatFloat(sc, 'g', -1, 64) + "," + label + "\n")
	}
	return os.WriteFile(file, []byte(b.String()), 0o644)
}

// NABProfile is a NAB scoring profile: the weights of a true positive, a
// false negative and a false positive.
type NABProfile struct {
	Name       string
	TP, FN, FP float64
}

// NABProfiles are NAB v1.1's three profiles, in NAB's order.
var NABProfiles = []NABProfile{
	{"standard", 1, 1, 0.11},
	{"reward_low_FP_rate", 1, 1, 0.22},
	{"reward_low_FN_rate", 1, 2, 0.11},
}

// NABScore is a detector's score under one profile, at the threshold that
// maximises it over every row of every file (NAB's sweep).
type NABScore struct {
	Profile    string
	Threshold  float64 // rows with a score at or above it are detections; 1.1: none
	Raw        float64
	Normalized float64 // 100 × (raw − null) / (perfect − null): null detector 0, perfect 100
	Windows    int
	Categories []NABCategoryScore // by name
}

// NABCategoryScore is the score of one category's files at the profile's
// threshold (chosen over all files).
type NABCategoryScore struct {
	Category   string
	Files      int
	Windows    int
	Raw        float64
	Normalized float64 // NaN for a category without windows: its raw score is all false positives
}

// ScoreNAB scores the detector's scores of each series (scores[i] for
// series[i], one per row) with each of NABProfiles, as NAB v1.1's sweeper
// does (a port of nabscore.py): the first 15% of each file, at most 750
// rows, is a probation that is not scored; a row in a window is worth the
// scaled sigmoid of its place in it (earlier is worth more), and only the
// window's best detection counts, a window without one costing FN; a
// detection outside windows costs FP, weighted by the scaled sigmoid of its
// distance from the end of the window before (a full FP before any window);
// the threshold is swept over all rows of all files jointly.
func ScoreNAB(series []*NABSeries, scores [][]float64) ([]NABScore, error) {
	return scoreNAB(series, scores, math.NaN())
}

// ScoreNABAt is ScoreNAB with the threshold fixed at thr instead of swept.
func ScoreNABAt(series []*NABSeries, scores [][]float64, thr float64) ([]NABScore, error) {
	return scoreNAB(series, scores, thr)
}

// scoreNAB sweeps the threshold when fixed is NaN.
func scoreNAB(series []*NABSeries, scores [][]float64, fixed float64) ([]NABScore, error) {
	if len(series) != len(scores) {
		return nil, fmt.Errorf("nab: %d series, %d score lists", len(series), len(scores))
	}
	windows := 0
	for i, s := range series {
		if len(scores[i]) != len(s.Timestamps) {
			return nil, fmt.Errorf("nab: %s: %d scores for %d rows", s.Name, len(scores[i]), len(s.Timestamps))
		}
		windows += len(s.Windows)
	}
	var out []NABScore
	for _, p := range NABProfiles {
		var rows []nabRow
		base := 0
		for i, s := range series {
			rows = append(rows, nabSweep(scores[i], s.Windows, base, i, p.TP, p.FP)...)
			base += len(s.Windows)
		}
		rows = slices.DeleteFunc(rows, func(r nabRow) bool { return r.window == nabProbation })
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].score > rows[j].score })
		var thr, raw float64
		if math.IsNaN(fixed) {
			thr, raw = nabBestThreshold(rows, p.FN)
		} else {
			thr, raw = fixed, nabRawAt(rows, fixed, p.FN, func(int) bool { return true })
		}
		sc := NABScore{Profile: p.Name, Threshold: thr, Raw: raw, Windows: windows,
			Normalized: nabNormalize(raw, windows, p)}
		cats := map[string]*NABCategoryScore{}
		var names []string
		for _, s := range series {
			c := cats[s.Category()]
			if c == nil {
				c = &NABCategoryScore{Category: s.Category()}
				cats[s.Category()] = c
				names = append(names, c.Category)
			}
			c.Files++
			c.Windows += len(s.Windows)
		}
		sort.Strings(names)
		for _, name := range names {
			c := cats[name]
			c.Raw = nabRawAt(rows, thr, p.FN, func(file int) bool { return series[file].Category() == name })
			c.Normalized = math.NaN()
			if c.Windows > 0 {
				c.Normalized = nabNormalize(c.Raw, c.Windows, p)
			}
			sc.Categories = append(sc.Categories, *c)
		}
		out = append(out, sc)
	}
	return out, nil
}

func nabNormalize(raw float64, windows int, p NABProfile) float64 {
	null, perfect := -p.FN*float64(windows), p.TP*float64(windows)
	return 100 * (raw - null) / (perfect - null)
}

// The window of a row: a window's number (over all files), or one of these.
const (
	nabNoWindow  = -1
	nabProbation = -2
)

type nabRow struct {
	score  float64 // the detector's
	weight float64 // what detecting it is worth
	window int
	file   int
}

// nabScaledSigmoid is NAB's scaled sigmoid: from 1 far before 0 to -1 at 3
// and beyond.
func nabScaledSigmoid(x float64) float64 {
	if x > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// nabSweep weighs each row of one file (nabscore.py's sweep).
func nabSweep(scores []float64, windows [][2]int, base, file int, tpW, fpW float64) []nabRow {
	n := len(scores)
	probation := math.Min(math.Floor(0.15*float64(n)), 0.15*5000)
	maxTP := nabScaledSigmoid(-1)
	out := make([]nabRow, 0, n)
	wi, cur := 0, -1
	prevEnd, prevWidth := -1, 0
	for i := range n {
		if cur < 0 && wi < len(windows) && i == windows[wi][0] {
			cur = wi
			wi++
		}
		r := nabRow{score: scores[i], window: nabNoWindow, file: file}
		if cur >= 0 {
			w := windows[cur]
			width := float64(w[1] - w[0] + 1)
			r.weight = nabScaledSigmoid(-float64(w[1]-i+1)/width) * tpW / maxTP
			r.window = base + cur
		} else if prevEnd < 0 {
			r.weight = -fpW
		} else {
			r.weight = nabScaledSigmoid(math.Abs(float64(prevEnd-i))/float64(prevWidth-1)) * fpW
		}
		if float64(i) < probation {
			r.window = nabProbation
		}
		out = append(out, r)
		if cur >= 0 && i == windows[cur][1] {
			prevEnd, prevWidth = windows[cur][1], windows[cur][1]-windows[cur][0]+1
			cur = -1
		}
	}
	return out
}

// nabBestThreshold sweeps the threshold down over rows, sorted by score
// from the highest, and returns the threshold with the highest raw score
// (the first, when several tie) and that score (nabscore.py's by_threshold).
func nabBestThreshold(rows []nabRow, fnW float64) (thr, best float64) {
	parts := map[int]float64{} // window -> its best detection so far
	sum := 0.0                 // of parts
	for _, r := range rows {
		if r.window >= 0 {
			if _, ok := parts[r.window]; !ok {
				parts[r.window] = -fnW
				sum -= fnW
			}
		}
	}
	fp := 0.0
	thr, cur := 1.1, 1.1
	best = math.Inf(-1)
	consider := func(t, raw float64) {
		if raw > best {
			thr, best = t, raw
		}
	}
	for _, r := range rows {
		if r.score != cur {
			consider(cur, fp+sum)
			cur = r.score
		}
		if r.window < 0 {
			fp += r.weight
		} else if r.weight > parts[r.window] {
			sum += r.weight - parts[r.window]
			parts[r.window] = r.weight
		}
	}
	consider(cur, fp+sum)
	return thr, best
}

// nabRawAt is the raw score of the rows of the files keep selects, with
// every row at or above thr a detection.
func nabRawAt(rows []nabRow, thr, fnW float64, keep func(file int) bool) float64 {
	parts := map[int]float64{}
	fp := 0.0
	for _, r := range rows {
		if !keep(r.file) {
			continue
		}
		if r.window >= 0 {
			if _, ok := parts[r.window]; !ok {
				parts[r.window] = -fnW
			}
		}
		if r.score < thr {
			continue
		}
		if r.window < 0 {
			fp += r.weight
		} else {
			parts[r.window] = math.Max(parts[r.window], r.weight)
		}
	}
	raw := fp
	for _, w := range slices.Sorted(maps.Keys(parts)) { // in order: the same sum every run
		raw += parts[w]
	}
	return raw
}
