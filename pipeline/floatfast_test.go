package pipeline

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func checkAppendFloat(t *testing.T, v float64) {
	t.Helper()
	got := string(appendFloat([]byte("x"), v))
	want := string(strconv.AppendFloat([]byte("x"), v, 'g', -1, 64))
	if got != want {
		t.Fatalf("appendFloat(%v (bits %#x)) = %q, strconv says %q", v, math.Float64bits(v), got, want)
	}
}

// FuzzAppendFloat checks the fast path against strconv on any float64.
func FuzzAppendFloat(f *testing.F) {
	for _, v := range floatEdges {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		checkAppendFloat(t, math.Float64frombits(bits))
	})
}

var floatEdges = []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 0.2, 0.3, 12.5, 84.25, 1e-4, 0.00009999, 1e6, 999999.999999,
	999999.9999999, 1e-5, 123456.789, 0.000123, 1.0000001, 5e-324, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(),
	0.1 + 0.2, 100, 1e5, 3.14159265358979, -0.0001, 2.5e-4, 7.000001, 1 << 53, 1.5e6}

// TestAppendFloat runs the edges, short decimals of every length, and random
// bits, against strconv.
func TestAppendFloat(t *testing.T) {
	for _, v := range floatEdges {
		checkAppendFloat(t, v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		// A short decimal, as metrics mostly are: n / 10^k.
		k := r.IntN(9)
		n := r.Int64N(1 << uint(r.IntN(50)+1))
		v := float64(n) / math.Pow10(k)
		if r.IntN(2) == 0 {
			v = -v
		}
		checkAppendFloat(t, v)
		checkAppendFloat(t, math.Nextafter(v, math.Inf(1)))
		checkAppendFloat(t, math.Float64frombits(r.Uint64()))
		checkAppendFloat(t, r.Float64()*1e6)
	}
}

func BenchmarkAppendFloat(b *testing.B) {
	buf := make([]byte, 0, 64)
	for _, tc := range []struct {
		name string
		f    func([]byte, float64) []byte
	}{{"fast", appendFloat}, {"strconv", func(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'g', -1, 64) }}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				buf = tc.f(buf[:0], 84.25)
				buf = tc.f(buf[:0], 12.5)
				buf = tc.f(buf[:0], 3.125)
			}
		})
	}
}
