package anomaly

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// What the detector must do on series whose truth is known: generated
// with 20 seeds, 1000 points each, one event at point 500 (or none).
// The bounds are loose: they catch a detector that stopped working, not a
// point of score.

const (
	seeds  = 20
	at     = 500
	minute = int64(time.Minute)
)

type gen func(r *rand.Rand, i int) float64

// run feeds 1000 points of g to a detector with default options and
// returns the events.
func run(g gen, seed int) []*Event {
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	d := New(Config{})
	var evs []*Event
	for i := range 1000 {
		if _, ev := d.Add(int64(i)*minute, g(r, i)); ev != nil {
			evs = append(evs, ev)
		}
	}
	return evs
}

func noise(r *rand.Rand, _ int) float64 { return 10 + r.NormFloat64() }

// found counts the seeds in which an event of one of kinds begins within
// [at, at+delay] points.
func found(t *testing.T, g gen, delay int, kinds ...string) int {
	n := 0
	for seed := range seeds {
		for _, ev := range run(g, seed) {
			i := int(ev.ChangeTime / minute)
			if i >= at && i <= at+delay && contains(kinds, ev.Kind) {
				n++
				break
			}
		}
	}
	t.Logf("found in %d of %d series", n, seeds)
	return n
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// eventsPer1000 is the rate of events on series without one.
func eventsPer1000(t *testing.T, g gen) float64 {
	n := 0
	for seed := range seeds {
		n += len(run(g, seed))
	}
	rate := float64(n) / seeds
	t.Logf("%.2f events per 1000 points", rate)
	return rate
}

func TestQuietSeriesGiveFewEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    gen
		max  float64
	}{
		{"gaussian noise", noise, 0.5},
		{"sine", func(r *rand.Rand, i int) float64 {
			return 10 + 5*math.Sin(float64(i)*2*math.Pi/100) + 0.3*r.NormFloat64()
		}, 5},
		{"heavy-tailed noise", func(r *rand.Rand, _ int) float64 { return 10 + r.ExpFloat64() - r.ExpFloat64() }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rate := eventsPer1000(t, tc.g); rate > tc.max {
				t.Errorf("%.2f events per 1000 points, want at most %g", rate, tc.max)
			}
		})
	}
}

// A random walk has no anomaly; its new highs are small steps past the
// old ones and score low.
func TestRandomWalkGivesFewEvents(t *testing.T) {
	n := 0
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 9))
		d := New(Config{})
		w := 10.0
		for i := range 1000 {
			w += r.NormFloat64()
			if _, ev := d.Add(int64(i)*minute, w); ev != nil {
				n++
			}
		}
	}
	rate := float64(n) / seeds
	t.Logf("%.2f events per 1000 points", rate)
	if rate > 15 {
		t.Errorf("%.2f events per 1000 points of a random walk, want at most 15", rate)
	}
}

func TestSpikesAndDipsAreFoundAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		by   float64
		kind string
	}{{"spike", 10, "new_high"}, {"dip", -10, "new_low"}} {
		t.Run(tc.name, func(t *testing.T) {
			g := func(r *rand.Rand, i int) float64 {
				if i == at {
					return 10 + tc.by
				}
				return noise(r, i)
			}
			if n := found(t, g, 0, tc.kind); n < seeds-1 {
				t.Errorf("a 10σ %s found in %d of %d series, want at least %d", tc.name, n, seeds, seeds-1)
			}
		})
	}
}

func TestLevelShiftsAreFoundAndDated(t *testing.T) {
	for _, by := range []float64{3, -3, 5, -5} {
		g := func(r *rand.Rand, i int) float64 {
			if i >= at {
				return noise(r, i) + by
			}
			return noise(r, i)
		}
		want := seeds / 2
		if math.Abs(by) >= 5 {
			want = seeds - 2
		}
		// Dated within 2 points of where it began (ChangeTime), found
		// within 20 points of it.
		n := 0
		for seed := range seeds {
			for _, ev := range run(g, seed) {
				if ev.Kind == "level_shift" && math.Abs(float64(ev.ChangeTime/minute-at)) <= 2 && ev.Time/minute <= at+20 {
					// The lines' ends are noisy: within 2σ.
					if got := ev.After - ev.Before; math.Abs(got-by) > 2 {
						t.Errorf("shift of %+g: before %.2f, after %.2f", by, ev.Before, ev.After)
					}
					n++
					break
				}
			}
		}
		t.Logf("shift %+gσ: found and dated in %d of %d series", by, n, seeds)
		if n < want {
			t.Errorf("a %+gσ level shift found and dated in %d of %d series, want at least %d", by, n, seeds, want)
		}
	}
}

