// Package circularbuffer is the Lua module "circular_buffer", after Heka's:
// a fixed number of rows, each covering seconds_per_row seconds, of a fixed
// number of float columns. Writing at a time newer than the newest row
// advances the buffer; the rows that scroll in start as NaN ("no data"), and
// the oldest rows fall off.
//
// Lua use is described in the package README. The Go type Buffer is the same
// buffer without Lua; its columns are 0-based, Lua's 1-based.
package circularbuffer

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/interoceptor/interoceptor/sandbox"
)

// MaxCells bounds rows*columns: a buffer holds 8 bytes per cell.
const MaxCells = 1_000_000

// maxSpan is the longest time a buffer may cover, in seconds, so that every
// time it handles fits an int64 of ns.
const maxSpan int64 = math.MaxInt64 / 1_000_000_000 / 2

// Column describes one column, for the cbuf header and graphs.
type Column struct {
	Name        string // [A-Za-z0-9_], at most 15 bytes; default "Column_<n>"
	Unit        string // [A-Za-z0-9_/*], at most 7 bytes; default "count"
	Aggregation string // how a graph merges rows: sum, min, max, avg or none; default "sum"
}

// Buffer is a circular buffer of rows × columns float64 cells, one row per
// SecondsPerRow seconds. It is not safe for concurrent use.
//
// In Lua it is the userdata circular_buffer.new returns; the sandbox counts
// its memory (SizeBytes) and carries it across a reload (Preserve, Restore).
type Buffer struct {
	rows, cols int
	spr        int64     // seconds per row
	current    int64     // start of the newest row, in seconds
	head       int       // ring index of the newest row
	values     []float64 // ring index r, column c at values[r*cols+c]
	columns    []Column
	format     string
}

// New returns a buffer of rows × columns cells, one row per secondsPerRow
// seconds, every cell NaN. Its newest row starts at (rows−1)·secondsPerRow
// seconds after the epoch until a newer time is written, as in Heka.
func New(rows, columns int, secondsPerRow int64) (*Buffer, error) {
	switch {
	case rows < 2:
		return nil, fmt.Errorf("rows must be at least 2, got %d", rows)
	case columns < 1:
		return nil, fmt.Errorf("columns must be at least 1, got %d", columns)
	case rows > MaxCells || columns > MaxCells || rows*columns > MaxCells:
		return nil, fmt.Errorf("rows*columns must be at most %d, got %d*%d", MaxCells, rows, columns)
	case secondsPerRow < 1:
		return nil, fmt.Errorf("seconds_per_row must be at least 1, got %d", secondsPerRow)
	case secondsPerRow > maxSpan/int64(rows):
		return nil, fmt.Errorf("rows*seconds_per_row must be at most %d seconds", maxSpan)
	}
	b := &Buffer{
		rows:    rows,
		cols:    columns,
		spr:     secondsPerRow,
		current: int64(rows-1) * secondsPerRow,
		head:    rows - 1,
		values:  make([]float64, rows*columns),
		columns: make([]Column, columns),
		format:  "cbuf",
	}
	for i := range b.values {
		b.values[i] = math.NaN()
	}
	for i := range b.columns {
		b.columns[i] = Column{Name: "Column_" + strconv.Itoa(i+1), Unit: "count", Aggregation: "sum"}
	}
	return b, nil
}

var (
	_ sandbox.Preserver = (*Buffer)(nil)
	_ sandbox.Sizer     = (*Buffer)(nil)
)

// SizeBytes estimates the buffer's memory, for the sandbox's limit.
func (b *Buffer) SizeBytes() int64 {
	n := int64(unsafe.Sizeof(*b)) + 8*int64(cap(b.values)) + int64(cap(b.columns))*int64(unsafe.Sizeof(Column{}))
	for _, c := range b.columns {
		n += int64(len(c.Name) + len(c.Unit) + len(c.Aggregation))
	}
	return n
}

// Rows returns the number of rows.
func (b *Buffer) Rows() int { return b.rows }

// Columns returns the number of columns.
func (b *Buffer) Columns() int { return b.cols }

// SecondsPerRow returns the time one row covers.
func (b *Buffer) SecondsPerRow() int64 { return b.spr }

// CurrentTime returns the start of the newest row, in ns.
func (b *Buffer) CurrentTime() int64 { return b.current * 1e9 }

// oldest returns the start of the oldest row, in seconds.
func (b *Buffer) oldest() int64 { return b.current - int64(b.rows-1)*b.spr }

