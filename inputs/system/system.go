// Package system is the inputs.system plugin: host metrics (cpu, memory,
// swap, disks, disk I/O, network, load and processes) under Telegraf's
// measurement, tag and field names, so that dashboards made for Telegraf's
// cpu, mem, swap, disk, diskio, net, system and processes plugins work on
// them unchanged. It reads what any user may read: no root needed.
package system

import (
	"context"
	_ "embed"
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindInput,
		Type:        "system",
		Description: "Host metrics (cpu, mem, swap, disk, diskio, net, system, processes) with Telegraf's names",
		Sample:      sample,
		OwnMessages: true,
		New: func() any {
			return &System{
				Interval:    pipeline.Duration(10 * time.Second),
				Collect:     slices.Clone(Collectors),
				PerCPU:      true,
				TotalCPU:    true,
				MountPoints: []string{},
				IgnoreFS:    []string{"tmpfs", "devtmpfs", "devfs", "iso9660", "overlay", "aufs", "squashfs"},
				Interfaces:  []string{},
			}
		},
	})
}

// Collectors are the values of the collect key, each named after the
// Telegraf plugin (and measurement) it stands for.
var Collectors = []string{"cpu", "mem", "swap", "disk", "diskio", "net", "system", "processes"}

// System emits a round of host metrics every Interval, the first at once.
// Every point of a round has the round's timestamp and a host tag (the
// agent's name). What each collector emits is in the README.
type System struct {
	Interval    pipeline.Duration `toml:"interval"`
	Collect     []string          `toml:"collect"`
	PerCPU      bool              `toml:"percpu"`
	TotalCPU    bool              `toml:"totalcpu"`
	MountPoints []string          `toml:"mount_points"`
	IgnoreFS    []string          `toml:"ignore_fs"`
	Interfaces  []string          `toml:"interfaces"`

	env        *pipeline.Env
	host       string
	collectors []*collector
	lastCPU    map[string]cpuTimes // by cpu tag, from the previous round
	lastDiskIO map[string]diskIOSample
	warned     map[string]bool // what was logged once already
	throttle   pipeline.LogThrottle
}

var (
	_ pipeline.Input       = (*System)(nil)
	_ pipeline.Gatherer    = (*System)(nil)
	_ pipeline.Validator   = (*System)(nil)
	_ pipeline.Initializer = (*System)(nil)
)

// collector gathers one measurement.
type collector struct {
	name    string
	collect func(ctx context.Context, r *round) error
	off     bool // failed for good (no permission, not supported here)
}

// Validate checks the decoded keys.
func (s *System) Validate() error {
	errs := []error{intervalRange.Check("interval", time.Duration(s.Interval))}
	if len(s.Collect) == 0 {
		errs = append(errs, pipeline.InvalidKey("collect", "is empty: nothing to collect (known: %s)", strings.Join(Collectors, ", ")))
	}
	for i, c := range s.Collect {
		if !slices.Contains(Collectors, c) {
			errs = append(errs, pipeline.InvalidKey("collect", "unknown collector %q (known: %s)", c, strings.Join(Collectors, ", ")))
		} else if slices.Contains(s.Collect[:i], c) {
			errs = append(errs, pipeline.InvalidKey("collect", "%q is listed twice", c))
		}
	}
	if slices.Contains(s.Collect, "cpu") && !s.PerCPU && !s.TotalCPU {
		errs = append(errs, pipeline.InvalidKey("percpu", "percpu and totalcpu are both false: cpu would report nothing (take cpu out of collect instead)"))
	}
	for _, p := range s.Interfaces {
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, pipeline.InvalidKey("interfaces", "pattern %q: %v", p, err))
		}
	}
	return errors.Join(errs...)
}

// intervalRange bounds interval: a round reads much of /proc (every
// process's stat for processes), which every 10ms would keep a core busy.
var intervalRange = pipeline.DurationRange{Min: 100 * time.Millisecond, Max: 24 * time.Hour}

// Init keeps env and sets up the collectors listed in collect.
func (s *System) Init(env *pipeline.Env) error {
	s.env = env
	s.host = env.Agent.Name
	s.warned = map[string]bool{}
	s.collectors = nil
	all := map[string]func(context.Context, *round) error{
		"cpu": s.collectCPU, "mem": s.collectMem, "swap": s.collectSwap, "disk": s.collectDisk,
		"diskio": s.collectDiskIO, "net": s.collectNet, "system": s.collectSystem, "processes": s.collectProcesses,
	}
	for _, name := range s.Collect {
		s.collectors = append(s.collectors, &collector{name: name, collect: all[name]})
	}
	return nil
}

