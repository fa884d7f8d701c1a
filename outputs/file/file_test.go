package file

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestFileAppendsOneLinePerMessage(t *testing.T) {
	logMsg := &pipeline.Message{Type: "log", Payload: []byte("GET /index.html 200")}
	metric := &pipeline.Message{Type: pipeline.MetricType, Timestamp: 1700000000000000000, Fields: []pipeline.Field{
		{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "cpu"},
		{Name: "host", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "a"},
		{Name: "usage", Kind: pipeline.KindFloat, Float: 0.5},
	}}
	cases := []struct {
		name        string
		existing    string // the file's content before the pipeline starts
		format      string
		batches     [][]*pipeline.Message
		want        string // exact content; "" to check JSON lines instead
		wantSkipped uint64
	}{
		{name: "payload", format: "payload", batches: [][]*pipeline.Message{{logMsg}, {logMsg}},
			want: "GET /index.html 200\nGET /index.html 200\n"},
		{name: "appends to what is there", existing: "from before\n", format: "payload", batches: [][]*pipeline.Message{{logMsg}},
			want: "from before\nGET /index.html 200\n"},
		{name: "influx skips what is not a metric, counted as dropped", format: "influx", batches: [][]*pipeline.Message{{logMsg, metric}},
			want: "cpu,host=a usage=0.5 1700000000000000000\n", wantSkipped: 1},
		{name: "json", format: "json", batches: [][]*pipeline.Message{{logMsg, metric}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.log")
			if tc.existing != "" {
				if err := os.WriteFile(path, []byte(tc.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			o := newDefault()
			o.Path, o.Format = path, tc.format
			env := initFile(t, o)
			for _, b := range tc.batches {
				if err := o.Write(b); err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			if err := o.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			content, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := string(content)
			if tc.want != "" && got != tc.want {
				t.Errorf("file:\n%s\nwant:\n%s", got, tc.want)
			}
			if tc.format == "json" {
				lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
				if len(lines) != 2 {
					t.Fatalf("%d lines for 2 messages:\n%s", len(lines), got)
				}
				for _, l := range lines {
					if !json.Valid([]byte(l)) {
						t.Errorf("not JSON: %s", l)
					}
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
		})
	}
}

func TestFileCreatesDirectoriesAndFile(t *testing.T) {
	dir := t.TempDir()
	umask := probeUmask(t, dir)
	o := newDefault()
	o.Path = filepath.Join(dir, "a", "b", "out.log")
	initFile(t, o)
	if err := o.Write([]*pipeline.Message{{Payload: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(dir, "a"):      os.ModeDir | 0o755&^umask,
		filepath.Join(dir, "a", "b"): os.ModeDir | 0o755&^umask,
		o.Path:                       0o644 &^ umask,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
		}
	}
	if b, _ := os.ReadFile(o.Path); string(b) != "x\n" {
		t.Errorf("after Write the file holds %q, want %q", b, "x\n")
	}
}

func TestFileUnwritablePathStopsStartup(t *testing.T) {
	dir := t.TempDir()
	notADir := filepath.Join(dir, "plain")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o := newDefault()
	o.Path = filepath.Join(notADir, "out.log")
	pipelinetest.CheckInitFails(t, o, pipelinetest.Env(pipeline.KindOutput, "file", "file"), notADir)
}

// A device (not a regular file) is written to as it is, and its write
// errors are retried.
func TestFileReturnsWriteErrors(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	o := newDefault()
	o.Path = "/dev/full" // a disk that is always full
	initFile(t, o)
	err := o.Write([]*pipeline.Message{{Payload: []byte("a line")}})
	if err == nil || !pipeline.IsRetryable(err) || !strings.Contains(err.Error(), "/dev/full") {
		t.Fatalf("Write to a full disk = %v, want a retryable error naming the path", err)
	}
}

func TestFileValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*File)
		wantKey string
	}{
		{name: "path set", edit: func(o *File) { o.Path = "out.log" }},
		{name: "path missing", edit: func(o *File) {}, wantKey: "path"},
		{name: "unknown format", edit: func(o *File) { o.Path, o.Format = "out.log", "xml" }, wantKey: "format"},
		{name: "zero buffer_bytes", edit: func(o *File) { o.Path, o.BufferBytes = "out.log", 0 }, wantKey: "buffer_bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newDefault()
			tc.edit(o)
			err := o.Validate()
			var ke *pipeline.KeyError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantKey != "" && (!errors.As(err, &ke) || ke.Key != tc.wantKey):
				t.Errorf("Validate = %v, want an error on key %q", err, tc.wantKey)
			}
		})
	}
}

// TestSample keeps sample.toml and the code in step. The path is required:
// the sample shows an example, the default is empty.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindOutput, "file", "path") }

func newDefault() *File {
	reg, _ := pipeline.Lookup(pipeline.KindOutput, "file")
	return reg.New().(*File)
}

func initFile(t *testing.T, o *File) *pipeline.Env {
	t.Helper()
	env := pipelinetest.Env(pipeline.KindOutput, "file", "file")
	pipelinetest.Init(t, o, env)
	return env
}

// probeUmask returns the process's umask, read from the mode of a file
// created with 0777.
func probeUmask(t *testing.T, dir string) os.FileMode {
	t.Helper()
	p := filepath.Join(dir, "probe")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o777)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return 0o777 &^ st.Mode().Perm()
}
