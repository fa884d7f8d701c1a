package pipeline

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RecordFormats are the formats of recorded data a RecordReader reads.
var RecordFormats = []string{"auto", "influx", "json", "csv"}

// RecordOptions say how a RecordReader reads a file.
type RecordOptions struct {
	// Format is "influx" (line protocol, ns timestamps), "json" (the JSON
	// form of `interoceptor cat`, one message a line), "csv" or "auto"
	// (also ""): by the file's extension (.lp, .influx, .line; .json,
	// .jsonl, .ndjson; .csv), else by its first line that is not blank or a
	// # comment: a '{' starts JSON, a line of line protocol with a
	// timestamp is influx, anything else CSV.
	Format string
	// CSV: the column holding the time (default "timestamp").
	TimeColumn string
	// CSV: how the time is written: a Go time layout read as UTC unless it
	// has a zone ("2006-01-02 15:04:05"), or "s", "ms", "us", "ns" for a
	// number since the Unix epoch (s may have a fraction). Default ("" or
	// "auto"): RFC 3339, or "2006-01-02 15:04:05" or "2006-01-02T15:04:05",
	// each with an optional fraction of a second, in UTC.
	TimeLayout string
	// CSV: the measurement of the points (default: the file's name without
	// its extension; "replay" for standard input).
	Measurement string
}

// RecordReader reads recorded data, one message per record, for Replay:
// InfluxDB line protocol, the JSON form of messages, or CSV with a header
// and a time column, whose other columns are numbers and become the float
// fields of one metric point a row (an empty cell is a missing value: the
// field is left out, and a row with no value at all is skipped and counted
// in Skipped). Every record must have a timestamp. An error names the file
// and line: "week.csv:12: column "value": "n/a" is not a number".
type RecordReader struct {
	name   string
	format string
	f      *os.File // nil for a reader given to NewRecordReader
	m      Message

	lines *bufio.Scanner // influx, json
	line  int

	csv     *csv.Reader
	timeCol int
	header  []string
	parse   func(string) (int64, error)
	measure string
	skipped uint64
}

// OpenRecords opens a file of recorded data ("-" is standard input).
func OpenRecords(path string, opts RecordOptions) (*RecordReader, error) {
	if path == "-" {
		return NewRecordReader(os.Stdin, "stdin", opts)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rr, err := NewRecordReader(f, path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	rr.f = f
	return rr, nil
}

// NewRecordReader reads recorded data from r; name names it in errors and
// picks the format and the CSV measurement by its extension and base name.
func NewRecordReader(r io.Reader, name string, opts RecordOptions) (*RecordReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	format := opts.Format
	if format == "" || format == "auto" {
		format = detectFormat(name, br)
	}
	rr := &RecordReader{name: name, format: format}
	switch format {
	case "influx", "json":
		rr.lines = bufio.NewScanner(br)
		rr.lines.Buffer(make([]byte, 64<<10), MaxBatchBytes)
	case "csv":
		if err := rr.openCSV(br, opts); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("record format %q: use %s", format, strings.Join(RecordFormats, ", "))
	}
	return rr, nil
}

// Format returns the format being read: influx, json or csv.
func (rr *RecordReader) Format() string { return rr.format }

// Skipped returns the CSV rows skipped so far because every value was empty.
func (rr *RecordReader) Skipped() uint64 { return rr.skipped }

// Close closes the file OpenRecords opened.
func (rr *RecordReader) Close() error {
	if rr.f == nil {
		return nil
	}
	return rr.f.Close()
}

// detectFormat picks a format by extension, else by the first line.
func detectFormat(name string, br *bufio.Reader) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".lp", ".influx", ".line":
		return "influx"
	case ".json", ".jsonl", ".ndjson":
		return "json"
	case ".csv":
		return "csv"
	}
	head, _ := br.Peek(br.Size())
	for len(head) > 0 {
		line, rest, _ := bytes.Cut(head, []byte("\n"))
		head = rest
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if line[0] == '{' {
			return "json"
		}
		var m Message
		if ParseLineProtocol(line, &m) == nil && m.Timestamp != 0 {
			return "influx"
		}
		return "csv"
	}
	return "csv"
}

