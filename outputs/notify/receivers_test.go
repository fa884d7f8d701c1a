package notify

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

var testStart = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// firingGroup is a group of two firing HighCPU alerts, one with a
// dashboard link, and a resolved one, on its first escalation step.
func firingGroup() *Notification {
	a := func(host string, status string, v float64) pipeline.Alert {
		labels := map[string]string{"alertname": "HighCPU", "severity": "critical", "host": host}
		al := pipeline.Alert{Status: status, Labels: labels, Values: map[string]float64{"usage": v},
			Annotations: map[string]string{"summary": "CPU at " + host + " is high", "description": "usage above 90% for 5m"},
			StartsAt:    testStart, At: testStart.Add(5 * time.Minute), Fingerprint: pipeline.AlertFingerprint(labels)}
		if status == pipeline.AlertResolved {
			al.EndsAt = testStart.Add(4 * time.Minute)
		}
		return al
	}
	web1, web2, web3 := a("web-1", pipeline.AlertFiring, 97.5), a("web-2", pipeline.AlertFiring, 93), a("web-3", pipeline.AlertResolved, 40)
	web1.Annotations["dashboard"] = "https://grafana.example.com/d/cpu?var-host=web-1"
	return &Notification{
		Receiver: "ops", GroupKey: `{}:{alertname="HighCPU"}`, GroupLabels: map[string]string{"alertname": "HighCPU"},
		Status: pipeline.AlertFiring, Alerts: []pipeline.Alert{web1, web2, web3}, Escalation: 1,
		CommonLabels:      map[string]string{"alertname": "HighCPU", "severity": "critical"},
		CommonAnnotations: map[string]string{"description": "usage above 90% for 5m"},
		ExternalURL:       "http://agent-1:8080/api/alerts", Sender: "agent-1", At: testStart.Add(5 * time.Minute),
	}
}

// allClear is firingGroup once every alert has resolved.
func allClear() *Notification {
	n := firingGroup()
	n.Status, n.Escalation = pipeline.AlertResolved, 0
	for i := range n.Alerts {
		n.Alerts[i].Status, n.Alerts[i].EndsAt = pipeline.AlertResolved, testStart.Add(10*time.Minute)
	}
	n.At = testStart.Add(10 * time.Minute)
	return n
}

// keyErrors returns the keys of the KeyErrors err holds, "!" before a
// missing one.
func keyErrors(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var ke *pipeline.KeyError
		if errors.As(e, &ke) {
			if ke.Missing {
				out = append(out, "!"+ke.Key)
			} else {
				out = append(out, ke.Key)
			}
		}
	}
	walk(err)
	return out
}

// A receiver's problems name their keys relative to the receiver's table,
// every one of them, so that the plugin can prefix them.
func TestReceiverValidateNamesKeys(t *testing.T) {
	cases := []struct {
		name string
		rc   ReceiverConfig
		want string
	}{
		{"no channel", ReceiverConfig{Name: "ops"}, "name"},
		{"no name", ReceiverConfig{Slack: &SlackConfig{URL: "https://hooks.slack.com/services/T/B/X"}}, "!name"},
		{"email", ReceiverConfig{Name: "ops", Email: &EmailConfig{SMTP: "nohost", To: []string{"not an address"}, STARTTLS: "always", Username: "u", Subject: "{{ .Nope"}},
			"email.smtp !email.from email.to email.starttls !email.password email.subject"},
		{"slack", ReceiverConfig{Name: "ops", Slack: &SlackConfig{URL: "hooks.slack.com/x", Title: "{{ .Severity }}", Text: "{{ end }}"}}, "slack.url slack.title slack.text"},
		{"webhook", ReceiverConfig{Name: "ops", Webhook: &WebhookConfig{MaxAlerts: -1, Headers: map[string]string{"Bad Name": "x"}}},
			"!webhook.url webhook.max_alerts webhook.headers"},
		{"twilio", ReceiverConfig{Name: "ops", Twilio: &TwilioConfig{To: []string{"0171 123"}, URL: "ftp://x", Body: "{{"}},
			"!twilio.account_sid !twilio.auth_token !twilio.from twilio.to twilio.url twilio.body"},
	}
	for _, c := range cases {
		err := c.rc.validate()
		if got := strings.Join(keyErrors(err), " "); got != c.want {
			t.Errorf("%s: keys %q, want %q (%v)", c.name, got, c.want, err)
		}
		if _, serr := newSenders(&c.rc, nil); serr == nil {
			t.Errorf("%s: newSenders took an invalid receiver", c.name)
		}
	}
}

