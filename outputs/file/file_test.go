package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/interoceptor/interoceptor/pipeline"
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
		{name: "influx skips what is not a metric, counted", format: "influx", batches: [][]*pipeline.Message{{logMsg, metric}},
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
			if got := env.Stats.Errors.Load(); got != tc.wantSkipped {
				t.Errorf("Errors = %d, want %d skipped", got, tc.wantSkipped)
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
	if err := o.Flush(); err != nil {
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
		t.Errorf("after Flush the file holds %q, want %q", b, "x\n")
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
	err := o.Init(testEnv())
	if err == nil || !strings.Contains(err.Error(), notADir) {
		t.Fatalf("Init = %v, want an error naming the path", err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("Close after a failed Init: %v", err)
	}
}

func TestFileReturnsWriteErrors(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	o := newDefault()
	o.Path, o.BufferBytes = "/dev/full", 16 // a disk that is always full
	initFile(t, o)
	err := o.Write([]*pipeline.Message{{Payload: []byte("more than sixteen bytes")}})
	if err == nil {
		err = o.Flush()
	}
	if err == nil {
		t.Fatal("writing to a full disk returned no error")
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

// TestSampleSetsEveryKeyToItsDefault keeps sample.toml and the code in step.
func TestSampleSetsEveryKeyToItsDefault(t *testing.T) {
	reg, ok := pipeline.Lookup(pipeline.KindOutput, "file")
	if !ok {
		t.Fatal("outputs.file is not registered")
	}
	var doc map[string]map[string][]map[string]any
	if _, err := toml.Decode(reg.Sample, &doc); err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	tables := doc["outputs"]["file"]
	if len(tables) != 1 {
		t.Fatalf("sample.toml has %d [[outputs.file]] tables, want 1", len(tables))
	}
	keys := tables[0]
	for _, k := range []string{"name", "subscribe"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("sample.toml lacks the shared key %q", k)
		}
	}
	for _, k := range []string{"name", "subscribe", "external", "matcher", "queue"} {
		delete(keys, k)
	}
	var src bytes.Buffer
	if err := toml.NewEncoder(&src).Encode(keys); err != nil {
		t.Fatal(err)
	}
	got := new(File)
	md, err := toml.Decode(src.String(), got)
	if err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("sample.toml has keys the plugin does not know: %v", u)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("sample.toml does not validate: %v", err)
	}
	got.Path = "" // required: the sample shows an example, the default is empty
	if want := reg.New(); !reflect.DeepEqual(got, want) {
		t.Errorf("sample.toml decodes to %+v, want the defaults %+v", got, want)
	}
	typ := reflect.TypeFor[File]()
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("toml"); key != "" {
			if _, ok := keys[key]; !ok {
				t.Errorf("sample.toml lacks key %q", key)
			}
		}
	}
}

func newDefault() *File {
	reg, _ := pipeline.Lookup(pipeline.KindOutput, "file")
	return reg.New().(*File)
}

func testEnv() *pipeline.Env {
	return &pipeline.Env{Kind: pipeline.KindOutput, Type: "file", Name: "file",
		Log: slog.New(slog.DiscardHandler), Stats: new(pipeline.PluginStats)}
}

func initFile(t *testing.T, o *File) *pipeline.Env {
	t.Helper()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	env := testEnv()
	if err := o.Init(env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
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
