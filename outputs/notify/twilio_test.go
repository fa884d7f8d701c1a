package notify

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/interoceptor/interoceptor/pipeline"
)

// An SMS goes to each number as Twilio's Messages API wants it: a form
// POST to the account's Messages.json with basic auth; Twilio's error
// code and message make the error.
func TestTwilioSMS(t *testing.T) {
	var mu sync.Mutex
	var got []url.Values
	reject := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/AC123/Messages.json" || !ok || user != "AC123" || pass != "tok-s3cret" ||
			r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("request %s %s auth %q %q %v", r.Method, r.URL, user, pass, r.Header)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = append(got, r.PostForm)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("To") == reject {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"code": 21211, "message": "The 'To' number is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"sid": "SM1", "status": "queued"}`))
	}))
	defer srv.Close()
	senders, err := newSenders(&ReceiverConfig{Name: "ops", Twilio: &TwilioConfig{AccountSID: "AC123", AuthToken: "tok-s3cret",
		From: "+15005550006", To: []string{"+4912345", "+4967890"}, URL: srv.URL}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := senders[0]
	if err := send(t, s, firingGroup()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Get("To") != "+4912345" || got[1].Get("To") != "+4967890" || got[0].Get("From") != "+15005550006" {
		t.Fatalf("forms %v", got)
	}
	want := "[FIRING:2] [ESCALATION 1] HighCPU (severity=critical)\nHighCPU: CPU at web-1 is high\nHighCPU: CPU at web-2 is high\nhttp://agent-1:8080/api/alerts"
	if body := got[0].Get("Body"); body != want || got[1].Get("Body") != want {
		t.Errorf("body %q, want %q", body, want)
	}

	reject = "+4912345"
	err = send(t, s, firingGroup())
	if err == nil || pipeline.IsRetryable(err) || !strings.Contains(err.Error(), "21211") || !strings.Contains(err.Error(), "not a valid phone number") ||
		strings.Contains(err.Error(), "s3cret") {
		t.Errorf("rejected number: %v", err)
	}
	if len(got) != 4 || got[3].Get("To") != "+4967890" {
		t.Errorf("the other number did not get its SMS: %v", got)
	}
}

// A long body is cut to Twilio's 1,600 characters, ending with "…".
func TestTwilioBodyTruncated(t *testing.T) {
	rec := newRecorder(t)
	rec.answer(http.StatusCreated, `{"sid": "SM1"}`)
	c := &TwilioConfig{AccountSID: "AC1", AuthToken: "tok", From: "+15005550006", To: []string{"+4912345"}, URL: rec.URL,
		Body: `{{ range .Alerts }}{{ .Annotations.description }} äöü {{ end }}{{ range .Alerts }}{{ .Annotations.description }} äöü {{ end }}` + strings.Repeat("x", 2000)}
	senders, err := newSenders(&ReceiverConfig{Name: "ops", Twilio: c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := send(t, senders[0], firingGroup()); err != nil {
		t.Fatal(err)
	}
	_, raw := rec.last(t)
	form, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	body := form.Get("Body")
	if n := utf8.RuneCountInString(body); n != 1600 || !strings.HasSuffix(body, "x…") || !strings.HasPrefix(body, "usage above 90% for 5m äöü") {
		t.Errorf("body of %d characters: %q...", n, body[:40])
	}
}
