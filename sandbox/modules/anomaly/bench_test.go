package anomaly

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// BenchmarkAdd: one point into one detector.
func BenchmarkAdd(b *testing.B) {
	d := New(Config{})
	r := rand.New(rand.NewPCG(1, 1))
	vals := make([]float64, 4096)
	for i := range vals {
		vals[i] = 10 + r.NormFloat64()
	}
	b.ReportAllocs()
	for i := range b.N {
		d.Add(int64(i), vals[i&4095])
	}
}

// BenchmarkSetProcess: one metric message into a set of 10,000 series,
// the series found from the message's tags.
func BenchmarkSetProcess(b *testing.B) {
	set, err := NewSet(SetConfig{Field: "usage_user", MaxSeries: 10000})
	if err != nil {
		b.Fatal(err)
	}
	const series = 10000
	msgs := make([]*pipeline.Message, series)
	for i := range msgs {
		m := &pipeline.Message{Type: "metric"}
		m.Fields = []pipeline.Field{
			{Name: "name", Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "cpu"},
			{Name: "cpu", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "cpu-total"},
			{Name: "host", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "edge-" + strconv.Itoa(i)},
			{Name: "usage_user", Kind: pipeline.KindFloat, Float: 10},
		}
		msgs[i] = m
	}
	b.ReportAllocs()
	for i := range b.N {
		m := msgs[i%series]
		m.Timestamp = int64(i)
		m.Fields[3].Float = 10 + float64(i%7)
		if _, _, _, err := set.Process(m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(set.SizeBytes())/float64(set.Len()), "bytes/series")
}
