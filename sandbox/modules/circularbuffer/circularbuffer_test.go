package circularbuffer

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

const sec = int64(1e9)

func mustNew(t *testing.T, rows, cols int, spr int64) *Buffer {
	t.Helper()
	b, err := New(rows, cols, spr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNew(t *testing.T) {
	tests := []struct {
		rows, cols int
		spr        int64
		wantErr    string
	}{
		{2, 1, 1, ""},
		{1440, 3, 60, ""},
		{1000, 1000, 1, ""},
		{1, 1, 1, "rows must be at least 2"},
		{10, 0, 1, "columns must be at least 1"},
		{10, 1, 0, "seconds_per_row must be at least 1"},
		{1001, 1000, 1, "rows*columns must be at most 1000000"},
		{MaxCells + 1, 1, 1, "rows*columns"},
		{1 << 30, 1 << 30, 1, "rows*columns"},
		{1000, 1, math.MaxInt64 / 100, "rows*seconds_per_row must be at most"},
	}
	for _, tt := range tests {
		b, err := New(tt.rows, tt.cols, tt.spr)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("New(%d, %d, %d): %v", tt.rows, tt.cols, tt.spr, err)
				continue
			}
			if b.CurrentTime() != int64(tt.rows-1)*tt.spr*sec || b.OldestTime() != 0 {
				t.Errorf("New(%d, %d, %d): time range [%d, %d]", tt.rows, tt.cols, tt.spr, b.OldestTime(), b.CurrentTime())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("New(%d, %d, %d): error %v, want %q", tt.rows, tt.cols, tt.spr, err, tt.wantErr)
		}
	}
}

// model is the straightforward buffer: a map from row start to values, and
// the newest row; rows older than rows-1 steps are dropped on advance.
type model struct {
	rows    int
	spr     int64
	current int64
	cells   map[[2]int64]float64 // {row start, column}
}

func (m *model) rowStart(ns int64) int64 {
	return ns / sec / m.spr * m.spr // the test's times are positive
}

func (m *model) inRange(t int64) bool {
	return t <= m.current && t >= m.current-int64(m.rows-1)*m.spr
}

func (m *model) write(ns int64) (int64, bool) {
	t := m.rowStart(ns)
	if t > m.current {
		m.current = t
		for k := range m.cells {
			if !m.inRange(k[0]) {
				delete(m.cells, k)
			}
		}
	}
	return t, m.inRange(t)
}

func (m *model) get(t int64, col int) float64 {
	if v, ok := m.cells[[2]int64{t, int64(col)}]; ok {
		return v
	}
	return math.NaN()
}

func same(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// TestAgainstModel drives a buffer and the model with the same random
// writes, times mostly moving forward, sometimes back, sometimes jumping
// past the whole buffer, and compares every cell and computation.
func TestAgainstModel(t *testing.T) {
	shapes := []struct {
		rows, cols int
		spr        int64
	}{{2, 1, 1}, {5, 2, 1}, {10, 3, 60}, {60, 1, 10}}
	for _, sh := range shapes {
		r := rand.New(rand.NewPCG(uint64(sh.rows), uint64(sh.spr)))
		b := mustNew(t, sh.rows, sh.cols, sh.spr)
		m := &model{rows: sh.rows, spr: sh.spr, current: int64(sh.rows-1) * sh.spr, cells: map[[2]int64]float64{}}
		span := int64(sh.rows) * sh.spr * sec
		ns := int64(1_700_000_000) * sec
		for step := range 3000 {
			switch x := r.IntN(100); {
			case x < 60:
				ns += r.Int64N(2 * sh.spr * sec) // forward, often within the row
			case x < 80:
				ns -= r.Int64N(span + span/2) // back, sometimes out of the buffer
			case x < 85:
				ns += span + r.Int64N(3*span) // past the whole buffer
			default: // same time
			}
			col := r.IntN(sh.cols)
			v := float64(r.IntN(21) - 10)
			if r.IntN(10) == 0 {
				v = math.NaN()
			}
			useAdd := r.IntN(2) == 0
			var got float64
			var ok bool
			if useAdd {
				got, ok, _ = b.Add(ns, col, v)
			} else {
				got, ok, _ = b.Set(ns, col, v)
			}
			row, in := m.write(ns)
			want := v
			if in {
				if old := m.get(row, col); useAdd && !math.IsNaN(old) {
					want = old + v
				}
				m.cells[[2]int64{row, int64(col)}] = want
			}
			if ok != in || (ok && !same(got, want)) {
				t.Fatalf("%v step %d (add %v at %d, col %d, %g): got %g %v, want %g %v", sh, step, useAdd, ns, col, v, got, ok, want, in)
			}
			if b.CurrentTime() != m.current*sec {
				t.Fatalf("%v step %d: current time %d, want %d", sh, step, b.CurrentTime(), m.current*sec)
			}
			if step%50 == 0 {
				compareAll(t, b, m)
			}
		}
		compareAll(t, b, m)
	}
}

func compareAll(t *testing.T, b *Buffer, m *model) {
	t.Helper()
	oldest := m.current - int64(m.rows-1)*m.spr
	for c := range b.Columns() {
		for row := oldest - m.spr; row <= m.current+m.spr; row += m.spr {
			got, ok, _ := b.Get(row*sec+sec/2, c)
			if ok != m.inRange(row) || (ok && !same(got, m.get(row, c))) {
				t.Fatalf("get(row %d, col %d): %g %v, want %g %v", row, c, got, ok, m.get(row, c), m.inRange(row))
			}
		}
		// every sub-range, against straightforward computations
		for from := oldest; from <= m.current; from += m.spr {
			for to := from; to <= m.current; to += m.spr {
				var xs []float64
				for row := from; row <= to; row += m.spr {
					if v := m.get(row, c); !math.IsNaN(v) {
						xs = append(xs, v)
					}
				}
				for fn, want := range reference(xs) {
					got, ok, err := b.Compute(fn, c, from*sec, to*sec+sec-1)
					if err != nil {
						t.Fatal(err)
					}
					if ok != (len(xs) > 0) || (ok && math.Abs(got-want) > 1e-9*max(1, math.Abs(want))) {
						t.Fatalf("compute(%s, col %d, %d..%d) over %v: %g %v, want %g", fn, c, from, to, xs, got, ok, want)
					}
				}
			}
		}
	}
}

// reference computes the functions the obvious way.
func reference(xs []float64) map[string]float64 {
	out := map[string]float64{}
	if len(xs) == 0 {
		for fn := range computeFuncs {
			out[fn] = math.NaN()
		}
		return out
	}
	var s, ss float64
	for _, x := range xs {
		s += x
	}
	mean := s / float64(len(xs))
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	out["sum"] = s
	out["avg"] = mean
	out["variance"] = ss / float64(len(xs))
	out["sd"] = math.Sqrt(ss / float64(len(xs)))
	out["min"] = slices.Min(xs)
	out["max"] = slices.Max(xs)
	return out
}

func TestAdvance(t *testing.T) {
	tests := []struct {
		name     string
		writes   []int64 // seconds; each sets column 0 to its index+1
		wantTime int64   // seconds of the newest row
		wantRows []float64
	}{
		{"fills in order", []int64{100, 101, 102, 103}, 103, []float64{1, 2, 3, 4}},
		{"same row twice", []int64{100, 100}, 100, []float64{math.NaN(), math.NaN(), math.NaN(), 2}},
		{"gap clears the skipped rows", []int64{100, 101, 102, 103, 105}, 105, []float64{3, 4, math.NaN(), 5}},
		{"exactly the buffer length", []int64{100, 101, 102, 103, 107}, 107, []float64{math.NaN(), math.NaN(), math.NaN(), 5}},
		{"more than the buffer length", []int64{100, 101, 102, 103, 1_000_000}, 1_000_000, []float64{math.NaN(), math.NaN(), math.NaN(), 5}},
		{"one short of the length", []int64{100, 101, 102, 103, 106}, 106, []float64{4, math.NaN(), math.NaN(), 5}},
		{"older than the buffer is ignored", []int64{100, 101, 102, 103, 99}, 103, []float64{1, 2, 3, 4}},
		{"back in time within the buffer", []int64{103, 101}, 103, []float64{math.NaN(), 2, math.NaN(), 1}},
		{"negative times", []int64{-10, -9}, -9, []float64{math.NaN(), math.NaN(), 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, 4, 1, 1)
			if tt.name == "negative times" {
				// A new buffer starts at the epoch; times before it are
				// older than the buffer until it is moved there.
				b.current, b.head = -12, 3
			}
			for i, s := range tt.writes {
				b.Set(s*sec, 0, float64(i+1))
			}
			if b.CurrentTime() != tt.wantTime*sec {
				t.Errorf("current time %d, want %d", b.CurrentTime()/sec, tt.wantTime)
			}
			got, ok, _ := b.Range(0, b.OldestTime(), b.CurrentTime())
			if !ok || !slices.EqualFunc(got, tt.wantRows, same) {
				t.Errorf("rows %v, want %v", got, tt.wantRows)
			}
		})
	}
}

func TestRangeAndCompute(t *testing.T) {
	b := mustNew(t, 5, 2, 10) // rows start at 1000, 1010, ..., 1040 after the writes
	for i, v := range []float64{1, 2, math.NaN(), 4, 5} {
		b.Set((1000+10*int64(i))*sec, 0, v)
	}
	tests := []struct {
		fn         string
		col        int
		start, end int64 // seconds
		want       float64
		ok         bool
	}{
		{"sum", 0, 1000, 1040, 12, true},
		{"avg", 0, 1000, 1040, 3, true},
		{"min", 0, 1000, 1040, 1, true},
		{"max", 0, 1005, 1039, 4, true},
		{"variance", 0, 1000, 1010, 0.25, true},
		{"sd", 0, 1000, 1010, 0.5, true},
		{"sum", 0, 1020, 1020, 0, false}, // only NaN
		{"sum", 1, 1000, 1040, 0, false}, // empty column
		{"sum", 0, 990, 1040, 0, false},  // starts before the buffer
		{"sum", 0, 1000, 1050, 0, false}, // ends after it
		{"sum", 0, 1030, 1010, 0, false}, // backwards
	}
	for _, tt := range tests {
		got, ok, err := b.Compute(tt.fn, tt.col, tt.start*sec, tt.end*sec)
		if err != nil || ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("compute(%s, %d, %d, %d) = %g %v %v, want %g %v", tt.fn, tt.col, tt.start, tt.end, got, ok, err, tt.want, tt.ok)
		}
	}
	if _, _, err := b.Compute("median", 0, 1000*sec, 1040*sec); err == nil {
		t.Error("unknown function: no error")
	}
	if _, _, err := b.Compute("sum", 2, 1000*sec, 1040*sec); err == nil {
		t.Error("column out of range: no error")
	}
	got, ok, _ := b.Range(0, 1010*sec, 1030*sec)
	if want := []float64{2, math.NaN(), 4}; !ok || !slices.EqualFunc(got, want, same) {
		t.Errorf("range = %v %v, want %v", got, ok, want)
	}
}

