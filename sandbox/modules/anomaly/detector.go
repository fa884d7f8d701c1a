// Package anomaly is the Lua module "anomaly": online anomaly and
// change-point detection for one number per point, meant to run with its
// defaults on any series (no per-series tuning, no labels).
//
// A Detector scores each point in [0, 1] and reports an Event, once, when
// the score crosses its threshold. It combines four tests, each of which
// asks whether the point is something this series has not done before —
// the idea behind the detectors that score best on the Numenta Anomaly
// Benchmark (HTM, CAD-OSE, ARTime): learn what is normal from the series
// itself and report what is new, rather than fix a threshold on a
// distance.
//
//   - new_high / new_low: the value is beyond the range the series has
//     covered (remembered for one to two epochs of Config.Memory points).
//     The score grows with how far beyond, in typical steps (the mean
//     absolute change between two points): 0.5 just past it, towards 1
//     far past it. A random walk that edges past its old maximum scores
//     low; a spike or a jump to a new level scores high.
//   - unusual_jump: the move from the previous point's part of the range
//     to this one's (the range cut into Config.Bins parts) has never
//     happened before: a drop from the top to the bottom of the daily
//     cycle at an hour when it never drops. Score 0.8: below the default
//     threshold, it raises the score but alone reports nothing.
//   - level_shift: the line fitted to the points after a split (8, or 16
//     for smaller shifts) starts far from where the line fitted to the 40
//     points before it ends, against the noise of both fits (a t-statistic
//     above Config.JumpT), by at least Config.JumpMin standard deviations
//     of the series, and the shift (from one part of the range to another)
//     is new for this series. Reported with where it began (ChangeTime)
//     and the levels before and after. Score 0.9.
//   - flatline: the value has not changed for Config.FlatRun points, and
//     for more than twice as long as any run of one value the series had
//     before. Score 0.9.
//
// After a reported novelty the score stays 0 for Config.Rest points unless
// a larger one comes: one event per anomaly, as a short pulse, not a
// plateau. Novelty is not scored during the first Config.Warmup points
// (the range and the moves are being learned); level shifts are, as soon as
// there are points enough on both sides of a split.
//
// The defaults were chosen on the development splits of NAB and TCPD in
// ../shared/data and checked on synthetic series; README.md gives the
// scores, what it detects and what it does not.
package anomaly

import (
	"math"
)

// Config sets up a Detector. Zero fields take the defaults.
type Config struct {
	Bins          int     // parts of the range for unusual_jump and level_shift novelty; default 6
	Warmup        int     // points learned before novelty is scored; default 150
	Rest          int     // points after a novelty event in which only a larger one is reported; default 60
	Memory        int     // points per epoch: the range and the moves seen are remembered one to two epochs; default 20000
	StepScale     float64 // excess beyond the range, in typical steps, at which a new_high/low scores 0.82; default 1.5
	JumpWindow    int     // points before a split fitted by a line; default 40
	JumpAfter     int     // points after a split, for large shifts; default 8
	JumpAfterLong int     // points after a split, for smaller shifts; default 16
	JumpT         float64 // t-statistic a level shift must pass; default 5
	JumpMin       float64 // a level shift is at least this many standard deviations of the series; default 0.75
	FlatRun       int     // points without change that make a flatline (-1: off); default 12
	Threshold     float64 // score at or above which an Event is reported; default 0.9
}

// Defaults of Config.
const (
	DefaultBins          = 6
	DefaultWarmup        = 150
	DefaultRest          = 60
	DefaultMemory        = 20000
	DefaultStepScale     = 1.5
	DefaultJumpWindow    = 40
	DefaultJumpAfter     = 8
	DefaultJumpAfterLong = 16
	DefaultJumpT         = 5
	DefaultJumpMin       = 0.75
	DefaultFlatRun       = 12
	DefaultThreshold     = 0.9
)

// The scores of the kinds that are not graded.
const (
	scoreUnusualJump = 0.8
	scoreLevelShift  = 0.9
	scoreFlatline    = 0.9
)

