package anomaly

import "math"

// jumpDetector finds level shifts: at each point it looks at the split
// JumpAfter points back (and JumpAfterLong points back, for smaller shifts
// that need more points to be told from noise), fits a line to the points
// after the split and one to the points before it (since the last shift,
// at most JumpWindow), and compares where each puts the level at the
// split, against the noise of both fits. A line rather than a mean, so
// that a trend is not taken for a series of shifts.
type jumpDetector struct {
	window, after, afterLong int
	t, minSD                 float64

	vals []float64 // ring of the last window+afterLong values
	ts   []int64
	n    int // points seen
	last int // point index of the last shift's split (-1: none)
}

// refineSplit is how far from the split tested a shift may be dated.
const refineSplit = 2

type shift struct {
	at            int64 // time of the first point after the split
	before, after float64
}

func newJumpDetector(c Config) jumpDetector {
	size := c.JumpWindow + max(c.JumpAfter, c.JumpAfterLong)
	return jumpDetector{window: c.JumpWindow, after: c.JumpAfter, afterLong: c.JumpAfterLong,
		t: c.JumpT, minSD: c.JumpMin, vals: make([]float64, size), ts: make([]int64, size), last: -1}
}

// add feeds a point; sd is the series' standard deviation. It reports a
// shift, once, when one is found.
func (j *jumpDetector) add(ts int64, v, sd float64) (shift, bool) {
	size := len(j.vals)
	j.vals[j.n%size], j.ts[j.n%size] = v, ts
	j.n++
	for _, m := range [2]int{j.after, j.afterLong} {
		if s, ok := j.test(m, sd); ok {
			return s, true
		}
	}
	return shift{}, false
}

// test checks the split m points back. Once a shift passes there, it is
// dated where the statistic is largest among the splits refineSplit
// around: the test can pass a point early, with a point of the old level
// among the new ones, which would misdate the shift and bias the levels.
func (j *jumpDetector) test(m int, sd float64) (shift, bool) {
	split := j.n - m // index of the first point after the split
	t, lAt, rAt, ok := j.stat(split)
	if !ok || t <= j.t || math.Abs(rAt-lAt) < j.minSD*sd {
		return shift{}, false
	}
	best := split
	for s := split - refineSplit; s <= split+refineSplit; s++ {
		if s == split {
			continue
		}
		if ts, l, r, ok := j.stat(s); ok && ts > t && math.Abs(r-l) >= j.minSD*sd {
			t, lAt, rAt, best = ts, l, r, s
		}
	}
	j.last = split // the next left window starts where the test passed
	return shift{at: j.ts[best%len(j.vals)], before: lAt, after: rAt}, true
}

// stat is the t-statistic of a shift at split: the line fitted to the
// points after it (to the newest) starts far from where the line fitted to
// the points before it (since the last shift, at most window) ends,
// against the noise of both fits; with where each puts the level.
func (j *jumpDetector) stat(split int) (t, lAt, rAt float64, ok bool) {
	from := max(split-j.window, j.last, j.n-len(j.vals), 0)
	nl, nr := split-from, j.n-split
	if nl < max(3, (j.n-split)/2) || nr < 3 {
		return 0, 0, 0, false
	}
	lAt, lSSE := j.fit(from, split, nl) // the left line, one step past its end
	rAt, rSSE := j.fit(split, j.n, 0)   // the right line at its start
	dof := float64(nl + nr - 4)
	if dof < 1 {
		return 0, 0, 0, false
	}
	sigma := math.Max(math.Sqrt((lSSE+rSSE)/dof), tiny(rAt))
	// The standard error of a fitted line at one end of n points is about
	// sigma*sqrt(4/n).
	se := sigma * math.Sqrt(4/float64(nl)+4/float64(nr))
	return math.Abs(rAt-lAt) / se, lAt, rAt, true
}

// fit fits a line to the points [from, to) and returns its value at
// position x (0 is the first point) and its residual sum of squares.
func (j *jumpDetector) fit(from, to, x int) (at, sse float64) {
	size := len(j.vals)
	n := float64(to - from)
	var sx, sy, sxx, sxy float64
	for i := from; i < to; i++ {
		xi, yi := float64(i-from), j.vals[i%size]
		sx += xi
		sy += yi
		sxx += xi * xi
		sxy += xi * yi
	}
	den := n*sxx - sx*sx
	slope := 0.0
	if den != 0 {
		slope = (n*sxy - sx*sy) / den
	}
	icpt := (sy - slope*sx) / n
	for i := from; i < to; i++ {
		r := j.vals[i%size] - (icpt + slope*float64(i-from))
		sse += r * r
	}
	return icpt + slope*float64(x), sse
}
