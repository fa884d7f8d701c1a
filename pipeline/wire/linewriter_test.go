package wire_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

func TestLineWriterDropsWhatTheFormatCannotCarry(t *testing.T) {
	metric := new(pipeline.Message)
	if err := pipeline.ParseLineProtocol([]byte("cpu usage=0.5 1700000000000000000"), metric); err != nil {
		t.Fatal(err)
	}
	logMsg := &pipeline.Message{Type: "log", Payload: []byte("GET / 200")}
	var out, logs bytes.Buffer
	env := &pipeline.Env{Log: slog.New(slog.NewTextHandler(&logs, nil)), Stats: new(pipeline.PluginStats)}
	lw := wire.NewLineWriter(&out, 4096, "influx", env)
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
	lw := wire.NewLineWriter(w, 16, "payload", env)
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
	lw := wire.NewLineWriter(w, 16, "influx", env) // the line is longer: written through
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

func TestAppendFormatted(t *testing.T) {
	logMsg := &pipeline.Message{Type: "log", Payload: []byte("GET /index.html 200")}
	metric := &pipeline.Message{Type: pipeline.MetricType, Timestamp: 1700000000000000000, Fields: []pipeline.Field{
		{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "cpu"},
		{Name: "host", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "a"},
		{Name: "usage", Kind: pipeline.KindFloat, Float: 0.5},
	}}
	cases := []struct {
		name    string
		m       *pipeline.Message
		format  string
		want    string // exact line, or "" to only check the shape
		wantErr error
	}{
		{name: "payload", m: logMsg, format: "payload", want: "GET /index.html 200\n"},
		{name: "payload of a metric is its payload", m: metric, format: "payload", want: "\n"},
		{name: "influx metric", m: metric, format: "influx", want: "cpu,host=a usage=0.5 1700000000000000000\n"},
		{name: "influx refuses a log", m: logMsg, format: "influx", wantErr: wire.ErrNotMetric},
		{name: "json log", m: logMsg, format: "json"},
		{name: "json metric", m: metric, format: "json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte("previous\n")
			got, err := wire.AppendFormatted(buf, tc.m, tc.format)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if string(got) != "previous\n" {
					t.Errorf("buf changed on error: %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			line, ok := strings.CutPrefix(string(got), "previous\n")
			if !ok {
				t.Fatalf("AppendFormatted did not append to buf: %q", got)
			}
			if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
				t.Errorf("want exactly one line ending in a newline, got %q", line)
			}
			if tc.want != "" && line != tc.want {
				t.Errorf("got %q, want %q", line, tc.want)
			}
			if tc.format == "json" && !strings.HasPrefix(line, "{") {
				t.Errorf("json line does not start with '{': %q", line)
			}
		})
	}
}

func TestValidateOutputFormat(t *testing.T) {
	for _, f := range wire.OutputFormats {
		if err := wire.ValidateOutputFormat(f); err != nil {
			t.Errorf("%q: %v", f, err)
		}
	}
	err := wire.ValidateOutputFormat("xml")
	var ke *pipeline.KeyError
	if !errors.As(err, &ke) || ke.Key != "format" || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("ValidateOutputFormat(xml) = %v, want an InvalidKey error on format naming the value", err)
	}
	if _, err := wire.AppendFormatted(nil, &pipeline.Message{}, "xml"); err == nil {
		t.Error("AppendFormatted accepted an unknown format")
	}
}

func BenchmarkAppendFormatted(b *testing.B) {
	m := &pipeline.Message{Type: "log", Payload: []byte(strings.Repeat("x", 99))}
	for _, format := range wire.OutputFormats[:2] {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf, _ = wire.AppendFormatted(buf[:0], m, format)
			}
		})
	}
}
