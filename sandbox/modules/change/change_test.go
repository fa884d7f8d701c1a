package change

import (
	"math"
	"math/rand/v2"
	"testing"
)

// series builders for the synthetic cases; every one is deterministic.

func constant(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func noise(r *rand.Rand, n int, mean, sd float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = mean + sd*r.NormFloat64()
	}
	return s
}

func concat(parts ...[]float64) []float64 {
	var s []float64
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

// run feeds s to a detector with timestamps i*1e9 and returns every change.
func run(t *testing.T, cfg Config, s []float64) []*ChangePoint {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var cps []*ChangePoint
	for i, v := range s {
		cp, err := d.Add(int64(i)*1e9, v)
		if err != nil {
			t.Fatal(err)
		}
		if cp != nil {
			cps = append(cps, cp)
		}
	}
	return cps
}

// largest returns the change with the largest |Difference|.
func largest(cps []*ChangePoint) *ChangePoint {
	var best *ChangePoint
	for _, cp := range cps {
		if best == nil || math.Abs(cp.Difference) > math.Abs(best.Difference) {
			best = cp
		}
	}
	return best
}

func TestStepsWithoutNoise(t *testing.T) {
	tests := []struct {
		name      string
		series    []float64
		wantIndex []int64
		wantDir   []string
	}{
		{"up", concat(constant(100, 0), constant(300, 10)), []int64{101}, []string{Up}},
		{"down", concat(constant(100, 5), constant(300, -5)), []int64{101}, []string{Down}},
		{"up then down", concat(constant(100, 1), constant(100, 2), constant(100, 1)), []int64{101, 201}, []string{Up, Down}},
		{"large values", concat(constant(50, 1e12), constant(200, 1e12+1)), []int64{51}, []string{Up}},
		{"flat", constant(1000, 42), nil, nil},
		{"too short to decide", concat(constant(10, 0), constant(9, 1)), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cps := run(t, Config{}, tt.series)
			if len(cps) != len(tt.wantIndex) {
				t.Fatalf("got %d changes, want %d: %+v", len(cps), len(tt.wantIndex), cps)
			}
			for i, cp := range cps {
				if cp.Index != tt.wantIndex[i] || cp.Direction != tt.wantDir[i] {
					t.Errorf("change %d: index %d %s, want %d %s", i, cp.Index, cp.Direction, tt.wantIndex[i], tt.wantDir[i])
				}
				if want := (cp.Index - 1) * 1e9; cp.Time != want {
					t.Errorf("change %d: time %d, want %d", i, cp.Time, want)
				}
				if cp.Before.SD != 0 || cp.After.SD != 0 || cp.Confidence != 1 {
					t.Errorf("change %d: sds %g %g confidence %g, want 0 0 1", i, cp.Before.SD, cp.After.SD, cp.Confidence)
				}
				if got := cp.After.Mean - cp.Before.Mean; got != cp.Difference {
					t.Errorf("change %d: difference %g, after−before %g", i, cp.Difference, got)
				}
			}
		})
	}
}

func TestStepsWithNoise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	tests := []struct {
		name   string
		series []float64
		step   int64 // index of the first value after the step
		diff   float64
	}{
		{"up", concat(noise(r, 300, 10, 1), noise(r, 300, 15, 1)), 301, 5},
		{"down", concat(noise(r, 300, 10, 1), noise(r, 300, 7, 1)), 301, -3},
		{"up, wide noise", concat(noise(r, 300, 100, 10), noise(r, 300, 130, 10)), 301, 30},
		{"down to negative", concat(noise(r, 300, 2, 1), noise(r, 300, -2, 1)), 301, -4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cps := run(t, Config{}, tt.series)
			cp := largest(cps)
			if cp == nil {
				t.Fatal("no change found")
			}
			t.Logf("%d changes; largest at %d: %.2f → %.2f (sd %.2f, %.2f; n %d, %d), %.1f%%, confidence %.6f",
				len(cps), cp.Index, cp.Before.Mean, cp.After.Mean, cp.Before.SD, cp.After.SD, cp.Before.N, cp.After.N, cp.Percent, cp.Confidence)
			if d := cp.Index - tt.step; d < -2 || d > 2 {
				t.Errorf("largest change at %d, want %d ± 2", cp.Index, tt.step)
			}
			if math.Abs(cp.Difference-tt.diff) > 0.3*math.Abs(tt.diff) {
				t.Errorf("difference %.2f, want %.2f ± 30%%", cp.Difference, tt.diff)
			}
			wantDir := Up
			if tt.diff < 0 {
				wantDir = Down
			}
			if cp.Direction != wantDir {
				t.Errorf("direction %s, want %s", cp.Direction, wantDir)
			}
			// Reported once: no other change of comparable size.
			for _, other := range cps {
				if other != cp && math.Abs(other.Difference) > math.Abs(tt.diff)/2 {
					t.Errorf("the step is reported again at %d (difference %.2f)", other.Index, other.Difference)
				}
			}
		})
	}
}

