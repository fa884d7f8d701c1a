package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// TCPDSeries is one series of the Turing Change Point Dataset.
type TCPDSeries struct {
	Name   string
	Values []float64 // NaN where the dataset has null (a missing value)
	// Annotations are each annotator's change points, in the order of
	// annotations.json (which decides the order TCPDBench matches in).
	Annotations []Annotation
}

// Annotation is one annotator's change points: 0-based row indices.
type Annotation struct {
	Annotator string
	Points    []int
}

// TCPDStart and TCPDStep place the rows of a TCPD series in time for the
// pipeline: row i is at TCPDStart + i × TCPDStep. TCPD's own time axes are
// years, months, days or none at all; its metrics are on row indices, and
// so is what a detector is asked here: a regular series, one point a minute.
var (
	TCPDStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	TCPDStep  = time.Minute
)

// ReadTCPD reads a TCPD directory (datasets/<name>.json, annotations.json):
// every series the annotations name, in name order. A dataset with more
// than one series (multivariate) is an error.
func ReadTCPD(dir string) ([]*TCPDSeries, error) {
	b, err := os.ReadFile(filepath.Join(dir, "annotations.json"))
	if err != nil {
		return nil, fmt.Errorf("tcpd: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("tcpd: annotations.json: %w", err)
	}
	ann := map[string][]Annotation{}
	for name, r := range raw {
		if ann[name], err = readAnnotations(r); err != nil {
			return nil, fmt.Errorf("tcpd: annotations.json: %s: %w", name, err)
		}
	}
	names := make([]string, 0, len(ann))
	for name := range ann {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*TCPDSeries
	for _, name := range names {
		file := filepath.Join(dir, "datasets", name+".json")
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("tcpd: %w", err)
		}
		var ds struct {
			Name   string `json:"name"`
			NObs   int    `json:"n_obs"`
			Series []struct {
				Label string     `json:"label"`
				Raw   []*float64 `json:"raw"`
			} `json:"series"`
		}
		if err := json.Unmarshal(b, &ds); err != nil {
			return nil, fmt.Errorf("tcpd: %s: %w", file, err)
		}
		if len(ds.Series) != 1 {
			return nil, fmt.Errorf("tcpd: %s: %d series: only univariate datasets are evaluated", file, len(ds.Series))
		}
		raw := ds.Series[0].Raw
		if len(raw) != ds.NObs || ds.NObs == 0 {
			return nil, fmt.Errorf("tcpd: %s: %d values, n_obs %d", file, len(raw), ds.NObs)
		}
		s := &TCPDSeries{Name: name, Values: make([]float64, len(raw)), Annotations: ann[name]}
		for i, v := range raw {
			s.Values[i] = math.NaN()
			if v != nil {
				s.Values[i] = *v
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// readAnnotations reads {"annotator": [points], ...} keeping the file's order.
func readAnnotations(r json.RawMessage) ([]Annotation, error) {
	dec := json.NewDecoder(bytes.NewReader(r))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("want an object of annotators, got %s", r)
	}
	var out []Annotation
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		a := Annotation{Annotator: tok.(string), Points: []int{}}
		if err := dec.Decode(&a.Points); err != nil {
			return nil, fmt.Errorf("annotator %s: %w", a.Annotator, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// TCPDMargin is how far, in rows, a predicted change point may be from a
// true one and still match it (TCPDBench's default).
const TCPDMargin = 5

// F1 is TCPDBench's F1 score of predicted change points (row indices) against
// the annotators', with a margin of margin rows. Row 0 is added to every
// annotator's set and to the predictions. Precision is the share of
// predictions that match a point of the union of the annotators; recall is
// the mean over the annotators of the share of their points matched. Each
// true point, in turn, takes the closest prediction left within the margin
// (the smaller on a tie), so a prediction matches one true point at most;
// the true points are taken in the order TCPDBench's Python sets give them
// (see pySet), which decides which of two true points gets a prediction
// both could take.
func F1(annotations []Annotation, predictions []int, margin int) float64 {
	if len(annotations) == 0 {
		return math.NaN()
	}
	x := withZero(predictions)
	var sets [][]int // each annotator's points and 0, in set order
	union := newPySet()
	for _, a := range annotations {
		s := newPySet()
		for _, p := range a.Points {
			s.add(p)
		}
		s.add(0)
		sets = append(sets, s.order())
	}
	for _, t := range sets {
		for _, p := range t {
			union.add(p)
		}
	}
	precision := float64(truePositives(union.order(), x, margin)) / float64(len(x))
	var recall float64
	for _, t := range sets {
		recall += float64(truePositives(t, x, margin)) / float64(len(t))
	}
	recall /= float64(len(annotations))
	if precision+recall == 0 {
		return 0
	}
	return 2 * precision * recall / (precision + recall)
}

// withZero returns the distinct points of s and 0, ascending.
func withZero(s []int) []int {
	out := append([]int{0}, s...)
	slices.Sort(out)
	return slices.Compact(out)
}

// truePositives counts the points of t, taken in the order given, matched
// by a point of x (ascending) within margin, each point of x matching at
// most one.
func truePositives(t, x []int, margin int) int {
	used := make([]bool, len(x))
	n := 0
	for _, tau := range t {
		best := -1
		for j, p := range x {
			d := abs(tau - p)
			if used[j] || d > margin {
				continue
			}
			if best < 0 || d < abs(tau-x[best]) {
				best = j // x is ascending: on a tie the smaller stays
			}
		}
		if best >= 0 {
			used[best] = true
			n++
		}
	}
	return n
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Cover is TCPDBench's segmentation covering of n rows: for each annotator,
// the sum over their segments of the segment's length times its best
// Jaccard index with a predicted segment, over n; averaged over annotators.
// Change points outside [1, n) are ignored.
func Cover(annotations []Annotation, predictions []int, n int) float64 {
	if len(annotations) == 0 {
		return math.NaN()
	}
	pred := segments(predictions, n)
	var total float64
	for _, a := range annotations {
		var c float64
		for _, r := range segments(a.Points, n) {
			best := 0.0
			for _, p := range pred {
				best = math.Max(best, jaccard(r, p))
			}
			c += float64(r[1]-r[0]) * best
		}
		total += c / float64(n)
	}
	return total / float64(len(annotations))
}

// segments cuts [0, n) at the change points: [start, end) pairs.
func segments(cps []int, n int) [][2]int {
	var cuts []int
	for _, c := range cps {
		if c > 0 && c < n {
			cuts = append(cuts, c)
		}
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var out [][2]int
	start := 0
	for _, c := range cuts {
		out = append(out, [2]int{start, c})
		start = c
	}
	return append(out, [2]int{start, n})
}

// jaccard is |a ∩ b| / |a ∪ b| of two intervals [start, end).
func jaccard(a, b [2]int) float64 {
	inter := min(a[1], b[1]) - max(a[0], b[0])
	if inter <= 0 {
		return 0
	}
	return float64(inter) / float64(a[1]-a[0]+b[1]-b[0]-inter)
}

// TCPDScore is a detector's score on one TCPD series.
type TCPDScore struct {
	Name      string
	Rows      int
	Predicted []int // the change points it reported, 0-based rows, ascending
	F1, Cover float64
}

// ScoreTCPD scores the predicted change points of one series.
func ScoreTCPD(s *TCPDSeries, predicted []int) TCPDScore {
	p := slices.Clone(predicted)
	slices.Sort(p)
	p = slices.Compact(p)
	if p == nil {
		p = []int{}
	}
	return TCPDScore{Name: s.Name, Rows: len(s.Values), Predicted: p,
		F1: F1(s.Annotations, p, TCPDMargin), Cover: Cover(s.Annotations, p, len(s.Values))}
}

// tcpdSummary is the mean F1 and cover over the series.
func tcpdSummary(scores []TCPDScore) (f1, cover float64) {
	for _, s := range scores {
		f1 += s.F1
		cover += s.Cover
	}
	n := float64(len(scores))
	return f1 / n, cover / n
}
