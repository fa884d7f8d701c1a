package pipelinetest

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/nats-io/nats.go"
)

// JetStream connects to the NATS server at url (with opts: "" and
// nats.InProcessServer for a runtime's embedded server), closes the
// connection at the test's end and returns its JetStream context.
func JetStream(t testing.TB, url string, opts ...nats.Option) nats.JetStreamContext {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// RunTimeout is how long the wait function of Run waits for the pipeline
// to end: a guard against a pipeline that hangs, long enough for the work
// of a test under the race detector on a machine another test run keeps
// busy.
const RunTimeout = 3 * time.Minute

// Run parses src as a pipeline config, starts it with a logger that
// discards everything and runs it in the background, as `interoceptor run`
// does; the plugins it names must be registered by the test's imports.
// wait(true) stops the pipeline, wait(false) waits for it to end by itself
// (a counted generator, a file input); either returns Run's error, or an
// error if the pipeline has not ended within RunTimeout. Later calls return
// the same error. The test's cleanup stops the pipeline if wait was never
// called.
func Run(t testing.TB, src string) (rt *pipeline.Runtime, wait func(stopNow bool) error) {
	t.Helper()
	cfg, err := pipeline.ParseConfig("p.toml", src)
	if err != nil {
		t.Fatal(err)
	}
	rt, err = pipeline.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	ended, result := false, error(nil)
	wait = func(stopNow bool) error {
		if ended {
			return result
		}
		ended = true
		if stopNow {
			cancel()
		}
		select {
		case result = <-done:
		case <-time.After(RunTimeout):
			result = errors.New("pipelinetest: pipeline did not end")
		}
		cancel()
		return result
	}
	t.Cleanup(func() { _ = wait(true) })
	return rt, wait
}
