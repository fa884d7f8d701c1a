package influxtest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/internal/influxtest"
)

// The harness starts a real influxd that takes line protocol and answers
// InfluxQL, and survives a stop and a restart with its data.
func TestServerWritesQueriesAndRestarts(t *testing.T) {
	s := influxtest.New(t, "test")
	resp, err := http.Post(s.URL+"/write?db=test", "text/plain", strings.NewReader("cpu,host=a usage=1.5 1700000000000000000\n"))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %v %v", err, resp)
	}
	s.Stop()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	series, err := s.Query("test", "SELECT usage FROM cpu")
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || len(series[0].Values) != 1 || series[0].Values[0][1].(interface{ String() string }).String() != "1.5" {
		t.Fatalf("series %+v", series)
	}
}