// Next returns the next record, or io.EOF. The message is reused by the
// next call.
func (rr *RecordReader) Next() (*Message, error) {
	if rr.csv != nil {
		return rr.nextCSV()
	}
	for rr.lines.Scan() {
		rr.line++
		line := bytes.TrimSpace(rr.lines.Bytes())
		if len(line) == 0 || (rr.format == "influx" && line[0] == '#') {
			continue
		}
		m := &rr.m
		m.Reset()
		var err error
		if rr.format == "json" {
			err = ParseJSON(line, m)
		} else {
			err = ParseLineProtocol(line, m)
		}
		if err != nil {
			return nil, rr.errorf("%v", err)
		}
		if m.Timestamp == 0 {
			return nil, rr.errorf("the record has no timestamp: replay runs on the data's clock")
		}
		return m, nil
	}
	if err := rr.lines.Err(); err != nil {
		return nil, rr.errorf("%v", err)
	}
	return nil, io.EOF
}

func (rr *RecordReader) errorf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", rr.name, rr.line, fmt.Sprintf(format, args...))
}

func (rr *RecordReader) openCSV(br *bufio.Reader, opts RecordOptions) error {
	rr.csv = csv.NewReader(br)
	rr.csv.ReuseRecord = true
	header, err := rr.csv.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: empty: a CSV file needs a header", rr.name)
		}
		return fmt.Errorf("%s: %w", rr.name, err)
	}
	rr.header = append([]string(nil), header...)
	rr.csv.FieldsPerRecord = len(header)
	col := opts.TimeColumn
	if col == "" {
		col = "timestamp"
	}
	rr.timeCol = -1
	for i, h := range rr.header {
		if strings.TrimSpace(h) == col {
			rr.timeCol = i
		}
	}
	if rr.timeCol < 0 {
		return fmt.Errorf("%s:1: no column %q in the header (%s): name the time column", rr.name, col, strings.Join(rr.header, ","))
	}
	if len(rr.header) < 2 {
		return fmt.Errorf("%s:1: the header has no column besides %q: nothing to replay", rr.name, col)
	}
	rr.parse, err = timeParser(opts.TimeLayout)
	if err != nil {
		return err
	}
	rr.measure = opts.Measurement
	if rr.measure == "" {
		rr.measure = strings.TrimSuffix(filepath.Base(rr.name), filepath.Ext(rr.name))
		if rr.name == "stdin" {
			rr.measure = "replay"
		}
	}
	return nil
}

func (rr *RecordReader) nextCSV() (*Message, error) {
	for {
		row, err := rr.csv.Read()
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rr.line = pe.Line
				return nil, rr.errorf("%v", pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", rr.name, err)
		}
		rr.line, _ = rr.csv.FieldPos(0)
		m := &rr.m
		m.Reset()
		m.Type = MetricType
		m.Fields = append(m.Fields, Field{Name: MeasurementField, Kind: KindString, Role: RoleMeasurement, Str: rr.measure})
		ts, err := rr.parse(strings.TrimSpace(row[rr.timeCol]))
		if err != nil {
			return nil, rr.errorf("column %q: %v", rr.header[rr.timeCol], err)
		}
		if ts == 0 {
			return nil, rr.errorf("column %q: the time is 0 (1970-01-01T00:00:00Z), which means none", rr.header[rr.timeCol])
		}
		m.Timestamp = ts
		for i, cell := range row {
			if i == rr.timeCol {
				continue
			}
			cell = strings.TrimSpace(cell)
			if cell == "" {
				continue // a missing value
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, rr.errorf("column %q: %q is not a number", rr.header[i], cell)
			}
			m.Fields = append(m.Fields, Field{Name: rr.header[i], Kind: KindFloat, Float: v})
		}
		if len(m.Fields) == 1 {
			rr.skipped++
			continue
		}
		return m, nil
	}
}

// timeParser returns the parser of a CSV time column (see
// RecordOptions.TimeLayout).
func timeParser(layout string) (func(string) (int64, error), error) {
	epoch := map[string]int64{"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1}
	if unit, ok := epoch[layout]; ok {
		return func(s string) (int64, error) {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				if n > math.MaxInt64/unit || n < math.MinInt64/unit {
					return 0, fmt.Errorf("%q is out of range", s)
				}
				return n * unit, nil
			}
			if unit == 1e9 {
				if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && math.Abs(f) < 9e9 {
					return int64(math.Round(f * 1e9)), nil
				}
			}
			return 0, fmt.Errorf("%q is not a time in %s since the Unix epoch", s, layout)
		}, nil
	}
	layouts := []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05"}
	if layout != "" && layout != "auto" {
		layouts = []string{layout}
	}
	return func(s string) (int64, error) {
		for _, l := range layouts {
			if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
				return t.UnixNano(), nil
			}
		}
		if len(layouts) == 1 {
			return 0, fmt.Errorf("%q does not match the time layout %q", s, layouts[0])
		}
		return 0, fmt.Errorf("%q is not a time in RFC 3339 or 2006-01-02 15:04:05 (give the layout)", s)
	}, nil
}
