package pipeline

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAlertRoundTripsThroughAMessageAndLineProtocol(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	a := &Alert{
		Status:      AlertResolved,
		Labels:      map[string]string{"alertname": "high_cpu", "severity": "critical", "host": "web 1"},
		Annotations: map[string]string{"summary": "CPU at 97%", "dashboard": "http://grafana/d/hosts"},
		Values:      map[string]float64{"usage_user": 97.5, "load1": 4.25},
		StartsAt:    start,
		EndsAt:      start.Add(10 * time.Minute),
		At:          start.Add(10 * time.Minute),
	}
	a.Fingerprint = AlertFingerprint(a.Labels)

	var m Message
	a.ToMessage(&m)
	if m.Severity != 2 || m.Measurement() != AlertMeasurement {
		t.Fatalf("severity %d, measurement %q: want 2 and %q", m.Severity, m.Measurement(), AlertMeasurement)
	}
	point := m
	point.Type = MetricType // as outputs.influxdb writes a point of another Type
	line, err := AppendLineProtocol(nil, &point)
	if err != nil {
		t.Fatalf("an alert must write as line protocol: %v", err)
	}
	want := `alerts,alertname=high_cpu,host=web\ 1,severity=critical,status=resolved fingerprint="` + a.Fingerprint +
		`",firing=0i,resent=false,starts_at=1772442000000000000i,ends_at=1772442600000000000i,annotation_dashboard="http://grafana/d/hosts",annotation_summary="CPU at 97%",value_load1=4.25,value_usage_user=97.5 1772442600000000000` + "\n"
	if string(line) != want {
		t.Fatalf("line protocol\n got %s\nwant %s", line, want)
	}
	var back Message
	if err := ParseLineProtocol(line[:len(line)-1], &back); err != nil {
		t.Fatal(err)
	}
	back.Type = AlertType
	got, err := AlertFromMessage(&back)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("read back\n got %+v\nwant %+v", got, a)
	}
	if !strings.HasPrefix(string(m.Payload), "[RESOLVED] high_cpu host=web 1: CPU at 97% (load1=4.25, usage_user=97.5)") {
		t.Fatalf("payload %q", m.Payload)
	}
}

func TestAlertFingerprintDependsOnTheLabelsOnly(t *testing.T) {
	a := map[string]string{"alertname": "test", "host": "a", "severity": "warning"}
	b := map[string]string{"severity": "warning", "host": "a", "alertname": "test"}
	if AlertFingerprint(a) != AlertFingerprint(b) || len(AlertFingerprint(a)) != 16 {
		t.Fatalf("same labels: %s, %s", AlertFingerprint(a), AlertFingerprint(b))
	}
	b["host"] = "b"
	if AlertFingerprint(a) == AlertFingerprint(b) {
		t.Fatal("different labels, same fingerprint")
	}
}

func TestAlertFromMessageRefusesWhatIsNotAnAlert(t *testing.T) {
	m := &Message{Type: "metric"}
	if _, err := AlertFromMessage(m); err != ErrNotAlert {
		t.Fatalf("metric: %v", err)
	}
	m.Type = AlertType
	m.Fields = []Field{{Name: "name", Role: RoleMeasurement, Str: AlertMeasurement}, {Name: "alertname", Role: RoleTag, Str: "x"}}
	if _, err := AlertFromMessage(m); err == nil || !strings.Contains(err.Error(), "status") {
		t.Fatalf("no status: %v", err)
	}
}
