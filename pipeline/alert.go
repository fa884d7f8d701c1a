package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// AlertType is the Type of the messages that alert rules emit
// (filters.alert) and that the notification outputs read.
const AlertType = "alert"

// AlertMeasurement is the measurement of an alert message: an alert is a
// metric point, so that outputs.influxdb writes it as it is and Grafana
// shows alerts over time and as annotations.
const AlertMeasurement = "alerts"

// The two states of an alert, Alertmanager's names.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// The prefixes of an alert message's fields that carry its annotations and
// its values (see Alert.ToMessage).
const (
	AlertAnnotationPrefix = "annotation_"
	AlertValuePrefix      = "value_"
)

// Alert is what a rule says about one group (one host, one series) at one
// moment. It travels as a message of Type "alert" (see ToMessage), which
// outputs.notify and outputs.alertmanager read back with AlertFromMessage.
type Alert struct {
	Status string // AlertFiring or AlertResolved
	// Labels identify the alert: "alertname" (the rule), "severity", the
	// group's tags and the rule's own labels. "status" is not a label.
	Labels map[string]string
	// Annotations describe it: "summary", "description", a dashboard
	// link, with the rule's templates filled in.
	Annotations map[string]string
	// Values are the values that made the rule fire (or the last ones
	// seen, once resolved), by name.
	Values      map[string]float64
	StartsAt    time.Time // when it began to fire
	EndsAt      time.Time // when it resolved; zero while it fires
	At          time.Time // when this was said: the message's Timestamp
	Fingerprint string    // AlertFingerprint(Labels)
	// Resent marks a firing alert said again while it goes on firing (a
	// rule re-sends them, so that a notifier that restarted learns them):
	// not a change, which a dashboard's annotations leave out.
	Resent bool
}

// Name is the alert's "alertname" label.
func (a *Alert) Name() string { return a.Labels["alertname"] }

// AlertFingerprint is the stable identity of an alert with these labels:
// the same 16 hex digits as Prometheus and Alertmanager compute (FNV-1a
// over the sorted label pairs), so that an alert can be followed from a
// rule to Alertmanager by one id.
func AlertFingerprint(labels map[string]string) string {
	ls := make(model.LabelSet, len(labels))
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}

// AlertSeverity maps an alert's severity label to the syslog severity of
// its message: what ParseSeverity reads (critical 2, error 3, warning 4,
// info 6...), plus Alertmanager's usual page 2, major 3 and none 6;
// anything else is warning's 4.
func AlertSeverity(severity string) int32 {
	switch strings.ToLower(severity) {
	case "page":
		return 2
	case "major":
		return 3
	case "none":
		return 6
	}
	if sev, ok := ParseSeverity(severity); ok {
		return sev
	}
	return 4
}

// ToMessage writes the alert into m (reset first) as a metric point of
// Type "alert", measurement "alerts":
//
//   - tags: every label, and "status" (firing or resolved);
//   - values, in this order: "fingerprint" (string), "firing" (int 1 or 0),
//     "resent" (bool), "starts_at" and "ends_at" (int, ns since the epoch;
//     ends_at 0 while firing), "annotation_<name>" (string) for each annotation and
//     "value_<name>" (float) for each value, each set sorted by name;
//   - Timestamp: At; Severity: AlertSeverity of the severity label;
//     Payload: a line a person can read (see Text).
//
// A label named "status" or one with an empty value is left out (line
// protocol has no empty tag); filters.alert refuses such labels.
func (a *Alert) ToMessage(m *Message) {
	m.Reset()
	m.Type = AlertType
	m.Timestamp = a.At.UnixNano()
	m.Severity = AlertSeverity(a.Labels["severity"])
	m.Payload = append(m.Payload[:0], a.Text()...)
	m.Fields = append(m.Fields, Field{Name: "name", Kind: KindString, Role: RoleMeasurement, Str: AlertMeasurement})
	for _, k := range sortedKeys(a.Labels) {
		if k == "status" || a.Labels[k] == "" {
			continue
		}
		m.Fields = append(m.Fields, Field{Name: k, Kind: KindString, Role: RoleTag, Str: a.Labels[k]})
	}
	m.Fields = append(m.Fields, Field{Name: "status", Kind: KindString, Role: RoleTag, Str: a.Status})
	m.AddString("fingerprint", a.Fingerprint)
	firing := int64(0)
	if a.Status == AlertFiring {
		firing = 1
	}
	m.AddInt("firing", firing)
	m.AddBool("resent", a.Resent)
	m.AddInt("starts_at", unixNanoOrZero(a.StartsAt))
	m.AddInt("ends_at", unixNanoOrZero(a.EndsAt))
	for _, k := range sortedKeys(a.Annotations) {
		m.AddString(AlertAnnotationPrefix+k, a.Annotations[k])
	}
	for _, k := range sortedKeys(a.Values) {
		m.AddFloat(AlertValuePrefix+k, a.Values[k])
	}
}