// A receiver with every channel gets one sender per channel, in order,
// with the defaults filled in, and no sender's description shows a secret.
func TestNewSendersDescribeWithoutSecrets(t *testing.T) {
	rc := &ReceiverConfig{Name: "ops",
		Email:   &EmailConfig{From: "alerts@example.com", To: []string{"ops@example.com"}, Username: "u", Password: "smtp-pass-s3cret"},
		Slack:   &SlackConfig{URL: "https://hooks.slack.com/services/T000/B000/slack-s3cret", Channel: "#ops"},
		Webhook: &WebhookConfig{URL: "https://user:hook-s3cret@example.com/hook?token=hook-s3cret", Headers: map[string]string{"Authorization": "Bearer hdr-s3cret"}},
		Twilio:  &TwilioConfig{AccountSID: "AC123", AuthToken: "twilio-s3cret", From: "+15005550006", To: []string{"+4912345"}},
	}
	senders, err := newSenders(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range senders {
		got = append(got, s.Describe())
	}
	want := []string{"email to ops@example.com via localhost:25", "slack webhook at hooks.slack.com to #ops",
		"webhook to example.com", "sms to +4912345 via api.twilio.com"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("descriptions\n%q\nwant\n%q", got, want)
	}
	if strings.Contains(strings.Join(got, " "), "s3cret") {
		t.Errorf("a description shows a secret: %q", got)
	}
	if rc.Email.STARTTLS != "opportunistic" || rc.Twilio.URL != defaultTwilioURL {
		t.Errorf("defaults not filled in: starttls %q, twilio url %q", rc.Email.STARTTLS, rc.Twilio.URL)
	}
}

// The default templates read well: Alertmanager's subject, and a text
// that lists every alert with its labels, values, times and links.
func TestDefaultTemplates(t *testing.T) {
	rc := &ReceiverConfig{Name: "ops", Email: &EmailConfig{From: "a@example.com", To: []string{"b@example.com"}}}
	if err := rc.validate(); err != nil {
		t.Fatal(err)
	}
	n := firingGroup()
	subject, err := execute(rc.Email.subject, n)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[FIRING:2] [ESCALATION 1] HighCPU (severity=critical)"; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	text, err := execute(rc.Email.text, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("text:\n%s", text)
	for _, want := range []string{"2 alerts firing, 1 resolved: HighCPU (severity=critical)\n",
		"ESCALATION 1: no one acknowledged these alerts in time.",
		"[FIRING] HighCPU: CPU at web-1 is high\n  usage above 90% for 5m\n  Labels: alertname=HighCPU host=web-1 severity=critical\n  Values: usage=97.5\n  Started: 2024-05-01 10:00:00 UTC\n  dashboard: https://grafana.example.com/d/cpu?var-host=web-1\n",
		"[RESOLVED] HighCPU: CPU at web-3 is high", "Started: 2024-05-01 10:00:00 UTC, ended: 2024-05-01 10:04:00 UTC",
		"See and acknowledge: http://agent-1:8080/api/alerts\n", "Sent by agent-1 to ops at 2024-05-01 10:05:00 UTC"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	html, err := execute(rc.Email.html, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<a href="https://grafana.example.com/d/cpu?var-host=web-1">`, "usage above 90% for 5m", "ESCALATION 1"} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q:\n%s", want, html)
		}
	}
	clear, err := execute(rc.Email.subject, allClear())
	if err != nil || clear != "[RESOLVED] HighCPU (severity=critical)" {
		t.Errorf("all-clear subject %q (%v)", clear, err)
	}
}

// A receiver's own template may call the defaults by name.
func TestCustomTemplateCallsDefaults(t *testing.T) {
	c := &EmailConfig{From: "a@example.com", To: []string{"b@example.com"}, Subject: `{{ template "email.subject" . }} in {{ .CommonLabels.severity }}`}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	got, err := execute(c.subject, allClear())
	if err != nil || got != "[RESOLVED] HighCPU (severity=critical) in critical" {
		t.Errorf("subject %q (%v)", got, err)
	}
}
