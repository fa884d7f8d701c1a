package grafana_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// The demo's detector on its generated series: ten minutes of the demo
// (6,000 points at its 10 a second), sped up, give no false alarm on the
// series' noise: every anomaly is a shift of the level, found within a few
// points of it. Half the shifts at least are found: the detector reports a
// shift that is new for the series and at least 0.75 of its standard
// deviation (the levels spread over 0-100, the shifts are of 10 or more).
// The demo's own config is run, its InfluxDB output swapped for a file.
func TestDemoDetectorHasNoFalseAlarm(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo pipeline on 6,000 generated points")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "configs", "demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	cfgText := regexp.MustCompile(`(?s)\[\[outputs\.influxdb\]\].*?(\n\[\[|\z)`).ReplaceAllString(string(src), "$1") +
		"\n[[outputs.file]]\nsubscribe = [\"demo.metrics\", \"demo.anomalies\"]\npath = \"" + out + "\"\nformat = \"json\"\n"
	for k, v := range map[string]string{"DEMO_DATA_DIR": filepath.Join(dir, "var"), "DEMO_ADMIN_ADDR": "off",
		"DEMO_NATS_LISTEN": "127.0.0.1:0", "DEMO_INTERVAL": "1s", "DEMO_SERIES_RATE": "2000"} {
		t.Setenv(k, v)
	}
	// Named as the demo's file: its paths are relative to configs/.
	cfg, err := pipeline.ParseConfig(filepath.Join(root, "configs", "demo.toml"), cfgText)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := pipeline.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	const points = 6000
	pipelinetest.WaitUntil(t, 5*time.Minute, fmt.Sprintf("%d points from level_series", points), func() error {
		for _, p := range rt.PluginStatus() {
			if p.Name == "level_series" {
				if p.Counters.Out < points {
					return fmt.Errorf("%d so far", p.Counters.Out)
				}
				return nil
			}
		}
		return errors.New("no plugin level_series")
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	seqAt := map[string]int{} // generator point's timestamp → seq
	type event struct {
		at, kind string
	}
	var events []event
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m struct {
			Timestamp string
			Type      string
			Fields    []struct {
				Name  string
				Value any
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		fields := map[string]any{}
		for _, f := range m.Fields {
			fields[f.Name] = f.Value
		}
		switch {
		case m.Type == "metric" && fields["name"] == "generator":
			seqAt[m.Timestamp] = int(fields["seq"].(float64))
		case m.Type == "anomaly" && fields["series"] == "generator":
			events = append(events, event{m.Timestamp, fields["kind"].(string)})
		}
	}
	found := map[int]bool{}
	for _, ev := range events {
		seq, ok := seqAt[ev.at]
		if !ok {
			t.Errorf("anomaly %s at %s: no generated point there", ev.kind, ev.at)
			continue
		}
		// The level changes at seq 301, 601, ...: an anomaly is at most 20
		// points after a change.
		shift := (seq-1)/300*300 + 1
		if shift == 1 || seq-shift > 20 {
			t.Errorf("false alarm: %s at point %d, %d points after the last shift", ev.kind, seq, seq-shift)
			continue
		}
		found[shift] = true
	}
	shifts := (len(seqAt) - 1) / 300
	t.Logf("%d points, %d shifts, %d found, %d anomalies", len(seqAt), shifts, len(found), len(events))
	if len(seqAt) < points || len(found) < shifts/2 {
		t.Errorf("%d of %d shifts found in %d points, want at least half", len(found), shifts, len(seqAt))
	}
}
