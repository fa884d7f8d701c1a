package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// A plugin's name becomes a file name under data_dir (a tail checkpoint, a
// Lua filter's preserved data, an output's disk buffer): one that could
// reach outside data_dir, or is not a plain file name, is refused.
func TestPluginNamesMustBeSafe(t *testing.T) {
	script := filepath.Join(t.TempDir(), "f.lua")
	if err := os.WriteFile(script, []byte("function process_message() return 0 end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kind, keys string }{
		{"inputs.tail", `publish = "a"` + "\nfiles = [\"/var/log/*.log\"]"},
		{"filters.lua", `subscribe = ["a"]` + fmt.Sprintf("\nscript = %q\npreserve_data = true", script)},
		{"outputs.influxdb", `subscribe = ["a"]` + "\nurl = \"http://127.0.0.1:8086\"\nbucket = \"db\""},
	} {
		for _, name := range []string{"../../../x", "..", ".hidden", "a/b", `a\b`, "a..b", "tab\there", "é", strings.Repeat("n", 129)} {
			src := fmt.Sprintf("[[inputs.stdin]]\npublish = \"a\"\n[[%s]]\nname = %q\n%s\n", c.kind, name, c.keys)
			want := fmt.Sprintf(`p.toml:4: %s[%s]: key "name": %q is not a valid name: use letters, digits, '_', '-' and '.', starting with a letter or digit, without "..", at most 128 characters (it names files under data_dir)`, c.kind, name, name)
			if _, err := pipeline.ParseConfig("p.toml", src); err == nil || err.Error() != want {
				t.Errorf("name %q on %s: error\n  %v\nwant\n  %s", name, c.kind, err, want)
			}
		}
		for _, name := range []string{"nginx", "app.v2", "cpu_change-1", "A", strings.Repeat("n", 128)} {
			src := fmt.Sprintf("[[inputs.stdin]]\npublish = \"a\"\n[[%s]]\nname = %q\n%s\n", c.kind, name, c.keys)
			if _, err := pipeline.ParseConfig("p.toml", src); err != nil {
				t.Errorf("name %q on %s: %v", name, c.kind, err)
			}
		}
	}
}

// DataPath, which every plugin uses to name its files under data_dir, keeps
// even a name that config loading would refuse inside its directory, as one
// file of its own.
func TestDataPathStaysInDataDir(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "var")
	dir := filepath.Join(dataDir, "tail")
	seen := map[string]string{}
	for _, name := range []string{"nginx", "../../../x", "..", ".", "", "/etc/passwd", "a/../../b", `..\..\x`, "x\x00y", "%2E%2E", "%", "a%2Fb", "a/b", ".hidden", "a..b"} {
		env := &pipeline.Env{Name: name, Agent: pipeline.AgentConfig{DataDir: dataDir}}
		p := env.DataPath("tail", ".json")
		if filepath.Dir(p) != dir || !strings.HasSuffix(p, ".json") || strings.ContainsRune(filepath.Base(p), 0) {
			t.Errorf("name %q: %s is not a file of %s", name, p, dir)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("names %q and %q share %s", other, name, p)
		}
		seen[p] = name
		if d := env.DataPath("influxdb", ""); filepath.Dir(d) != filepath.Join(dataDir, "influxdb") || filepath.Base(d) == ".." || filepath.Base(d) == "." {
			t.Errorf("name %q: directory %s is not one entry of %s/influxdb", name, d, dataDir)
		}
	}
	if p := (&pipeline.Env{Name: "nginx", Agent: pipeline.AgentConfig{DataDir: dataDir}}).DataPath("tail", ".json"); p != filepath.Join(dir, "nginx.json") {
		t.Errorf("a valid name is changed: %s", p)
	}
}