// WithDefaults returns c with zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Bins, DefaultBins)
	def(&c.Warmup, DefaultWarmup)
	def(&c.Rest, DefaultRest)
	def(&c.Memory, DefaultMemory)
	def(&c.JumpWindow, DefaultJumpWindow)
	def(&c.JumpAfter, DefaultJumpAfter)
	def(&c.JumpAfterLong, DefaultJumpAfterLong)
	def(&c.FlatRun, DefaultFlatRun)
	deff(&c.StepScale, DefaultStepScale)
	deff(&c.JumpT, DefaultJumpT)
	deff(&c.JumpMin, DefaultJumpMin)
	deff(&c.Threshold, DefaultThreshold)
	return c
}

// Event is what a Detector reports when a point's score crosses the
// threshold.
type Event struct {
	Kind       string  // new_high, new_low, unusual_jump, level_shift, flatline
	Score      float64 // the point's score
	Time       int64   // the point that crossed the threshold (ns)
	Value      float64 // its value
	ChangeTime int64   // level_shift: where the shift began (the first point after it); else Time
	Before     float64 // the level before: the recent mean, the previous value, the fitted line
	After      float64 // the level after: the value, or the fitted line after a shift
}

// Direction is "up" or "down".
func (e *Event) Direction() string {
	if e.After < e.Before {
		return "down"
	}
	return "up"
}

// ChangePoint reports whether the event marks a change of regime (a level
// shift) rather than a single unusual point.
func (e *Event) ChangePoint() bool { return e.Kind == "level_shift" }

// Detector scores the points of one series; see the package comment. Not
// safe for concurrent use.
type Detector struct {
	cfg Config
	n   int // points seen

	// The range and the moves between parts of it, for this epoch and the
	// one before (two epochs: what is older than that is forgotten).
	lo, hi       float64
	prevLo       float64
	prevHi       float64
	hasPrevEpoch bool
	epochStart   int
	moves        uint64 // bit from*Bins+to: a move seen this epoch (Bins <= 8)
	prevMoves    uint64
	shifts       uint64 // level shifts seen: bit from*Bins+to
	prevShifts   uint64
	prevBin      int

	prev  float64 // the previous value
	step  float64 // mean absolute change between two points (EWMA)
	level float64 // recent mean (EWMA)

	// Standard deviation of the series over the two epochs.
	sum, sumSq         float64
	prevSum, prevSumSq float64
	count, prevCount   float64

	flatRun, longestFlat int

	// Rest period after a novelty event.
	sinceEvent int
	restScore  float64

	jump jumpDetector
}

// New returns a detector for cfg (with defaults for its zero fields); see
// Validate for what cfg may hold.
func New(cfg Config) *Detector {
	cfg = cfg.WithDefaults()
	return &Detector{cfg: cfg, sinceEvent: math.MaxInt32, prevBin: -1, jump: newJumpDetector(cfg)}
}

// Config returns the detector's configuration, defaults filled in.
func (d *Detector) Config() Config { return d.cfg }

// Count returns how many points the detector has seen.
func (d *Detector) Count() int { return d.n }

