package influxdb

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// This file tests what needs no InfluxDB: config, the mapping to lines, the
// disk queue. influx_test.go runs the output against a real InfluxDB.

func TestSample(t *testing.T) {
	pipelinetest.CheckSample(t, pipeline.KindOutput, "influxdb", "url", "bucket")
}

func TestValidate(t *testing.T) {
	ok := func(o *InfluxDB) { o.URL, o.Bucket = "http://127.0.0.1:8086", "db" }
	cases := []struct {
		name    string
		edit    func(*InfluxDB)
		wantKey string
	}{
		{name: "url and bucket set", edit: ok},
		{name: "url missing", edit: func(o *InfluxDB) { o.Bucket = "db" }, wantKey: "url"},
		{name: "url without scheme", edit: func(o *InfluxDB) { ok(o); o.URL = "127.0.0.1:8086" }, wantKey: "url"},
		{name: "url of another scheme", edit: func(o *InfluxDB) { ok(o); o.URL = "udp://127.0.0.1:8089" }, wantKey: "url"},
		{name: "bucket missing", edit: func(o *InfluxDB) { o.URL = "http://h:8086" }, wantKey: "bucket"},
		{name: "precision", edit: func(o *InfluxDB) { ok(o); o.Precision = "m" }, wantKey: "precision"},
		{name: "precision us", edit: func(o *InfluxDB) { ok(o); o.Precision = "us" }},
		{name: "batch_size", edit: func(o *InfluxDB) { ok(o); o.BatchSize = 0 }, wantKey: "batch_size"},
		{name: "flush_interval", edit: func(o *InfluxDB) { ok(o); o.FlushInterval = 0 }, wantKey: "flush_interval"},
		{name: "timeout", edit: func(o *InfluxDB) { ok(o); o.Timeout = 0 }, wantKey: "timeout"},
		{name: "max_retry_interval", edit: func(o *InfluxDB) { ok(o); o.MaxRetryInterval = 0 }, wantKey: "max_retry_interval"},
		{name: "buffer_bytes", edit: func(o *InfluxDB) { ok(o); o.BufferBytes = 0 }, wantKey: "buffer_bytes"},
		{name: "disk_buffer_bytes 0 is no disk", edit: func(o *InfluxDB) { ok(o); o.DiskBufferBytes = 0 }},
		{name: "disk_buffer_bytes negative", edit: func(o *InfluxDB) { ok(o); o.DiskBufferBytes = -1 }, wantKey: "disk_buffer_bytes"},
		{name: "full_action", edit: func(o *InfluxDB) { ok(o); o.FullAction = "drop_newest" }, wantKey: "full_action"},
		{name: "full_action drop_oldest", edit: func(o *InfluxDB) { ok(o); o.FullAction = "drop_oldest" }},
		{name: "tls_cert without tls_key", edit: func(o *InfluxDB) { ok(o); o.URL, o.TLSCert = "https://h:8086", "c.pem" }, wantKey: "tls_key"},
		{name: "tls_key without tls_cert", edit: func(o *InfluxDB) { ok(o); o.URL, o.TLSKey = "https://h:8086", "k.pem" }, wantKey: "tls_cert"},
		{name: "tls_ca on http", edit: func(o *InfluxDB) { ok(o); o.TLSCA = "ca.pem" }, wantKey: "tls_ca"},
		{name: "insecure_skip_verify on http", edit: func(o *InfluxDB) { ok(o); o.InsecureSkipVerify = true }, wantKey: "insecure_skip_verify"},
		{name: "tls on https", edit: func(o *InfluxDB) {
			ok(o)
			o.URL, o.TLSCA, o.TLSCert, o.TLSKey = "https://h:8086", "ca.pem", "c.pem", "k.pem"
		}},
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

func TestMissingCAStopsStartup(t *testing.T) {
	o := newDefault()
	o.URL, o.Bucket, o.TLSCA = "https://127.0.0.1:8086", "db", filepath.Join(t.TempDir(), "nope.pem")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	env := pipelinetest.Env(pipeline.KindOutput, "influxdb", "influxdb")
	env.Agent.DataDir = t.TempDir()
	pipelinetest.CheckInitFails(t, o, env, "nope.pem")
}

func TestUnwritableDataDirStopsStartup(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o := newDefault()
	o.URL, o.Bucket = "http://127.0.0.1:8086", "db"
	env := pipelinetest.Env(pipeline.KindOutput, "influxdb", "influxdb")
	env.Agent.DataDir = notADir
	pipelinetest.CheckInitFails(t, o, env, notADir)
}

// TestLines is the mapping of README.md, message by message.
func TestLines(t *testing.T) {
	str := func(name, v string) pipeline.Field {
		return pipeline.Field{Name: name, Kind: pipeline.KindString, Str: v}
	}
	tag := func(name, v string) pipeline.Field {
		return pipeline.Field{Name: name, Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: v}
	}
	meas := func(v string) pipeline.Field {
		return pipeline.Field{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: v}
	}
	const ts = 1700000000123456789
	cases := []struct {
		name    string
		enc     lineEncoder
		msg     *pipeline.Message
		want    string
		wantErr string
	}{
		{name: "metric, canonical", msg: &pipeline.Message{Type: "metric", Timestamp: ts, Hostname: "not written", Fields: []pipeline.Field{
			meas("cpu"), tag("host", "a"), {Name: "usage", Kind: pipeline.KindFloat, Float: 12.5}, {Name: "n", Kind: pipeline.KindInt, Int: 3}}},
			want: "cpu,host=a usage=12.5,n=3i 1700000000123456789\n"},
		{name: "a point of another Type is a point", msg: &pipeline.Message{Type: "anomaly", Timestamp: ts, Fields: []pipeline.Field{
			meas("change"), tag("series", "cpu"), {Name: "delta", Kind: pipeline.KindFloat, Float: -3}}},
			want: "change,series=cpu delta=-3 1700000000123456789\n"},
		{name: "a point of another Type with a newline in a string", msg: &pipeline.Message{Type: "anomaly", Timestamp: 1, Fields: []pipeline.Field{
			meas("change"), str("note", "two\nlines")}},
			want: "change note=\"two\nlines\" 1\n"},
		{name: "metric with NaN has no line", msg: &pipeline.Message{Type: "metric", Timestamp: ts, Fields: []pipeline.Field{
			meas("cpu"), {Name: "usage", Kind: pipeline.KindFloat, Float: nan()}}},
			wantErr: "NaN"},
		{name: "newline, tab and CR in a string go as they are", msg: &pipeline.Message{Type: "metric", Timestamp: 1, Fields: []pipeline.Field{
			meas("m"), tag("k", "v"), str("s", "a\nb\tc\rd \\n \"q\""), str("t", "plain")}},
			want: "m,k=v s=\"a\nb\tc\rd \\\\n \\\"q\\\"\",t=\"plain\" 1\n"},
		{name: "escaped names around a string with a newline", msg: &pipeline.Message{Type: "metric", Timestamp: 1, Fields: []pipeline.Field{
			meas(`m e,a\` + "x"), tag("k =,", `v\ `+"w"), str(`f= "`, "x\ny")}},
			want: `m\ e\,a\x,k\ \=\,=v\\ w f\=\ "="x` + "\n" + `y" 1` + "\n"},
		{name: "log: logger, host, severity, type, payload, fields", msg: &pipeline.Message{Type: "log", Timestamp: ts, Logger: "nginx",
			Hostname: "edge-1", Severity: 6, Payload: []byte("GET / 200"), Fields: []pipeline.Field{
				{Name: "status", Kind: pipeline.KindInt, Int: 200}, str("path", "/")}},
			want: "nginx,host=edge-1,severity=6,type=log status=200i,path=\"/\",message=\"GET / 200\" 1700000000123456789\n"},
		{name: "log without logger", msg: &pipeline.Message{Type: "log", Timestamp: 1, Payload: []byte("x")},
			want: "log,severity=0,type=log message=\"x\" 1\n"},
		{name: "log_measurement", enc: lineEncoder{logMeasurement: "logs"}, msg: &pipeline.Message{Type: "log", Timestamp: 1, Logger: "nginx", Payload: []byte("x")},
			want: "logs,severity=0,type=log message=\"x\" 1\n"},
		{name: "log_measurement_field", enc: lineEncoder{logMeasurementField: "app"}, msg: &pipeline.Message{Type: "log", Timestamp: 1, Logger: "tcp",
			Payload: []byte("x"), Fields: []pipeline.Field{str("app", "billing")}},
			want: "billing,severity=0,type=log message=\"x\" 1\n"},
		{name: "log_measurement_field absent: the logger", enc: lineEncoder{logMeasurementField: "app"}, msg: &pipeline.Message{Type: "log", Timestamp: 1, Logger: "tcp",
			Payload: []byte("x"), Fields: []pipeline.Field{{Name: "app", Kind: pipeline.KindInt, Int: 1}}},
			want: "tcp,severity=0,type=log app=1i,message=\"x\" 1\n"},
		{name: "log with a message field: the payload is payload", msg: &pipeline.Message{Type: "log", Timestamp: 1, Logger: "app",
			Payload: []byte("raw\nline"), Fields: []pipeline.Field{str("message", "parsed"), str("message", "second is dropped")}},
			want: "app,severity=0,type=log message=\"parsed\",payload=\"raw\nline\" 1\n"},
		{name: "log with fields and no payload", msg: &pipeline.Message{Type: "log", Timestamp: 1, Logger: "app",
			Fields: []pipeline.Field{str("level", "error")}},
			want: "app,severity=0,type=log level=\"error\" 1\n"},
		{name: "log: bytes, NaN, bad UTF-8", msg: &pipeline.Message{Type: "decode_error", Severity: 3, Timestamp: 1, Logger: "app",
			Payload: []byte("bad \xff"), Fields: []pipeline.Field{{Name: "b", Kind: pipeline.KindBytes, Bytes: []byte("ok")},
				{Name: "bin", Kind: pipeline.KindBytes, Bytes: []byte{0xff}}, {Name: "f", Kind: pipeline.KindFloat, Float: nan()}}},
			want: "app,severity=3,type=decode_error b=\"ok\",message=\"bad \uFFFD\" 1\n"},
		{name: "precision s rounds down", enc: lineEncoder{div: 1e9}, msg: &pipeline.Message{Type: "metric", Timestamp: ts, Fields: []pipeline.Field{
			meas("m"), {Name: "v", Kind: pipeline.KindBool, Bool: true}}},
			want: "m v=true 1700000000\n"},
		{name: "precision ms before 1970 rounds down", enc: lineEncoder{div: 1e6, uintSupport: true}, msg: &pipeline.Message{Type: "metric", Timestamp: -1500001, Fields: []pipeline.Field{
			meas("m"), {Name: "v", Kind: pipeline.KindUint, Uint: 7}}},
			want: "m v=7u -2\n"},
		{name: "uints as ints by default", enc: lineEncoder{}, msg: &pipeline.Message{Type: "metric", Timestamp: 1, Fields: []pipeline.Field{
			meas("m"), {Name: "v", Kind: pipeline.KindUint, Uint: 7}, {Name: "w", Kind: pipeline.KindUint, Uint: 1 << 63}}},
			want: "m v=7i,w=9223372036854775807i 1\n"},
		{name: "a log's uint field as an int", enc: lineEncoder{}, msg: &pipeline.Message{Type: "log", Timestamp: 1, Logger: "app",
			Fields: []pipeline.Field{{Name: "bytes", Kind: pipeline.KindUint, Uint: 3}}},
			want: "app,severity=0,type=log bytes=3i 1\n"},
		{name: "precision us with a newline in a string", enc: lineEncoder{div: 1e3}, msg: &pipeline.Message{Type: "metric", Timestamp: 1234567, Fields: []pipeline.Field{
			meas("m"), str("s", "a b\n1 2")}},
			want: "m s=\"a b\n1 2\" 1234\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.enc
			if enc.div == 0 {
				enc.div = 1
			}
			prefix := []byte("previous line\n")
			got, err := enc.appendLine(append([]byte(nil), prefix...), tc.msg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				if !bytes.Equal(got, prefix) {
					t.Errorf("buffer after an error = %q, want it unchanged", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, prefix) || string(got[len(prefix):]) != tc.want {
				t.Errorf("line:\n%q\nwant:\n%q", got[len(prefix):], tc.want)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

func TestRejectedPoints(t *testing.T) {
	cases := []struct {
		reason string
		lines  int
		n      int
		want   int
	}{
		{`partial write: field type conflict: input field "v" on measurement "m" is type integer, already exists as type float dropped=2`, 0, 10, 2},
		{"partial write: unable to parse 'm v=1u 7': invalid number dropped=0", 0, 2, 1},
		{"partial write: unable to parse 'a': missing field value\nunable to parse 'b': invalid boolean dropped=0", 0, 3, 2},
		{"partial write: points beyond retention policy dropped=3", 0, 5, 3},
		{`database not found: "nodb"`, 0, 7, 7},
		{"partial write of line protocol occurred", 2, 9, 2},
		{"dropped=99", 0, 5, 5},
	}
	for _, tc := range cases {
		if got, _ := rejectedPoints(tc.reason, tc.lines, tc.n); got != tc.want {
			t.Errorf("rejectedPoints(%q, %d, %d) = %d, want %d", tc.reason, tc.lines, tc.n, got, tc.want)
		}
	}
}

func TestSplitPoint(t *testing.T) {
	lines := []string{
		"m,t=a\\ b v=1i 1\n",
		"m s=\"x\ny\\\"\nz \\\\\",w=2i 2\n",
		"m\\ x,k\\==v\\, f\\=\"=\"a\nb\" 3\n",
		"m v=4i 4\n",
	}
	data := []byte(strings.Join(lines, ""))
	at := 0
	for n := range len(lines) + 1 {
		if got := splitPoint(data, n); got != at {
			t.Errorf("splitPoint(%d) = %d, want %d", n, got, at)
		}
		if n < len(lines) {
			at += len(lines[n])
		}
	}
}

// TestDiskQueue: records come back in order, across a reopen, with the
// delivered ones remembered; a record in front; a torn tail cut off.
func TestDiskQueue(t *testing.T) {
	dir := t.TempDir()
	q, torn, err := openDisk(dir, 64)
	if err != nil || len(torn) > 0 {
		t.Fatal(err, torn)
	}
	for i := range 10 {
		if err := q.append(fmt.Appendf(nil, "m v=%di %d\n", i, i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if q.points != 10 || q.records != 10 || len(q.segs) < 2 {
		t.Fatalf("after 10 appends: %d points, %d records, %d segments", q.points, q.records, len(q.segs))
	}
	var buf []byte
	expect := func(q *diskQueue, want string) {
		t.Helper()
		data, points, err := q.peek(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != want || points != 1 {
			t.Fatalf("peek = %q, %d points; want %q", data, points, want)
		}
		if err := q.ack(points); err != nil {
			t.Fatal(err)
		}
	}
	expect(q, "m v=0i 0\n")
	expect(q, "m v=1i 1\n")
	expect(q, "m v=2i 2\n")
	if err := q.prepend([]byte("held\n"), 1); err != nil {
		t.Fatal(err)
	}
	if err := q.close(); err != nil {
		t.Fatal(err)
	}

	q, torn, err = openDisk(dir, 64)
	if err != nil || len(torn) > 0 {
		t.Fatal(err, torn)
	}
	if q.points != 8 {
		t.Fatalf("reopened with %d points, want 8 (7 left and the one in front)", q.points)
	}
	expect(q, "held\n")
	for i := 3; i < 10; i++ {
		expect(q, fmt.Sprintf("m v=%di %d\n", i, i))
	}
	if !q.empty() || q.bytes != 0 {
		t.Fatalf("delivered everything but %d records, %d bytes remain", q.records, q.bytes)
	}
	if err := q.append([]byte("a\n"), 1); err != nil {
		t.Fatal(err)
	}
	if err := q.append([]byte("b\n"), 1); err != nil {
		t.Fatal(err)
	}
	if err := q.close(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(names) != 1 {
		t.Fatalf("segments %v, want 1", names)
	}
	// A crash in the middle of the second record.
	st, _ := os.Stat(names[0])
	if err := os.Truncate(names[0], st.Size()-1); err != nil {
		t.Fatal(err)
	}
	q, torn, err = openDisk(dir, 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(torn) != 1 || q.points != 1 {
		t.Fatalf("torn = %v, %d points; want the torn record reported and 1 point left", torn, q.points)
	}
	expect(q, "a\n")
	q.close()
}

func TestDiskQueueDropFirstAndBound(t *testing.T) {
	q, _, err := openDisk(t.TempDir(), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	rec := bytes.Repeat([]byte("x"), 88) // 100 bytes with the header: one a segment
	for range 3 {
		if !q.fits(len(rec), 300) {
			t.Fatal("does not fit under the bound")
		}
		if err := q.append(rec, 5); err != nil {
			t.Fatal(err)
		}
	}
	if q.fits(len(rec), 300) {
		t.Fatal("a 4th record fits a 300-byte bound")
	}
	if !q.fits(1000, 300) == q.empty() {
		t.Fatal("only an empty queue takes a record past the bound")
	}
	points, err := q.dropFirst()
	if err != nil || points != 5 || q.points != 10 || !q.fits(len(rec), 300) {
		t.Fatalf("dropFirst = %d, %v; %d points left", points, err, q.points)
	}
}

// TestCloseWithoutDiskCountsTheLoss: no disk buffer and InfluxDB unreachable
// at shutdown: the points are lost, and counted.
func TestCloseWithoutDiskCountsTheLoss(t *testing.T) {
	o := newDefault()
	o.URL, o.Bucket, o.DiskBufferBytes = "http://"+closedAddr(t), "db", 0
	env, logs := initOutput(t, o)
	if err := o.Write(points("m", 0, 10)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	// Close gives up after closeWait instead of waiting for InfluxDB: a
	// hang guard, generous for a busy machine, not a measure.
	if d := time.Since(start); d > closeWait+time.Minute {
		t.Errorf("Close took %v with InfluxDB unreachable", d)
	}
	if got := env.Stats.Dropped.Load(); got != 10 {
		t.Errorf("Dropped = %d, want 10", got)
	}
	if !strings.Contains(logs.String(), "points lost at shutdown") {
		t.Errorf("no log of the loss:\n%s", logs)
	}
}

func newDefault() *InfluxDB {
	reg, _ := pipeline.Lookup(pipeline.KindOutput, "influxdb")
	return reg.New().(*InfluxDB)
}

// initOutput validates and inits o as the runtime would, with its data
// under a temporary data_dir and its log kept; the test's end closes it.
func initOutput(t *testing.T, o *InfluxDB) (*pipeline.Env, *syncBuffer) {
	t.Helper()
	return initOutputIn(t, o, t.TempDir(), "influxdb")
}

func initOutputIn(t *testing.T, o *InfluxDB, dataDir, name string) (*pipeline.Env, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	env := pipelinetest.Env(pipeline.KindOutput, "influxdb", name)
	env.Agent.DataDir = dataDir
	env.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pipelinetest.Init(t, o, env)
	return env, logs
}

// points returns n metric points of measurement m with seq from first on,
// 1µs apart.
func points(m string, first, n int) []*pipeline.Message {
	out := make([]*pipeline.Message, n)
	for i := range out {
		seq := first + i
		out[i] = &pipeline.Message{Type: pipeline.MetricType, Timestamp: pointTime(seq), Fields: []pipeline.Field{
			{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: m},
			{Name: "src", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "test"},
			{Name: "seq", Kind: pipeline.KindInt, Int: int64(seq)},
		}}
	}
	return out
}

const baseTime = 1700000000000000000

func pointTime(seq int) int64 { return baseTime + int64(seq)*1000 }

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// syncBuffer is a log sink safe for the writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
