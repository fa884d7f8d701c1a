package grafana_test

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/internal/influxtest"
	"github.com/interoceptor/interoceptor/pipeline"
)

// database is the InfluxDB database the dashboards are tested against: the
// one outputs.influxdb writes to in the demo (INFLUX_DB).
const database = "interoceptor"

// seed fills the database with the last ten minutes of what a short demo run
// writes, in the shapes the producers write:
//
//   - inputs.system, Telegraf's measurements, every point tagged host:
//     cpu (tag cpu, cpu-total and per core), mem, disk (by path), diskio (by
//     name), net (by interface), system, processes; counters cumulative ints
//   - inputs.internal: interoceptor_plugin (tags kind, type, name, host;
//     cumulative int fields in, out, dropped, errors; cumulative
//     process_seconds and lua_call_seconds; lua_memory_bytes), and
//     interoceptor_nats and interoceptor_runtime (tag host)
//   - inputs.generator: generator (tag series, field value), with level shifts
//   - anomaly.lua: anomaly (tags series = the watched measurement, field =
//     the watched field, and the series' own tags; fields kind, score,
//     value, before, after, difference, percent, direction, summary, and
//     change_time for a level shift; timestamp = the change time), for
//     generator and for cpu
//
// It stands in for a run of configs/demo.toml until that run can write to
// InfluxDB: replace its body with one, and the query test proves the
// dashboards against the real thing.
func seed(t *testing.T, s *influxtest.Server) {
	t.Helper()
	const (
		step   = 10 * time.Second // inputs.system and inputs.internal interval
		points = 60
	)
	end := time.Now().Add(-time.Second).Truncate(step)
	start := end.Add(-(points - 1) * step)
	var lp lineProtocol

	for h, host := range []string{"edge-1", "edge-2"} {
		var readBytes, writeBytes, recv, sent [2]int64
		for i := range points {
			ts := start.Add(time.Duration(i) * step)
			wave := math.Sin(float64(i)/6 + float64(h))
			for c, cpu := range []string{"cpu-total", "cpu0", "cpu1"} {
				user := 20 + 10*wave + float64(c)
				system, iowait := 5+2*wave, 1.5
				lp.add("cpu", tags{"host", host, "cpu", cpu}, ts,
					"usage_user", user, "usage_system", system, "usage_idle", 100-user-system-iowait,
					"usage_iowait", iowait, "usage_nice", 0.0, "usage_irq", 0.0, "usage_softirq", 0.2,
					"usage_steal", 0.0, "usage_guest", 0.0, "usage_guest_nice", 0.0)
			}
			total := int64(16 << 30)
			used := int64(float64(6<<30) * (1 + 0.1*wave))
			lp.add("mem", tags{"host", host}, ts,
				"total", total, "used", used, "available", total-used, "free", (total-used)/2,
				"used_percent", 100*float64(used)/float64(total), "available_percent", 100*float64(total-used)/float64(total))
			for p, path := range []string{"/", "/var"} {
				dtotal := int64(100 << 30)
				dused := int64(40<<30) + int64(p)*(20<<30) + int64(i)*(1<<20)
				lp.add("disk", tags{"host", host, "path", path, "device", fmt.Sprintf("sda%d", p+1), "fstype", "ext4", "mode", "rw"}, ts,
					"total", dtotal, "used", dused, "free", dtotal-dused, "used_percent", 100*float64(dused)/float64(dtotal),
					"inodes_total", int64(6553600), "inodes_used", int64(400000+i), "inodes_free", int64(6153600-i))
			}
			for d, name := range []string{"sda", "nvme0n1"} {
				readBytes[d] += int64(1<<20) * int64(2+d)
				writeBytes[d] += int64(3<<20) * int64(1+d)
				lp.add("diskio", tags{"host", host, "name", name}, ts,
					"read_bytes", readBytes[d], "write_bytes", writeBytes[d], "reads", readBytes[d]>>12, "writes", writeBytes[d]>>12,
					"read_time", int64(i*3), "write_time", int64(i*7), "io_time", int64(i*9), "weighted_io_time", int64(i*11), "iops_in_progress", int64(0))
			}
			for n, iface := range []string{"eth0", "lo"} {
				recv[n] += int64(250_000 * (1 + n) * (2 + int(2*wave)))
				sent[n] += int64(120_000 * (1 + n))
				lp.add("net", tags{"host", host, "interface", iface}, ts,
					"bytes_recv", recv[n], "bytes_sent", sent[n], "packets_recv", recv[n]/1000, "packets_sent", sent[n]/1000,
					"err_in", int64(0), "err_out", int64(0), "drop_in", int64(0), "drop_out", int64(0))
			}
			lp.add("system", tags{"host", host}, ts,
				"load1", 0.8+0.5*wave, "load5", 0.7+0.2*wave, "load15", 0.6, "n_cpus", int64(2), "n_users", int64(1), "uptime", int64(86400+i*10))
			lp.add("processes", tags{"host", host}, ts,
				"total", int64(180+i%5), "running", int64(1+i%3), "sleeping", int64(175), "blocked", int64(i%2),
				"zombies", int64(0), "stopped", int64(0), "dead", int64(0), "paging", int64(0), "idle", int64(3), "total_threads", int64(420))
		}
	}

	// The demo pipeline's plugins as inputs.internal reports them.
	plugins := []struct {
		kind, typ, name string
		rate            int64 // messages per second in
		lua             bool
	}{
		{"inputs", "generator", "weblog", 200, false},
		{"inputs", "generator", "level_series", 100, false},
		{"inputs", "system", "system", 1, false},
		{"inputs", "internal", "internal", 1, false},
		{"filters", "counter", "counter", 300, false},
		{"filters", "lua", "level_anomaly", 100, true},
		{"outputs", "stdout", "stdout", 2, false},
		{"outputs", "influxdb", "influxdb", 110, false},
	}
	for i := range points {
		ts := start.Add(time.Duration(i) * step)
		secs := int64(i+1) * int64(step/time.Second)
		for _, p := range plugins {
			in := p.rate * secs
			dropped := in / 5000
			fields := []any{"in", in, "out", in - dropped, "dropped", dropped, "errors", int64(i / 20),
				"process_seconds", float64(in) * 2e-6}
			if p.lua {
				fields = append(fields, "lua_memory_bytes", float64(1<<20+i*4096), "lua_call_seconds", float64(in)*1.5e-6)
			}
			lp.add("interoceptor_plugin", tags{"kind", p.kind, "type", p.typ, "name", p.name, "host", "demo"}, ts, fields...)
		}
	}

	var inMsgs, outMsgs, totalAlloc int64
	for i := range points {
		ts := start.Add(time.Duration(i) * step)
		inMsgs += 4100 * 10
		outMsgs += 4150 * 10
		totalAlloc += 30 << 20
		lp.add("interoceptor_nats", tags{"host", "demo"}, ts,
			"in_msgs", inMsgs, "out_msgs", outMsgs, "in_bytes", inMsgs*60, "out_bytes", outMsgs*60,
			"reconnects", int64(0), "published_batches", outMsgs/50)
		lp.add("interoceptor_runtime", tags{"host", "demo"}, ts,
			"goroutines", int64(40+i%3), "heap_alloc_bytes", int64(12<<20+i*1024), "heap_inuse_bytes", int64(14<<20+i*1024),
			"heap_sys_bytes", int64(24<<20), "heap_objects", int64(50000+i), "sys_bytes", int64(40<<20),
			"total_alloc_bytes", totalAlloc, "gc_count", int64(i*2), "gc_pause_total_ns", int64(i*150000), "rss_bytes", int64(38<<20))
	}

	// The generated series (a point a second here; the demo makes 100) with
	// a level shift every two minutes, and the change points found in it.
	level := func(j int) float64 { return []float64{10, 25, 15, 40, 20}[j%5] }
	for sec := 0; sec < points*int(step/time.Second); sec++ {
		ts := start.Add(time.Duration(sec) * time.Second)
		noise := math.Sin(float64(sec)*1.7) * 0.8
		lp.add("generator", tags{"host", "demo", "series", "level_series"}, ts, "value", level(sec/120)+noise)
		if sec > 0 && sec%120 == 0 {
			before, after := level(sec/120-1), level(sec/120)
			lp.add("anomaly", tags{"host", "demo", "series", "generator", "field", "value"}, ts,
				anomalyFields(ts, "generator value series=level_series", before, after)...)
		}
	}
	// One change in cpu usage_user on edge-1.
	cpuChange := start.Add(points / 2 * step)
	lp.add("anomaly", tags{"cpu", "cpu-total", "field", "usage_user", "host", "edge-1", "series", "cpu"}, cpuChange,
		anomalyFields(cpuChange, "cpu usage_user cpu=cpu-total host=edge-1", 18, 31)...)

	for _, a := range []struct {
		labels, annotations map[string]string
		values              map[string]float64
		from, to            time.Duration // since start; to 0: still firing at the end
	}{
		{map[string]string{"alertname": "high_cpu", "severity": "warning", "host": "edge-1"},
			map[string]string{"summary": "CPU at 93.5% on edge-1 with load 4.2", "description": "usage_user above 90% and load1 above 4 for 5m"},
			map[string]float64{"cpu_usage_user": 93.5, "system_load1": 4.2}, time.Minute, 4*time.Minute + 30*time.Second},
		{map[string]string{"alertname": "host_down", "severity": "critical", "host": "edge-2"},
			map[string]string{"summary": "edge-2 has sent nothing for 5m"},
			nil, 6 * time.Minute, 0},
		{map[string]string{"alertname": "level_shift", "severity": "info", "series": "generator", "field": "value"},
			map[string]string{"summary": "level shift up, 15 → 40 (score 0.90)"},
			map[string]float64{"anomaly_score": 0.9, "anomaly_after": 40}, 2 * time.Minute, 8 * time.Minute},
	} {
		alert := pipeline.Alert{Status: pipeline.AlertFiring, Labels: a.labels, Annotations: a.annotations, Values: a.values,
			StartsAt: start.Add(a.from), Fingerprint: pipeline.AlertFingerprint(a.labels)}
		last := end
		if a.to != 0 {
			last = start.Add(a.to)
		}
		for at := alert.StartsAt; at.Before(last); at = at.Add(time.Minute) { // fired, then re-sent
			alert.At, alert.Resent = at, at != alert.StartsAt
			lp.addAlert(&alert)
		}
		alert.Resent = false
		if a.to != 0 {
			alert.Status, alert.EndsAt, alert.At = pipeline.AlertResolved, last, last
			lp.addAlert(&alert)
		}
	}

	lp.write(t, s, database)
}

