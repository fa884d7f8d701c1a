package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

func newFlagSet(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := ""
	for _, c := range commands {
		if c.name == name {
			short = c.short
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: interoceptor %s [flags] %s\n\n%s.\n\nFlags:\n", name, args, strings.ToUpper(short[:1])+short[1:])
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; done is true when the command should exit with code.
func parse(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2, true
	}
	return 0, false
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: use text or json", format)
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "", stderr)
	config := fs.String("config", "", "pipeline `file`, or a directory whose *.toml files are merged in name order (required)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `file` (for go tool pprof)")
	once := fs.Bool("once", false, "gather each input once, run it through the filters, print on stdout what the outputs would get, and exit (as telegraf --test); see the README")
	if code, done := parse(fs, args); done {
		return code
	}
	if *once && !flagSet(fs, "log-level") {
		*level = "warn" // stdout has the lines; stderr only what went wrong
	}
	if *config == "" {
		fmt.Fprintln(stderr, "interoceptor run: -config is required")
		fs.Usage()
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor run:", err)
		return 2
	}
	cfg, err := pipeline.LoadConfig(*config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log = slog.New(cfg.Redactor().Handler(log.Handler()))
	if *once {
		return runOnce(cfg, log, stdout, stderr)
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "interoceptor run: -cpuprofile:", err)
			return 1
		}
		defer stop()
	}
	rt, err := pipeline.Start(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor run:", err)
		return 1
	}
	log.Info("pipeline running", "agent", cfg.Agent.Name, "plugins", len(cfg.Plugins),
		"nats", natsDescription(rt, cfg), "admin", adminURL(rt))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	go func() {
		for range hups {
			log.Info("SIGHUP: reloading the config")
			_, _ = rt.Reload("") // it logs what it did, or why it refused
		}
	}()
	go func() {
		s := <-sigs
		first := time.Now()
		log.Info(fmt.Sprintf("signal received; draining (send it again, %s or more later, to exit at once)", signalGrace), "signal", s.String())
		cancel()
		for s := range sigs {
			// `timeout`, a process-group kill or a supervisor may deliver
			// the same stop twice at once: that is no request to hurry.
			if time.Since(first) < signalGrace {
				log.Warn("signal ignored: it came within the grace period after the first, as a duplicate does; draining goes on (send it again later to exit at once)",
					"signal", s.String(), "grace", signalGrace.String())
				continue
			}
			log.Error("second signal: exiting without draining")
			os.Exit(1)
		}
	}()
	if err := rt.Run(ctx); err != nil {
		log.Error("drain failed", "err", err)
		return 1
	}
	return 0
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// startCPUProfile starts a CPU profile into path; stop ends it and closes
// the file. A second signal's os.Exit leaves the profile unwritten.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// signalGrace is how long after the first SIGINT/SIGTERM a second one is
// taken for a duplicate of it and ignored, rather than as "exit now".
const signalGrace = 2 * time.Second

func natsDescription(rt *pipeline.Runtime, cfg *pipeline.Config) string {
	if cfg.Nats.URL != "" {
		return pipeline.RedactURL(cfg.Nats.URL)
	}
	if u := rt.Bus().ClientURL(cfg); u != "" {
		return "embedded, " + u
	}
	return "embedded, in-process only (set nats.listen to open it)"
}

func adminURL(rt *pipeline.Runtime) string {
	if u := rt.AdminURL(); u != "" {
		return u
	}
	return "off"
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", "", stderr)
	config := fs.String("config", "", "pipeline `file` or directory (required)")
	if code, done := parse(fs, args); done {
		return code
	}
	if *config == "" {
		fmt.Fprintln(stderr, "interoceptor check: -config is required")
		fs.Usage()
		return 2
	}
	cfg, err := pipeline.LoadConfig(*config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	counts := map[pipeline.Kind]int{}
	for _, p := range cfg.Plugins {
		counts[p.Kind]++
	}
	fmt.Fprintf(stdout, "%s: OK (%d inputs, %d filters, %d outputs)\n", strings.Join(cfg.Files, ", "),
		counts[pipeline.KindInput], counts[pipeline.KindFilter], counts[pipeline.KindOutput])
	return 0
}
