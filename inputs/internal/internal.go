// Package internal is the inputs.internal plugin: the pipeline's own
// counters, NATS traffic and Go runtime figures as metric points, so that a
// pipeline can watch itself in the same store as the data it carries (as
// Telegraf's internal plugin does).
package internal

import (
	"context"
	_ "embed"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindInput,
		Type:        "internal",
		Description: "The pipeline's own counters, NATS traffic and Go runtime stats, as metric points",
		Sample:      sample,
		OwnMessages: true,
		New:         func() any { return &Internal{Interval: pipeline.Duration(10 * time.Second)} },
	})
}

// The measurements this input emits.
const (
	PluginMeasurement  = "interoceptor_plugin"
	NATSMeasurement    = "interoceptor_nats"
	RuntimeMeasurement = "interoceptor_runtime"
)

// Internal emits, every Interval (the first round at once), one point per
// plugin of the pipeline with its counters and gauges, one with the NATS
// connection's counters, and one with Go runtime figures. The points of a
// round share its timestamp and carry a host tag, the agent's name.
//
// Without Env.Host (a plugin under test, outside a pipeline) only the
// runtime point is emitted.
type Internal struct {
	Interval pipeline.Duration `toml:"interval"`

	env  *pipeline.Env
	host string
	msg  pipeline.Message
	ts   int64
}

var (
	_ pipeline.Input       = (*Internal)(nil)
	_ pipeline.Gatherer    = (*Internal)(nil)
	_ pipeline.Validator   = (*Internal)(nil)
	_ pipeline.Initializer = (*Internal)(nil)
)

// Validate checks the decoded keys.
func (p *Internal) Validate() error {
	return pipeline.TickerIntervalRange.Check("interval", time.Duration(p.Interval))
}

// Init keeps env.
func (p *Internal) Init(env *pipeline.Env) error {
	p.env = env
	p.host = env.Agent.Name
	return nil
}

// Run emits a round at once, then one every Interval, until ctx is done.
func (p *Internal) Run(ctx context.Context, out pipeline.LineEmitter) error {
	t := time.NewTicker(time.Duration(p.Interval))
	defer t.Stop()
	now := time.Now()
	for {
		if err := p.gather(out, now); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case now = <-t.C:
		}
	}
}

// Gather takes one round (interoceptor run -once).
func (p *Internal) Gather(_ context.Context, out pipeline.LineEmitter) error {
	return p.gather(out, time.Now())
}

// counterFields are the fields every plugin point has; a gauge of the same
// name is left out rather than written twice.
var counterFields = []string{"in", "out", "dropped", "errors", "process_seconds"}

// gather emits one round.
func (p *Internal) gather(out pipeline.Emitter, now time.Time) error {
	p.ts = now.UnixNano()
	if host := p.env.Host; host != nil {
		for _, st := range host.PluginStatus() {
			p.begin(PluginMeasurement)
			p.tag("kind", string(st.Kind))
			p.tag("name", st.Name)
			p.tag("type", st.Type)
			c := st.Counters
			p.int("in", c.In)
			p.int("out", c.Out)
			p.int("dropped", c.Dropped)
			p.int("errors", c.Errors)
			p.float("process_seconds", c.ProcessSeconds)
			names := make([]string, 0, len(st.Gauges))
			for name := range st.Gauges {
				names = append(names, name)
			}
			slices.Sort(names)
			for _, name := range names {
				// Line protocol carries no NaN nor infinity.
				if v := st.Gauges[name]; name != "" && !slices.Contains(counterFields, name) && !math.IsNaN(v) && !math.IsInf(v, 0) {
					p.float(name, v)
				}
			}
			if err := out.Emit(&p.msg); err != nil {
				return err
			}
		}
		n := host.NATSStats()
		p.begin(NATSMeasurement)
		p.int("in_msgs", n.InMsgs)
		p.int("out_msgs", n.OutMsgs)
		p.int("in_bytes", n.InBytes)
		p.int("out_bytes", n.OutBytes)
		p.int("reconnects", n.Reconnects)
		p.int("published_batches", n.PublishedBatches)
		if err := out.Emit(&p.msg); err != nil {
			return err
		}
	}

	// ReadMemStats stops the world for a few microseconds: once an interval
	// is nothing, and it gives the exact GC pause total.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.begin(RuntimeMeasurement)
	p.int("goroutines", uint64(runtime.NumGoroutine()))
	p.int("heap_alloc_bytes", ms.HeapAlloc)
	p.int("heap_inuse_bytes", ms.HeapInuse)
	p.int("heap_sys_bytes", ms.HeapSys)
	p.int("heap_objects", ms.HeapObjects)
	p.int("sys_bytes", ms.Sys)
	p.int("total_alloc_bytes", ms.TotalAlloc)
	p.int("gc_count", uint64(ms.NumGC))
	p.int("gc_pause_total_ns", ms.PauseTotalNs)
	if rss, ok := residentBytes(); ok {
		p.int("rss_bytes", rss)
	}
	return out.Emit(&p.msg)
}

// begin starts a point in the reused message (Emit encodes it before it
// returns), with the host tag. Tags are then added in key order.
func (p *Internal) begin(measurement string) {
	p.msg = pipeline.Message{Type: pipeline.MetricType, Timestamp: p.ts, Severity: pipeline.DefaultSeverity, Fields: p.msg.Fields[:0]}
	p.msg.Fields = append(p.msg.Fields, pipeline.Field{Name: pipeline.MeasurementField, Kind: pipeline.KindString,
		Role: pipeline.RoleMeasurement, Str: measurement})
	p.tag("host", p.host)
}

// tag adds a tag, unless its value is empty (line protocol has no empty tag).
func (p *Internal) tag(key, value string) {
	if value != "" {
		p.msg.Fields = append(p.msg.Fields, pipeline.Field{Name: key, Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: value})
	}
}

// int adds a counter as an int field, as Telegraf's internal plugin does;
// a uint64 counter would need 2^63 events to overflow it.
func (p *Internal) int(key string, v uint64) {
	p.msg.Fields = append(p.msg.Fields, pipeline.Field{Name: key, Kind: pipeline.KindInt, Int: int64(min(v, math.MaxInt64))})
}

func (p *Internal) float(key string, v float64) {
	p.msg.Fields = append(p.msg.Fields, pipeline.Field{Name: key, Kind: pipeline.KindFloat, Float: v})
}

// residentBytes reads the process's resident set size from
// /proc/self/statm (its second number, in pages); false off Linux.
func residentBytes() (uint64, bool) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}