func TestRamp(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	tests := []struct {
		name   string
		series []float64
	}{
		{"clean", func() []float64 {
			s := make([]float64, 600)
			for i := range s {
				s[i] = 0.1 * float64(i)
			}
			return s
		}()},
		{"noisy", func() []float64 {
			s := noise(r, 600, 0, 1)
			for i := range s {
				s[i] += 0.05 * float64(i)
			}
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cps := run(t, Config{}, tt.series)
			t.Logf("%d changes over %d values", len(cps), len(tt.series))
			// A ramp is a run of small changes: reported as a few steps, all
			// up, never once per value.
			if len(cps) < 2 || len(cps) > len(tt.series)/DefaultMinSamples {
				t.Errorf("%d changes, want between 2 and %d", len(cps), len(tt.series)/DefaultMinSamples)
			}
			for i, cp := range cps {
				if cp.Direction != Up {
					t.Errorf("change at %d goes %s", cp.Index, cp.Direction)
				}
				if i > 0 && cp.Index-cps[i-1].Index < DefaultMinSamples {
					t.Errorf("changes at %d and %d are closer than min_samples", cps[i-1].Index, cp.Index)
				}
			}
		})
	}
}

// TestLargeValues checks the window is centred: the same noise at 0 and at
// 1e12 must give the same changes and spreads. Uncentred sums of squares at
// 1e12 carry an absolute error near 1e24·2^-52 ≈ 2e8, far above a variance
// of 1.
func TestLargeValues(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	base := concat(noise(r, 300, 0, 1), noise(r, 300, 4, 1))
	shifted := make([]float64, len(base))
	for i, v := range base {
		shifted[i] = 1e12 + v
	}
	want, got := run(t, Config{}, base), run(t, Config{}, shifted)
	if len(got) != len(want) {
		t.Fatalf("at 1e12: %d changes, at 0: %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Direction != w.Direction {
			t.Errorf("change %d: at 1e12 %d %s, at 0 %d %s", i, g.Index, g.Direction, w.Index, w.Direction)
		}
		// Values at 1e12 are rounded to 2^-13 ≈ 1.2e-4.
		if math.Abs(g.Before.SD-w.Before.SD) > 1e-3 || math.Abs(g.After.SD-w.After.SD) > 1e-3 {
			t.Errorf("change %d: sds at 1e12 %g %g, at 0 %g %g", i, g.Before.SD, g.After.SD, w.Before.SD, w.After.SD)
		}
		if math.Abs(g.Difference-w.Difference) > 1e-3 || math.Abs(g.Before.Mean-1e12-w.Before.Mean) > 1e-3 {
			t.Errorf("change %d: difference at 1e12 %g, at 0 %g", i, g.Difference, w.Difference)
		}
	}
	if cp := largest(got); cp == nil || cp.Index < 299 || cp.Index > 303 || math.Abs(cp.Before.SD-1) > 0.3 {
		t.Errorf("largest change at 1e12: %+v, want index 301 ± 2 and sd ≈ 1", cp)
	}
}

