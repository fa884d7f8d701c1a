package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// writeFiles writes files (by path relative to dir) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkOK(t *testing.T, config string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := cmdCheck([]string{"-config", config}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), ": OK (") {
		t.Fatalf("check -config %s: exit %d: %s%s", config, code, stdout.String(), stderr.String())
	}
}

// Relative paths in a config are relative to its folder, not to the
// working directory: a script, the modules it requires (from the default
// module_path, the modules folder beside the script's, and from one the
// config names), a decoder script, and a Lua decoder's module_path.
func TestCheckResolvesPathsAgainstTheConfigFolder(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"pipeline.toml": `
[[inputs.stdin]]
publish = "in"
decoder = "lua/decoders/kv.lua"
  [inputs.stdin.decoder_config]
  module_path = ["lua/lib"]

[[filters.lua]]
name = "default_modules"
subscribe = ["in"]
publish = "out"
script = "lua/filters/up.lua"

[[filters.lua]]
name = "named_modules"
subscribe = ["in"]
publish = "out"
script = "lua/filters/up_lib.lua"
module_path = ["lua/lib"]

[[outputs.file]]
subscribe = ["out"]
path = "out/messages.log"
`,
		"lua/modules/shout.lua":  "return { up = string.upper }\n",
		"lua/lib/loud.lua":       "return { up = string.upper }\n",
		"lua/filters/up.lua":     "local shout = require \"shout\"\nfunction process_message() return 0 end\n",
		"lua/filters/up_lib.lua": "local loud = require \"loud\"\nfunction process_message() return 0 end\n",
		"lua/decoders/kv.lua":    "local loud = require \"loud\"\nfunction process_message() return 0 end\n",
	})
	t.Chdir(t.TempDir())
	config := filepath.Join(dir, "pipeline.toml")
	checkOK(t, config)

	cfg, err := pipeline.LoadConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	for _, pc := range cfg.Plugins {
		if pc.Kind == pipeline.KindInput && pc.Decoder != filepath.Join(dir, "lua/decoders/kv.lua") {
			t.Errorf("decoder = %q, want it in the config's folder", pc.Decoder)
		}
		if pc.Kind == pipeline.KindOutput {
			if got := pluginField(t, pc, "Path"); got != filepath.Join(dir, "out/messages.log") {
				t.Errorf("outputs.file path = %q, want it in the config's folder", got)
			}
		}
	}
}

// An absolute path stays as written.
func TestCheckKeepsAbsolutePaths(t *testing.T) {
	scripts := t.TempDir()
	writeFiles(t, scripts, map[string]string{"f.lua": "function process_message() return 0 end\n"})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pipeline.toml": `
[[inputs.stdin]]
publish = "in"

[[filters.lua]]
subscribe = ["in"]
script = "` + filepath.Join(scripts, "f.lua") + `"
module_path = []
`})
	t.Chdir(t.TempDir())
	checkOK(t, filepath.Join(dir, "pipeline.toml"))
	cfg, err := pipeline.LoadConfig(filepath.Join(dir, "pipeline.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := pluginField(t, cfg.Plugins[1], "Script"); got != filepath.Join(scripts, "f.lua") {
		t.Errorf("script = %q, want the absolute path as written", got)
	}
}

// Every shipped config and plugin sample checks from another working
// directory, named by its absolute path (`check -config
// $PWD/configs/demo.toml` from /).
func TestCheckShippedConfigsFromElsewhere(t *testing.T) {
	root := moduleRoot(t)
	var configs []string
	for _, pattern := range []string{"configs/*.toml", "plugins/filters/*.toml", "packaging/*.toml"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		configs = append(configs, m...)
	}
	if len(configs) < 5 {
		t.Fatalf("found only %q", configs)
	}
	t.Chdir("/")
	for _, c := range configs {
		t.Run(strings.TrimPrefix(c, root+"/"), func(t *testing.T) { checkOK(t, c) })
	}
}

// pluginField returns a string field of a plugin's struct.
func pluginField(t *testing.T, pc *pipeline.PluginConfig, name string) string {
	t.Helper()
	v := reflectElem(pc.Plugin).FieldByName(name)
	if !v.IsValid() {
		t.Fatalf("%s has no field %s", pc.ID(), name)
	}
	return v.String()
}

func reflectElem(x any) reflect.Value { return reflect.Indirect(reflect.ValueOf(x)) }
