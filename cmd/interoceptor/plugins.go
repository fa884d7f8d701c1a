package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/interoceptor/interoceptor/pipeline"
)

func cmdPlugins(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plugins", "[KIND.TYPE]", stderr)
	if err := fs.Parse(args); err != nil {
		if err.Error() == "flag: help requested" {
			return 0
		}
		return 2
	}
	if fs.NArg() == 1 {
		if sample, found := lookupSample(fs.Arg(0)); found {
			fmt.Fprint(stdout, sample)
			if !strings.HasSuffix(sample, "\n") {
				fmt.Fprintln(stdout)
			}
			return 0
		}
		fmt.Fprintf(stderr, "interoceptor plugins: %v\n", unknownPlugin(fs.Arg(0)))
		return 1
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	var last pipeline.Kind
	for _, r := range pipeline.Plugins() {
		if r.Kind != last {
			fmt.Fprintf(stdout, "%s:\n", r.Kind)
			last = r.Kind
		}
		fmt.Fprintf(stdout, "  %-12s %s\n", r.Type, r.Description)
	}
	fmt.Fprintf(stdout, "decoders (decoder = \"NAME\" on any input):\n")
	for _, d := range pipeline.Decoders() {
		fmt.Fprintf(stdout, "  %-12s %s\n", d.Name, d.Description)
	}
	if d, ok := pipeline.ScriptDecoder(); ok {
		fmt.Fprintf(stdout, "  %-12s %s\n", "lua", d.Description)
	}
	fmt.Fprintf(stdout, "\n'interoceptor plugins KIND.TYPE' prints a plugin's sample config.\n")
	return 0
}

// lookupSample returns the sample config of KIND.TYPE: a plugin
// (inputs.tcp), a decoder (decoders.json), or decoders.lua for Lua decoder
// scripts.
func lookupSample(name string) (string, bool) {
	kind, typ, ok := strings.Cut(name, ".")
	switch {
	case !ok:
		return "", false
	case kind == "decoders" && typ == "lua":
		r, found := pipeline.ScriptDecoder()
		return r.Sample, found
	case kind == "decoders":
		r, found := pipeline.LookupDecoder(typ)
		return r.Sample, found
	}
	r, found := pipeline.Lookup(pipeline.Kind(kind), typ)
	return r.Sample, found
}

// knownPlugins lists every KIND.TYPE that lookupSample knows, in the
// order of the listing.
func knownPlugins() []string {
	var names []string
	for _, r := range pipeline.Plugins() {
		names = append(names, string(r.Kind)+"."+r.Type)
	}
	for _, d := range pipeline.Decoders() {
		names = append(names, "decoders."+d.Name)
	}
	if _, ok := pipeline.ScriptDecoder(); ok {
		names = append(names, "decoders.lua")
	}
	return names
}

// unknownPlugin is the error for a name lookupSample does not know: it
// lists the ones it does.
func unknownPlugin(name string) error {
	return fmt.Errorf("no plugin %q; write it as KIND.TYPE, one of: %s", name, strings.Join(knownPlugins(), ", "))
}
