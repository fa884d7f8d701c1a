// Package counter is the filters.counter plugin: it counts the messages of
// each subject and reports the counts as metrics on every tick.
package counter

import (
	_ "embed"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindFilter,
		Type:        "counter",
		Description: "Counts messages per subject and emits the totals and rates as metrics on each tick",
		Sample:      sample,
		New:         func() any { return &Counter{} },
	})
}

// Measurement is the measurement of the points the counter emits.
const Measurement = "counter"

// Counter counts the messages of each subject it receives. On each tick it
// emits, for every subject seen since it started, one metric point:
// measurement "counter", tag subject, int fields total (since start) and
// delta (since the previous tick), float field rate (delta per second over
// the interval), and a payload for people, such as
// "logs.nginx total=1234 delta=100 rate=10.0/s".
type Counter struct {
	mu       sync.Mutex
	subjects map[string]*count
	last     time.Time // of the previous tick, or of Init

	// Used by Tick only.
	snapshot []snapshot
	msg      pipeline.Message
	fields   []pipeline.Field
	payload  []byte
}

type count struct{ total, atLastTick int64 }

type snapshot struct {
	subject      string
	total, delta int64
}

var (
	_ pipeline.Filter        = (*Counter)(nil)
	_ pipeline.SubjectFilter = (*Counter)(nil)
	_ pipeline.Ticker        = (*Counter)(nil)
)

// Init starts the first interval.
func (c *Counter) Init(*pipeline.Env) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = time.Now()
	return nil
}

// ProcessFrom counts m under the subject it arrived on.
func (c *Counter) ProcessFrom(subject string, _ *pipeline.Message, _ pipeline.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.subjects[subject]
	if n == nil {
		if c.subjects == nil {
			c.subjects = map[string]*count{}
		}
		n = new(count)
		// The subject may live in a buffer the runtime reuses.
		c.subjects[strings.Clone(subject)] = n
	}
	n.total++
	return nil
}

// Process counts m under the empty subject; the runtime calls ProcessFrom
// instead, and Process is there for callers that have no subject.
func (c *Counter) Process(m *pipeline.Message, out pipeline.Emitter) error {
	return c.ProcessFrom("", m, out)
}

// Tick emits one point per subject seen, in subject order, stamped now.
func (c *Counter) Tick(now time.Time, _ bool, out pipeline.Emitter) error {
	c.mu.Lock()
	interval := now.Sub(c.last).Seconds()
	c.last = now
	c.snapshot = c.snapshot[:0]
	for subject, n := range c.subjects {
		c.snapshot = append(c.snapshot, snapshot{subject, n.total, n.total - n.atLastTick})
		n.atLastTick = n.total
	}
	c.mu.Unlock()
	// Emitting outside the lock: Emit may wait for the bus, and counting
	// must not wait with it.
	slices.SortFunc(c.snapshot, func(a, b snapshot) int { return strings.Compare(a.subject, b.subject) })
	var errs []error
	for _, s := range c.snapshot {
		rate := 0.0
		if interval > 0 {
			rate = float64(s.delta) / interval
		}
		if err := out.Emit(c.point(now, s, rate)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// point builds the message for one subject, valid until the next call.
func (c *Counter) point(now time.Time, s snapshot, rate float64) *pipeline.Message {
	c.fields = append(c.fields[:0], pipeline.Field{
		Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: Measurement})
	p := c.payload[:0]
	if s.subject != "" {
		c.fields = append(c.fields, pipeline.Field{Name: "subject", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: s.subject})
		p = append(p, s.subject...)
	} else {
		p = append(p, "(no subject)"...)
	}
	c.fields = append(c.fields,
		pipeline.Field{Name: "total", Kind: pipeline.KindInt, Int: s.total},
		pipeline.Field{Name: "delta", Kind: pipeline.KindInt, Int: s.delta},
		pipeline.Field{Name: "rate", Kind: pipeline.KindFloat, Float: rate},
	)
	p = strconv.AppendInt(append(p, " total="...), s.total, 10)
	p = strconv.AppendInt(append(p, " delta="...), s.delta, 10)
	p = append(strconv.AppendFloat(append(p, " rate="...), rate, 'f', 1, 64), "/s"...)
	c.payload = p
	c.msg = pipeline.Message{Type: pipeline.MetricType, Timestamp: now.UnixNano(), Severity: pipeline.DefaultSeverity, Payload: p, Fields: c.fields}
	return &c.msg
}
