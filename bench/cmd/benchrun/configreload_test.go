package main

import (
	"strings"
	"testing"
	"time"
)

// A scrape of the admin API's /metrics, cut down: the gauges the
// config-reload scenario reads, among others with labels and histograms.
const metricsText = `# HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.1e-05
go_gc_duration_seconds{quantile="1"} 0.000311
go_gc_duration_seconds_sum 0.0021
go_gc_duration_seconds_count 14
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 57
# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 1.1837440e+07
# HELP interoceptor_plugin_in_total Messages a plugin took.
# TYPE interoceptor_plugin_in_total counter
interoceptor_plugin_in_total{kind="filters",name="lua",type="lua"} 120345
interoceptor_plugin_in_total{kind="outputs",name="base",type="file"} 120345
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 23
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 3.3849344e+07
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.76e+09
untyped_thing 4
`

func TestParseMetrics(t *testing.T) {
	got, err := parseMetrics(strings.NewReader(metricsText), append(crMetrics, "untyped_thing")...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"process_resident_memory_bytes": 33849344,
		"go_memstats_heap_inuse_bytes":  11837440,
		"go_goroutines":                 57,
		"process_open_fds":              23,
		"untyped_thing":                 4,
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
}

func TestParseMetricsRefuses(t *testing.T) {
	for _, tc := range []struct{ name, text, metric string }{
		{"missing", metricsText, "go_threads"},
		{"labelled series", metricsText, "interoceptor_plugin_in_total"},
		{"summary", metricsText, "go_gc_duration_seconds"},
		{"not the text format", "go_goroutines fifty\n", "go_goroutines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := parseMetrics(strings.NewReader(tc.text), tc.metric); err == nil {
				t.Errorf("read %s as %v, want an error", tc.metric, got)
			}
		})
	}
}

func TestDurationStats(t *testing.T) {
	var ds []time.Duration
	for i := 10; i >= 1; i-- { // unsorted: 10 … 1 ms
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	lo, med, p90, hi := durationStats(ds)
	if lo != time.Millisecond || med != 6*time.Millisecond || p90 != 9*time.Millisecond || hi != 10*time.Millisecond {
		t.Errorf("min %s, median %s, p90 %s, max %s; want 1ms, 6ms (the slower middle), 9ms, 10ms", lo, med, p90, hi)
	}
	if ds[0] != 10*time.Millisecond {
		t.Error("durationStats sorted its argument in place")
	}
}

func TestCheckLeaks(t *testing.T) {
	sample := func(reloads int, goroutines, fds float64) metricsSample {
		return metricsSample{reloads: reloads, values: map[string]float64{"go_goroutines": goroutines, "process_open_fds": fds}}
	}
	steady := []metricsSample{sample(0, 40, 20), sample(100, 50, 22), sample(1000, 50+crLeakMargin, 21)}
	if err := checkLeaks(steady); err != nil {
		t.Errorf("within the margin: %v", err)
	}
	leaking := []metricsSample{sample(0, 40, 20), sample(100, 50, 22), sample(1000, 51, 23+crLeakMargin)}
	if err := checkLeaks(leaking); err == nil || !strings.Contains(err.Error(), "process_open_fds") {
		t.Errorf("fds grew by %d: got %v, want an error naming process_open_fds", crLeakMargin+1, err)
	}
}