// Run emits a round at once, then one every Interval, until ctx is done.
func (s *System) Run(ctx context.Context, out pipeline.LineEmitter) error {
	t := time.NewTicker(time.Duration(s.Interval))
	defer t.Stop()
	now := time.Now()
	for {
		if err := s.gather(ctx, out, now); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case now = <-t.C:
		}
	}
}

// Gather takes one round (interoceptor run -once). The cpu percentages
// need two rounds, so this one has none.
func (s *System) Gather(ctx context.Context, out pipeline.LineEmitter) error {
	return s.gather(ctx, out, time.Now())
}

// gather runs every collector still on, with one timestamp for the round.
// Only an error from Emit (the pipeline is stopping) is returned; a
// collector's error is counted and logged.
func (s *System) gather(ctx context.Context, out pipeline.Emitter, now time.Time) error {
	r := &round{s: s, out: out, ts: now.UnixNano(), now: now}
	for _, c := range s.collectors {
		if c.off {
			continue
		}
		err := c.collect(ctx, r)
		var ee emitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			return ee.err
		case ctx.Err() != nil:
			return nil
		case isPermanent(err):
			// Retrying every interval would only repeat the same error.
			c.off = true
			s.env.Stats.Errors.Add(1)
			s.env.Log.Warn("collector disabled", "collector", c.name, "err", err)
		default:
			s.env.Stats.Errors.Add(1)
			if ok, suppressed := s.throttle.Allow(); ok {
				s.env.Log.Warn("collector failed", "collector", c.name, "err", err, "suppressed", suppressed)
			}
		}
	}
	return nil
}

// isPermanent reports whether err will not go away by itself: no
// permission, or nothing to read on this platform.
func isPermanent(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, errors.ErrUnsupported) ||
		strings.Contains(err.Error(), "not implemented")
}

// warnOnce logs and counts a failure of one item (a mount point, a device)
// the first time it happens; the item is skipped.
func (s *System) warnOnce(key string, msg string, args ...any) {
	if s.warned[key] {
		return
	}
	s.warned[key] = true
	s.env.Stats.Errors.Add(1)
	s.env.Log.Warn(msg, args...)
}

// emitError wraps the error of Emit, which ends the round and Run.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }

// round builds the points of one collection round, one at a time, in a
// reused message: Emit encodes it before it returns.
type round struct {
	s     *System
	out   pipeline.Emitter
	ts    int64
	now   time.Time
	msg   pipeline.Message
	ntags int
}

// begin starts a point of the given measurement, with the host tag.
func (r *round) begin(measurement string) {
	r.msg = pipeline.Message{Type: pipeline.MetricType, Timestamp: r.ts, Severity: pipeline.DefaultSeverity, Fields: r.msg.Fields[:0]}
	r.msg.Fields = append(r.msg.Fields, pipeline.Field{Name: pipeline.MeasurementField, Kind: pipeline.KindString,
		Role: pipeline.RoleMeasurement, Str: measurement})
	r.ntags = 0
	if r.s.host != "" {
		r.tag("host", r.s.host)
	}
}

// tag adds a tag; tags come before the values. An empty value is left out,
// as line protocol has no empty tag.
func (r *round) tag(key, value string) {
	if value == "" {
		return
	}
	r.msg.Fields = append(r.msg.Fields, pipeline.Field{Name: key, Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: value})
	r.ntags++
}

func (r *round) uint(key string, v uint64) {
	r.msg.Fields = append(r.msg.Fields, pipeline.Field{Name: key, Kind: pipeline.KindUint, Uint: v})
}

func (r *round) int(key string, v int64) {
	r.msg.Fields = append(r.msg.Fields, pipeline.Field{Name: key, Kind: pipeline.KindInt, Int: v})
}

func (r *round) float(key string, v float64) {
	r.msg.Fields = append(r.msg.Fields, pipeline.Field{Name: key, Kind: pipeline.KindFloat, Float: v})
}

// emit sends the point, its tags sorted by key as docs/message.md asks.
func (r *round) emit() error {
	tags := r.msg.Fields[1 : 1+r.ntags]
	slices.SortFunc(tags, func(a, b pipeline.Field) int { return strings.Compare(a.Name, b.Name) })
	if err := r.out.Emit(&r.msg); err != nil {
		return emitError{err}
	}
	return nil
}

// percent returns 100·part/whole, 0 when whole is 0.
func percent(part, whole float64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * part / whole
}
