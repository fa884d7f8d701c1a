package anomaly

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unsafe"

	"github.com/interoceptor/interoceptor/pipeline"
)

// Set keeps a Detector per series of the messages it is given: per
// measurement and tags, as a metric is stored. The key is built and looked
// up in Go, so that a Lua filter watching thousands of series does one call
// per message.
type Set struct {
	cfg       Config
	field     string
	tagNames  []string // nil: every tag of the message
	maxSeries int
	counter   bool

	series  map[string]*Series
	ignored uint64 // points of series beyond maxSeries
	bytes   int64  // estimated size, kept as series are added

	key  []byte // scratch
	tags []int  // scratch: indices of the message's tag fields
}

// Series is one series of a Set: its identity and its detector.
type Series struct {
	Measurement string
	Tags        []Tag // in name order
	Key         string
	Detector    *Detector

	// A counter's previous point, for its rate.
	lastTS  int64
	lastV   float64
	hasLast bool
}

// Tag is one tag of a series.
type Tag struct{ Name, Value string }

// SetConfig sets up a Set.
type SetConfig struct {
	Field     string   // the field to watch (required)
	Tags      []string // the tags that identify a series; nil: all of a message's tags; empty: none (one series per measurement)
	MaxSeries int      // series watched at most; default DefaultMaxSeries
	// Counter: the field is a cumulative counter (bytes received): its
	// rate per second between two points is watched; a point where it
	// goes down (a reset) only starts again.
	Counter  bool
	Detector Config
}

// DefaultMaxSeries is the default of SetConfig.MaxSeries.
const DefaultMaxSeries = 10000

// ErrNoField is returned by Process for a message without the field.
var ErrNoField = errors.New("the message has no such field")

// NewSet returns an empty set.
func NewSet(c SetConfig) (*Set, error) {
	if c.Field == "" {
		return nil, errors.New("field is required: the name of the field to watch")
	}
	if c.MaxSeries == 0 {
		c.MaxSeries = DefaultMaxSeries
	}
	if c.MaxSeries < 1 {
		return nil, fmt.Errorf("max_series must be at least 1, got %d", c.MaxSeries)
	}
	cfg := c.Detector.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var tags []string
	if c.Tags != nil {
		tags = slices.Clone(c.Tags)
		slices.Sort(tags)
		tags = slices.Compact(tags)
	}
	return &Set{cfg: cfg, field: c.Field, tagNames: tags, maxSeries: c.MaxSeries, counter: c.Counter, series: map[string]*Series{},
		bytes: int64(unsafe.Sizeof(Set{}))}, nil
}

// Process feeds the set the value of its field in m, at m's Timestamp, to
// the detector of m's series (made on first sight). s is nil for a message
// without the field (err ErrNoField), and for a new series beyond
// MaxSeries (counted in Ignored). A field that is not a number is an error.
func (set *Set) Process(m *pipeline.Message) (score float64, ev *Event, s *Series, err error) {
	f := m.Field(set.field)
	if f == nil {
		return 0, nil, nil, ErrNoField
	}
	v, ok := number(f)
	if !ok {
		return 0, nil, nil, fmt.Errorf("field %s is a %s, not a number", set.field, f.Kind)
	}
	s = set.lookup(m)
	if s == nil {
		set.ignored++
		return 0, nil, nil, nil
	}
	if set.counter {
		prevTS, prevV, had := s.lastTS, s.lastV, s.hasLast
		s.lastTS, s.lastV, s.hasLast = m.Timestamp, v, true
		if !had || v < prevV || m.Timestamp <= prevTS {
			return 0, nil, s, nil // the first point, a reset, or time that did not move
		}
		v = (v - prevV) / (float64(m.Timestamp-prevTS) / 1e9)
	}
	score, ev = s.Detector.Add(m.Timestamp, v)
	return score, ev, s, nil
}

// Ignored returns how many points of series beyond MaxSeries were ignored.
func (set *Set) Ignored() uint64 { return set.ignored }

// Len returns how many series the set watches.
func (set *Set) Len() int { return len(set.series) }

// MaxSeries returns the most series the set watches.
func (set *Set) MaxSeries() int { return set.maxSeries }

// SizeBytes is the set's size for the sandbox's memory estimate.
func (set *Set) SizeBytes() int64 { return set.bytes }

func number(f *pipeline.Field) (float64, bool) {
	switch f.Kind {
	case pipeline.KindFloat:
		return f.Float, true
	case pipeline.KindInt:
		return float64(f.Int), true
	case pipeline.KindUint:
		return float64(f.Uint), true
	}
	return 0, false
}

// measurement names a message's series as the series Lua module does: a
// metric's measurement; else its Logger, or its Type.
func measurement(m *pipeline.Message) string {
	if name := m.Measurement(); name != "" {
		return name
	}
	if m.Logger != "" {
		return m.Logger
	}
	return m.Type
}

