package main

import (
	"bytes"
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
		if code := cmdPlugins([]string{name}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no plugin") {
			t.Errorf("plugins %s: exit %d, stderr %q", name, code, stderr.String())
		}
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
}
