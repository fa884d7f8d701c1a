package grafana_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/decoders/all"
	_ "github.com/interoceptor/interoceptor/filters/all"
	_ "github.com/interoceptor/interoceptor/inputs/all"
	"github.com/interoceptor/interoceptor/internal/influxtest"
	"github.com/interoceptor/interoceptor/internal/mailpittest"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	"github.com/interoceptor/interoceptor/pipeline"
	_ "github.com/interoceptor/interoceptor/pipeline/matcher"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// The dashboards against what the product really writes: configs/demo.toml,
// the pipeline `make run` starts, runs for a short while into a fresh
// InfluxDB (sped up through its DEMO_* variables: 1 s collection interval, a
// level shift every 3 s), and then every panel and annotation query must
// return data, as in TestQueriesReturnData. Its alert rules mail a level
// shift to a real mailpit, as `make run` does.
func TestQueriesReturnDataAfterADemoRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo pipeline for 25 s")
	}
	s := influxtest.New(t, database)
	mail := mailpittest.New(t, mailpittest.Options{})
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(here, "..", "..")) // as `make run` runs it, from the project root
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	for k, v := range map[string]string{
		"INFLUX_URL": s.URL, "INFLUX_DB": database, "DEMO_DATA_DIR": t.TempDir(),
		"DEMO_ADMIN_ADDR": free(), "DEMO_NATS_LISTEN": free(), "DEMO_INTERVAL": "1s", "DEMO_SERIES_RATE": "100",
		"SMTP_ADDR": mail.SMTP, "DEMO_GROUP_WAIT": "1s",
	} {
		t.Setenv(k, v)
	}
	cfg, err := pipeline.LoadConfig("configs/demo.toml")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := pipeline.Start(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	// A change the cpu detector must find. The host's own cpu cannot be
	// relied on (on a busy machine a busy core changes nothing), so a host
	// of the test's sends its cpu-total through the same subject.
	go func() {
		if err := publishCPUStep(rt); err != nil {
			t.Error(err)
		}
	}()
	// Alerts besides the demo rules' (which fire within the run but
	// resolve only later): one that resolves, for the panels of resolved
	// alerts, sent through a subject the demo's outputs.influxdb reads.
	go func() {
		if err := publishAlerts(ctx, rt); err != nil {
			t.Error(err)
		}
	}()
	if err := rt.Run(ctx); err != nil {
		t.Fatalf("demo run: %v", err)
	}
	for _, p := range rt.PluginStatus() {
		if p.Counters.Dropped > 0 {
			t.Errorf("%s.%s[%s] dropped %d messages in the demo", p.Kind, p.Type, p.Name, p.Counters.Dropped)
		}
	}
	series, err := s.Query(database, `SELECT count("difference") FROM "anomaly"`)
	if err != nil || len(series) == 0 {
		t.Fatalf("no anomaly written by the demo's change detectors: %v", err)
	}
	t.Logf("demo wrote anomalies: %v", fmt.Sprint(series[0].Values))
	checkAnomalySummaries(t, s)
	series, err = s.Query(database, `SELECT count("firing") FROM "alerts" WHERE "alertname" = 'LevelShift'`)
	if err != nil || len(series) == 0 {
		t.Fatalf("no LevelShift alert written by the demo's rules: %v", err)
	}
	// A mail for the group LevelShift that tells the generated series'
	// shift (the test's cpu step may have made one before it).
	var shift *mailpittest.Message
	pipelinetest.WaitUntil(t, time.Minute, "a LevelShift mail of the generated series", func() error {
		mails, err := mail.Messages()
		if err != nil {
			return err
		}
		for i := range mails {
			if strings.Contains(mails[i].Text, "series=generator") {
				shift = &mails[i]
				return nil
			}
		}
		return fmt.Errorf("%d mails, none of the generated series", len(mails))
	})
	if m := shift; !strings.HasPrefix(m.Subject, "[FIRING:") || !strings.Contains(m.Subject, "] LevelShift") ||
		len(m.To) != 1 || m.To[0].Address != "ops@example.com" || !strings.Contains(m.Text, "level shift") {
		t.Errorf("the demo's alert mail: subject %q, to %v, text:\n%s", m.Subject, m.To, m.Text)
	}
	t.Chdir(here)
	checkQueries(t, s.URL)
}

