// Package eval scores detector filters on labelled series: the Numenta
// Anomaly Benchmark (NAB) and the Turing Change Point Dataset (TCPD). It is
// what `interoceptor eval` runs.
//
// Every series goes through the real pipeline with pipeline.Replay: its rows
// become metric points with their own timestamps, published to the detector
// config's input subject, and what the detector filter(s) emit is read back.
//
// The contract between eval and a detector filter (plugins/filters/*.lua):
//
//   - Each row is a message of Type "metric" whose measurement is the
//     series' file name without extension ("nyc_taxi", "bank"), with no
//     tags and one float field, "value", at the row's time: NAB's own
//     timestamps; for TCPD, row i at TCPDStart + i × TCPDStep. A TCPD row
//     whose value is null is not sent (the rows after it keep their index
//     and time).
//   - In each filters.lua of the config, eval sets the config keys
//     emit_scores = true and field = "value" (over [filters.lua.config])
//     and drops the filter's matcher: eval chooses the data. The rest of
//     the config is the detector's, as it would run.
//   - With emit_scores = true the filter injects, for every point it
//     receives, a message of Type "anomaly.score" with the point's
//     Timestamp and a float field "score" in [0, 1]. Every row sent must get
//     exactly one score: a missing, extra, out-of-range or misplaced score
//     is an error naming the series and the row.
//   - On a detected event it injects a message of Type "anomaly". One with
//     a field "change_time" (ns, a string of digits, or an integer) marks a
//     change of regime that began then: for TCPD a predicted change point,
//     the first row at or after that time (the last row if it is later).
//     One without marks an unusual point (a spike), not a change point.
//   - Anything else the filters emit is counted and ignored.
//
// NAB is scored from the scores (ScoreNAB: NAB v1.1's three profiles, the
// threshold swept over all files), TCPD from the events (F1 with a margin of
// 5 rows, and segmentation covering).
package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/interoceptor/interoceptor/filters/lua"
	"github.com/interoceptor/interoceptor/pipeline"
)

// The Types of the messages of the contract.
const (
	ScoreType = "anomaly.score"
	EventType = "anomaly"
)

// Options are what Run evaluates, and how.
type Options struct {
	NABDir  string // a NAB directory (data/, labels/); "" to skip NAB
	TCPDDir string // a TCPD directory (datasets/, annotations.json); "" to skip TCPD
	OutDir  string // NAB result files go under it (required with NABDir)
	Config  string // the detector's config: a file or directory of filters
	// Detector names the results (default: the config's base name without
	// extension, "anomaly" for anomaly.toml).
	Detector string
	// Subjects the points are published to (default: the filters' one
	// input subject; see pipeline.ReplaySubjects).
	Subjects []string
	Parallel int       // series run at once (default 1)
	Progress io.Writer // a line per series (nil: none)
	Log      *slog.Logger
}

// Result is what Run found.
type Result struct {
	Detector string
	Config   string
	NAB      []NABScore // by profile, NAB's order; nil without NAB
	NABFiles int
	NABRows  int
	// NABEvents is how many events the detector reported on NAB's files.
	NABEvents int
	// NABEventScores score the events themselves: a detection at each row
	// where the detector reported one, none elsewhere (the threshold fixed):
	// what its alerts would score. Beside NAB, whose sweep of the threshold
	// prefers no detection at all (0) to a detector whose every alarm counts.
	NABEventScores []NABScore
	TCPD           []TCPDScore // by series name; nil without TCPD
	TCPDF1         float64     // mean over the series
	TCPDCover      float64
	Other          int // messages the filters emitted that are neither scores nor events
	Elapsed        time.Duration
}

// Run evaluates the detector of opts.Config on the series of the given
// directories.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.NABDir == "" && opts.TCPDDir == "" {
		return nil, errors.New("nothing to evaluate: give a NAB or a TCPD directory")
	}
	if opts.NABDir != "" && opts.OutDir == "" {
		return nil, errors.New("NAB results need an output directory")
	}
	if opts.Detector == "" {
		opts.Detector = strings.TrimSuffix(filepath.Base(opts.Config), filepath.Ext(opts.Config))
	}
	if opts.Parallel < 1 {
		opts.Parallel = 1
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	// Fail early on a config that does not load or a subject that cannot be
	// chosen, not once per series.
	cfg, err := pipeline.LoadConfig(opts.Config)
	if err != nil {
		return nil, err
	}
	if len(opts.Subjects) == 0 {
		if _, err := pipeline.ReplaySubjects(cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", opts.Config, err)
		}
	}
	start := time.Now()
	res := &Result{Detector: opts.Detector, Config: opts.Config}
	e := &evaluator{opts: opts}
	if opts.NABDir != "" {
		if err := e.nab(ctx, res); err != nil {
			return nil, err
		}
	}
	if opts.TCPDDir != "" {
		if err := e.tcpd(ctx, res); err != nil {
			return nil, err
		}
	}
	res.Other = e.other
	res.Elapsed = time.Since(start)
	return res, nil
}

