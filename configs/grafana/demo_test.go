package grafana_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/decoders/all"
	_ "github.com/interoceptor/interoceptor/filters/all"
	_ "github.com/interoceptor/interoceptor/inputs/all"
	"github.com/interoceptor/interoceptor/internal/influxtest"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	"github.com/interoceptor/interoceptor/pipeline"
	_ "github.com/interoceptor/interoceptor/pipeline/matcher"
)

// spin is where the busy loop of the demo test writes, so that it is not
// optimised away.
var spin int

// The dashboards against what the product really writes: configs/demo.toml,
// the pipeline `make run` starts, runs for a short while into a fresh
// InfluxDB (sped up through its DEMO_* variables: 1 s collection interval, a
// level shift every 3 s), and then every panel and annotation query must
// return data, as in TestQueriesReturnData.
func TestQueriesReturnDataAfterADemoRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo pipeline for 25 s")
	}
	s := influxtest.New(t, database)
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(here, "..", "..")) // the demo names its Lua script relative to the project root
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
	// A change the cpu detector can find: one core busy from 6 s to 18 s.
	go func() {
		time.Sleep(6 * time.Second)
		for end := time.Now().Add(12 * time.Second); time.Now().Before(end); {
			for i := 0; i < 1e6; i++ {
				spin += i
			}
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
	t.Chdir(here)
	checkQueries(t, s.URL)
}
