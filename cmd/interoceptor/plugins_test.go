package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// Every decoder the binary has, and the decoder of Lua scripts, has a
// sample config that passes check.
func TestDecoderSamples(t *testing.T) {
	decoders := pipeline.Decoders()
	if len(decoders) == 0 {
		t.Fatal("no decoders registered")
	}
	for _, d := range decoders {
		t.Run(d.Name, func(t *testing.T) { pipelinetest.CheckDecoderSample(t, d.Name) })
	}
	t.Run("lua", func(t *testing.T) { pipelinetest.CheckDecoderSample(t, "plugins/decoders/kv.lua") })
}

func TestPluginsPrintsSamples(t *testing.T) {
	for name, want := range map[string]string{
		"inputs.tcp":        "[[inputs.tcp]]",
		"decoders.grok":     `decoder = "grok"`,
		"decoders.combined": `decoder = "combined"`,
		"decoders.lua":      `decoder = "plugins/decoders/kv.lua"`,
	} {
		var stdout, stderr bytes.Buffer
		if code := cmdPlugins([]string{name}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), want) {
			t.Errorf("plugins %s: exit %d, stdout lacks %q:\n%s%s", name, code, want, stdout.String(), stderr.String())
		}
	}
	for _, name := range []string{"decoders.nope", "inputs.json", "decoders"} {
		var stdout, stderr bytes.Buffer
		if code := cmdPlugins([]string{name}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no plugin") ||
			!strings.Contains(stderr.String(), "inputs.tcp, ") || !strings.Contains(stderr.String(), "decoders.grok, ") {
			t.Errorf("plugins %s: exit %d, stderr %q, want the known names listed", name, code, stderr.String())
		}
	}
}

// `plugins KIND.TYPE` prints the registered sample of every plugin and
// decoder, decoders as an input whose decoder is that one.
func TestPluginsPrintsEverySample(t *testing.T) {
	known := knownPlugins()
	for _, want := range []string{"inputs.system", "filters.lua", "outputs.influxdb", "decoders.combined", "decoders.common",
		"decoders.grok", "decoders.influx", "decoders.json", "decoders.logfmt", "decoders.lua", "decoders.regex", "decoders.syslog"} {
		if !slices.Contains(known, want) {
			t.Errorf("knownPlugins lacks %s: %v", want, known)
		}
	}
	for _, name := range known {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := cmdPlugins([]string{name}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			sample, _ := lookupSample(name)
			if got := stdout.String(); sample == "" || strings.TrimSuffix(got, "\n") != strings.TrimSuffix(sample, "\n") {
				t.Errorf("printed %q, want the registered sample %q", got, sample)
			}
			if !strings.HasPrefix(stdout.String(), "#") {
				t.Errorf("the sample does not open with a comment saying what the plugin does:\n%s", stdout.String())
			}
			kind, typ, _ := strings.Cut(name, ".")
			switch {
			case name == "decoders.lua":
				if !strings.Contains(stdout.String(), `decoder = "plugins/decoders/`) {
					t.Errorf("no input with a decoder script in:\n%s", stdout.String())
				}
			case kind == "decoders":
				if !strings.Contains(stdout.String(), `decoder = "`+typ+`"`) {
					t.Errorf("no input with decoder = %q in:\n%s", typ, stdout.String())
				}
			default:
				if !strings.Contains(stdout.String(), "[["+name+"]]") {
					t.Errorf("no [[%s]] table in:\n%s", name, stdout.String())
				}
			}
		})
	}
}

// The listing names each decoder once, under its heading, as before the
// decoders had samples.
func TestPluginsListsDecoders(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := cmdPlugins(nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	_, list, ok := strings.Cut(stdout.String(), "decoders (decoder = \"NAME\" on any input):\n")
	if !ok {
		t.Fatalf("no decoders heading:\n%s", stdout.String())
	}
	for _, d := range pipeline.Decoders() {
		if !strings.Contains(list, "  "+d.Name+" ") {
			t.Errorf("the listing lacks decoder %s:\n%s", d.Name, list)
		}
	}
	if !strings.Contains(list, "  lua ") {
		t.Errorf("the listing lacks the decoder of Lua scripts:\n%s", list)
	}
}
