// Package generator is the inputs.generator plugin: synthetic log lines or
// metric points, for demos and load tests.
package generator

import (
	"context"
	_ "embed"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindInput,
		Type:        "generator",
		Description: "Generates synthetic log lines or metric points at a given rate",
		Sample:      sample,
		OwnMessages: true,
		New: func() any {
			return &Generator{Rate: 10, Mode: "log", Size: 100, ShiftEvery: 300, Noise: 1.0, Seed: 1}
		},
	})
}

// Measurement is the measurement of the points of the "metric" mode.
const Measurement = "generator"

// Generator emits Count messages (or without end when Count is 0) at Rate
// messages a second (or as fast as the pipeline takes them when Rate is 0).
//
// Mode "log": Type "log", severity 6 (info), a payload of Size bytes that
// starts with "seq=N " and is padded with 'x'.
//
// Mode "metric": Type "metric", measurement "generator", tag series = the
// plugin's name, and a float field value that follows a level-shift series: a
// level, drawn from [0, 100) and at least 10 away from the previous one, that
// changes every ShiftEvery messages, plus gaussian noise of standard
// deviation Noise. Seed makes the series the same from one run to the next.
//
// Both modes carry an int field seq: 1, 2, 3, ...
type Generator struct {
	Rate       float64 `toml:"rate"`
	Count      int64   `toml:"count"`
	Mode       string  `toml:"mode"`
	Size       int     `toml:"size"`
	ShiftEvery int64   `toml:"shift_every"`
	Noise      float64 `toml:"noise"`
	Seed       int64   `toml:"seed"`

	env *pipeline.Env
}

var (
	_ pipeline.Input    = (*Generator)(nil)
	_ pipeline.Gatherer = (*Generator)(nil)
)

// Ranges of the keys that size or pace what the generator makes.
var (
	// sizeRange bounds size: the payload is allocated once at this size.
	sizeRange = pipeline.ByteRange{Min: 0, Max: 1 << 20}
	// minRate and maxRate bound a rate other than 0: below one message in
	// 1000 s the ticker's period would overflow, above 10 million a second no
	// pipeline keeps up (use 0, as fast as possible).
	minRate, maxRate = 0.001, 1e7
)

// Validate checks the decoded keys.
func (g *Generator) Validate() error {
	var errs []error
	if g.Rate != 0 && !(g.Rate >= minRate && g.Rate <= maxRate) {
		errs = append(errs, pipeline.InvalidKey("rate", "must be 0 (as fast as possible) or between %v and %v messages a second; got %v", minRate, maxRate, g.Rate))
	}
	if g.Count < 0 {
		errs = append(errs, pipeline.InvalidKey("count", "must be 0 (no end) or more; got %d", g.Count))
	}
	if g.Mode != "log" && g.Mode != "metric" {
		errs = append(errs, pipeline.InvalidKey("mode", "must be one of log, metric; got %q", g.Mode))
	}
	errs = append(errs, sizeRange.Check("size", int64(g.Size)))
	if g.ShiftEvery < 0 {
		errs = append(errs, pipeline.InvalidKey("shift_every", "must be 0 (a constant level) or more; got %d", g.ShiftEvery))
	}
	if !(g.Noise >= 0) || math.IsInf(g.Noise, 0) {
		errs = append(errs, pipeline.InvalidKey("noise", "must be a standard deviation, 0 or more; got %v", g.Noise))
	}
	return errors.Join(errs...)
}

// Init keeps env.
func (g *Generator) Init(env *pipeline.Env) error {
	g.env = env
	return nil
}