// TestFalsePositives measures changes reported on pure noise. The split
// search tests the best of up to window−2·min_samples+1 splits on every
// value, so the rate per value is well above 1 − confidence; the test only
// guards against it growing.
func TestFalsePositives(t *testing.T) {
	const n = 10000
	tests := []struct {
		confidence float64
		maxRate    float64 // per value
	}{
		{0.99, 0.02},
		{0.999, 0.005},
		{0.9999, 0.001},
	}
	for _, tt := range tests {
		r := rand.New(rand.NewPCG(4, 4))
		cps := run(t, Config{Confidence: tt.confidence}, noise(r, n, 0, 1))
		var maxDiff float64
		for _, cp := range cps {
			maxDiff = max(maxDiff, math.Abs(cp.Difference))
		}
		rate := float64(len(cps)) / n
		t.Logf("confidence %g: %d changes on %d noise values (%.2f%% per value), largest |difference| %.2f sd",
			tt.confidence, len(cps), n, 100*rate, maxDiff)
		if rate > tt.maxRate {
			t.Errorf("confidence %g: false-positive rate %.4f, want ≤ %.4f", tt.confidence, rate, tt.maxRate)
		}
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		cfg     Config
		wantErr bool
	}{
		{Config{}, false},
		{Config{Window: 20, MinSamples: 10}, false},
		{Config{Window: 19, MinSamples: 10}, true},
		{Config{MinSamples: 1}, true},
		{Config{MinSamples: -3}, true},
		{Config{Window: MaxWindow + 1}, true},
		{Config{Confidence: 1}, true},
		{Config{Confidence: -0.5}, true},
		{Config{Confidence: math.NaN()}, true},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if (err != nil) != tt.wantErr {
			t.Errorf("New(%+v): error %v, want error %v", tt.cfg, err, tt.wantErr)
		}
	}
	d, _ := New(Config{})
	if got := d.Config(); got != (Config{Window: 120, MinSamples: 10, Confidence: 0.99}) {
		t.Errorf("defaults: %+v", got)
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := d.Add(0, v); err != ErrNotFinite {
			t.Errorf("Add(%g): error %v, want ErrNotFinite", v, err)
		}
	}
	if d.Len() != 0 || d.Seen() != 0 {
		t.Errorf("non-finite values were kept: len %d, seen %d", d.Len(), d.Seen())
	}
}

func TestWindowSlides(t *testing.T) {
	d, _ := New(Config{Window: 30, MinSamples: 5})
	for i := range 1000 {
		if _, err := d.Add(int64(i), 1); err != nil {
			t.Fatal(err)
		}
		if want := min(i+1, 30); d.Len() != want {
			t.Fatalf("after %d values the window holds %d, want %d", i+1, d.Len(), want)
		}
	}
	if d.Seen() != 1000 {
		t.Errorf("seen %d, want 1000", d.Seen())
	}
	d.Reset()
	if d.Len() != 0 || d.Seen() != 0 {
		t.Errorf("after Reset: len %d seen %d", d.Len(), d.Seen())
	}
}

func TestPreserve(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	s := concat(noise(r, 200, 0, 1), noise(r, 200, 3, 1), noise(r, 200, -1, 1))
	whole, _ := New(Config{Window: 80, MinSamples: 8, Confidence: 0.995})
	split, _ := New(Config{Window: 80, MinSamples: 8, Confidence: 0.995})
	for i, v := range s {
		if i == 250 {
			data, err := split.Preserve()
			if err != nil {
				t.Fatal(err)
			}
			if split, err = unmarshal(data); err != nil {
				t.Fatal(err)
			}
		}
		a, _ := whole.Add(int64(i), v)
		b, _ := split.Add(int64(i), v)
		if (a == nil) != (b == nil) || (a != nil && *a != *b) {
			t.Fatalf("value %d: uninterrupted %+v, restored %+v", i, a, b)
		}
	}
	if whole.Seen() != split.Seen() || whole.Len() != split.Len() {
		t.Errorf("seen/len: uninterrupted %d/%d, restored %d/%d", whole.Seen(), whole.Len(), split.Seen(), split.Len())
	}
	for _, bad := range []string{
		``, `{}`, `{"v":2}`, `{"v":1,"window":10,"min_samples":10,"confidence":0.9}`,
		`{"v":1,"window":20,"min_samples":10,"confidence":0.9,"seen":1,"times":[1],"kinds":[0],"values":[1,2]}`,
		`{"v":1,"window":20,"min_samples":10,"confidence":0.9,"seen":1,"times":[1],"kinds":[7],"values":[1]}`,
		`{"v":1,"window":20,"min_samples":10,"confidence":0.9,"seen":0,"times":[1],"kinds":[0],"values":[1]}`,
	} {
		if _, err := unmarshal([]byte(bad)); err == nil {
			t.Errorf("restore %q: no error", bad)
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	s := noise(r, 4096, 0, 1)
	d, _ := New(Config{})
	b.ResetTimer()
	for i := range b.N {
		_, _ = d.Add(int64(i), s[i%len(s)])
	}
}