// checkAnomalySummaries: each anomaly the demo wrote says, in the summary
// its annotations show, which series changed (its measurement and field, as
// tagged, and the host's cpu-total for cpu), from what to what, and how sure
// the detector is.
func checkAnomalySummaries(t *testing.T, s *influxtest.Server) {
	t.Helper()
	series, err := s.Query(database, `SELECT "summary", "series", "field", "cpu" FROM "anomaly"`)
	if err != nil || len(series) == 0 {
		t.Fatalf("anomalies: %v", err)
	}
	col := func(name string) int { return slices.Index(series[0].Columns, name) }
	summary, meas, field, cpu := col("summary"), col("series"), col("field"), col("cpu")
	for _, row := range series[0].Values {
		text, _ := row[summary].(string)
		prefix := fmt.Sprint(row[meas], " ", row[field], " ")
		if row[meas] == "cpu" {
			prefix += fmt.Sprint("cpu=", row[cpu], " ")
		}
		if !strings.HasPrefix(text, prefix) || !strings.Contains(text, " → ") || !strings.Contains(text, "(score ") {
			t.Errorf("anomaly summary %q: want %q..., before → after and the score", text, prefix)
		}
	}
	t.Logf("%d anomaly summaries, the first %q", len(series[0].Values), series[0].Values[0][summary])
}

// publishCPUStep sends what inputs.system sends for a host whose user cpu
// goes from about 5 % to about 80 %, one point every 100 ms.
func publishCPUStep(rt *pipeline.Runtime) error {
	var enc pipeline.BatchEncoder
	for i := range 40 {
		level := 5.0
		if i >= 20 {
			level = 80
		}
		line := fmt.Sprintf("cpu,cpu=cpu-total,host=step-test usage_user=%g,usage_system=1 %d",
			level+float64(i%3), time.Now().UnixNano())
		var m pipeline.Message
		if err := pipeline.ParseLineProtocol([]byte(line), &m); err != nil {
			return err
		}
		m.Type = "metric"
		enc.Reset()
		enc.Add(&m)
		if err := rt.Bus().Conn.Publish("metrics.system", enc.Bytes()); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond) // a sampling interval, not a wait for a condition
	}
	return nil
}

// publishAlerts sends what filters.alert sends, sped up: an alert of the
// test's host that fires, is re-sent every 100 ms and resolves, and one that
// still fires at the end; it starts when the demo's outputs.influxdb has
// taken in its first message.
func publishAlerts(ctx context.Context, rt *pipeline.Runtime) error {
	for running := false; !running; {
		for _, p := range rt.PluginStatus() {
			running = running || p.Kind == "outputs" && p.Type == "influxdb" && p.Counters.In > 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("outputs.influxdb took in nothing: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond): // a poll interval
		}
	}
	cpu := pipeline.Alert{Labels: map[string]string{"alertname": "high_cpu", "severity": "warning", "host": "step-test"},
		Annotations: map[string]string{"summary": "CPU at 80% on step-test"}, Values: map[string]float64{"cpu_usage_user": 80}}
	disk := pipeline.Alert{Labels: map[string]string{"alertname": "disk_full", "severity": "critical", "host": "step-test"},
		Annotations: map[string]string{"summary": "/var 97% full on step-test"}, Values: map[string]float64{"disk_used_percent": 97}}
	for _, a := range []*pipeline.Alert{&cpu, &disk} {
		a.Status, a.StartsAt, a.Fingerprint = pipeline.AlertFiring, time.Now(), pipeline.AlertFingerprint(a.Labels)
	}
	var enc pipeline.BatchEncoder
	var m pipeline.Message
	for i := range 20 {
		enc.Reset()
		for _, a := range []*pipeline.Alert{&cpu, &disk} {
			if a.Status == pipeline.AlertResolved {
				continue
			}
			a.At = time.Now()
			if a == &cpu && i == 10 {
				a.Status, a.EndsAt = pipeline.AlertResolved, a.At
			}
			a.ToMessage(&m)
			enc.Add(&m)
		}
		if err := rt.Bus().Conn.Publish("metrics.alerts", enc.Bytes()); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond) // the resend interval, sped up
	}
	return nil
}
