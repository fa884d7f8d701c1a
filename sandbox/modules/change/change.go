// Package change is the Lua module "change": online change-point detection
// on a stream of numbers, the method of github.com/dgryski/go-change
// reimplemented (that module cannot be fetched here).
//
// The detector keeps the last Window values. On every new value it finds the
// split of the window that maximises the between-class scatter
// n1·n2/(n1+n2)·(mean1−mean2)², with at least MinSamples values on each side,
// and confirms it with a two-sided, pooled-variance Student's t-test at
// Confidence. A confirmed change is reported once: the values before it are
// dropped from the window, so the next search starts after it.
//
// Lua use is described in the package README; the Go API (New, Add) is the
// same detector without Lua.
package change

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/interoceptor/interoceptor/sandbox"
)

// Defaults, the values go-change's users start from.
const (
	DefaultWindow     = 120
	DefaultMinSamples = 10
	DefaultConfidence = 0.99
)

// MaxWindow bounds the window: Add costs O(window) time and the detector
// holds O(window) memory.
const MaxWindow = 100000

// Config sets up a Detector. Zero fields take the defaults.
type Config struct {
	Window     int     // values kept; default 120
	MinSamples int     // values required on each side of a change; default 10
	Confidence float64 // of the t-test, in (0, 1); default 0.99
}

// WithDefaults returns c with zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.MinSamples == 0 {
		c.MinSamples = DefaultMinSamples
	}
	if c.Confidence == 0 {
		c.Confidence = DefaultConfidence
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MinSamples < 2:
		return fmt.Errorf("min_samples must be at least 2, got %d", c.MinSamples)
	case c.Window < 2*c.MinSamples:
		return fmt.Errorf("window must be at least 2*min_samples (%d), got %d", 2*c.MinSamples, c.Window)
	case c.Window > MaxWindow:
		return fmt.Errorf("window must be at most %d, got %d", MaxWindow, c.Window)
	case !(c.Confidence > 0 && c.Confidence < 1):
		return fmt.Errorf("confidence must be in (0, 1), got %g", c.Confidence)
	}
	return nil
}

// Segment describes the values on one side of a change.
type Segment struct {
	Mean float64
	SD   float64 // sample standard deviation (n−1)
	N    int
}

// Direction of a change.
const (
	Up   = "up"
	Down = "down"
)

// ChangePoint is a confirmed change.
type ChangePoint struct {
	Time  int64 // ns of the first value after the change
	Index int64 // 1-based position of that value in the stream since New or Reset
	// Before and After are the window's values before and after the change.
	Before, After Segment
	Difference    float64 // After.Mean − Before.Mean
	// Percent is Difference as a percentage of |Before.Mean|; NaN when
	// Before.Mean is 0.
	Percent float64
	// Confidence is the achieved confidence of the t-test, 1 − p (two-sided);
	// it is at least the configured confidence.
	Confidence float64
	Direction  string // Up or Down

	timeKind tsKind
}

// tsKind records what kind of timestamp the Lua caller passed, so the change
// can hand the same kind back.
type tsKind uint8

const (
	tsNumber tsKind = iota // a Lua number
	tsNS                   // the sandbox's ns userdata
	tsString               // a decimal string
)

type point struct {
	ts   int64
	v    float64
	kind tsKind
}

// Detector finds change points in a stream of values. It is not safe for
// concurrent use (a sandbox never calls it concurrently).
//
// In Lua it is the userdata change.new returns; the sandbox counts its
// memory (SizeBytes) and carries it across a reload (Preserve, Restore).
type Detector struct {
	cfg   Config
	buf   []point // buf[start:] is the window, oldest first
	start int
	seen  int64 // values added since New or Reset
	crit  []float64
	sums  []float64 // scratch: prefix sums of the centred window
}

// New returns a detector for cfg (zero fields take the defaults).
func New(cfg Config) (*Detector, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Detector{
		cfg:  cfg,
		buf:  make([]point, 0, 2*cfg.Window),
		crit: make([]float64, cfg.Window),
		sums: make([]float64, cfg.Window+1),
	}, nil
}

var (
	_ sandbox.Preserver = (*Detector)(nil)
	_ sandbox.Sizer     = (*Detector)(nil)
)

// SizeBytes estimates the detector's memory, for the sandbox's limit.
func (d *Detector) SizeBytes() int64 {
	return int64(unsafe.Sizeof(*d)) + int64(cap(d.buf))*int64(unsafe.Sizeof(point{})) + 8*int64(cap(d.crit)+cap(d.sums))
}

// Config returns the detector's settings, defaults filled in.
func (d *Detector) Config() Config { return d.cfg }

// Len returns how many values the window holds now.
func (d *Detector) Len() int { return len(d.buf) - d.start }

