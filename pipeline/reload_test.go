package pipeline_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// versioned is a filter that reloads to a new version unless told to fail,
// and reports its version as status and as a gauge.
type versioned struct {
	Fail    bool `toml:"fail"`
	version int
}

func (v *versioned) Process(*pipeline.Message, pipeline.Emitter) error { return nil }
func (v *versioned) Reload() error {
	if v.Fail {
		return errors.New("script line 3: syntax error")
	}
	v.version++
	return nil
}
func (v *versioned) Status() map[string]any { return map[string]any{"version": v.version} }
func (v *versioned) Gauges() map[string]float64 {
	return map[string]float64{"test_version": float64(v.version)}
}

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindFilter, Type: "versioned_test",
		Sample: "[[filters.versioned_test]]\n", New: func() any { return &versioned{} }})
}

func TestReloadThroughTheAdminAPI(t *testing.T) {
	rt, _, _ := startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "127.0.0.1:0"
[[filters.versioned_test]]
name = "good"
subscribe = ["x"]
external = true
[[filters.versioned_test]]
name = "bad"
subscribe = ["x"]
external = true
fail = true
`, t.TempDir()))
	base := "http://" + rt.AdminAddr()
	post := func(query string) (int, string) {
		resp, err := http.Post(base+"/api/reload"+query, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("?plugin=good"); code != 200 || !strings.Contains(body, `"ok": true`) {
		t.Fatalf("reload good: %d %s", code, body)
	}
	code, body := post("")
	var results []pipeline.ReloadResult
	if err := json.Unmarshal([]byte(body), &results); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusUnprocessableEntity || len(results) != 2 || !results[0].OK || results[1].OK ||
		results[1].Error != "script line 3: syntax error" {
		t.Fatalf("reload all: %d %s", code, body)
	}
	if code, body := post("?plugin=nope"); code != http.StatusNotFound || !strings.Contains(body, `no reloadable plugin named \"nope\"`) {
		t.Fatalf("reload nope: %d %s", code, body)
	}

	resp, err := http.Get(base + "/api/plugins")
	if err != nil {
		t.Fatal(err)
	}
	var plugins []pipeline.PluginStatus
	if err := json.NewDecoder(resp.Body).Decode(&plugins); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := plugins[0].Status["version"]; v != float64(2) || plugins[1].Counters.Errors != 1 {
		t.Fatalf("good version %v (want 2), bad errors %d (want 1)", v, plugins[1].Counters.Errors)
	}
	m, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(m.Body)
	m.Body.Close()
	if want := `interoceptor_plugin_test_version{kind="filters",name="good",type="versioned_test"} 2`; !strings.Contains(string(b), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}