type evaluator struct {
	opts  Options
	mu    sync.Mutex // progress lines, other, done
	other int
	done  int // series done in this phase
}

// progress writes a line for a series done, numbered among total.
func (e *evaluator) progress(total int, format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.done++
	if e.opts.Progress != nil {
		fmt.Fprintf(e.opts.Progress, "[%d/%d] "+format+"\n", append([]any{e.done, total}, args...)...)
	}
}

// parallel runs job(i) for i in [0, n) on opts.Parallel goroutines; the
// first error stops the rest.
func (e *evaluator) parallel(ctx context.Context, n int, job func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range min(e.opts.Parallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := job(ctx, i); err != nil {
					errs <- err
					cancel()
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

func (e *evaluator) nab(ctx context.Context, res *Result) error {
	series, err := ReadNAB(e.opts.NABDir)
	if err != nil {
		return err
	}
	if len(series) == 0 {
		return fmt.Errorf("nab: %s: the labels name no file", e.opts.NABDir)
	}
	scores := make([][]float64, len(series))
	reported := make([][]float64, len(series)) // 1 where an event was reported
	events := make([]int, len(series))
	e.done = 0
	err = e.parallel(ctx, len(series), func(ctx context.Context, i int) error {
		s := series[i]
		t0 := time.Now()
		values := s.Numbers
		name := strings.TrimSuffix(path.Base(s.Name), ".csv")
		out, err := e.runSeries(ctx, s.Name, name, s.Times, values)
		if err != nil {
			return err
		}
		scores[i], events[i] = out.scores, len(out.events)
		reported[i] = make([]float64, len(out.scores))
		for _, r := range out.reported {
			reported[i][r] = 1
		}
		if err := WriteNABResult(e.opts.OutDir, e.opts.Detector, s, out.scores); err != nil {
			return err
		}
		e.progress(len(series), "nab %s: %d rows, %d windows, %d events (%.1fs)", s.Name, len(s.Times), len(s.Windows),
			len(out.events), time.Since(t0).Seconds())
		return nil
	})
	if err != nil {
		return err
	}
	res.NAB, err = ScoreNAB(series, scores)
	if err != nil {
		return err
	}
	res.NABEventScores, err = ScoreNABAt(series, reported, 1)
	if err != nil {
		return err
	}
	res.NABFiles = len(series)
	for i, s := range series {
		res.NABRows += len(s.Times)
		res.NABEvents += events[i]
	}
	return nil
}

func (e *evaluator) tcpd(ctx context.Context, res *Result) error {
	series, err := ReadTCPD(e.opts.TCPDDir)
	if err != nil {
		return err
	}
	if len(series) == 0 {
		return fmt.Errorf("tcpd: %s: the annotations name no series", e.opts.TCPDDir)
	}
	res.TCPD = make([]TCPDScore, len(series))
	e.done = 0
	err = e.parallel(ctx, len(series), func(ctx context.Context, i int) error {
		s := series[i]
		t0 := time.Now()
		times := make([]int64, len(s.Values))
		for r := range times {
			times[r] = TCPDStart.Add(time.Duration(r) * TCPDStep).UnixNano()
		}
		out, err := e.runSeries(ctx, "tcpd "+s.Name, s.Name, times, s.Values)
		if err != nil {
			return err
		}
		sc := ScoreTCPD(s, out.events)
		res.TCPD[i] = sc
		e.progress(len(series), "tcpd %s: %d rows, %d change points, F1 %.3f, cover %.3f (%.1fs)", s.Name, len(s.Values),
			len(sc.Predicted), sc.F1, sc.Cover, time.Since(t0).Seconds())
		return nil
	})
	if err != nil {
		return err
	}
	res.TCPDF1, res.TCPDCover = tcpdSummary(res.TCPD)
	return nil
}

// seriesOutput is what the detector said about one series.
type seriesOutput struct {
	scores   []float64 // per row; NaN for a row not sent (a missing value)
	events   []int     // the rows where the changes began, in the order reported
	reported []int     // the rows being handled when they were reported
}

// runSeries replays one series through the detector and maps its scores
// and events to rows. values[i] is NaN for a missing value: no point.
func (e *evaluator) runSeries(ctx context.Context, label, measurement string, times []int64, values []float64) (*seriesOutput, error) {
	cfg, err := pipeline.LoadConfig(e.opts.Config)
	if err != nil {
		return nil, err
	}
	for _, p := range cfg.Plugins {
		if p.Kind != pipeline.KindFilter {
			continue
		}
		p.Matcher = nil
		if l, ok := p.Plugin.(*lua.Lua); ok {
			c := maps.Clone(l.Config)
			if c == nil {
				c = map[string]any{}
			}
			c["emit_scores"], c["field"] = true, "value"
			l.Config = c
		}
	}
	src := &pointSource{measurement: measurement, times: times, values: values}
	sink := &detectorOutput{}
	_, err = pipeline.Replay(ctx, cfg, src, sink, pipeline.ReplayOptions{Subjects: e.opts.Subjects,
		Log: e.opts.Log.With("series", label)})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	e.mu.Lock()
	e.other += sink.other
	e.mu.Unlock()
	return sink.rows(label, times, values)
}

// pointSource is the rows of a series as metric points.
type pointSource struct {
	measurement string
	times       []int64
	values      []float64
	i           int
	m           pipeline.Message
}

func (s *pointSource) Next() (*pipeline.Message, error) {
	for s.i < len(s.times) && math.IsNaN(s.values[s.i]) {
		s.i++ // a missing value: no point, the row keeps its place
	}
	if s.i >= len(s.times) {
		return nil, io.EOF
	}
	m := &s.m
	m.Reset()
	m.Type, m.Timestamp = pipeline.MetricType, s.times[s.i]
	m.Fields = append(m.Fields,
		pipeline.Field{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: s.measurement},
		pipeline.Field{Name: "value", Kind: pipeline.KindFloat, Float: s.values[s.i]})
	s.i++
	return m, nil
}

// detectorOutput keeps the scores and events the detector emits.
type detectorOutput struct {
	scores []*pipeline.Message
	events []*pipeline.Message
	causes []int64 // of each event: the point being handled when it was reported
	other  int
}

func (o *detectorOutput) Write(_ string, record int64, m *pipeline.Message) error {
	switch m.Type {
	case ScoreType:
		o.scores = append(o.scores, m)
	case EventType:
		o.events = append(o.events, m)
		o.causes = append(o.causes, record)
	default:
		o.other++
	}
	return nil
}

// rows maps the scores and events to rows (see the contract above).
func (o *detectorOutput) rows(label string, times []int64, values []float64) (*seriesOutput, error) {
	// Rows of the same time (NAB has a few) get their scores in row order,
	// as the replay delivers them.
	byTime := make(map[int64][]int, len(times))
	for i, t := range times {
		if !math.IsNaN(values[i]) {
			byTime[t] = append(byTime[t], i)
		}
	}
	at := func(i int) string { return time.Unix(0, times[i]).UTC().Format(time.RFC3339Nano) }
	out := &seriesOutput{scores: make([]float64, len(times))}
	got := make([]bool, len(times))
	for _, m := range o.scores {
		rows, ok := byTime[m.Timestamp]
		if !ok {
			return nil, fmt.Errorf("%s: a score at %s, which is the time of no row with a value", label, time.Unix(0, m.Timestamp).UTC().Format(time.RFC3339Nano))
		}
		i := rows[0]
		if got[i] {
			return nil, fmt.Errorf("%s: row %d (%s) got more than one score", label, i, at(i))
		}
		if len(rows) > 1 {
			byTime[m.Timestamp] = rows[1:]
		}
		f := m.Field("score")
		var v float64
		switch {
		case f != nil && f.Kind == pipeline.KindFloat:
			v = f.Float
		case f != nil && f.Kind == pipeline.KindInt:
			v = float64(f.Int)
		default:
			return nil, fmt.Errorf("%s: row %d (%s): the %s message has no number field score", label, i, at(i), ScoreType)
		}
		if !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("%s: row %d (%s): score %v is not in [0, 1]", label, i, at(i), v)
		}
		out.scores[i], got[i] = v, true
	}
	for i := range times {
		if math.IsNaN(values[i]) {
			out.scores[i] = math.NaN()
			continue
		}
		if !got[i] {
			return nil, fmt.Errorf("%s: row %d (%s) got no score: with emit_scores = true the detector must inject an %s message for every point",
				label, i, at(i), ScoreType)
		}
	}
	var sent []int // the rows sent, by record index
	for i, v := range values {
		if !math.IsNaN(v) {
			sent = append(sent, i)
		}
	}
	for k, m := range o.events {
		if c := o.causes[k]; c >= 0 && c < int64(len(sent)) {
			out.reported = append(out.reported, sent[c])
		} else if len(sent) > 0 {
			out.reported = append(out.reported, sent[len(sent)-1]) // a final tick
		}
		f := m.Field("change_time")
		if f == nil {
			continue // an unusual point, not a change of regime
		}
		var t int64
		{
			switch f.Kind {
			case pipeline.KindString:
				n, err := strconv.ParseInt(f.Str, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: an event's change_time %q is not a number of ns", label, f.Str)
				}
				t = n
			case pipeline.KindInt:
				t = f.Int
			default:
				return nil, fmt.Errorf("%s: an event's change_time is a %s, not ns as a string of digits", label, f.Kind)
			}
		}
		i := sort.Search(len(times), func(i int) bool { return times[i] >= t })
		out.events = append(out.events, min(i, len(times)-1))
	}
	return out, nil
}
