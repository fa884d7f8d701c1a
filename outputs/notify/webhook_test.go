package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// httpRecorder is a test HTTP server that keeps each request it gets and
// answers with the status and body the test sets.
type httpRecorder struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []*http.Request
	bodies   []string
	status   int
	response string
}

func newRecorder(t *testing.T) *httpRecorder {
	r := &httpRecorder{status: http.StatusOK}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs, r.bodies = append(r.reqs, req), append(r.bodies, string(b))
		status, response := r.status, r.response
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, response)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *httpRecorder) answer(status int, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.response = status, body
}

func (r *httpRecorder) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no request")
	}
	return r.reqs[len(r.reqs)-1], r.bodies[len(r.bodies)-1]
}

// The webhook posts Alertmanager's payload, version 4, with every field
// Alertmanager sends, so that a tool written for Alertmanager reads it.
func TestWebhookPayload(t *testing.T) {
	rec := newRecorder(t)
	senders, err := newSenders(&ReceiverConfig{Name: "ops", Webhook: &WebhookConfig{URL: rec.URL + "/hook?token=t0ken", MaxAlerts: 2,
		Headers: map[string]string{"Authorization": "Bearer abc"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := firingGroup()
	if err := send(t, senders[0], n); err != nil {
		t.Fatal(err)
	}
	req, body := rec.last(t)
	if req.Method != http.MethodPost || req.URL.Path != "/hook" || req.URL.Query().Get("token") != "t0ken" ||
		req.Header.Get("Content-Type") != "application/json" || req.Header.Get("Authorization") != "Bearer abc" {
		t.Errorf("request %s %s, headers %v", req.Method, req.URL, req.Header)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	alert := func(i int, status, endsAt string) map[string]any {
		a := n.Alerts[i]
		labels, annotations := map[string]any{}, map[string]any{}
		for k, v := range a.Labels {
			labels[k] = v
		}
		for k, v := range a.Annotations {
			annotations[k] = v
		}
		return map[string]any{"status": status, "labels": labels, "annotations": annotations, "startsAt": "2024-05-01T10:00:00Z",
			"endsAt": endsAt, "generatorURL": "http://agent-1:8080/api/alerts", "fingerprint": a.Fingerprint}
	}
	want := map[string]any{
		"version": "4", "groupKey": `{}:{alertname="HighCPU"}`, "truncatedAlerts": 1.0, "status": "firing", "receiver": "ops",
		"groupLabels":       map[string]any{"alertname": "HighCPU"},
		"commonLabels":      map[string]any{"alertname": "HighCPU", "severity": "critical"},
		"commonAnnotations": map[string]any{"description": "usage above 90% for 5m"},
		"externalURL":       "http://agent-1:8080/api/alerts",
		// Firing ones first; a firing alert ends at Go's zero time, as
		// Alertmanager's do.
		"alerts": []any{alert(0, "firing", "0001-01-01T00:00:00Z"), alert(1, "firing", "0001-01-01T00:00:00Z")},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("payload\n%s\nwant\n%s", g, w)
	}
	if len(n.Alerts[0].Fingerprint) != 16 {
		t.Errorf("fingerprint %q", n.Alerts[0].Fingerprint)
	}

	// The all-clear: every alert, resolved, with its end.
	senders[0].(*webhookSender).c.MaxAlerts = 0
	if err := send(t, senders[0], allClear()); err != nil {
		t.Fatal(err)
	}
	_, body = rec.last(t)
	var clear WebhookMessage
	if err := json.Unmarshal([]byte(body), &clear); err != nil {
		t.Fatal(err)
	}
	if clear.Status != "resolved" || clear.TruncatedAlerts != 0 || len(clear.Alerts) != 3 || clear.Alerts[2].Status != "resolved" ||
		!clear.Alerts[2].EndsAt.Equal(testStart.Add(600e9)) {
		t.Errorf("all-clear payload %s", body)
	}
}

// What the receiving end says decides a retry: 5xx and 429 are retried, a
// 4xx is not; a server that is not there is. No error shows the URL's
// path or query, where tokens live, even when the server's answer echoes them.
func TestHTTPErrorsRetryAndHideTheURL(t *testing.T) {
	rec := newRecorder(t)
	s := newWebhookSender(&WebhookConfig{URL: rec.URL + "/hook/s3cret-path?token=s3cret-query"}, nil)
	for _, c := range []struct {
		status int
		retry  bool
	}{{500, true}, {503, true}, {429, true}, {400, false}, {404, false}, {401, false}} {
		rec.answer(c.status, "no way to /hook/s3cret-path?token=s3cret-query (path /hook/s3cret-path, query token=s3cret-query)")
		err := send(t, s, firingGroup())
		if err == nil || pipeline.IsRetryable(err) != c.retry || !strings.Contains(err.Error(), "no way") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("status %d: %v (retryable %v), want retryable %v, the body, no secret", c.status, err, pipeline.IsRetryable(err), c.retry)
		}
	}
	rec.Close()
	err := send(t, s, firingGroup())
	if err == nil || !pipeline.IsRetryable(err) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("server gone: %v (retryable %v), want retryable and no secret", err, pipeline.IsRetryable(err))
	}
}
