package counter

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/interoceptor/interoceptor/pipeline"
)

func TestCounterEmitsTotalsDeltasAndRatesPerSubject(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	c := newCounter(t, t0)
	var out collector
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
			if err := c.ProcessFrom(s, &pipeline.Message{Type: "log"}, &out); err != nil {
				t.Fatal(err)
			}
		}
		out.msgs = nil
		if err := c.Tick(step.tickAt, false, &out); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range out.msgs {
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
	var out collector
	for range 50 {
		c.ProcessFrom("logs.nginx", &pipeline.Message{}, &out)
	}
	if err := c.Tick(t0.Add(10*time.Second), true, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.msgs) != 1 {
		t.Fatalf("emitted %d messages, want 1", len(out.msgs))
	}
	line, err := pipeline.AppendLineProtocol(nil, out.msgs[0])
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
	var totals collector
	for w := range workers {
		wg.Go(func() {
			for range each {
				c.ProcessFrom(fmt.Sprintf("logs.%d", w%2), &pipeline.Message{}, &collector{})
			}
		})
	}
	for i := range 10 {
		c.Tick(t0.Add(time.Duration(i)*time.Second), false, &collector{})
	}
	wg.Wait()
	if err := c.Tick(t0.Add(time.Minute), true, &totals); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, m := range totals.msgs {
		sum += m.Field("total").Int
	}
	if sum != workers*each {
		t.Errorf("totals add up to %d, want %d", sum, workers*each)
	}
}

// TestSampleSetsEveryKeyToItsDefault keeps sample.toml and the code in step.
func TestSampleSetsEveryKeyToItsDefault(t *testing.T) {
	reg, ok := pipeline.Lookup(pipeline.KindFilter, "counter")
	if !ok {
		t.Fatal("filters.counter is not registered")
	}
	var doc map[string]map[string][]map[string]any
	if _, err := toml.Decode(reg.Sample, &doc); err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	tables := doc["filters"]["counter"]
	if len(tables) != 1 {
		t.Fatalf("sample.toml has %d [[filters.counter]] tables, want 1", len(tables))
	}
	keys := tables[0]
	for _, k := range []string{"name", "subscribe", "publish", "ticker_interval"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("sample.toml lacks the shared key %q", k)
		}
	}
	for _, k := range []string{"name", "publish", "subscribe", "external", "matcher", "queue", "ticker_interval"} {
		delete(keys, k)
	}
	var src bytes.Buffer
	if err := toml.NewEncoder(&src).Encode(keys); err != nil {
		t.Fatal(err)
	}
	got := new(Counter)
	md, err := toml.Decode(src.String(), got)
	if err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("sample.toml has keys the plugin does not know: %v", u)
	}
	if want := reg.New(); !reflect.DeepEqual(got, want) {
		t.Errorf("sample.toml decodes to %+v, want the defaults %+v", got, want)
	}
}

// newCounter returns a counter whose first interval starts at t0.
func newCounter(t *testing.T, t0 time.Time) *Counter {
	t.Helper()
	reg, _ := pipeline.Lookup(pipeline.KindFilter, "counter")
	c := reg.New().(*Counter)
	if err := c.Init(&pipeline.Env{Kind: pipeline.KindFilter, Type: "counter", Name: "counter"}); err != nil {
		t.Fatal(err)
	}
	c.last = t0 // as if Init ran at t0
	return c
}

// collector is an emitter that keeps a copy of every message (a message is
// only valid during Emit).
type collector struct {
	msgs []*pipeline.Message
}

func (c *collector) Emit(m *pipeline.Message) error {
	c.msgs = append(c.msgs, m.Clone())
	return nil
}
