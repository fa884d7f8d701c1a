package pipeline_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

func TestLineWriterDropsWhatTheFormatCannotCarry(t *testing.T) {
	metric := new(pipeline.Message)
	if err := pipeline.ParseLineProtocol([]byte("cpu usage=0.5 1700000000000000000"), metric); err != nil {
		t.Fatal(err)
	}
	logMsg := &pipeline.Message{Type: "log", Payload: []byte("GET / 200")}
	var out, logs bytes.Buffer
	env := &pipeline.Env{Log: slog.New(slog.NewTextHandler(&logs, nil)), Stats: new(pipeline.PluginStats)}
	lw := pipeline.NewLineWriter(&out, 4096, "influx", env)
	if err := lw.WriteBatch([]*pipeline.Message{logMsg, metric, logMsg}); err != nil {
		t.Fatal(err)
	}
	if err := lw.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "cpu usage=0.5 1700000000000000000\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	if e, d := env.Stats.Errors.Load(), env.Stats.Dropped.Load(); e != 2 || d != 2 {
		t.Errorf("Errors = %d, Dropped = %d; want 2 and 2", e, d)
	}
	if n := strings.Count(logs.String(), "message skipped"); n != 1 {
		t.Errorf("%d warnings logged, want 1 (at most one a second):\n%s", n, logs.String())
	}
}

func TestLineWriterStartsAfreshAfterAWriteError(t *testing.T) {
	fail, written := true, new(bytes.Buffer)
	w := writerFunc(func(b []byte) (int, error) {
		if fail {
			return 0, errors.New("no space left on device")
		}
		return written.Write(b)
	})
	env := &pipeline.Env{Log: slog.New(slog.DiscardHandler), Stats: new(pipeline.PluginStats)}
	lw := pipeline.NewLineWriter(w, 16, "payload", env)
	// Longer than the buffer: written through at once, and failing.
	if err := lw.WriteBatch([]*pipeline.Message{{Payload: []byte("more than sixteen bytes")}}); err == nil {
		t.Fatal("WriteBatch to a failing writer returned nil")
	}
	if err := lw.WriteBatch([]*pipeline.Message{{Payload: []byte("lost")}}); err != nil {
		t.Fatalf("WriteBatch after an error: %v (bufio keeps its error unless reset)", err)
	}
	if err := lw.Flush(); err == nil {
		t.Fatal("Flush to a failing writer returned nil")
	}
	fail = false
	if err := lw.WriteBatch([]*pipeline.Message{{Payload: []byte("next")}}); err != nil {
		t.Fatal(err)
	}
	if err := lw.Flush(); err != nil {
		t.Fatalf("Flush once the writer works again: %v", err)
	}
	if got := written.String(); got != "next\n" {
		t.Errorf("written %q, want %q", got, "next\n")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// A batch whose write fails is written again by the runtime: a message of
// it that the format cannot carry is counted once, when the batch is
// written, not at every try.
func TestLineWriterCountsASkippedMessageOncePerBatch(t *testing.T) {
	metric := new(pipeline.Message)
	if err := pipeline.ParseLineProtocol([]byte("cpu usage=0.5 1700000000000000000"), metric); err != nil {
		t.Fatal(err)
	}
	batch := []*pipeline.Message{{Type: "log", Payload: []byte("GET / 200")}, metric}
	fail, written := true, new(bytes.Buffer)
	w := writerFunc(func(b []byte) (int, error) {
		if fail {
			return 0, errors.New("no space left on device")
		}
		return written.Write(b)
	})
	env := &pipeline.Env{Log: slog.New(slog.DiscardHandler), Stats: new(pipeline.PluginStats)}
	lw := pipeline.NewLineWriter(w, 16, "influx", env) // the line is longer: written through
	if err := lw.WriteBatch(batch); err == nil {
		t.Fatal("WriteBatch to a failing writer returned nil")
	}
	fail = false
	if err := lw.WriteBatch(batch); err != nil {
		t.Fatal(err)
	}
	if err := lw.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := written.String(), "cpu usage=0.5 1700000000000000000\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	if e, d := env.Stats.Errors.Load(), env.Stats.Dropped.Load(); e != 1 || d != 1 {
		t.Errorf("Errors = %d, Dropped = %d; want 1 and 1: the log message, once", e, d)
	}
}