// Run emits until Count messages are out (then returns nil) or ctx is done.
func (g *Generator) Run(ctx context.Context, out pipeline.LineEmitter) error {
	s := g.newSeries()
	if g.Rate == 0 {
		for s.seq < g.Count || g.Count == 0 {
			if s.seq%64 == 0 && ctx.Err() != nil {
				return nil
			}
			if err := out.Emit(s.next()); err != nil {
				return err
			}
		}
		return nil
	}

	// Messages go out in bursts, one per tick, so that 100k/s costs 100
	// timer wake-ups a second, not 100k. Message k (from 0) is due at k/rate.
	interval := max(time.Duration(float64(time.Second)/g.Rate), 10*time.Millisecond)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	maxBurst := int64(math.Ceil(g.Rate)) // one second's worth
	base, sent := time.Now(), int64(0)   // messages sent since base
	now := base
	for {
		due := int64(g.Rate*now.Sub(base).Seconds()) + 1 - sent
		if due > maxBurst {
			// The pipeline could not keep up: go on at the rate from now
			// rather than catch up with a flood.
			due, base, sent = maxBurst, now, 1-maxBurst
		}
		for ; due > 0; due-- {
			if g.Count > 0 && s.seq >= g.Count {
				return nil
			}
			if s.seq%64 == 0 && ctx.Err() != nil {
				return nil
			}
			if err := out.Emit(s.next()); err != nil {
				return err
			}
			sent++
		}
		if g.Count > 0 && s.seq >= g.Count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case now = <-ticker.C:
		}
	}
}

// Gather sends one message, the first of the series (interoceptor run
// -once).
func (g *Generator) Gather(_ context.Context, out pipeline.LineEmitter) error {
	return out.Emit(g.newSeries().next())
}

// series builds the generator's messages, reusing one message: Emit encodes
// it before returning.
type series struct {
	g       *Generator
	seq     int64
	msg     pipeline.Message
	payload []byte
	fields  []pipeline.Field
	padding []byte
	rng     *rand.Rand
	level   float64
	name    string
}

func (g *Generator) newSeries() *series {
	s := &series{g: g, rng: rand.New(rand.NewPCG(uint64(g.Seed), 0x9e3779b97f4a7c15))}
	if g.env != nil {
		s.name = g.env.Name
	}
	if g.Mode == "log" {
		s.payload = make([]byte, 0, max(g.Size, 32))
		s.padding = make([]byte, g.Size)
		for i := range s.padding {
			s.padding[i] = 'x'
		}
	} else {
		s.level = s.rng.Float64() * 100
	}
	return s
}

// next returns the next message, valid until the next call.
func (s *series) next() *pipeline.Message {
	s.seq++
	// A fresh header each time: the runtime fills the ones left empty (UUID,
	// Timestamp, ...) and must do so for every message.
	if s.g.Mode == "log" {
		p := strconv.AppendInt(append(s.payload[:0], "seq="...), s.seq, 10)
		if len(p) < s.g.Size {
			p = append(p, ' ')
			p = append(p, s.padding[:max(s.g.Size-len(p), 0)]...)
		}
		s.payload = p
		s.fields = append(s.fields[:0], pipeline.Field{Name: "seq", Kind: pipeline.KindInt, Int: s.seq})
		s.msg = pipeline.Message{Type: "log", Severity: pipeline.DefaultSeverity, Payload: p, Fields: s.fields}
		return &s.msg
	}
	if every := s.g.ShiftEvery; every > 0 && s.seq > 1 && (s.seq-1)%every == 0 {
		s.level = s.nextLevel()
	}
	value := s.level + s.g.Noise*s.rng.NormFloat64()
	s.fields = append(s.fields[:0],
		pipeline.Field{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: Measurement},
		pipeline.Field{Name: "series", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: s.name},
		pipeline.Field{Name: "value", Kind: pipeline.KindFloat, Float: value},
		pipeline.Field{Name: "seq", Kind: pipeline.KindInt, Int: s.seq},
	)
	s.msg = pipeline.Message{Type: pipeline.MetricType, Severity: pipeline.DefaultSeverity, Fields: s.fields}
	return &s.msg
}

// nextLevel draws a level far enough from the current one that the shift is
// a real change, not noise.
func (s *series) nextLevel() float64 {
	for {
		if l := s.rng.Float64() * 100; math.Abs(l-s.level) >= 10 {
			return l
		}
	}
}
