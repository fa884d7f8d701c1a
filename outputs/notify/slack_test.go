package notify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// A Slack notification is one legacy attachment with Slack's keys,
// colored by status and severity, titled like the mail's subject.
func TestSlackPayload(t *testing.T) {
	rec := newRecorder(t)
	rec.answer(200, "ok")
	senders, err := newSenders(&ReceiverConfig{Name: "ops", Slack: &SlackConfig{URL: rec.URL + "/services/T0/B0/XYZ",
		Channel: "#ops", Username: "interoceptor", IconEmoji: ":rotating_light:"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := send(t, senders[0], firingGroup()); err != nil {
		t.Fatal(err)
	}
	req, body := rec.last(t)
	if req.URL.Path != "/services/T0/B0/XYZ" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %v", req.URL, req.Header)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got["channel"] != "#ops" || got["username"] != "interoceptor" || got["icon_emoji"] != ":rotating_light:" {
		t.Errorf("payload %s", body)
	}
	atts, _ := got["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("attachments %s", body)
	}
	att := atts[0].(map[string]any)
	title := "[FIRING:2] [ESCALATION 1] HighCPU (severity=critical)"
	if att["color"] != "danger" || att["title"] != title || att["fallback"] != title || att["title_link"] != "http://agent-1:8080/api/alerts" ||
		att["footer"] != "agent-1" || att["ts"] != float64(testStart.Unix()+300) || len(att["mrkdwn_in"].([]any)) != 1 {
		t.Errorf("attachment %v", att)
	}
	text, _ := att["text"].(string)
	for _, want := range []string{"*FIRING* HighCPU: CPU at web-1 is high\nusage above 90% for 5m\n`host=web-1 severity=critical`\nValues: usage=97.5\ndashboard: https://grafana.example.com/d/cpu?var-host=web-1",
		"*RESOLVED* HighCPU: CPU at web-3 is high"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}

	if err := send(t, senders[0], allClear()); err != nil {
		t.Fatal(err)
	}
	_, body = rec.last(t)
	var clear SlackMessage
	if err := json.Unmarshal([]byte(body), &clear); err != nil {
		t.Fatal(err)
	}
	if a := clear.Attachments[0]; a.Color != "good" || a.Title != "[RESOLVED] HighCPU (severity=critical)" {
		t.Errorf("all-clear %s", body)
	}

	rec.answer(403, "invalid_token")
	if err := send(t, senders[0], firingGroup()); err == nil || pipeline.IsRetryable(err) || !strings.Contains(err.Error(), "invalid_token") || strings.Contains(err.Error(), "XYZ") {
		t.Errorf("invalid token: %v", err)
	}
}

func TestSlackColor(t *testing.T) {
	n := firingGroup()
	for sev, want := range map[string]string{"critical": "danger", "error": "danger", "warning": "warning", "info": "#439FE0"} {
		for i := range n.Alerts {
			n.Alerts[i].Labels = map[string]string{"severity": sev}
		}
		if got := slackColor(n); got != want {
			t.Errorf("%s: %s, want %s", sev, got, want)
		}
	}
}