// TestLargeValues checks sd keeps a small spread on large values.
func TestLargeValues(t *testing.T) {
	b := mustNew(t, 4, 1, 1)
	for i, v := range []float64{1e12 + 1, 1e12 - 1, 1e12 + 1, 1e12 - 1} {
		b.Set(int64(i)*sec, 0, v)
	}
	if sd, ok, _ := b.Compute("sd", 0, 0, 3*sec); !ok || sd != 1 {
		t.Errorf("sd = %g, want 1", sd)
	}
}

func TestHeaders(t *testing.T) {
	b := mustNew(t, 2, 3, 1)
	tests := []struct {
		col             int
		name, unit, agg string
		want            Column
		wantErr         string
	}{
		{0, "Requests", "", "", Column{"Requests", "count", "sum"}, ""},
		{1, "resp time (ms)!", "ms/req", "avg", Column{"resp_time__ms__", "ms/req", "avg"}, ""},
		{2, "a-very-long-column-name", "kilobytes", "max", Column{"a_very_long_col", "kilobyt", "max"}, ""},
		{2, "x", "", "median", Column{}, "unknown aggregation"},
		{2, "", "", "", Column{}, "name must not be empty"},
		{3, "x", "", "", Column{}, "out of range"},
	}
	for _, tt := range tests {
		err := b.SetHeader(tt.col, tt.name, tt.unit, tt.agg)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SetHeader(%d, %q, %q, %q): error %v, want %q", tt.col, tt.name, tt.unit, tt.agg, err, tt.wantErr)
			}
			continue
		}
		if got, _ := b.Header(tt.col); err != nil || got != tt.want {
			t.Errorf("SetHeader(%d, %q, %q, %q): %+v %v, want %+v", tt.col, tt.name, tt.unit, tt.agg, got, err, tt.want)
		}
	}
}