// anomalyFields are a level shift's fields as anomaly.lua writes them; name
// is the series as its summary names it.
func anomalyFields(at time.Time, name string, before, after float64) []any {
	direction := "up"
	if after < before {
		direction = "down"
	}
	return []any{"kind", "level_shift", "score", 0.9, "value", after, "before", before, "after", after,
		"difference", after - before, "percent", 100 * (after - before) / before, "direction", direction,
		"summary", fmt.Sprintf("%s: level shift %s, %.4g → %.4g (%+.1f%%) (score 0.90)", name, direction, before, after, 100*(after-before)/before),
		"change_time", fmt.Sprintf("%d", at.UnixNano())}
}

// tags are key, value pairs, kept in order.
type tags []string

// lineProtocol builds an InfluxDB line protocol body.
type lineProtocol struct{ strings.Builder }

// add appends a point; fields are name, value pairs: float64, int64 or string.
func (lp *lineProtocol) add(measurement string, tg tags, ts time.Time, fields ...any) {
	lp.WriteString(measurement)
	for i := 0; i < len(tg); i += 2 {
		fmt.Fprintf(lp, ",%s=%s", tg[i], tg[i+1])
	}
	for i := 0; i < len(fields); i += 2 {
		sep := ","
		if i == 0 {
			sep = " "
		}
		switch v := fields[i+1].(type) {
		case float64:
			fmt.Fprintf(lp, "%s%s=%g", sep, fields[i], v)
		case int64:
			fmt.Fprintf(lp, "%s%s=%di", sep, fields[i], v)
		case string:
			fmt.Fprintf(lp, "%s%s=%q", sep, fields[i], v)
		default:
			panic(fmt.Sprintf("field %v: unsupported %T", fields[i], v))
		}
	}
	fmt.Fprintf(lp, " %d\n", ts.UnixNano())
}

// addAlert appends an alert message as outputs.influxdb writes it: the
// point pipeline.Alert.ToMessage makes.
func (lp *lineProtocol) addAlert(a *pipeline.Alert) {
	var m pipeline.Message
	a.ToMessage(&m)
	m.Type = pipeline.MetricType // outputs.influxdb writes any message with a measurement as a point
	line, err := pipeline.AppendLineProtocol(nil, &m)
	if err != nil {
		panic(fmt.Sprintf("alert %s: %v", a.Name(), err))
	}
	lp.Write(line)
}

func (lp *lineProtocol) write(t *testing.T, s *influxtest.Server, db string) {
	t.Helper()
	resp, err := http.Post(s.URL+"/write?precision=ns&db="+db, "text/plain", strings.NewReader(lp.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("write: %s: %s", resp.Status, body)
	}
}
