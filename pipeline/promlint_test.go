package pipeline_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	_ "github.com/interoceptor/interoceptor/filters/all"
	_ "github.com/interoceptor/interoceptor/inputs/all"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// Every metric of /metrics follows Prometheus' naming rules, as the client
// library's linter checks them (a counter ends in _total and a gauge does
// not, base units, help text...), with plugins that report measures of
// their own: tail, tcp, Lua, alert rules, InfluxDB and Alertmanager.
func TestMetricsPassPromlint(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	script := filepath.Join(dir, "pass.lua")
	if err := os.WriteFile(logFile, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("function process_message() inject_message(nil) return 0 end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, _ := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %[1]q
admin_addr = "127.0.0.1:0"
[[inputs.tail]]
publish = "logs.app"
files = [%[2]q]
from_beginning = true
[[inputs.tcp]]
publish = "metrics.tcp"
address = "127.0.0.1:0"
decoder = "influx"
[[filters.lua]]
subscribe = ["logs.app"]
publish = "logs.lua"
script = %[3]q
[[filters.alert]]
subscribe = ["metrics.>"]
publish = "alerts"
  [[filters.alert.rules]]
  alert = "High"
  expr = "cpu.usage > 90"
[[outputs.influxdb]]
subscribe = ["metrics.>"]
url = "http://127.0.0.1:1"
bucket = "b"
[[outputs.alertmanager]]
subscribe = ["alerts"]
url = ["http://127.0.0.1:1"]
[[outputs.file]]
subscribe = ["logs.lua"]
path = %[4]q
`, dir, logFile, script, filepath.Join(dir, "out.log")))
	var body string
	pipelinetest.WaitUntil(t, 30*time.Second, "the Lua filter's line in /metrics", func() error {
		resp, err := http.Get("http://" + rt.AdminAddr() + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		body = string(b)
		if !strings.Contains(body, `interoceptor_plugin_lua_calls_total{kind="filters",name="lua",type="lua"} 1`) {
			return fmt.Errorf("no lua_calls_total of 1 yet")
		}
		return nil
	})
	for _, want := range []string{
		"# TYPE interoceptor_plugin_lua_calls_total counter",
		"# TYPE interoceptor_plugin_lua_restarts_total counter",
		"# TYPE interoceptor_plugin_lua_call_seconds_total counter",
		"# TYPE interoceptor_plugin_lua_memory_bytes gauge",
		"# TYPE interoceptor_plugin_influxdb_written_points_total counter",
		"# TYPE interoceptor_plugin_influxdb_retries_total counter",
		"# TYPE interoceptor_plugin_influxdb_buffered_points gauge",
		"# TYPE interoceptor_plugin_tail_rotations_total counter",
		"# TYPE interoceptor_plugin_tcp_refused_total counter",
		"# TYPE interoceptor_plugin_tcp_connections gauge",
		"# TYPE interoceptor_plugin_alert_groups_refused_total counter",
		"# TYPE interoceptor_plugin_alertmanager_posts_failed_total counter",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
