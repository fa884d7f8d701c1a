package counter

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestCounterEmitsTotalsDeltasAndRatesPerSubject(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	c := newCounter(t, t0)
	steps := []struct {
		received []string // subjects of the messages received before the tick
		tickAt   time.Time
		want     []string // payloads emitted at the tick, in subject order
	}{
		{received: nil, tickAt: t0.Add(10 * time.Second), want: nil},
		{received: []string{"logs.b", "logs.a", "logs.a", "logs.a"}, tickAt: t0.Add(20 * time.Second),
			want: []string{"logs.a total=3 delta=3 rate=0.3/s", "logs.b total=1 delta=1 rate=0.1/s"}},
		{received: []string{"logs.a", "logs.a"}, tickAt: t0.Add(25 * time.Second),
			want: []string{"logs.a total=5 delta=2 rate=0.4/s", "logs.b total=1 delta=0 rate=0.0/s"}},
	}
	for i, step := range steps {
		for _, s := range step.received {
			if err := c.ProcessFrom(s, &pipeline.Message{Type: "log"}, new(pipelinetest.Collector)); err != nil {
				t.Fatal(err)
			}
		}
		var out pipelinetest.Collector
		if err := c.Tick(step.tickAt, false, &out); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range out.Messages() {
			got = append(got, string(m.Payload))
			if m.Timestamp != step.tickAt.UnixNano() {
				t.Errorf("tick %d: timestamp %d, want the tick's time", i, m.Timestamp)
			}
		}
		if !slices.Equal(got, step.want) {
			t.Errorf("tick %d: emitted %q, want %q", i, got, step.want)
		}
	}
}

func TestCounterPointsAreMetrics(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	c := newCounter(t, t0)
	var out pipelinetest.Collector
	for range 50 {
		c.ProcessFrom("logs.nginx", &pipeline.Message{}, &out)
	}
	if err := c.Tick(t0.Add(10*time.Second), true, &out); err != nil {
		t.Fatal(err)
	}
	msgs := out.Messages()
	if len(msgs) != 1 {
		t.Fatalf("emitted %d messages, want 1", len(msgs))
	}
	line, err := pipeline.AppendLineProtocol(nil, msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	want := "counter,subject=logs.nginx total=50i,delta=50i,rate=5 1700000010000000000\n"
	if string(line) != want {
		t.Errorf("as line protocol:\n got %s\nwant %s", line, want)
	}
}

func TestCounterCountsConcurrentlyWithTicks(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	c := newCounter(t, t0)
	const workers, each = 4, 1000
	var wg sync.WaitGroup
	var totals pipelinetest.Collector
	for w := range workers {
		wg.Go(func() {
			for range each {
				c.ProcessFrom(fmt.Sprintf("logs.%d", w%2), &pipeline.Message{}, new(pipelinetest.Collector))
			}
		})
	}
	for i := range 10 {
		c.Tick(t0.Add(time.Duration(i)*time.Second), false, new(pipelinetest.Collector))
	}
	wg.Wait()
	if err := c.Tick(t0.Add(time.Minute), true, &totals); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, m := range totals.Messages() {
		sum += m.Field("total").Int
	}
	if sum != workers*each {
		t.Errorf("totals add up to %d, want %d", sum, workers*each)
	}
}

// TestSample keeps sample.toml and the code in step.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindFilter, "counter") }

// newCounter returns a counter whose first interval starts at t0.
func newCounter(t *testing.T, t0 time.Time) *Counter {
	t.Helper()
	reg, _ := pipeline.Lookup(pipeline.KindFilter, "counter")
	c := reg.New().(*Counter)
	pipelinetest.Init(t, c, pipelinetest.Env(pipeline.KindFilter, "counter", "counter"))
	c.last = t0 // as if Init ran at t0
	return c
}
