package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/decoders/all"
	"github.com/interoceptor/interoceptor/filters/alert"
	_ "github.com/interoceptor/interoceptor/inputs/all"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// The alerts the load says the filter must emit are those filters.alert,
// configured as the scenario configures it, emits on the load's points: a
// partial last round included, where nothing may be left firing.
func TestAlertLoadMatchesTheFilter(t *testing.T) {
	const n = 2*alertSeries + alertSeries/2
	l := generateAlertLoad(n)
	cfg, err := pipeline.ParseConfig("pipeline.toml", alertRulesConfig(t.TempDir(), 1))
	if err != nil {
		t.Fatal(err)
	}
	var a *alert.Alert
	for _, pc := range cfg.Plugins {
		if f, ok := pc.Plugin.(*alert.Alert); ok {
			a = f
		}
	}
	if a == nil {
		t.Fatal("no filters.alert in the scenario's config")
	}
	env := pipelinetest.Env(pipeline.KindFilter, "alert", "rules")
	env.Agent.DataDir = t.TempDir()
	if err := a.Init(env); err != nil {
		t.Fatal(err)
	}
	var got []expectedAlert
	emit := emitFunc(func(m *pipeline.Message) error {
		al, err := pipeline.AlertFromMessage(m)
		if err != nil {
			return err
		}
		got = append(got, expectedAlert{al.Status, al.Labels["alertname"], al.Labels["host"]})
		return nil
	})
	lines := bytes.Split(bytes.TrimSuffix(l.buf, []byte{'\n'}), []byte{'\n'})
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	var m pipeline.Message
	for i, line := range lines {
		m.Reset()
		if err := pipeline.ParseLineProtocol(line, &m); err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
		if err := a.Process(&m, emit); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
	}
	if err := a.Tick(time.Unix(0, alertStart).Add(alertPeriod*3), true, emit); err != nil {
		t.Fatal(err)
	}
	// One plant per host and round where its series has a next point: in
	// round 0 every host's, in round 1 those of the hosts the half round 2
	// holds, in round 2 none; each fires and resolves.
	if want := 2 * (alertHosts + alertHosts/2); len(l.alerts) != want {
		t.Errorf("%d alerts expected by the load, want %d", len(l.alerts), want)
	}
	if len(got) != len(l.alerts) {
		t.Fatalf("the filter emitted %d alerts, the load expects %d", len(got), len(l.alerts))
	}
	for i := range got {
		if got[i] != l.alerts[i] {
			t.Fatalf("alert %d: the filter emitted %+v, the load expects %+v", i+1, got[i], l.alerts[i])
		}
	}
}

type emitFunc func(*pipeline.Message) error

func (f emitFunc) Emit(m *pipeline.Message) error { return f(m) }

func TestAbbreviateRules(t *testing.T) {
	var b strings.Builder
	b.WriteString("[[filters.alert]]\nname = \"rules\"\n")
	for k := range 10 {
		fmt.Fprintf(&b, "\n[[filters.alert.rules]]\nalert = \"R%d\"\n", k)
	}
	got := abbreviateRules(b.String(), 3)
	for _, want := range []string{"R0", "R1", "R2", "R9", "6 more rules"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "\"R3\"") || strings.Contains(got, "\"R8\"") {
		t.Errorf("R3 … R8 were not left out:\n%s", got)
	}
}
