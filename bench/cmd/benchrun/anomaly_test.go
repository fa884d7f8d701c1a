package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The load is canonical line protocol whose values read back as the bits the
// expected events came from, and every kind of planted anomaly is found.
func TestAnomalyLoad(t *testing.T) {
	const hosts, rounds = 100, anomalyFlatRound + anomalyFlatRounds + 10
	l := generateAnomalyLoad(hosts*rounds, hosts)
	lines := bytes.Split(bytes.TrimSuffix(l.buf, []byte{'\n'}), []byte{'\n'})
	if len(lines) != l.n {
		t.Fatalf("%d lines, want %d", len(lines), l.n)
	}
	var m pipeline.Message
	for i, line := range lines {
		m.Reset()
		if err := pipeline.ParseLineProtocol(line, &m); err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
		back, err := pipeline.AppendLineProtocol(nil, &m)
		if err != nil || !bytes.Equal(back, append(line, '\n')) {
			t.Fatalf("line %d %q does not round-trip: %q, %v", i+1, line, back, err)
		}
		if want := anomalyHost(i % hosts); m.Field("host").Str != want {
			t.Fatalf("line %d is of %s, want %s (hosts interleaved)", i+1, m.Field("host").Str, want)
		}
	}
	if l.planted != 4 || l.found != 4 {
		t.Errorf("%d planted anomalies, %d found; want the 4 of one host per kind, all found", l.planted, l.found)
	}
	if l.quietEvents >= len(l.events) {
		t.Errorf("%d of %d events on hosts with nothing planted", l.quietEvents, len(l.events))
	}
}

// checkAnomaly accepts the message the script injects for an event and
// rejects one that reports another series, kind, time or value.
func TestCheckAnomaly(t *testing.T) {
	l := generateAnomalyLoad(100*(anomalySpikeRound+1), 100)
	var ev expectedEvent
	for _, e := range l.events {
		if e.host == anomalyHost(7) && e.Kind == "new_high" {
			ev = e
		}
	}
	if ev.host == "" {
		t.Fatal("no new_high of the spiked host in the load")
	}
	good := func() *pipeline.Message {
		m := &pipeline.Message{Type: "anomaly", Timestamp: ev.Time,
			Payload: []byte("cpu,cpu=cpu-total,host=" + ev.host + ": usage_user new high, up from …")}
		m.Fields = []pipeline.Field{{Name: "name", Role: pipeline.RoleMeasurement, Kind: pipeline.KindString, Str: "anomaly"}}
		for k, v := range map[string]string{"cpu": "cpu-total", "host": ev.host, "series": "cpu", "field": "usage_user"} {
			m.Fields = append(m.Fields, pipeline.Field{Name: k, Role: pipeline.RoleTag, Kind: pipeline.KindString, Str: v})
		}
		m.AddString("kind", ev.Kind)
		m.AddString("direction", "up")
		m.AddString("summary", "cpu usage_user cpu=cpu-total host="+ev.host+": new high up, 10 → 30 (+200.0%) (score 1.00)")
		m.AddFloat("score", ev.Score)
		m.AddFloat("value", ev.Value)
		m.AddFloat("before", ev.Before)
		m.AddFloat("after", ev.After)
		m.AddFloat("difference", ev.After-ev.Before)
		m.AddFloat("percent", (ev.After-ev.Before)/ev.Before*100)
		return m
	}
	if err := checkAnomaly(good(), ev); err != nil {
		t.Fatalf("the script's message rejected: %v", err)
	}
	for name, spoil := range map[string]func(m *pipeline.Message){
		"another host":      func(m *pipeline.Message) { m.Field("host").Str = anomalyHost(8) },
		"another kind":      func(m *pipeline.Message) { m.Field("kind").Str = "new_low" },
		"another time":      func(m *pipeline.Message) { m.Timestamp++ },
		"another value":     func(m *pipeline.Message) { m.Field("value").Float++ },
		"no series tag":     func(m *pipeline.Message) { m.Field("series").Name = "serie" },
		"a change_time":     func(m *pipeline.Message) { m.AddString("change_time", strconv.FormatInt(ev.Time, 10)) },
		"not an anomaly":    func(m *pipeline.Message) { m.Type = "metric" },
		"payload of others": func(m *pipeline.Message) { m.Payload = []byte("cpu: " + strings.Repeat("x", 10)) },
		"a bare summary":    func(m *pipeline.Message) { m.Field("summary").Str = "usage_user (score 0.9)" },
	} {
		m := good()
		spoil(m)
		if err := checkAnomaly(m, ev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
