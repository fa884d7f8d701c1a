package alert

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// BenchmarkRules1000x100k: 1,000 threshold rules, one per measurement
// (m0.value > 90 ... m999.value > 90), over 100,000 series (100 hosts ×
// 1,000 measurements); every point evaluates the one rule that reads its
// measurement. Reports points/s.
func BenchmarkRules1000x100k(b *testing.B) {
	const hosts, measurements = 100, 1000
	var body strings.Builder
	body.WriteString("resend_interval = \"1h\"\n")
	for i := range measurements {
		fmt.Fprintf(&body, "[[filters.alert.rules]]\nalert = \"R%d\"\nexpr = \"m%d.value > 90\"\n", i, i)
	}
	cfg, err := pipeline.ParseConfig("p.toml", "[[filters.alert]]\nsubscribe = [\"metrics\"]\nexternal = true\npublish = \"alerts\"\n"+body.String())
	if err != nil {
		b.Fatal(err)
	}
	a := cfg.Plugins[0].Plugin.(*Alert)
	env := pipelinetest.Env(pipeline.KindFilter, "alert", "alert")
	env.Agent.DataDir = b.TempDir()
	if err := a.Init(env); err != nil {
		b.Fatal(err)
	}
	// One message per series, reused: values mostly below the threshold,
	// 1 in 1,000 above, as in a healthy fleet.
	msgs := make([]pipeline.Message, hosts*measurements)
	for h := range hosts {
		for m := range measurements {
			msg := &msgs[h*measurements+m]
			msg.Type = pipeline.MetricType
			msg.Fields = []pipeline.Field{
				{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: fmt.Sprintf("m%d", m)},
				{Name: "host", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: fmt.Sprintf("host-%d", h)},
				{Name: "value", Kind: pipeline.KindFloat, Float: 50},
			}
		}
	}
	out := discard{}
	t := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC).UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m := &msgs[i%len(msgs)]
		m.Timestamp = t + int64(i)*int64(time.Microsecond)
		if i%1000 == 7 {
			m.Fields[2].Float = 95
		} else {
			m.Fields[2].Float = 50
		}
		if err := a.Process(m, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

type discard struct{}

func (discard) Emit(*pipeline.Message) error { return nil }
