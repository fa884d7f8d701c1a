package notify

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestSample(t *testing.T) {
	pipelinetest.CheckSample(t, pipeline.KindOutput, "notify", "receiver", "escalate", "routes", "receivers")
}

// The admin API answers bad requests with 400 (404 for what is not there,
// 405 for a wrong method) and an error that says what is wrong.
func TestAPIErrors(t *testing.T) {
	c := &clock{t: t0}
	p := startPlugin(t, nil, c, &recorder{}, nil)
	defer p.Close()
	write(t, p, alert(pipeline.AlertFiring, "down", t0, "host=a"))
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/api/alerts/ack", `{"group": "x", "bogus": 1}`, 400, `unknown field \"bogus\"`},
		{"POST", "/api/alerts/ack", `{`, 400, "the body"},
		{"POST", "/api/alerts/ack", `{"group": "nope"}`, 404, "no group has key or id"},
		{"POST", "/api/alerts/ack", `{"group": "default:{alertname=\"down\"}", "for": "soon"}`, 400, `for \"soon\"`},
		{"POST", "/api/silences", `{"matchers": ["host=\"a\""]}`, 400, "give ends_at or duration"},
		{"POST", "/api/silences", `{"matchers": ["host=\"a\""], "duration": "1h", "ends_at": "2030-01-01T00:00:00Z"}`, 400, "not both"},
		{"POST", "/api/silences", `{"matchers": ["host~\"a\""], "duration": "1h"}`, 400, "matcher"},
		{"DELETE", "/api/silences/nope", ``, 404, "no silence has id"},
		{"PUT", "/api/alerts", ``, 405, "use GET"},
		{"GET", "/api/alerts/nope", ``, 404, "no such endpoint"},
		{"POST", "/api/alerts/ack", `{"group": "default:{alertname=\"down\"}", "for": "1h", "by": "ann"}`, 200, `"by": "ann"`},
		{"POST", "/api/silences", `{"matchers": ["host=\"a\""], "duration": "1h"}`, 200, `"state": "active"`},
		{"GET", "/api/alerts", ``, 200, `"acked": {`},
	} {
		w := httptest.NewRecorder()
		p.ServeAPI(w, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s %s %s: %d %s, want %d and %q", tc.method, tc.path, tc.body, w.Code, w.Body.String(), tc.status, tc.want)
		}
	}
}

func TestAdminAlertsURL(t *testing.T) {
	for _, c := range []struct {
		agent pipeline.AgentConfig
		want  string
	}{
		{pipeline.AgentConfig{Name: "c1", AdminAddr: "127.0.0.1:8377"}, "http://127.0.0.1:8377/api/alerts"},
		{pipeline.AgentConfig{Name: "c1", AdminAddr: "0.0.0.0:8377", AdminTLSCert: "x.pem"}, "https://c1:8377/api/alerts"},
		{pipeline.AgentConfig{Name: "c1", AdminAddr: "127.0.0.1:0"}, ""},
		{pipeline.AgentConfig{Name: "c1", AdminAddr: "off"}, ""},
	} {
		if got := adminAlertsURL(c.agent); got != c.want {
			t.Errorf("%+v: %q, want %q", c.agent, got, c.want)
		}
	}
}

// Validate names the key that is wrong.
func TestValidate(t *testing.T) {
	d := func(s string) *pipeline.Duration {
		v, _ := time.ParseDuration(s)
		p := pipeline.Duration(v)
		return &p
	}
	for _, c := range []struct {
		change func(p *Notify)
		want   string
	}{
		{func(p *Notify) { p.Receiver = "" }, `missing required key "receiver"`},
		{func(p *Notify) { p.Receiver = "nobody" }, `key "receiver": no [[outputs.notify.receivers]] is named "nobody"`},
		{func(p *Notify) { p.Receivers = append(p.Receivers, ReceiverConfig{Name: "ops"}) }, `key "receivers[4].name": "ops" is defined twice`},
		{func(p *Notify) { p.Receivers[0].Name = "o ps" }, `key "receivers[0].name"`},
		{func(p *Notify) { p.GroupBy = []string{"...", "host"} }, `key "group_by"`},
		{func(p *Notify) { p.GroupBy = []string{"a-b"} }, `key "group_by": "a-b" is not a label name`},
		{func(p *Notify) { p.GroupInterval = 0 }, `key "group_interval": must be between 1s and 24h`},
		{func(p *Notify) { p.Lease = pipeline.Duration(time.Hour) }, `key "lease"`},
		{func(p *Notify) { p.ExternalURL = "alerts.example.com" }, `key "external_url"`},
		{func(p *Notify) { p.StateBucket = "a.b" }, `key "state_bucket"`},
		{func(p *Notify) { p.Routes = []RouteConfig{{Matchers: []string{`severity="critical"`}}} }, `missing required key "routes[0].receiver"`},
		{func(p *Notify) {
			p.Routes = []RouteConfig{{Matchers: []string{`severity=critical"`}, Receiver: "pager"}}
		}, `key "routes[0].matchers": matcher`},
		{func(p *Notify) { p.Routes = []RouteConfig{{Receiver: "pager", GroupWait: d("2h")}} }, `key "routes[0].group_wait"`},
		{func(p *Notify) {
			p.Routes = []RouteConfig{{Receiver: "pager", Escalate: []EscalateConfig{{After: pipeline.Duration(time.Hour), Receiver: "lead"}, {After: pipeline.Duration(time.Minute), Receiver: "sms"}}}}
		}, `key "routes[0].escalate[1].after": each step comes after the one before it`},
		{func(p *Notify) { p.Escalate = []EscalateConfig{{After: pipeline.Duration(time.Hour), Receiver: "ops"}} }, `key "escalate[0].receiver": "ops" is already told`},
		{func(p *Notify) { p.Escalate = []EscalateConfig{{Receiver: "pager"}} }, `key "escalate[0].after"`},
	} {
		p := testConfig(t, nil)
		c.change(p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate = %v, want %q", err, c.want)
		}
	}
}
