package generator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestGeneratorLogMode(t *testing.T) {
	cases := []struct {
		name        string
		size        int
		wantPayload []string // of the first messages
	}{
		{name: "padded to size", size: 12, wantPayload: []string{"seq=1 xxxxxx", "seq=2 xxxxxx"}},
		{name: "never shorter than the sequence number", size: 3, wantPayload: []string{"seq=1", "seq=2"}},
		{name: "size of the number and its space", size: 6, wantPayload: []string{"seq=1 ", "seq=2 "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newDefault()
			g.Rate, g.Count, g.Size = 0, 1000, tc.size
			msgs := run(t, g)
			if len(msgs) != 1000 {
				t.Fatalf("emitted %d messages, want count = 1000", len(msgs))
			}
			for i, m := range msgs {
				seq := int64(i + 1)
				if f := m.Field("seq"); m.Type != "log" || f == nil || f.Kind != pipeline.KindInt || f.Int != seq {
					t.Fatalf("message %d: type %q, seq field %+v; want a log with seq %d", i, m.Type, f, seq)
				}
				if m.UUID != (pipeline.UUID{}) || m.Timestamp != 0 {
					t.Fatalf("message %d carries the headers the runtime filled in the previous one", i)
				}
				if !bytes.HasPrefix(m.Payload, fmt.Appendf(nil, "seq=%d", seq)) {
					t.Fatalf("message %d: payload %q does not start with seq=%d", i, m.Payload, seq)
				}
				if i < len(tc.wantPayload) && string(m.Payload) != tc.wantPayload[i] {
					t.Errorf("message %d: payload %q, want %q", i, m.Payload, tc.wantPayload[i])
				}
			}
			if last := msgs[999]; len(last.Payload) != max(tc.size, len("seq=1000")) {
				t.Errorf("payload %q: %d bytes, want size %d", last.Payload, len(last.Payload), tc.size)
			}
		})
	}
}

func TestGeneratorMetricModeIsALevelShiftSeries(t *testing.T) {
	g := newDefault()
	g.Mode, g.Rate, g.Count, g.ShiftEvery, g.Noise = "metric", 0, 1000, 100, 0
	msgs := run(t, g)
	if len(msgs) != 1000 {
		t.Fatalf("emitted %d messages, want 1000", len(msgs))
	}
	for i, m := range msgs {
		if !m.IsMetric() || m.Measurement() != Measurement || m.Fields[0].Name != pipeline.MeasurementField {
			t.Fatalf("message %d is not a %q metric with its measurement first: %+v", i, Measurement, m)
		}
		if tag := m.Field("series"); tag == nil || tag.Role != pipeline.RoleTag || tag.Str != "gen" {
			t.Fatalf("message %d: series tag %+v, want the plugin's name %q", i, tag, "gen")
		}
		if seq := m.Field("seq"); seq == nil || seq.Int != int64(i+1) {
			t.Fatalf("message %d: seq %+v, want %d", i, seq, i+1)
		}
		if _, err := pipeline.AppendLineProtocol(nil, m); err != nil {
			t.Fatalf("message %d does not write as line protocol: %v", i, err)
		}
		// Without noise, the value is the level: constant for shift_every
		// messages, then at least 10 away.
		v, prev := value(t, m), 0.0
		if i > 0 {
			prev = value(t, msgs[i-1])
		}
		switch {
		case v < 0 || v >= 100:
			t.Fatalf("message %d: level %v outside [0, 100)", i, v)
		case i > 0 && i%100 == 0 && math.Abs(v-prev) < 10:
			t.Errorf("message %d: level moved from %v to %v, want a shift of at least 10", i, prev, v)
		case i%100 != 0 && v != prev:
			t.Errorf("message %d: level moved from %v to %v within a segment", i, prev, v)
		}
	}
}

