package stdout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestStdoutWritesOneLinePerMessage(t *testing.T) {
	logMsg := &pipeline.Message{Type: "log", Payload: []byte("GET /index.html 200")}
	metric := &pipeline.Message{Type: pipeline.MetricType, Timestamp: 1700000000000000000, Fields: []pipeline.Field{
		{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "cpu"},
		{Name: "host", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "a"},
		{Name: "usage", Kind: pipeline.KindFloat, Float: 0.5},
	}}
	cases := []struct {
		name        string
		format      string
		batch       []*pipeline.Message
		want        string // exact output; "" to check JSON lines instead
		wantSkipped uint64
	}{
		{name: "payload", format: "payload", batch: []*pipeline.Message{logMsg, logMsg},
			want: "GET /index.html 200\nGET /index.html 200\n"},
		{name: "influx", format: "influx", batch: []*pipeline.Message{metric},
			want: "cpu,host=a usage=0.5 1700000000000000000\n"},
		{name: "influx skips what is not a metric, counted as dropped", format: "influx", batch: []*pipeline.Message{logMsg, metric},
			want: "cpu,host=a usage=0.5 1700000000000000000\n", wantSkipped: 1},
		{name: "json", format: "json", batch: []*pipeline.Message{logMsg, metric}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, logs bytes.Buffer
			s := newDefault()
			s.Format = tc.format
			env := initStdout(t, s, &stdout, &logs)
			if err := s.Write(tc.batch); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := s.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			got := stdout.String()
			if tc.want != "" && got != tc.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, tc.want)
			}
			if tc.format == "json" {
				lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
				if len(lines) != len(tc.batch) {
					t.Fatalf("%d lines for %d messages:\n%s", len(lines), len(tc.batch), got)
				}
				for _, l := range lines {
					if !json.Valid([]byte(l)) {
						t.Errorf("not JSON: %s", l)
					}
				}
				if !strings.Contains(lines[0], `"GET /index.html 200"`) {
					t.Errorf("JSON line lacks the payload: %s", lines[0])
				}
			}
			// A message the format cannot carry is not written: an error, and
			// dropped.
			if got := env.Stats.Errors.Load(); got != tc.wantSkipped {
				t.Errorf("Errors = %d, want %d skipped", got, tc.wantSkipped)
			}
			if got := env.Stats.Dropped.Load(); got != tc.wantSkipped {
				t.Errorf("Dropped = %d, want %d skipped", got, tc.wantSkipped)
			}
			if tc.wantSkipped > 0 && !strings.Contains(logs.String(), "skipped") {
				t.Errorf("skipping was not logged: %q", logs.String())
			}
		})
	}
}

func TestStdoutBuffersUntilFlushOrClose(t *testing.T) {
	var stdout bytes.Buffer
	s := newDefault()
	initStdout(t, s, &stdout, nil)
	if err := s.Write([]*pipeline.Message{{Payload: []byte("one")}}); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Errorf("written before Flush: %q", stdout.String())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "one\n" {
		t.Errorf("after Close: %q, want %q", stdout.String(), "one\n")
	}
}

func TestStdoutReportsWriteErrorsAndRecovers(t *testing.T) {
	w := &failingWriter{fail: true}
	s := newDefault()
	initStdout(t, s, w, nil)
	if err := s.Write([]*pipeline.Message{{Payload: []byte("lost")}}); err != nil {
		t.Fatal(err) // buffered: the error shows at Flush
	}
	if err := s.Flush(); err == nil {
		t.Fatal("Flush to a failing writer returned nil")
	}
	w.fail = false
	if err := s.Write([]*pipeline.Message{{Payload: []byte("next")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush once the writer works again: %v", err)
	}
	if w.buf.String() != "next\n" {
		t.Errorf("written %q, want %q", w.buf.String(), "next\n")
	}
}

func TestStdoutValidate(t *testing.T) {
	for _, f := range []string{"payload", "json", "influx"} {
		s := newDefault()
		s.Format = f
		if err := s.Validate(); err != nil {
			t.Errorf("format %q: %v", f, err)
		}
	}
	s := newDefault()
	s.Format = "xml"
	var ke *pipeline.KeyError
	if err := s.Validate(); !errors.As(err, &ke) || ke.Key != "format" {
		t.Errorf("format xml: Validate = %v, want an error on key format", err)
	}
}

// TestSample keeps sample.toml and the code in step.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindOutput, "stdout") }

func newDefault() *Stdout {
	reg, _ := pipeline.Lookup(pipeline.KindOutput, "stdout")
	return reg.New().(*Stdout)
}

// initStdout initialises s writing to stdout instead of the real one, and
// logging to logs (if not nil).
func initStdout(t *testing.T, s *Stdout, stdout io.Writer, logs *bytes.Buffer) *pipeline.Env {
	t.Helper()
	env := pipelinetest.Env(pipeline.KindOutput, "stdout", "stdout")
	if logs != nil {
		env.Log = slog.New(slog.NewTextHandler(logs, nil))
	}
	s.out = stdout
	pipelinetest.Init(t, s, env)
	return env
}

// failingWriter fails every write while fail is set, like a closed pipe.
type failingWriter struct {
	fail bool
	buf  bytes.Buffer
}

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.fail {
		return 0, errors.New("broken pipe")
	}
	return w.buf.Write(b)
}
