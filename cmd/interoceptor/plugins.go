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
		kind, typ, ok := strings.Cut(fs.Arg(0), ".")
		if r, found := pipeline.Lookup(pipeline.Kind(kind), typ); ok && found {
			fmt.Fprint(stdout, r.Sample)
			if !strings.HasSuffix(r.Sample, "\n") {
				fmt.Fprintln(stdout)
			}
			return 0
		}
		fmt.Fprintf(stderr, "interoceptor plugins: no plugin %q; write it as KIND.TYPE, e.g. inputs.tcp\n", fs.Arg(0))
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
	fmt.Fprintf(stdout, "\n'interoceptor plugins KIND.TYPE' prints a plugin's sample config.\n")
	return 0
}
