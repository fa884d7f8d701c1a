package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/interoceptor/interoceptor/sandbox/luatest"
)

const testHelp = `A case is a TOML file NAME.test.toml:

    description = "a step up is reported once"        # optional, shown on failure
    script = "../../change_detect.lua"                 # relative to this file
    # module_path = ["../../../modules"]               # default: plugins/modules of the repo (found by go.mod)
    # input = "NAME.input.jsonl"                       # default
    # expect = "NAME.expected.jsonl"                   # default
    # memory_limit, time_limit, output_limit, inject_limit as in [[filters.lua]]
    [config]                                           # what read_config(key) returns
    field = "value"

The input has one message per line, in the JSON form of 'interoceptor cat'
("fields" may be a plain object: {"value": 1.5, "host": "a"}), or
{"influx": "cpu,host=a value=1.5 1767225600000000000"} (a metric, as the
influx decoder makes it), or {"timer_event": "2026-01-01T00:01:00Z"} (or
integer ns): timer_event is called then, and only then; no final one is
implied. Lines starting with # are comments.

The expected file has one line per message the script injects, in order.
Only the keys a line lists are compared: write "type", "payload",
"timestamp", "fields", ... and leave out the others (uuid, hostname and pid
vary between runs; logger is the plugin instance's name). Every listed
field must be there with the same type and value (floats within a relative
1e-9; roles too when "fields" is an array), and no other field unless the
line has "fields_subset": true. A call that fails (process_message returning
a negative status or raising an error, timer_event raising one) is a line too:
{"failed": "process_message", "line": 7, "status": -1, "error": "not a number"}
("error" matches when it is part of the error). The number of lines must
match.

-update writes the expected files from what the scripts do, without uuid,
logger, hostname and pid, keeping their leading # comments. Review every
line before committing it: it is whatever the script does, right or wrong.

Exit status: 0 all passed, 1 a case failed, 2 a case or path is unusable.
`

func cmdTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("test", "PATH...", stderr)
	update := fs.Bool("update", false, "rewrite the expected files from what the scripts inject (review them!)")
	verbose := fs.Bool("v", false, "print each injected message, failed call and script output as it happens")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintf(fs.Output(), "\nPATH is a case file or a directory searched recursively for *.test.toml.\n\n%s", testHelp)
	}
	// Flags may come after the paths: interoceptor test plugins -v.
	var paths []string
	for {
		if code, done := parseOnly(fs, args); done {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "interoceptor test: give at least one case file or directory")
		fs.Usage()
		return 2
	}
	opts := luatest.Options{Update: *update}
	if *verbose {
		opts.Verbose = stdout
	}
	return luatest.RunPaths(stdout, paths, opts)
}

// parseOnly parses flags and leaves the arguments after them to the caller.
func parseOnly(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	return 0, false
}
