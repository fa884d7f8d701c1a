// Command interoceptor runs, checks and talks to Interoceptor pipelines.
//
// It stays thin: flags, subcommands and signals. Everything else lives in
// package pipeline and the plugin packages.
package main

import (
	"fmt"
	"io"
	"os"

	_ "github.com/interoceptor/interoceptor/decoders/all"
	_ "github.com/interoceptor/interoceptor/filters/all"
	_ "github.com/interoceptor/interoceptor/inputs/all"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	_ "github.com/interoceptor/interoceptor/pipeline/matcher"
)

type command struct {
	name  string
	short string
	run   func(args []string, stdout, stderr io.Writer) int
}

var commands []command

// init fills commands, which the commands' flag sets read back for usage.
func init() {
	commands = []command{
		{"run", "run a pipeline until interrupted (or until its finite inputs are done); -once tries it once", cmdRun},
		{"check", "load and validate a pipeline without running it", cmdCheck},
		{"cat", "print the messages on a NATS subject, as JSON", cmdCat},
		{"inject", "publish messages (JSON lines, or one payload) to a subject", cmdInject},
		{"flood", "publish generated messages at a rate and report msgs/s", cmdFlood},
		{"reload", "ask a running pipeline to reload its plugins (Lua scripts), through its admin API", cmdReload},
		{"alerts", "list, acknowledge and silence the alerts of a running pipeline (outputs.notify)", cmdAlerts},
		{"test", "run Lua plugins against fixture messages and compare what they inject", cmdTest},
		{"replay", "run a pipeline's filters over recorded data on the data's own clock (a backtest)", cmdReplay},
		{"eval", "score a detector filter on labelled series (NAB, TCPD)", cmdEval},
		{"plugins", "list plugins and decoders, or print one plugin's sample config", cmdPlugins},
		{"config", "print a whole commented sample pipeline, or one made of the named plugins (KIND.TYPE...)", cmdConfig},
		{"version", "print the version, commit, Go version and build date (also --version, -v)", cmdVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Interoceptor: a stream-processing pipeline for logs and metrics.\n\nUsage: interoceptor COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, "\nRun 'interoceptor COMMAND -h' for a command's flags.\n")
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	case "-v", "-version", "--version":
		return cmdVersion(args[1:], stdout, stderr)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "interoceptor: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
