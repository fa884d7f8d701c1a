package pipelinetest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestCollectorKeepsCopies(t *testing.T) {
	var out pipelinetest.Collector
	line := []byte("one")
	if err := out.EmitLine(line); err != nil {
		t.Fatal(err)
	}
	copy(line, "two") // an input reuses its buffer
	m := &pipeline.Message{Type: "log", Payload: []byte("hello")}
	if err := out.Emit(m); err != nil {
		t.Fatal(err)
	}
	m.Payload[0] = 'j'
	if got := out.Lines(); !slices.Equal(got, []string{"one"}) {
		t.Errorf("Lines = %q, want [one]", got)
	}
	msgs := out.Messages()
	if len(msgs) != 1 || string(msgs[0].Payload) != "hello" {
		t.Fatalf("Messages = %+v, want one message with payload hello", msgs)
	}
	// As the runtime does: the emitter's message is stamped, the copy is not.
	if m.UUID == (pipeline.UUID{}) || m.Timestamp == 0 {
		t.Errorf("the emitted message was not stamped: %+v", m)
	}
	if msgs[0].UUID != (pipeline.UUID{}) || msgs[0].Timestamp != 0 {
		t.Errorf("the copy was stamped: %+v", msgs[0])
	}
	if out.Len() != 2 {
		t.Errorf("Len = %d, want 2", out.Len())
	}
}

func TestCollectorRefusesWhatThePluginMustNotEmit(t *testing.T) {
	lines := pipelinetest.Collector{LinesOnly: true}
	if err := lines.Emit(&pipeline.Message{}); err == nil {
		t.Error("Emit on a LinesOnly collector succeeded")
	}
	msgs := pipelinetest.Collector{MessagesOnly: true}
	if err := msgs.EmitLine([]byte("x")); err == nil {
		t.Error("EmitLine on a MessagesOnly collector succeeded")
	}
	if lines.Len()+msgs.Len() != 0 {
		t.Error("a refused emit was kept")
	}
}

func TestStartInputRunsUntilStopped(t *testing.T) {
	in := &ticking{Path: "x", Every: "1ms"}
	out := new(pipelinetest.Collector)
	stop := pipelinetest.StartInput(t, in, pipelinetest.Env(pipeline.KindInput, "ticking", "ticking"), out)
	if in.env == nil {
		t.Fatal("StartInput did not init the input")
	}
	out.WaitFor(t, 3, 5*time.Second)
	if err := stop(); err != nil {
		t.Errorf("stop = %v, want nil", err)
	}
	if err := stop(); err != nil || in.closed != 1 {
		t.Errorf("a second stop = %v, with Close called %d times; want nil, and Close once", err, in.closed)
	}
}

func TestCheckInitFails(t *testing.T) {
	in := &ticking{failInit: errors.New(`address "127.0.0.1:1": in use`)}
	pipelinetest.CheckInitFails(t, in, pipelinetest.Env(pipeline.KindInput, "ticking", "ticking"), "127.0.0.1:1")
	if in.closed != 1 {
		t.Errorf("Close called %d times, want once", in.closed)
	}
}

func TestCheckSample(t *testing.T) {
	pipelinetest.CheckSample(t, pipeline.KindInput, "ticking", "path")
}

func init() {
	pipeline.Register(pipeline.Registration{
		Kind: pipeline.KindInput,
		Type: "ticking",
		Sample: `
[[inputs.ticking]]
  name = "ticking"
  publish = "ticks"
  path = "/tmp/example"  # required: an example, the default is empty
  every = "1ms"
`,
		New: func() any { return &ticking{Every: "1ms"} },
	})
}

// ticking emits a line now and then until its context ends.
type ticking struct {
	Path  string `toml:"path"`
	Every string `toml:"every"`

	failInit error
	env      *pipeline.Env
	closed   int
}

func (in *ticking) Validate() error {
	if in.Path == "" {
		return pipeline.MissingKey("path")
	}
	if _, err := time.ParseDuration(in.Every); err != nil {
		return pipeline.InvalidKey("every", "%v", err)
	}
	return nil
}

func (in *ticking) Init(env *pipeline.Env) error {
	in.env = env
	return in.failInit
}

func (in *ticking) Run(ctx context.Context, out pipeline.LineEmitter) error {
	every, err := time.ParseDuration(in.Every)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
			if err := out.EmitLine([]byte("tick")); err != nil {
				return err
			}
		}
	}
}

func (in *ticking) Close() error {
	in.closed++
	return nil
}

// fatalRecorder is a testing.TB whose Fatalf records the failure instead of
// ending the test, so that a test can check how a helper fails.
type fatalRecorder struct {
	testing.TB
	failures []string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestWaitUntilPollsUntilTheConditionHolds(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	calls := 0
	pipelinetest.WaitUntil(rec, time.Minute, "the fifth call", func() error {
		if calls++; calls < 5 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if calls != 5 || len(rec.failures) != 0 {
		t.Errorf("calls = %d, failures = %q; want 5 calls and no failure", calls, rec.failures)
	}
}

func TestWaitUntilReportsTheLastError(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	calls := 0
	pipelinetest.WaitUntil(rec, 20*time.Millisecond, "a thing that never comes", func() error {
		calls++
		return fmt.Errorf("%d calls so far", calls)
	})
	if len(rec.failures) != 1 {
		t.Fatalf("failures = %q, want one", rec.failures)
	}
	want := fmt.Sprintf("waiting for a thing that never comes: %d calls so far", calls)
	if calls < 2 || !strings.Contains(rec.failures[0], want) {
		t.Errorf("after %d calls the failure is %q; want it to contain %q", calls, rec.failures[0], want)
	}
}

type gauges map[string]float64

func (g gauges) Gauges() map[string]float64 { return g }

func TestGaugeIsSaysWhatItSaw(t *testing.T) {
	g := gauges{"open": 2}
	if err := pipelinetest.GaugeIs(g, "open", 2)(); err != nil {
		t.Errorf("open = 2, want 2: %v", err)
	}
	if err := pipelinetest.GaugeIs(g, "open", 3)(); err == nil || err.Error() != "open = 2" {
		t.Errorf("open = 2, want 3: err = %v, want \"open = 2\"", err)
	}
}
