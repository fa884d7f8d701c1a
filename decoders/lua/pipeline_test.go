package lua_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/interoceptor/interoceptor/inputs/all"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	"github.com/interoceptor/interoceptor/pipeline"
	_ "github.com/interoceptor/interoceptor/pipeline/matcher"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// jsonLines reads a file written by outputs.file with format = "json".
func jsonLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func fieldOf(m map[string]any, name string) any {
	fields, _ := m["fields"].([]any)
	for _, f := range fields {
		if f, ok := f.(map[string]any); ok && f["name"] == name {
			return f["value"]
		}
	}
	return nil
}

// decoder = "<path>.lua" in a pipeline: decoded lines are published, the
// lines the script rejects go to the dead_letter subject with the error.
func TestPipelineWithScriptDecoder(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	out := filepath.Join(dir, "out.jsonl")
	dead := filepath.Join(dir, "dead.jsonl")
	if err := os.WriteFile(in, []byte("level=warn took=12.5\nnothing to see\nstatus=200\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.file]]
publish = "logs"
dead_letter = "dead"
path = %q
decoder = "../../plugins/decoders/kv.lua"
[inputs.file.decoder_config]
time_limit = "50ms"
config = {type = "app"}
[[outputs.file]]
name = "out"
subscribe = ["logs"]
path = %q
format = "json"
[[outputs.file]]
name = "dead"
subscribe = ["dead"]
path = %q
format = "json"
`, dir, in, out, dead))
	if err := wait(false); err != nil { // a file input ends by itself
		t.Fatal(err)
	}
	got := jsonLines(t, out)
	if len(got) != 2 || got[0]["type"] != "app" || fieldOf(got[0], "took") != 12.5 || fieldOf(got[1], "status") != 200.0 {
		t.Errorf("decoded: %v", got)
	}
	bad := jsonLines(t, dead)
	if len(bad) != 1 || bad[0]["type"] != "decode_error" || bad[0]["payload"] != "nothing to see" ||
		!strings.Contains(fmt.Sprint(fieldOf(bad[0], "error")), "no key=value pair") {
		t.Errorf("dead letters: %v", bad)
	}
}

// A Lua decoder is reloaded with the filters (SIGHUP, `interoceptor reload`,
// POST /api/reload, all calling Runtime.Reload) and shows its version in
// /api/plugins.
func TestReloadReachesScriptDecoder(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "kv.lua")
	src, err := os.ReadFile("../../plugins/decoders/kv.lua")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	rt, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.tcp]]
name = "in"
address = "127.0.0.1:0"
publish = "logs"
decoder = %q
`, dir, script))
	defer wait(true)
	decoderVersion := func() any {
		for _, p := range rt.PluginStatus() {
			if p.Name == "in" {
				st, _ := p.Status["decoder"].(map[string]any)
				return st["version"]
			}
		}
		return nil
	}
	if v := decoderVersion(); v != 1 {
		t.Fatalf("decoder version %v in /api/plugins, want 1", v)
	}
	results, err := rt.Reload("in")
	if err != nil || len(results) != 1 || !results[0].OK || !strings.Contains(results[0].Plugin, "decoder") {
		t.Fatalf("reload: %+v, %v", results, err)
	}
	if v := decoderVersion(); v != 2 {
		t.Fatalf("decoder version %v after reload, want 2", v)
	}
	// A script that no longer compiles: the reload fails and says why.
	if err := os.WriteFile(script, []byte("function process_message( end"), 0o644); err != nil {
		t.Fatal(err)
	}
	results, _ = rt.Reload("")
	if len(results) != 1 || results[0].OK || results[0].Error == "" {
		t.Fatalf("reload of a broken script: %+v", results)
	}
	if v := decoderVersion(); v != 2 {
		t.Fatalf("decoder version %v after a failed reload, want 2 still", v)
	}
}

// check reports a decoder script that does not compile on the key
// "decoder", with the script's line.
func TestCheckReportsScriptErrors(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "broken.lua")
	if err := os.WriteFile(script, []byte("function process_message()\n  return = 1\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := pipeline.ParseConfig("p.toml", fmt.Sprintf(`
[[inputs.stdin]]
publish = "logs"
decoder = %q
[[outputs.file]]
subscribe = ["logs"]
path = %q
`, script, filepath.Join(dir, "out")))
	if err == nil || !strings.Contains(err.Error(), `key "decoder"`) || !strings.Contains(err.Error(), "broken.lua:2:") ||
		!strings.Contains(err.Error(), "p.toml:4:") {
		t.Errorf("got %v", err)
	}
}