// Add feeds one point and returns its score in [0, 1] and, when the score
// crossed the threshold, the event (nil otherwise). A NaN or infinite value
// is ignored: score 0, no event.
func (d *Detector) Add(ts int64, v float64) (float64, *Event) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, nil
	}
	d.n++
	d.addMoments(v)
	shift, shifted := d.jump.add(ts, v, d.stdDev())
	if d.n == 1 {
		d.lo, d.hi, d.prev, d.level, d.epochStart = v, v, v, v, 1
		return 0, nil
	}
	if d.n-d.epochStart >= d.cfg.Memory {
		d.newEpoch(v)
	}
	learning := d.n <= d.cfg.Warmup
	var ev Event
	score := 0.0
	lo, hi := d.rangeLoHi()

	// new_high / new_low, graded by the excess in typical steps.
	if !learning && (v > hi || v < lo) {
		excess := math.Max(v-hi, lo-v) / math.Max(d.step, tiny(v))
		score = 0.5 + 0.5*(1-math.Exp(-excess/d.cfg.StepScale))
		ev = Event{Kind: "new_high", Before: d.level, After: v}
		if v < lo {
			ev.Kind = "new_low"
		}
	}
	d.lo, d.hi = math.Min(d.lo, v), math.Max(d.hi, v)
	lo, hi = d.rangeLoHi()

	// unusual_jump: a move between parts of the range never made before.
	// A new high or low is already the stronger sign: a move to a part
	// that did not exist is new by construction.
	b := d.bin(v, lo, hi)
	from := d.prevBin
	if from < 0 {
		from = d.bin(d.prev, lo, hi)
	}
	d.prevBin = b
	move := uint64(1) << uint(from*d.cfg.Bins+b)
	if !learning && (d.moves|d.prevMoves)&move == 0 && score < scoreUnusualJump && ev.Kind == "" {
		score = scoreUnusualJump
		ev = Event{Kind: "unusual_jump", Before: d.prev, After: v}
	}
	d.moves |= move

	// flatline: a run without change more than twice as long as any the
	// series had before.
	if v == d.prev {
		d.flatRun++
	} else {
		d.longestFlat = max(d.longestFlat, d.flatRun)
		d.flatRun = 0
	}
	if d.flatRun == max(d.cfg.FlatRun, 2*d.longestFlat+1) && d.cfg.FlatRun > 0 && !learning && d.step > 0 && score < scoreFlatline {
		score = scoreFlatline
		ev = Event{Kind: "flatline", Before: d.level, After: v}
	}

	d.step += stepAlpha * (math.Abs(v-d.prev) - d.step)
	d.level += levelAlpha * (v - d.level)
	d.prev = v

	// Once per event: a rest period in which only a larger score counts.
	d.sinceEvent++
	if d.sinceEvent <= d.cfg.Rest && score <= d.restScore {
		score, ev = 0, Event{}
	} else if score >= restFrom {
		d.sinceEvent, d.restScore = 0, score
	}

	// level_shift, when the shift between the parts of the range is new
	// for this series.
	if shifted {
		key := uint64(1) << uint(d.bin(shift.before, lo, hi)*d.cfg.Bins+d.bin(shift.after, lo, hi))
		novel := (d.shifts|d.prevShifts)&key == 0
		d.shifts |= key
		if novel && scoreLevelShift > score {
			score = scoreLevelShift
			ev = Event{Kind: "level_shift", ChangeTime: shift.at, Before: shift.before, After: shift.after}
		}
	}
	if ev.Kind == "" || score < d.cfg.Threshold {
		return score, nil
	}
	ev.Score, ev.Time, ev.Value = score, ts, v
	if ev.ChangeTime == 0 {
		ev.ChangeTime = ts
	}
	out := ev // allocated for an event only
	return score, &out
}

// How fast the typical step and the recent level follow the series; a
// novelty event starts the rest period from this score up.
const (
	stepAlpha  = 0.01
	levelAlpha = 0.05
	restFrom   = 0.5
)

// tiny is the least typical step: a series that never moved has none.
func tiny(v float64) float64 { return 1e-12 + 1e-9*math.Abs(v) }

func (d *Detector) rangeLoHi() (float64, float64) {
	if d.hasPrevEpoch {
		return math.Min(d.lo, d.prevLo), math.Max(d.hi, d.prevHi)
	}
	return d.lo, d.hi
}

// bin returns the part of [lo, hi] that v falls in.
func (d *Detector) bin(v, lo, hi float64) int {
	if !(hi > lo) {
		return 0
	}
	b := int((v - lo) / (hi - lo) * float64(d.cfg.Bins))
	return min(max(b, 0), d.cfg.Bins-1)
}

// newEpoch forgets the epoch before the last: its range, moves, shifts and
// moments.
func (d *Detector) newEpoch(v float64) {
	d.prevLo, d.prevHi, d.hasPrevEpoch = d.lo, d.hi, true
	d.prevMoves, d.prevShifts = d.moves, d.shifts
	d.prevSum, d.prevSumSq, d.prevCount = d.sum, d.sumSq, d.count
	d.lo, d.hi, d.moves, d.shifts = v, v, 0, 0
	d.sum, d.sumSq, d.count = 0, 0, 0
	d.epochStart = d.n
}

func (d *Detector) addMoments(v float64) {
	d.sum += v
	d.sumSq += v * v
	d.count++
}

// stdDev is the series' standard deviation over the two epochs.
func (d *Detector) stdDev() float64 {
	n := d.count + d.prevCount
	if n < 2 {
		return 0
	}
	m := (d.sum + d.prevSum) / n
	return math.Sqrt(math.Max((d.sumSq+d.prevSumSq)/n-m*m, 0))
}