func TestVarianceIncreaseIsFound(t *testing.T) {
	g := func(r *rand.Rand, i int) float64 {
		if i >= at {
			return 10 + 3*r.NormFloat64()
		}
		return noise(r, i)
	}
	if n := found(t, g, 20, "new_high", "new_low", "unusual_jump"); n < seeds/2 {
		t.Errorf("a tripled variance found in %d of %d series, want at least %d", n, seeds, seeds/2)
	}
}

func TestFlatlineIsFound(t *testing.T) {
	g := func(r *rand.Rand, i int) float64 {
		if i >= at && i < at+100 {
			return 10
		}
		return noise(r, i)
	}
	if n := found(t, g, 0, "flatline"); n != 0 {
		t.Errorf("a flatline reported at its first point in %d series", n)
	}
	n := 0
	for seed := range seeds {
		for _, ev := range run(g, seed) {
			if ev.Kind == "flatline" && ev.Time/minute == at+DefaultFlatRun {
				n++
			}
		}
	}
	if n != seeds {
		t.Errorf("a flatline found %d points in, in %d of %d series", DefaultFlatRun, n, seeds)
	}
}

// A seasonal series is learned: after a few cycles, its daily jumps are
// moves seen before.
func TestSquareWaveIsLearned(t *testing.T) {
	n := 0
	for seed := range seeds {
		n += len(run(func(r *rand.Rand, i int) float64 {
			if (i/50)%2 == 0 {
				return 20 + 0.5*r.NormFloat64()
			}
			return 10 + 0.5*r.NormFloat64()
		}, seed))
	}
	// The first shift up and the first down after the warm-up are new.
	if rate := float64(n) / seeds; rate > 3 {
		t.Errorf("%.2f events per 1000 points of a square wave, want at most 3 (its shifts are learned)", rate)
	}
}

// Once per event: a shift to a new level is a short pulse of scores, not
// a plateau.
func TestScoreIsAPulse(t *testing.T) {
	d := New(Config{})
	r := rand.New(rand.NewPCG(1, 1))
	high := 0
	for i := range 1000 {
		v := noise(r, i)
		if i >= at {
			v += 20
		}
		if s, _ := d.Add(int64(i)*minute, v); s >= 0.5 && i >= at {
			high++
		}
	}
	if high == 0 || high > 3 {
		t.Errorf("%d points scored 0.5 or more after a shift, want 1 to 3", high)
	}
}

func TestNonFiniteValuesAreIgnored(t *testing.T) {
	d := New(Config{})
	for i := range 300 {
		d.Add(int64(i)*minute, 10)
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if s, ev := d.Add(0, v); s != 0 || ev != nil {
			t.Errorf("Add(%v) = %v, %v", v, s, ev)
		}
	}
	if d.Count() != 300 {
		t.Errorf("count %d", d.Count())
	}
}

func TestValidate(t *testing.T) {
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{{Bins: 9}, {Threshold: 2}, {JumpAfter: 1}, {StepScale: -1}, {Memory: 10}} {
		if err := c.WithDefaults().Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// A detector is small: 100,000 series fit in well under 1 GiB.
func TestDetectorSize(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ds := make([]*Detector, 10000)
	for i := range ds {
		ds[i] = New(Config{})
		ds[i].Add(0, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(len(ds))
	t.Logf("%.0f bytes per detector on the heap; SizeBytes says %d", per, ds[0].SizeBytes())
	if per > 4096 || float64(ds[0].SizeBytes()) < per*0.7 {
		t.Errorf("%.0f bytes per detector (SizeBytes %d): want at most 4096, and SizeBytes within 30%%", per, ds[0].SizeBytes())
	}
	runtime.KeepAlive(ds)
}