// Text is the alert in one line: "[FIRING] high_cpu host=web-1: CPU at 97%
// (usage_user=97)", the summary annotation when there is one.
func (a *Alert) Text() string {
	var b strings.Builder
	b.WriteString("[")
	b.WriteString(strings.ToUpper(a.Status))
	b.WriteString("] ")
	b.WriteString(a.Name())
	for _, k := range sortedKeys(a.Labels) {
		if k == "alertname" || k == "severity" {
			continue
		}
		fmt.Fprintf(&b, " %s=%s", k, a.Labels[k])
	}
	if s := a.Annotations["summary"]; s != "" {
		b.WriteString(": ")
		b.WriteString(s)
	}
	if len(a.Values) > 0 {
		b.WriteString(" (")
		for i, k := range sortedKeys(a.Values) {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s=%g", k, a.Values[k])
		}
		b.WriteString(")")
	}
	return b.String()
}

// ErrNotAlert is returned by AlertFromMessage for a message that is not an
// alert.
var ErrNotAlert = errors.New("not an alert message")

// AlertFromMessage reads back an alert written by ToMessage. A message of
// another Type gives ErrNotAlert; an alert message without a status,
// alertname or fingerprint gives an error that says which.
func AlertFromMessage(m *Message) (*Alert, error) {
	if m.Type != AlertType {
		return nil, ErrNotAlert
	}
	a := &Alert{Labels: map[string]string{}, Annotations: map[string]string{}, Values: map[string]float64{},
		At: time.Unix(0, m.Timestamp).UTC()}
	for i := range m.Fields {
		f := &m.Fields[i]
		switch {
		case f.Role == RoleMeasurement:
		case f.Role == RoleTag && f.Name == "status":
			a.Status = f.Str
		case f.Role == RoleTag:
			a.Labels[f.Name] = f.Str
		case f.Name == "fingerprint" && f.Kind == KindString:
			a.Fingerprint = f.Str
		case f.Name == "resent" && f.Kind == KindBool:
			a.Resent = f.Bool
		case f.Name == "starts_at" && f.Kind == KindInt:
			a.StartsAt = timeOrZero(f.Int)
		case f.Name == "ends_at" && f.Kind == KindInt:
			a.EndsAt = timeOrZero(f.Int)
		case strings.HasPrefix(f.Name, AlertAnnotationPrefix) && f.Kind == KindString:
			a.Annotations[f.Name[len(AlertAnnotationPrefix):]] = f.Str
		case strings.HasPrefix(f.Name, AlertValuePrefix) && f.Kind == KindFloat:
			a.Values[f.Name[len(AlertValuePrefix):]] = f.Float
		}
	}
	switch {
	case a.Status != AlertFiring && a.Status != AlertResolved:
		return nil, fmt.Errorf("alert message: status %q: want firing or resolved", a.Status)
	case a.Labels["alertname"] == "":
		return nil, errors.New("alert message: no alertname tag")
	case a.Fingerprint == "":
		a.Fingerprint = AlertFingerprint(a.Labels)
	}
	return a, nil
}

func unixNanoOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
