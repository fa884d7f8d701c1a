package pipeline_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
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
		resp, err := http.Post(base+"/api/reload"+query, "application/json", nil)
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

// relay emits, for every message, one that names another host, as an input
// relaying syslog does.
type relay struct{}

func (*relay) Process(m *pipeline.Message, out pipeline.Emitter) error {
	return out.Emit(&pipeline.Message{Type: "relayed", Hostname: "other-host", Payload: m.Payload})
}

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindFilter, Type: "relay_test",
		Sample: "[[filters.relay_test]]\n", New: func() any { return &relay{} }})
}

// The runtime fills Hostname and Pid of messages made here, but a message
// that names another host keeps its Pid (0: unknown), not this process's.
func TestRelayedMessageKeepsItsPid(t *testing.T) {
	dir := t.TempDir()
	out := dir + "/out.jsonl"
	startPipeline(t, fmt.Sprintf(`
[agent]
name = "here"
data_dir = %q
admin_addr = "off"
[[inputs.generator]]
publish = "in"
rate = 100
[[filters.relay_test]]
subscribe = ["in"]
publish = "relayed"
[[outputs.file]]
subscribe = ["in", "relayed"]
path = %q
format = "json"
`, dir, out))
	pipelinetest.WaitUntil(t, 10*time.Second, "generated and relayed messages", func() error {
		b, _ := os.ReadFile(out)
		relayed, generated := strings.Count(string(b), `"type":"relayed"`), strings.Count(string(b), `"type":"log"`)
		if relayed == 0 || generated == 0 {
			return fmt.Errorf("%d relayed and %d generated so far", relayed, generated)
		}
		return nil
	})
	b, _ := os.ReadFile(out)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m struct {
			Type, Hostname string
			Pid            int
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			continue // a line being written
		}
		switch m.Type {
		case "relayed":
			if m.Hostname != "other-host" || m.Pid != 0 {
				t.Fatalf("relayed message got hostname %q pid %d, want other-host and 0", m.Hostname, m.Pid)
			}
		case "log":
			if m.Hostname != "here" || m.Pid != os.Getpid() {
				t.Fatalf("local message got hostname %q pid %d, want here and %d", m.Hostname, m.Pid, os.Getpid())
			}
		}
	}
}
