package amtest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/internal/amtest"
)

// The harness starts a real Alertmanager that takes alerts on its v2 API
// and shows them back, and that starts again on the same address.
func TestServerTakesAlertsAndRestarts(t *testing.T) {
	s := amtest.New(t, amtest.Config)
	post := func() {
		t.Helper()
		body := fmt.Sprintf(`[{"labels":{"alertname":"harness","host":"a"},"endsAt":%q}]`,
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		resp, err := http.Post(s.URL+"/api/v2/alerts", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
		}
	}
	check := func() {
		t.Helper()
		alerts, err := s.Alerts()
		if err != nil {
			t.Fatal(err)
		}
		if len(alerts) != 1 || alerts[0].Labels["host"] != "a" || alerts[0].Fingerprint == "" {
			t.Fatalf("alerts = %+v, want the one posted", alerts)
		}
	}
	post()
	check()
	s.Stop()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	post()
	check()
}