func TestCbuf(t *testing.T) {
	b := mustNew(t, 3, 2, 60)
	b.SetHeader(0, "Requests", "count", "sum")
	b.SetHeader(1, "Latency", "ms", "avg")
	b.Set(1_379_574_960*sec, 0, 1)
	b.Set(1_379_575_020*sec, 0, 2.5)
	b.Set(1_379_575_020*sec, 1, math.Inf(1))
	b.Set(1_379_575_080*sec, 1, -1e-7)
	want := `{"time":1379574960,"rows":3,"columns":2,"seconds_per_row":60,"column_info":[{"name":"Requests","unit":"count","aggregation":"sum"},{"name":"Latency","unit":"ms","aggregation":"avg"}]}
1	nan
2.5	inf
nan	-1e-07
`
	if got := b.String(); got != want {
		t.Errorf("cbuf:\n%s\nwant:\n%s", got, want)
	}
	if err := b.SetFormat("cbufd"); err == nil {
		t.Error("cbufd: no error")
	}
}

func TestPreserve(t *testing.T) {
	b := mustNew(t, 7, 3, 5)
	b.SetHeader(1, "Bytes", "B", "max")
	r := rand.New(rand.NewPCG(9, 9))
	for i := range 50 {
		b.Add(int64(1000+3*i)*sec, r.IntN(3), r.NormFloat64())
	}
	b.Set(b.CurrentTime(), 2, math.Inf(-1))
	data, err := b.Preserve()
	if err != nil {
		t.Fatal(err)
	}
	c, err := unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != b.String() {
		t.Errorf("restored:\n%s\nwant:\n%s", c, b)
	}
	// Both keep moving the same way.
	for i := range 20 {
		ns := int64(1200+4*i) * sec
		x, _, _ := b.Add(ns, 0, float64(i))
		y, _, _ := c.Add(ns, 0, float64(i))
		if x != y {
			t.Fatalf("after restore, add %d: %g vs %g", i, y, x)
		}
	}
	if c.String() != b.String() {
		t.Errorf("after more writes, restored:\n%s\nwant:\n%s", c, b)
	}
	bad := [][]byte{
		nil,
		[]byte("CBUF"),
		[]byte("CBUF\x02"),
		data[:len(data)-1],
		append(slices.Clone(data), 0),
		[]byte("XBUF" + string(data[4:])),
	}
	for i, d := range bad {
		if _, err := unmarshal(d); err == nil {
			t.Errorf("bad input %d: no error", i)
		}
	}
}

func FuzzRestore(f *testing.F) {
	b, _ := New(3, 2, 60)
	b.Set(1_000_000*sec, 1, 3)
	data, _ := b.Preserve()
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := unmarshal(data)
		if err != nil {
			return
		}
		again, err := b.Preserve()
		if err != nil {
			t.Fatal(err)
		}
		if c, err := unmarshal(again); err != nil || c.String() != b.String() {
			t.Fatalf("preserve of a restored buffer does not restore: %v", err)
		}
	})
}