// rowStart returns the start, in seconds, of the row that holds ns.
func (b *Buffer) rowStart(ns int64) int64 {
	sec := floorDiv(ns, 1e9)
	return floorDiv(sec, b.spr) * b.spr
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// index returns the ring index of the row starting at t (seconds), or false
// when t is outside the buffer.
func (b *Buffer) index(t int64) (int, bool) {
	if t > b.current || t < b.oldest() {
		return 0, false
	}
	back := int((b.current - t) / b.spr)
	return (b.head - back + b.rows) % b.rows, true
}

// advance makes the row starting at t the newest, clearing the rows that
// scroll in. t must be newer than the current row.
func (b *Buffer) advance(t int64) {
	steps := (t - b.current) / b.spr
	if steps >= int64(b.rows) {
		for i := range b.values {
			b.values[i] = math.NaN()
		}
		b.head = 0
	} else {
		for range steps {
			b.head = (b.head + 1) % b.rows
			row := b.values[b.head*b.cols : (b.head+1)*b.cols]
			for i := range row {
				row[i] = math.NaN()
			}
		}
	}
	b.current = t
}

// cell returns the cell for ns and column, advancing the buffer when ns is
// newer than the newest row if write is set; nil when ns is outside.
func (b *Buffer) cell(ns int64, column int, write bool) *float64 {
	t := b.rowStart(ns)
	if write && t > b.current {
		b.advance(t)
	}
	r, ok := b.index(t)
	if !ok {
		return nil
	}
	return &b.values[r*b.cols+column]
}

func (b *Buffer) checkColumn(column int) error {
	if column < 0 || column >= b.cols {
		return fmt.Errorf("column %d out of range [1, %d]", column+1, b.cols)
	}
	return nil
}

// Add adds v to the cell at ns (a NaN cell becomes v) and returns the new
// value; false when ns is older than the oldest row.
func (b *Buffer) Add(ns int64, column int, v float64) (float64, bool, error) {
	if err := b.checkColumn(column); err != nil {
		return 0, false, err
	}
	c := b.cell(ns, column, true)
	if c == nil {
		return 0, false, nil
	}
	if math.IsNaN(*c) {
		*c = v
	} else {
		*c += v
	}
	return *c, true, nil
}

// Set stores v in the cell at ns and returns it; false when ns is older
// than the oldest row.
func (b *Buffer) Set(ns int64, column int, v float64) (float64, bool, error) {
	if err := b.checkColumn(column); err != nil {
		return 0, false, err
	}
	c := b.cell(ns, column, true)
	if c == nil {
		return 0, false, nil
	}
	*c = v
	return v, true, nil
}

// Get returns the cell at ns; false when ns is outside the buffer (reading
// never advances it).
func (b *Buffer) Get(ns int64, column int) (float64, bool, error) {
	if err := b.checkColumn(column); err != nil {
		return 0, false, err
	}
	c := b.cell(ns, column, false)
	if c == nil {
		return 0, false, nil
	}
	return *c, true, nil
}

// Range returns the column's values from the row holding start to the row
// holding end (ns), oldest first, NaN included; false when start or end is
// outside the buffer or start is after end.
func (b *Buffer) Range(column int, start, end int64) ([]float64, bool, error) {
	if err := b.checkColumn(column); err != nil {
		return nil, false, err
	}
	s, e := b.rowStart(start), b.rowStart(end)
	rs, ok1 := b.index(s)
	_, ok2 := b.index(e)
	if !ok1 || !ok2 || s > e {
		return nil, false, nil
	}
	out := make([]float64, (e-s)/b.spr+1)
	for i := range out {
		out[i] = b.values[((rs+i)%b.rows)*b.cols+column]
	}
	return out, true, nil
}

// Compute functions.
var computeFuncs = map[string]func([]float64) float64{
	"sum":      func(xs []float64) float64 { return sum(xs) },
	"avg":      func(xs []float64) float64 { return sum(xs) / float64(len(xs)) },
	"variance": variance,
	"sd":       func(xs []float64) float64 { return math.Sqrt(variance(xs)) },
	"min": func(xs []float64) float64 {
		m := xs[0]
		for _, x := range xs[1:] {
			m = math.Min(m, x)
		}
		return m
	},
	"max": func(xs []float64) float64 {
		m := xs[0]
		for _, x := range xs[1:] {
			m = math.Max(m, x)
		}
		return m
	},
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

// variance is the population variance (divided by n, as Heka's), in two
// passes so that large values with a small spread keep their spread.
func variance(xs []float64) float64 {
	mean := sum(xs) / float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return ss / float64(len(xs))
}

// Compute applies fn (sum, avg, sd, variance, min or max) to the column's
// values from the row holding start to the row holding end, skipping NaN.
// It returns false when the range is invalid (as for Range) or holds no
// value that is not NaN. sd and variance are the population ones.
func (b *Buffer) Compute(fn string, column int, start, end int64) (float64, bool, error) {
	f, ok := computeFuncs[fn]
	if !ok {
		return 0, false, fmt.Errorf("unknown function %q (sum, avg, sd, variance, min, max)", fn)
	}
	xs, ok, err := b.Range(column, start, end)
	if !ok {
		return 0, false, err
	}
	kept := xs[:0]
	for _, x := range xs {
		if !math.IsNaN(x) {
			kept = append(kept, x)
		}
	}
	if len(kept) == 0 {
		return 0, false, nil
	}
	return f(kept), true, nil
}

// OldestTime returns the start of the oldest row, in ns.
func (b *Buffer) OldestTime() int64 { return b.oldest() * 1e9 }

// Header returns the description of a column.
func (b *Buffer) Header(column int) (Column, error) {
	if err := b.checkColumn(column); err != nil {
		return Column{}, err
	}
	return b.columns[column], nil
}

// Aggregations lists the aggregation methods SetHeader accepts.
var Aggregations = []string{"sum", "min", "max", "avg", "none"}

// SetHeader names a column. Characters outside the allowed sets become '_'
// and long names are cut, as in Heka; an empty unit or aggregation keeps
// the current one.
func (b *Buffer) SetHeader(column int, name, unit, aggregation string) error {
	if err := b.checkColumn(column); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("column %d: name must not be empty", column+1)
	}
	c := &b.columns[column]
	if aggregation != "" {
		if !slices.Contains(Aggregations, aggregation) {
			return fmt.Errorf("unknown aggregation %q (%s)", aggregation, strings.Join(Aggregations, ", "))
		}
		c.Aggregation = aggregation
	}
	c.Name = sanitize(name, 15, "")
	if unit != "" {
		c.Unit = sanitize(unit, 7, "/*")
	}
	return nil
}

func sanitize(s string, max int, extra string) string {
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || strings.ContainsRune(extra, r) {
			return r
		}
		return '_'
	}, s)
}