// Seen returns how many values were added since New or Reset.
func (d *Detector) Seen() int64 { return d.seen }

// Reset forgets every value.
func (d *Detector) Reset() {
	d.buf = d.buf[:0]
	d.start = 0
	d.seen = 0
}

// ErrNotFinite is returned by Add for NaN and ±Inf.
var ErrNotFinite = errors.New("value must be a finite number")

// Add appends a value observed at ts (ns) and returns the change it
// confirms, or nil.
func (d *Detector) Add(ts int64, v float64) (*ChangePoint, error) {
	return d.add(point{ts: ts, v: v})
}

func (d *Detector) add(p point) (*ChangePoint, error) {
	if math.IsNaN(p.v) || math.IsInf(p.v, 0) {
		return nil, ErrNotFinite
	}
	d.push(p)
	return d.check(), nil
}

// push appends p, dropping the oldest value when the window is full. The
// backing array holds two windows, so the window is moved down only once
// every Window values.
func (d *Detector) push(p point) {
	if d.Len() == d.cfg.Window {
		d.start++
	}
	if len(d.buf) == cap(d.buf) {
		n := copy(d.buf, d.buf[d.start:])
		d.buf = d.buf[:n]
		d.start = 0
	}
	d.buf = append(d.buf, p)
	d.seen++
}

// drop removes the oldest k values of the window.
func (d *Detector) drop(k int) { d.start += k }

// check looks for a change in the window and, when one is confirmed, drops
// the values before it.
func (d *Detector) check() *ChangePoint {
	w := d.buf[d.start:]
	n := len(w)
	m := d.cfg.MinSamples
	if n < 2*m {
		return nil
	}
	// Work on x − pivot, so that large values with a small spread (1e12 ± 1)
	// keep their spread instead of losing it to cancellation.
	pivot := w[0].v
	s := d.sums[:n+1]
	s[0] = 0
	for i, p := range w {
		s[i+1] = s[i] + (p.v - pivot)
	}
	total := s[n]
	best, bestScore := -1, 0.0
	for k := m; k <= n-m; k++ {
		n1, n2 := float64(k), float64(n-k)
		diff := s[k]/n1 - (total-s[k])/n2
		if score := n1 * n2 / (n1 + n2) * diff * diff; score > bestScore {
			best, bestScore = k, score
		}
	}
	// A best split with exactly min_samples after it is not confirmed yet: a
	// change inside the last min_samples values also peaks there, and would
	// be reported misplaced and then again. One more value settles it.
	if best < 0 || best == n-m {
		return nil
	}
	before, ssBefore := segment(w[:best], pivot)
	after, ssAfter := segment(w[best:], pivot)
	df := n - 2
	diff := after.Mean - before.Mean
	pooled := (ssBefore + ssAfter) / float64(df)
	var t float64
	switch {
	case pooled > 0:
		t = diff / math.Sqrt(pooled*(1/float64(before.N)+1/float64(after.N)))
	case diff != 0:
		t = math.Inf(1) // two constant segments at different levels
	default:
		return nil
	}
	if math.Abs(t) <= d.critical(df) {
		return nil
	}
	// Means are computed on centred values; add the pivot back for reporting.
	before.Mean += pivot
	after.Mean += pivot
	first := w[best]
	cp := &ChangePoint{
		Time:       first.ts,
		Index:      d.seen - int64(n-best) + 1,
		Before:     before,
		After:      after,
		Difference: diff,
		Percent:    math.NaN(),
		Confidence: 1 - 2*distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Survival(math.Abs(t)),
		Direction:  Up,
		timeKind:   first.kind,
	}
	if before.Mean != 0 {
		cp.Percent = diff / math.Abs(before.Mean) * 100
	}
	if diff < 0 {
		cp.Direction = Down
	}
	d.drop(best)
	return cp
}

// segment returns the mean (of x − pivot), the sample standard deviation and
// the sum of squared deviations of the values in w, in two passes.
func segment(w []point, pivot float64) (Segment, float64) {
	var sum float64
	for _, p := range w {
		sum += p.v - pivot
	}
	n := float64(len(w))
	mean := sum / n
	var ss float64
	for _, p := range w {
		dev := p.v - pivot - mean
		ss += dev * dev
	}
	return Segment{Mean: mean, SD: math.Sqrt(ss / (n - 1)), N: len(w)}, ss
}

// critical returns the two-sided critical value of Student's t at the
// configured confidence for df degrees of freedom, cached per df.
func (d *Detector) critical(df int) float64 {
	if c := d.crit[df]; c > 0 {
		return c
	}
	c := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(1 - (1-d.cfg.Confidence)/2)
	d.crit[df] = c
	return c
}
