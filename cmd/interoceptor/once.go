package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

// runOnce is `run -once`, Interoceptor's `telegraf --test`: every input
// that can (a pipeline.Gatherer) gives what it has once: system and
// internal one round, a generator one message, file and stdin their lines
// to the end. Inputs that wait for what may arrive (tcp, udp, syslog,
// tail) are skipped, with a note on stderr, as Telegraf skips its service
// inputs. What they give passes through the decoders, matchers and filters
// as configured (each filter that ticks gets its final tick), and what
// would reach each output is printed on stdout instead, one line per
// message and output, "outputs.TYPE[NAME] " then the message in line
// protocol (a metric) or JSON (anything else); what is published to a
// subject that nothing in the pipeline reads (an agent's, for the central)
// is printed as "nats[SUBJECT] ...".
//
// Nothing outside the process is touched: the NATS server is embedded and
// in-process only (no url, listen or leaf nodes), without JetStream (no
// durable streams); there is no admin API; data_dir is a temporary
// directory removed at the end, so no checkpoint, buffer or preserved Lua
// state of the real pipeline is read or written. The outputs are neither
// initialised nor written to.
func runOnce(cfg *pipeline.Config, log *slog.Logger, stdout, stderr io.Writer) int {
	dataDir, err := os.MkdirTemp("", "interoceptor-once-")
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor run -once:", err)
		return 1
	}
	defer os.RemoveAll(dataDir)
	gathered := prepareOnce(cfg, dataDir, stdout, stderr)
	if len(gathered) == 0 {
		fmt.Fprintln(stderr, "interoceptor run -once: no input can be gathered once: nothing to run")
		return 1
	}
	rt, err := pipeline.Start(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor run -once:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := rt.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "interoceptor run -once: drain:", err)
		return 1
	}
	code := 0
	for _, in := range gathered {
		if in.err != nil {
			fmt.Fprintf(stderr, "interoceptor run -once: %s: %v\n", in.id, in.err)
			code = 1
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "interoceptor run -once: interrupted")
		code = 1
	}
	return code
}

// prepareOnce changes cfg for runOnce (see there) and returns the inputs
// that will gather.
func prepareOnce(cfg *pipeline.Config, dataDir string, stdout, stderr io.Writer) []*onceInput {
	off := false
	cfg.Agent.DataDir, cfg.Agent.AdminAddr, cfg.Agent.WatchConfig = dataDir, "off", false
	cfg.Nats = pipeline.NatsConfig{JetStream: &off, BatchBytes: cfg.Nats.BatchBytes, BatchLinger: cfg.Nats.BatchLinger,
		MaxPendingBytes: cfg.Nats.MaxPendingBytes, DurableCompression: cfg.Nats.DurableCompression}
	pr := &printer{w: stdout}
	var gathered []*onceInput
	var published, read []string
	for _, p := range cfg.Plugins {
		p.Durable, p.Queue = false, ""
		read = append(read, p.Subscribe...)
		for _, s := range []string{p.Publish, p.DeadLetter} {
			if s != "" && !slices.Contains(published, s) {
				published = append(published, s)
			}
		}
		switch p.Kind {
		case pipeline.KindInput:
			if _, ok := p.Plugin.(pipeline.Gatherer); !ok {
				fmt.Fprintf(stderr, "interoceptor run -once: %s skipped: it waits for what may arrive, and has nothing to gather once\n", p.ID())
				p.Plugin = skippedInput{}
				continue
			}
			in := &onceInput{inner: p.Plugin, id: p.ID()}
			gathered = append(gathered, in)
			p.Plugin = in
		case pipeline.KindOutput:
			p.Plugin = &onceOutput{pr: pr, prefix: p.ID()}
		}
	}
	for _, s := range published {
		if !slices.ContainsFunc(read, func(sub string) bool { return pipeline.SubjectMatches(sub, s) }) {
			cfg.Plugins = append(cfg.Plugins, &pipeline.PluginConfig{Kind: pipeline.KindOutput, Type: "once", Name: s,
				Subscribe: []string{s}, Plugin: &onceOutput{pr: pr, prefix: "nats[" + s + "]"}})
		}
	}
	return gathered
}

// onceInput runs an input's Gather instead of its Run, and keeps its error.
type onceInput struct {
	inner any // a pipeline.Gatherer
	id    string
	err   error // set when Gather has returned
}

var (
	_ pipeline.Input       = (*onceInput)(nil)
	_ pipeline.Initializer = (*onceInput)(nil)
	_ pipeline.Closer      = (*onceInput)(nil)
)

func (o *onceInput) Init(env *pipeline.Env) error {
	if in, ok := o.inner.(pipeline.Initializer); ok {
		return in.Init(env)
	}
	return nil
}

func (o *onceInput) Run(ctx context.Context, out pipeline.LineEmitter) error {
	o.err = o.inner.(pipeline.Gatherer).Gather(ctx, out)
	return o.err
}

func (o *onceInput) Close() error {
	if c, ok := o.inner.(pipeline.Closer); ok {
		return c.Close()
	}
	return nil
}

// skippedInput stands for an input -once does not run: it is not even
// initialised (a listener does not bind).
type skippedInput struct{}

func (skippedInput) Run(context.Context, pipeline.LineEmitter) error { return nil }

// printer writes the lines of every onceOutput, a batch at a time.
type printer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// onceOutput prints what an output would get.
type onceOutput struct {
	pr     *printer
	prefix string
}

var _ pipeline.Output = (*onceOutput)(nil)

// Write prints each message as one line: the prefix, then line protocol
// for a metric, else JSON.
func (o *onceOutput) Write(batch []*pipeline.Message) error {
	pr := o.pr
	pr.mu.Lock()
	defer pr.mu.Unlock()
	buf := pr.buf[:0]
	for _, m := range batch {
		buf = append(append(buf, o.prefix...), ' ')
		line, err := wire.AppendFormatted(buf, m, "influx")
		if errors.Is(err, wire.ErrNotMetric) || err != nil {
			line, _ = wire.AppendFormatted(buf, m, "json")
		}
		buf = line
	}
	pr.buf = buf
	_, err := pr.w.Write(buf)
	return err
}
