package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// checkConfigText writes a config that `config` printed to a file and runs
// `check` on it, as a user would. It runs from the module's root, and the
// file's folder has the shipped plugins/ too, so that a sample's script
// path (plugins/filters/...) is found whether paths resolve against the
// working directory or against the config's folder.
func checkConfigText(t *testing.T, text string) {
	t.Helper()
	root := moduleRoot(t)
	t.Chdir(root)
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "plugins"), filepath.Join(dir, "plugins")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pipeline.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := cmdCheck([]string{"-config", path}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), ": OK (") {
		t.Fatalf("check: exit %d: %s%s\nthe config:\n%s", code, stdout.String(), stderr.String(), text)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = filepath.Dir(dir)
	}
}

func runConfig(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := cmdConfig(args, &stdout, &stderr); code != 0 {
		t.Fatalf("config %v: exit %d: %s", args, code, stderr.String())
	}
	return stdout.String()
}

// Without arguments, config prints [agent], [nats] and a runnable
// pipeline of host metrics, a Lua filter and InfluxDB, commented, that
// check takes.
func TestConfigDefault(t *testing.T) {
	out := runConfig(t)
	for _, want := range []string{"\n[agent]\n", "\n[nats]\n", "\n[[inputs.system]]\n", "\n[[filters.lua]]\n", "\n[[outputs.influxdb]]\n",
		"# An Interoceptor pipeline", "## InfluxDB's base URL"} {
		if !strings.Contains(out, want) {
			t.Errorf("config lacks %q:\n%s", want, out)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^\s*#`).FindAllString(out, -1)); n < 80 {
		t.Errorf("config has %d comment lines, want a commented sample", n)
	}
	checkConfigText(t, out)
	// Nothing the filter publishes is left unread: the output takes it.
	if !regexp.MustCompile(`(?m)^  subscribe = \["metrics\.>", "anomalies"\]  # wired by`).MatchString(out) {
		t.Errorf("outputs.influxdb does not take the filter's anomalies:\n%s", out)
	}
}

// config KIND.TYPE passes check for every plugin and decoder, alone and
// all together; filters and outputs alone get inputs.system to feed them.
func TestConfigEveryPlugin(t *testing.T) {
	known := knownPlugins()
	for _, name := range known {
		t.Run(name, func(t *testing.T) {
			out := runConfig(t, name)
			if !strings.Contains(out, "\n[agent]\n") || !strings.Contains(out, "\n# "+name+"\n") {
				t.Errorf("config %s lacks [agent] or the plugin's heading:\n%s", name, out)
			}
			sample, _ := lookupSample(name)
			if first, _, _ := strings.Cut(sample, "\n"); !strings.Contains(out, first+"\n") {
				t.Errorf("config %s lacks the sample's first line %q", name, first)
			}
			if kind, _, _ := strings.Cut(name, "."); (kind == "filters" || kind == "outputs") != strings.Contains(out, "No input was named") {
				t.Errorf("config %s: inputs.system added or not, wrongly:\n%s", name, out)
			}
			checkConfigText(t, out)
		})
	}
	t.Run("all", func(t *testing.T) {
		out := runConfig(t, known...)
		checkConfigText(t, out)
		// Decoders' samples share input names: the later ones are renamed.
		if !strings.Contains(out, `name = "app_2"  # renamed by`) {
			t.Errorf("no renamed input:\n%s", out)
		}
	})
}

// The brief's example: a TCP input and a grok decoder feed InfluxDB, whose
// sample subscribes to metrics.>, which neither publishes.
func TestConfigWiresOutputs(t *testing.T) {
	out := runConfig(t, "inputs.tcp", "decoders.grok", "outputs.influxdb", "inputs.tcp")
	if strings.Count(out, "[[inputs.tcp]]") != 1 {
		t.Errorf("inputs.tcp, named twice, is printed %d times", strings.Count(out, "[[inputs.tcp]]"))
	}
	want := `subscribe = ["logs.tcp", "logs.apache"]  # wired by ` + "`interoceptor config`" + ` to what the plugins here publish (the sample's: metrics.>)`
	if !strings.Contains(out, want) {
		t.Errorf("config lacks %q:\n%s", want, out)
	}
	checkConfigText(t, out)
}

func TestConfigUnknown(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := cmdConfig([]string{"inputs.tcp", "inputs.nope"}, &stdout, &stderr); code != 1 || stdout.Len() != 0 ||
		!strings.Contains(stderr.String(), `no plugin "inputs.nope"`) || !strings.Contains(stderr.String(), "decoders.grok") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

// The [agent] and [nats] sample shows every key they have, set or in a
// comment.
func TestSampleAgentHasEveryKey(t *testing.T) {
	for _, v := range []any{pipeline.AgentConfig{}, pipeline.NatsConfig{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			key, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ",")
			if key == "" || key == "-" {
				continue
			}
			if !regexp.MustCompile(`(?m)^  (# )?` + key + ` = `).MatchString(sampleAgent) {
				t.Errorf("sample_agent.toml lacks %s key %q", typ.Name(), key)
			}
		}
	}
}

func TestConfigHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"config", "-h"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "Usage: interoceptor config [flags] [KIND.TYPE...]") {
		t.Errorf("config -h: exit %d, %q", code, stderr.String())
	}
}
