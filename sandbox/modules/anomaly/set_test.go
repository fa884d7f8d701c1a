package anomaly

import (
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// A counter's rate is watched: bytes received at a steady rate, then at
// five times that rate, is one level shift of the rate; a reset of the
// counter is not an anomaly.
func TestCounterRate(t *testing.T) {
	set, err := NewSet(SetConfig{Field: "bytes_recv", Counter: true})
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	var events []*Event
	for i := range 400 {
		rate := 1000.0 + float64(i%5)*10
		if i >= 300 {
			rate *= 5
		}
		total += rate * 10 // a point every 10 s
		if i == 200 {
			total = 0 // the counter was reset
		}
		m := &pipeline.Message{Type: "metric", Timestamp: int64(i) * 10e9}
		m.Fields = append(m.Fields, pipeline.Field{Name: "name", Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "net"},
			pipeline.Field{Name: "interface", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "eth0"},
			pipeline.Field{Name: "bytes_recv", Kind: pipeline.KindUint, Uint: uint64(total)})
		_, ev, s, err := set.Process(m)
		if err != nil || s == nil {
			t.Fatalf("point %d: %v, %v", i, s, err)
		}
		if ev != nil {
			events = append(events, ev)
		}
	}
	if len(events) == 0 || events[0].Kind != "new_high" && events[0].Kind != "level_shift" || events[0].ChangeTime < 300*10e9 {
		for _, ev := range events {
			t.Logf("%+v", ev)
		}
		t.Fatalf("want the rate's shift at point 300 first")
	}
	for _, ev := range events {
		if ev.ChangeTime < 300*10e9 {
			t.Errorf("event before the shift: %+v", ev)
		}
	}
}