// Formats lists the output formats SetFormat accepts.
var Formats = []string{"cbuf"}

// SetFormat chooses what String produces; only "cbuf" exists so far.
func (b *Buffer) SetFormat(format string) error {
	if !slices.Contains(Formats, format) {
		return fmt.Errorf("unknown format %q (%s)", format, strings.Join(Formats, ", "))
	}
	b.format = format
	return nil
}

// cbufHeader is the first line of the cbuf form.
type cbufHeader struct {
	Time          int64    `json:"time"` // start of the oldest row, in seconds
	Rows          int      `json:"rows"`
	Columns       int      `json:"columns"`
	SecondsPerRow int64    `json:"seconds_per_row"`
	ColumnInfo    []Column `json:"column_info"`
}

// MarshalJSON writes a column as Heka's cbuf header does.
func (c Column) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name        string `json:"name"`
		Unit        string `json:"unit"`
		Aggregation string `json:"aggregation"`
	}{c.Name, c.Unit, c.Aggregation})
}

// String returns the buffer in Heka's cbuf form: a JSON header line, then
// one line per row, oldest first, of tab-separated values (nan, inf and
// -inf spelled so).
func (b *Buffer) String() string {
	head, _ := json.Marshal(cbufHeader{ // cannot fail: plain strings and numbers
		Time:          b.oldest(),
		Rows:          b.rows,
		Columns:       b.cols,
		SecondsPerRow: b.spr,
		ColumnInfo:    b.columns,
	})
	var sb strings.Builder
	sb.Grow(len(head) + 1 + b.rows*b.cols*8)
	sb.Write(head)
	sb.WriteByte('\n')
	var num []byte
	for i := range b.rows {
		r := (b.head + 1 + i) % b.rows
		for c, v := range b.values[r*b.cols : (r+1)*b.cols] {
			if c > 0 {
				sb.WriteByte('\t')
			}
			num = appendValue(num[:0], v)
			sb.Write(num)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

func appendValue(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "nan"...)
	case math.IsInf(v, 1):
		return append(dst, "inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-inf"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}