// lookup returns the series of m, making it if there is room.
func (set *Set) lookup(m *pipeline.Message) *Series {
	meas := measurement(m)
	set.key = appendEscaped(set.key[:0], meas, false)
	set.tags = set.tags[:0]
	if set.tagNames == nil {
		for i := range m.Fields {
			if m.Fields[i].Role == pipeline.RoleTag {
				set.tags = append(set.tags, i)
			}
		}
		slices.SortFunc(set.tags, func(a, b int) int {
			switch na, nb := m.Fields[a].Name, m.Fields[b].Name; {
			case na < nb:
				return -1
			case na > nb:
				return 1
			}
			return 0
		})
		for _, i := range set.tags {
			set.key = append(set.key, ',')
			set.key = appendEscaped(set.key, m.Fields[i].Name, true)
			set.key = append(set.key, '=')
			set.key = appendTagValue(set.key, &m.Fields[i])
		}
	} else {
		for _, name := range set.tagNames { // sorted by NewSet's caller
			f := m.Field(name)
			if f == nil {
				continue
			}
			set.key = append(set.key, ',')
			set.key = appendEscaped(set.key, name, true)
			set.key = append(set.key, '=')
			set.key = appendTagValue(set.key, f)
		}
	}
	if s := set.series[string(set.key)]; s != nil {
		return s
	}
	if len(set.series) >= set.maxSeries {
		return nil
	}
	s := &Series{Measurement: meas, Key: string(set.key), Detector: New(set.cfg)}
	if set.tagNames == nil {
		for _, i := range set.tags {
			s.Tags = append(s.Tags, Tag{m.Fields[i].Name, tagValue(&m.Fields[i])})
		}
	} else {
		for _, name := range set.tagNames {
			if f := m.Field(name); f != nil {
				s.Tags = append(s.Tags, Tag{name, tagValue(f)})
			}
		}
	}
	set.series[s.Key] = s
	set.bytes += s.sizeBytes()
	return s
}

// sizeBytes is what a series costs: its detector, its strings, its map
// entry.
func (s *Series) sizeBytes() int64 {
	n := int64(unsafe.Sizeof(Series{})) + s.Detector.SizeBytes() + int64(2*len(s.Key)) + 64
	for _, t := range s.Tags {
		n += int64(unsafe.Sizeof(Tag{}) + uintptr(len(t.Name)+len(t.Value)))
	}
	return n
}

// SizeBytes is a detector's size, its buffers included.
func (d *Detector) SizeBytes() int64 {
	return int64(unsafe.Sizeof(Detector{})) + int64(len(d.jump.vals))*16
}

func tagValue(f *pipeline.Field) string {
	if f.Kind == pipeline.KindString {
		return f.Str
	}
	return string(appendTagValue(nil, f))
}

func appendTagValue(b []byte, f *pipeline.Field) []byte {
	switch f.Kind {
	case pipeline.KindString:
		return appendEscaped(b, f.Str, true)
	case pipeline.KindBytes:
		return appendEscaped(b, string(f.Bytes), true)
	case pipeline.KindInt:
		return strconv.AppendInt(b, f.Int, 10)
	case pipeline.KindUint:
		return strconv.AppendUint(b, f.Uint, 10)
	case pipeline.KindFloat:
		return strconv.AppendFloat(b, f.Float, 'g', -1, 64)
	case pipeline.KindBool:
		return strconv.AppendBool(b, f.Bool)
	}
	return b
}

// appendEscaped escapes as line protocol does: commas and spaces, and in
// tag keys and values also equals signs; so two series have one key only if
// they have one measurement and the same tags.
func appendEscaped(b []byte, s string, tag bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ',' || c == ' ' || c == '\\' || (tag && c == '=') {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return b
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	for _, r := range []struct {
		name      string
		v, lo, hi float64
	}{
		{"bins", float64(c.Bins), 2, 8},
		{"warmup", float64(c.Warmup), 1, 1e6},
		{"rest", float64(c.Rest), 0, 1e6},
		{"memory", float64(c.Memory), 100, 1e9},
		{"step_scale", c.StepScale, 0.01, 1000},
		{"jump_window", float64(c.JumpWindow), 4, 1000},
		{"jump_after", float64(c.JumpAfter), 2, 1000},
		{"jump_after_long", float64(c.JumpAfterLong), 2, 1000},
		{"jump_t", c.JumpT, 0.1, 1000},
		{"jump_min", c.JumpMin, 0, 1000},
		{"flat_run", float64(c.FlatRun), -1, 1e6},
		{"threshold", c.Threshold, 0.01, 1},
	} {
		if !(r.v >= r.lo && r.v <= r.hi) || math.IsNaN(r.v) {
			return fmt.Errorf("%s must be between %g and %g, got %g", r.name, r.lo, r.hi, r.v)
		}
	}
	return nil
}