func TestGeneratorSeedMakesRunsReproducible(t *testing.T) {
	values := func(seed int64) []float64 {
		g := newDefault()
		g.Mode, g.Rate, g.Count, g.Seed = "metric", 0, 500, seed
		var vs []float64
		for _, m := range run(t, g) {
			vs = append(vs, value(t, m))
		}
		return vs
	}
	a, b, c := values(7), values(7), values(8)
	if !reflect.DeepEqual(a, b) {
		t.Error("two runs with seed 7 differ")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("seeds 7 and 8 give the same series")
	}
	// Noise of stddev 1 around the level: the mean of one segment is close to it.
	var sum float64
	for _, v := range a[:300] {
		sum += v
	}
	mean := sum / 300
	var sq float64
	for _, v := range a[:300] {
		sq += (v - mean) * (v - mean)
	}
	if sd := math.Sqrt(sq / 299); sd < 0.8 || sd > 1.2 {
		t.Errorf("standard deviation within a segment = %.2f, want about noise = 1", sd)
	}
}

func TestGeneratorPacesToRate(t *testing.T) {
	cases := []struct {
		rate  float64
		count int64
	}{
		{rate: 200, count: 21},      // one message every 5ms: the first at once, the last after 100ms
		{rate: 100000, count: 5001}, // bursts of 1000 every 10ms: 50ms
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			g := newDefault()
			g.Rate, g.Count = tc.rate, tc.count
			began := time.Now()
			msgs := run(t, g)
			took := time.Since(began)
			if int64(len(msgs)) != tc.count {
				t.Fatalf("emitted %d, want %d", len(msgs), tc.count)
			}
			// Only a lower bound: faster than the rate means no pacing.
			if least := time.Duration(float64(tc.count-1) / tc.rate * float64(time.Second)); took < least*9/10 {
				t.Errorf("%d messages at %v/s took %v, want at least %v", tc.count, tc.rate, took, least)
			}
		})
	}
}

func TestGeneratorStopsWhenThePipelineStops(t *testing.T) {
	for _, rate := range []float64{0, 10} {
		t.Run(fmt.Sprint("rate ", rate), func(t *testing.T) {
			g := newDefault()
			g.Rate = rate // count 0: no end of its own
			out := &pipelinetest.Collector{MessagesOnly: true}
			stop := pipelinetest.StartInput(t, g, testEnv(), out)
			out.WaitFor(t, 1, 5*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

func TestGeneratorValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*Generator)
		wantKey string
	}{
		{name: "defaults", edit: func(*Generator) {}},
		{name: "metric mode", edit: func(g *Generator) { g.Mode = "metric" }},
		{name: "as fast as possible", edit: func(g *Generator) { g.Rate = 0 }},
		{name: "half a message a second", edit: func(g *Generator) { g.Rate = 0.5 }},
		{name: "negative rate", edit: func(g *Generator) { g.Rate = -1 }, wantKey: "rate"},
		{name: "NaN rate", edit: func(g *Generator) { g.Rate = math.NaN() }, wantKey: "rate"},
		{name: "negative count", edit: func(g *Generator) { g.Count = -1 }, wantKey: "count"},
		{name: "unknown mode", edit: func(g *Generator) { g.Mode = "trace" }, wantKey: "mode"},
		{name: "negative size", edit: func(g *Generator) { g.Size = -1 }, wantKey: "size"},
		{name: "negative shift_every", edit: func(g *Generator) { g.ShiftEvery = -1 }, wantKey: "shift_every"},
		{name: "negative noise", edit: func(g *Generator) { g.Noise = -1 }, wantKey: "noise"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newDefault()
			tc.edit(g)
			err := g.Validate()
			var ke *pipeline.KeyError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantKey != "" && (!errors.As(err, &ke) || ke.Key != tc.wantKey):
				t.Errorf("Validate = %v, want an error on key %q", err, tc.wantKey)
			}
		})
	}
}

// TestSample keeps sample.toml and the code in step.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindInput, "generator") }

func newDefault() *Generator {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "generator")
	return reg.New().(*Generator)
}

func testEnv() *pipeline.Env { return pipelinetest.Env(pipeline.KindInput, "generator", "gen") }

// run runs g to its count and returns what it emitted.
func run(t *testing.T, g *Generator) []*pipeline.Message {
	t.Helper()
	pipelinetest.Init(t, g, testEnv())
	out := &pipelinetest.Collector{MessagesOnly: true}
	if err := g.Run(context.Background(), out); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out.Messages()
}

func value(t *testing.T, m *pipeline.Message) float64 {
	t.Helper()
	f := m.Field("value")
	if f == nil || f.Kind != pipeline.KindFloat || f.Role != pipeline.RoleField {
		t.Fatalf("no float field value in %+v", m)
	}
	return f.Float
}
