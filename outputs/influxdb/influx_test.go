package influxdb

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/decoders/influx" // decoder = "influx", for the round trip
	_ "github.com/interoceptor/interoceptor/inputs/tcp"      // inputs.tcp, for the round trip
	"github.com/interoceptor/interoceptor/internal/influxtest"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// These tests run the output against a real InfluxDB 1.8 (internal/influxtest).

// roundTripLines are line protocol of every kind the message carries, in
// several measurements, with escapes and exact nanosecond times. The influx
// decoder reads them into messages; the output writes those to InfluxDB;
// queried back they must be the same points.
var roundTripLines = []string{
	`cpu,host=edge-1,cpu=cpu0 usage_user=12.5,usage_system=3i,busy=true,state="ok" 1700000000000000001`,
	`cpu,host=edge-1,cpu=cpu1 usage_user=0.1,usage_system=-7i,busy=f,state="" 1700000000000000002`,
	`cpu,host=edge-2,cpu=cpu0 usage_user=100,usage_system=0i,busy=TRUE,state="degraded" 1700000000000000003`,
	`cpu,cpu=cpu0,host=edge-1 usage_user=1e-300,usage_system=9223372036854775807i,busy=False,state="x" 1700000000999999999`,
	`cpu,host=edge-2,cpu=cpu1 usage_user=-1.7976931348623157e+308,usage_system=-9223372036854775808i,busy=T,state="y" 1700000001000000000`,
	`cpu,host=edge-3 usage_user=5e-324 1700000002000000000`,
	`cpu,host=edge-3 usage_system=42i 1700000002000000001`,
	`cpu,host=edge-3 busy=t 1700000002000000002`,
	`cpu,host=edge-3 state="only a string" 1700000002000000003`,
	`mem,host=edge-1 used=1073741824i,free=0.25,total=17179869184i 1700000000000000000`,
	`mem,host=edge-1 used=1073741825i,free=0.5,total=17179869184i 1700000000000000010`,
	`mem,host=edge-1 used=1i,free=1.5,total=2i 1`,
	`mem,host=edge-1 used=2i,free=2.5,total=3i -1`,
	`mem,host=edge-1 used=3i,free=3.5,total=4i -1000000000`,
	`disk,path=/,device=sda1,fstype=ext4 used_percent=41.3,inodes_free=123456i 1700000000000000000`,
	`disk,path=/var/lib,device=sda2,fstype=xfs used_percent=3.14159265358979,inodes_free=1i 1700000000000000000`,
	`disk,path=C:\Windows,device=c,fstype=ntfs used_percent=99.999,inodes_free=0i 1700000000000000000`,
	`strings s="plain" 1700000000000000100`,
	`strings s="with \"quotes\"" 1700000000000000101`,
	`strings s="back\\slash" 1700000000000000102`,
	`strings s="a\\nb literal backslash n" 1700000000000000103`,
	`strings s="newline\nand\ttab and\rcr" 1700000000000000104`,
	`strings s="unicode: héllo wörld ✓ 日本" 1700000000000000105`,
	`strings s="comma, equals= and space" 1700000000000000106`,
	`strings s="" 1700000000000000107`,
	`strings s="lonely \q backslash" 1700000000000000108`,
	`strings,lang=日本 s="tagged" 1700000000000000109`,
	`my\ measurement,tag\ key=tag\ value,k\=ey=v\=al,c\,omma=x\,y field\ key=1i,f\=k=2i,f\,c=3i 1700000000000000200`,
	`my\ measurement,tag\ key=other field\ key=4i 1700000000000000201`,
	`com\,ma,t=1 v=1 1700000000000000300`,
	`floats f=0 1700000000000000400`,
	`floats f=1 1700000000000000401`,
	`floats f=-1 1700000000000000402`,
	`floats f=1.5 1700000000000000403`,
	`floats f=1e+06 1700000000000000404`,
	`floats f=123456789.123 1700000000000000405`,
	`floats f=0.1 1700000000000000406`,
	`floats f=3.141592653589793 1700000000000000407`,
	`floats f=2.220446049250313e-16 1700000000000000408`,
	`floats f=1.7976931348623157e+308 1700000000000000409`,
	`floats f=-5e-324 1700000000000000410`,
	`floats f=12345678901234567890 1700000000000000411`,
	`ints i=0i 1700000000000000500`,
	`ints i=1i 1700000000000000501`,
	`ints i=-1i 1700000000000000502`,
	`ints i=9007199254740993i 1700000000000000503`,
	`ints i=-9007199254740993i 1700000000000000504`,
	`bools b=true,c=false 1700000000000000600`,
	`bools b=T,c=F 1700000000000000601`,
	`bools b=True,c=FALSE 1700000000000000602`,
	`many,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8 v=1i,w=2.5,x="three",y=true 1700000000000000700`,
	`many,a=1,h=8 v=2i 1700000000000000701`,
}

// uintLine is a uint: InfluxDB 1.8 has no unsigned integers (its parser says
// "invalid number"), so with uint_support = true it rejects this point; the
// rest of its batch is written.
const uintLine = `uints u=18446744073709551615u 1700000000000000800`

// TestRoundTrip: line protocol in through inputs.tcp, out through this
// output, queried back: identical points.
func TestRoundTrip(t *testing.T) {
	srv := influxtest.New(t, "db")
	rt, stop, conn := tcpToInflux(t, t.TempDir(), srv.URL, `flush_interval = "50ms"
uint_support = true`)
	all := append(slices.Clone(roundTripLines), uintLine)
	if _, err := io.WriteString(conn, strings.Join(all, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	out := rt.Plugin(pipeline.KindOutput, "influxdb").(*InfluxDB)
	pipelinetest.WaitUntil(t, 20*time.Second, "every point written or rejected", func() error {
		if g := out.Gauges(); g["influxdb_written_points"]+g["influxdb_rejected_points"] != float64(len(all)) {
			return fmt.Errorf("%v written and %v rejected of %d", g["influxdb_written_points"], g["influxdb_rejected_points"], len(all))
		}
		return nil
	})
	if err := stop(true); err != nil {
		t.Fatal(err)
	}
	if g := out.Gauges(); g["influxdb_rejected_points"] != 1 {
		t.Errorf("rejected %v points, want 1 (the uint)", g["influxdb_rejected_points"])
	}

	want := map[string]string{}
	for _, l := range roundTripLines {
		m := &pipeline.Message{}
		if err := pipeline.ParseLineProtocol([]byte(l), m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		k, v := pointString(m)
		want[k] = v
	}
	got := queryPoints(t, srv, "db")
	for k, v := range want {
		switch g, ok := got[k]; {
		case !ok:
			t.Errorf("missing point %s %s", k, v)
		case g != v:
			t.Errorf("point %s\n got: %s\nwant: %s", k, g, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected point %s %s", k, v)
		}
	}
	if len(want) != len(roundTripLines) {
		t.Fatalf("the test's lines name %d distinct points, want %d: two share series and time", len(want), len(roundTripLines))
	}
}

// pointString returns a point as a series key (measurement, tags, time)
// and its fields, each as name:type=value, sorted: how a point is compared.
func pointString(m *pipeline.Message) (key, fields string) {
	var tags, fs []string
	for _, f := range m.Fields {
		switch f.Role {
		case pipeline.RoleTag:
			tags = append(tags, strconv.Quote(f.Name)+"="+strconv.Quote(f.Str))
		case pipeline.RoleField:
			fs = append(fs, fieldString(f.Name, f.Kind, f.Value()))
		}
	}
	sort.Strings(tags)
	sort.Strings(fs)
	return fmt.Sprintf("%q{%s}@%d", m.Measurement(), strings.Join(tags, ","), m.Timestamp), strings.Join(fs, " ")
}

func fieldString(name string, kind pipeline.FieldKind, v any) string {
	s := fmt.Sprint(v)
	switch kind {
	case pipeline.KindFloat:
		s = strconv.FormatFloat(v.(float64), 'g', -1, 64)
	case pipeline.KindString:
		s = strconv.Quote(v.(string))
	}
	return fmt.Sprintf("%q:%s=%s", name, kind, s)
}

// queryPoints reads every point of db back, typed by SHOW FIELD KEYS, in
// the form of pointString.
func queryPoints(t *testing.T, srv *influxtest.Server, db string) map[string]string {
	t.Helper()
	types := map[string]map[string]pipeline.FieldKind{}
	keys, err := srv.Query(db, "SHOW FIELD KEYS")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]pipeline.FieldKind{"float": pipeline.KindFloat, "integer": pipeline.KindInt,
		"unsigned": pipeline.KindUint, "string": pipeline.KindString, "boolean": pipeline.KindBool}
	for _, s := range keys {
		types[s.Name] = map[string]pipeline.FieldKind{}
		for _, row := range s.Values {
			types[s.Name][row[0].(string)] = kinds[row[1].(string)]
		}
	}
	series, err := srv.Query(db, "SELECT * FROM /.*/ GROUP BY *")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range series {
		var tags []string
		for k, v := range s.Tags {
			if v != "" {
				tags = append(tags, strconv.Quote(k)+"="+strconv.Quote(v))
			}
		}
		sort.Strings(tags)
		for _, row := range s.Values {
			ts, _ := row[0].(json.Number).Int64()
			var fs []string
			for i, col := range s.Columns[1:] {
				v := row[i+1]
				if v == nil {
					continue
				}
				kind := types[s.Name][col]
				switch kind {
				case pipeline.KindFloat:
					f, err := v.(json.Number).Float64()
					if err != nil {
						t.Fatalf("%s.%s = %v: %v", s.Name, col, v, err)
					}
					v = f
				case pipeline.KindInt:
					n, err := v.(json.Number).Int64()
					if err != nil {
						t.Fatalf("%s.%s = %v: %v", s.Name, col, v, err)
					}
					v = n
				}
				fs = append(fs, fieldString(col, kind, v))
			}
			sort.Strings(fs)
			got[fmt.Sprintf("%q{%s}@%d", s.Name, strings.Join(tags, ","), ts)] = strings.Join(fs, " ")
		}
	}
	return got
}

// TestLogs: log messages are points: the measurement from the logger (or a
// field), host, severity and type as tags, the text and the fields as
// fields. A point of another Type than "metric" is written as the point it is.
func TestLogs(t *testing.T) {
	srv := influxtest.New(t, "db")
	o := newDefault()
	o.URL, o.Bucket, o.FlushInterval, o.LogMeasurementField = srv.URL, "db", pipeline.Duration(20*time.Millisecond), "app"
	env, logs := initOutput(t, o)
	msgs := []*pipeline.Message{
		{Type: "log", Timestamp: 1700000000000000001, Logger: "nginx", Hostname: "edge-1", Severity: 6,
			Payload: []byte(`GET /index.html 200`), Fields: []pipeline.Field{
				{Name: "status", Kind: pipeline.KindInt, Int: 200}, {Name: "latency", Kind: pipeline.KindFloat, Float: 0.25}}},
		{Type: "log", Timestamp: 1700000000000000002, Hostname: "edge-2", Severity: 3,
			Payload: []byte("panic: boom\n\tat main.go:12\n\tat \"quoted\" \\ end")},
		{Type: "log", Timestamp: 1700000000000000003, Logger: "tcp", Hostname: "edge-1", Severity: 4,
			Payload: []byte("raw line"), Fields: []pipeline.Field{
				{Name: "app", Kind: pipeline.KindString, Str: "billing"}, {Name: "message", Kind: pipeline.KindString, Str: "parsed"},
				{Name: "ok", Kind: pipeline.KindBool, Bool: true}}},
		{Type: "anomaly", Timestamp: 1700000000000000004, Logger: "cpu_change", Hostname: "edge-1", Fields: []pipeline.Field{
			{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "change"},
			{Name: "series", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "cpu"},
			{Name: "delta", Kind: pipeline.KindFloat, Float: 12}}},
		{Type: pipeline.MetricType, Timestamp: 1700000000000000005, Fields: []pipeline.Field{
			{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "cpu"},
			{Name: "usage", Kind: pipeline.KindFloat, Float: nan()}}},
	}
	if err := o.Write(msgs); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 10*time.Second, "4 points written", pipelinetest.GaugeIs(o, "influxdb_written_points", 4))
	want := map[string]string{
		`"nginx"{"host"="edge-1","severity"="6","type"="log"}@1700000000000000001`:   `"latency":float=0.25 "message":string="GET /index.html 200" "status":int=200`,
		`"log"{"host"="edge-2","severity"="3","type"="log"}@1700000000000000002`:     `"message":string="panic: boom\n\tat main.go:12\n\tat \"quoted\" \\ end"`,
		`"billing"{"host"="edge-1","severity"="4","type"="log"}@1700000000000000003`: `"message":string="parsed" "ok":bool=true "payload":string="raw line"`,
		`"change"{"series"="cpu"}@1700000000000000004`:                               `"delta":float=12`,
	}
	got := queryPoints(t, srv, "db")
	if len(got) != len(want) {
		t.Errorf("%d points in InfluxDB, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("point %s\n got: %s\nwant: %s", k, got[k], v)
		}
	}
	// The NaN has no line protocol form: skipped, counted, logged.
	if d, e := env.Stats.Dropped.Load(), env.Stats.Errors.Load(); d != 1 || e != 1 {
		t.Errorf("Dropped = %d, Errors = %d; want 1 and 1 (the NaN)", d, e)
	}
	if !strings.Contains(logs.String(), "NaN") {
		t.Errorf("no log of the skipped NaN:\n%s", logs)
	}
}

// TestFieldTypeConflict: points InfluxDB rejects are counted and logged with
// its reason, never retried, and the rest of the stream goes on.
func TestFieldTypeConflict(t *testing.T) {
	srv := influxtest.New(t, "db")
	o := newDefault()
	o.URL, o.Bucket, o.FlushInterval = srv.URL, "db", pipeline.Duration(20*time.Millisecond)
	env, logs := initOutput(t, o)
	line := func(s string) *pipeline.Message {
		m := &pipeline.Message{}
		if err := pipeline.ParseLineProtocol([]byte(s), m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if err := o.Write([]*pipeline.Message{line("conf v=1.5 1"), line("conf v=2.5 2")}); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 10*time.Second, "2 points written", pipelinetest.GaugeIs(o, "influxdb_written_points", 2))
	// One batch: three ints where v is a float, among good points.
	var mixed []*pipeline.Message
	for i := range 10 {
		if i%3 == 0 {
			mixed = append(mixed, line(fmt.Sprintf("conf v=%di %d", i, 10+i)))
		} else {
			mixed = append(mixed, line(fmt.Sprintf("conf v=%d.5 %d", i, 10+i)))
		}
	}
	mixed = append(mixed, line("other x=1i 100"))
	if err := o.Write(mixed); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 10*time.Second, "points rejected", func() error {
		if g := o.Gauges(); g["influxdb_rejected_points"] == 0 {
			return fmt.Errorf("none rejected, %v written", g["influxdb_written_points"])
		}
		return nil
	})
	// The stream goes on.
	if err := o.Write([]*pipeline.Message{line("conf v=9.5 200"), line("other x=2i 201")}); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 10*time.Second, "15 points written or rejected", func() error {
		if g := o.Gauges(); g["influxdb_written_points"]+g["influxdb_rejected_points"] != 15 {
			return fmt.Errorf("%v written and %v rejected", g["influxdb_written_points"], g["influxdb_rejected_points"])
		}
		return nil
	})
	g := o.Gauges()
	if g["influxdb_rejected_points"] != 4 || g["influxdb_written_points"] != 11 || g["influxdb_retries"] != 0 {
		t.Errorf("gauges %v: want 4 rejected (v=0i, 3i, 6i, 9i), 11 written, no retry", g)
	}
	if d, e := env.Stats.Dropped.Load(), env.Stats.Errors.Load(); d != 4 || e != 4 {
		t.Errorf("Dropped = %d, Errors = %d; want 4 and 4", d, e)
	}
	if !strings.Contains(logs.String(), "field type conflict") {
		t.Errorf("the log does not give InfluxDB's reason:\n%s", logs)
	}
	if n := count(t, srv, "db", "SELECT count(v) FROM conf"); n != 9 {
		t.Errorf("count(v) = %d, want 9", n)
	}
	if n := count(t, srv, "db", "SELECT count(x) FROM other"); n != 2 {
		t.Errorf("count(x) = %d, want 2", n)
	}
}

// TestFieldTypeConflictInOneBatch: InfluxDB 1.8 refuses a whole batch in
// which two points disagree on the type of a new field ("field type
// conflict", nothing written); the output splits it until the point at
// fault is alone, so the others are written and one point is counted.
func TestFieldTypeConflictInOneBatch(t *testing.T) {
	srv := influxtest.New(t, "db")
	o := newDefault()
	o.URL, o.Bucket, o.FlushInterval = srv.URL, "db", pipeline.Duration(50*time.Millisecond)
	env, logs := initOutput(t, o)
	var batch []*pipeline.Message
	for i, l := range []string{
		`fresh v=1i 1`, `fresh,k=x v=2i,s="multi\nline, with = and \"quotes\"" 2`, `fresh v=3i 3`, `other2 x=1 4`,
		`fresh v=4.5 5`, // the one at fault: v is an integer by now
		`fresh v=6i 6`, `other2 x=7 7`,
	} {
		m := &pipeline.Message{}
		if err := pipeline.ParseLineProtocol([]byte(l), m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		batch = append(batch, m)
	}
	if err := o.Write(batch); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 10*time.Second, "7 points written or rejected", func() error {
		if g := o.Gauges(); g["influxdb_written_points"]+g["influxdb_rejected_points"] != 7 {
			return fmt.Errorf("%v written and %v rejected", g["influxdb_written_points"], g["influxdb_rejected_points"])
		}
		return nil
	})
	if g := o.Gauges(); g["influxdb_rejected_points"] != 1 || env.Stats.Dropped.Load() != 1 {
		t.Errorf("gauges %v, Dropped %d: want 1 rejected", g, env.Stats.Dropped.Load())
	}
	if n := count(t, srv, "db", "SELECT count(v) FROM fresh"); n != 4 {
		t.Errorf("count(v) = %d, want 4", n)
	}
	if n := count(t, srv, "db", "SELECT count(x) FROM other2"); n != 2 {
		t.Errorf("count(x) = %d, want 2", n)
	}
	if !strings.Contains(logs.String(), "field type conflict") {
		t.Errorf("no log of the conflict:\n%s", logs)
	}
}

// TestCloseDelivers: what waits for flush_interval is sent at Close; the
// precision rounds times down.
func TestCloseDelivers(t *testing.T) {
	srv := influxtest.New(t, "db")
	o := newDefault()
	o.URL, o.Bucket, o.Precision, o.FlushInterval = srv.URL, "db", "us", pipeline.Duration(time.Hour)
	initOutput(t, o)
	batch := points("closing", 0, 10)
	for _, m := range batch {
		m.Timestamp += 789 // below the precision: rounded down
	}
	if err := o.Write(batch); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, srv, "db", "SELECT count(seq) FROM closing"); n != 10 {
		t.Fatalf("count = %d after Close, want 10", n)
	}
	series, err := srv.Query("db", "SELECT seq FROM closing LIMIT 1")
	if err != nil {
		t.Fatal(err)
	}
	if ts := series[0].Values[0][0].(json.Number).String(); ts != strconv.FormatInt(baseTime, 10) {
		t.Errorf("time %s, want %d (seq 0 at %d, in µs)", ts, baseTime, pointTime(0)+789)
	}
}

// TestOutage is the test: InfluxDB stops for 30 s in the middle of a
// stream of 100k points at a steady rate and starts again; every point is
// there, delivered in order, and the disk buffer carried them.
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 45 s")
	}
	const (
		total  = 100_000
		rate   = 2500 // points a second: the stream lasts 40 s, the outage 30 s of it
		stopAt = 5 * time.Second
		outage = 30 * time.Second
	)
	srv := influxtest.New(t, "db")
	rec := newRecorder(t, srv.URL)
	dataDir := t.TempDir()
	rt, stop, conn := tcpToInflux(t, dataDir, rec.URL, `batch_size = 1000
flush_interval = "100ms"
max_retry_interval = "1s"
buffer_bytes = 262144`)
	out := rt.Plugin(pipeline.KindOutput, "influxdb").(*InfluxDB)
	start := time.Now()
	sent := make(chan error, 1)
	go func() { // the stream: `rate` lines a second, in ticks of 10 ms
		w := bufio.NewWriter(conn)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		seq := 0
		for seq < total {
			<-tick.C
			due := min(total, int(time.Since(start).Seconds()*rate))
			for ; seq < due; seq++ {
				fmt.Fprintf(w, "outage,src=test seq=%di %d\n", seq, pointTime(seq))
			}
			if err := w.Flush(); err != nil {
				sent <- err
				return
			}
		}
		sent <- conn.Close()
	}()

	var maxDisk float64
	var sawSegments bool
	watch := func(d time.Duration) { // the disk buffer while InfluxDB is down
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			maxDisk = max(maxDisk, out.Gauges()["influxdb_disk_bytes"])
			if segs, _ := filepath.Glob(filepath.Join(dataDir, "influxdb", "influxdb", "*.seg")); len(segs) > 0 {
				sawSegments = true
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(time.Until(start.Add(stopAt)))
	srv.Stop()
	t.Logf("InfluxDB stopped at %v, %v points written", time.Since(start).Round(time.Millisecond), out.Gauges()["influxdb_written_points"])
	watch(outage)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("InfluxDB started again at %v; buffered %v points, disk buffer peaked at %v bytes",
		time.Since(start).Round(time.Millisecond), out.Gauges()["influxdb_buffered_points"], maxDisk)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 60*time.Second, "every point written", pipelinetest.GaugeIs(out, "influxdb_written_points", total))
	t.Logf("all delivered at %v", time.Since(start).Round(time.Millisecond))
	if err := stop(true); err != nil {
		t.Fatal(err)
	}

	if n := count(t, srv, "db", "SELECT count(seq) FROM outage"); n != total {
		t.Errorf("count(seq) = %d, want %d", n, total)
	}
	if maxDisk == 0 || !sawSegments {
		t.Errorf("the disk buffer was not used during the outage (peak %v bytes, segment files seen: %v)", maxDisk, sawSegments)
	}
	st := out.Gauges()
	if st["influxdb_dropped_points"] != 0 || st["influxdb_rejected_points"] != 0 || st["influxdb_retries"] == 0 {
		t.Errorf("gauges %v: want no drop, no rejection, and retries", st)
	}
	// In order: InfluxDB took the points in the order they were sent...
	seqs := rec.seqs()
	if len(seqs) != total {
		t.Errorf("InfluxDB acknowledged %d points, want %d", len(seqs), total)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("out of order: point %d delivered after point %d", seqs[i], seqs[i-1])
		}
	}
	// ...and each point has its own time: a sample around the outage.
	series, err := srv.Query("db", fmt.Sprintf("SELECT seq FROM outage WHERE time >= %d LIMIT 2000", pointTime(int(stopAt.Seconds()*rate)-1000)))
	if err != nil || len(series) != 1 || len(series[0].Values) != 2000 {
		t.Fatalf("sample: %v, %v", err, series)
	}
	prev := int64(-1)
	for _, row := range series[0].Values {
		ts, _ := row[0].(json.Number).Int64()
		seq, _ := row[1].(json.Number).Int64()
		if ts != pointTime(int(seq)) || seq <= prev {
			t.Fatalf("sample: seq %d at time %d after seq %d", seq, ts, prev)
		}
		prev = seq
	}
}

// TestDropOldest: a tiny disk bound with full_action = "drop_oldest" while
// InfluxDB is down: the oldest points go, each one counted; what InfluxDB
// has afterwards is exactly what was not counted as dropped.
func TestDropOldest(t *testing.T) {
	srv := influxtest.New(t, "db")
	srv.Stop()
	o := newDefault()
	o.URL, o.Bucket, o.FullAction = srv.URL, "db", fullDropOldest
	o.BatchSize, o.BufferBytes, o.DiskBufferBytes = 100, 8<<10, 64<<10
	o.FlushInterval, o.MaxRetryInterval = pipeline.Duration(20*time.Millisecond), pipeline.Duration(200*time.Millisecond)
	env, logs := initOutput(t, o)
	const total = 20_000
	for i := 0; i < total; i += 100 {
		if err := o.Write(points("drops", i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	g := o.Gauges()
	dropped := env.Stats.Dropped.Load()
	if dropped == 0 || float64(dropped) != g["influxdb_dropped_points"] || g["influxdb_disk_bytes"] > 64<<10 {
		t.Fatalf("Dropped = %d, gauges %v: want drops, counted, and the disk within its bound", dropped, g)
	}
	if !strings.Contains(logs.String(), "drop_oldest") {
		t.Errorf("the drops are not logged:\n%s", logs)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 30*time.Second, "the buffer emptied", pipelinetest.GaugeIs(o, "influxdb_buffered_points", 0))
	n := count(t, srv, "db", "SELECT count(seq) FROM drops")
	if n+int64(dropped) != total {
		t.Errorf("%d points in InfluxDB + %d dropped = %d, want %d", n, dropped, n+int64(dropped), total)
	}
	// The newest survive.
	last, err := srv.Query("db", "SELECT last(seq) FROM drops")
	if err != nil || len(last) != 1 || last[0].Values[0][1].(json.Number).String() != strconv.Itoa(total-1) {
		t.Errorf("last(seq) = %v, %v; want %d", last, err, total-1)
	}
	t.Logf("%d of %d points kept, %d dropped", n, total, dropped)
}

// TestBlock: with no disk and memory full, full_action = "block" refuses a
// batch with a retryable error (the runtime holds the pipeline back) and
// takes it once InfluxDB is back; nothing is lost.
func TestBlock(t *testing.T) {
	srv := influxtest.New(t, "db")
	srv.Stop()
	o := newDefault()
	o.URL, o.Bucket, o.DiskBufferBytes, o.BufferBytes, o.BatchSize = srv.URL, "db", 0, 4<<10, 50
	o.FlushInterval, o.MaxRetryInterval = pipeline.Duration(20*time.Millisecond), pipeline.Duration(200*time.Millisecond)
	env, _ := initOutput(t, o)
	accepted := 0
	var err error
	for accepted < 10_000 {
		if err = o.Write(points("block", accepted, 50)); err != nil {
			break
		}
		accepted += 50
	}
	if !pipeline.IsRetryable(err) {
		t.Fatalf("Write with memory full = %v, want a retryable error", err)
	}
	t.Logf("memory full after %d points: %v", accepted, err)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 20*time.Second, "a batch taken once InfluxDB is back", func() error { return o.Write(points("block", accepted, 50)) })
	accepted += 50
	pipelinetest.WaitUntil(t, 20*time.Second, "every accepted point written", pipelinetest.GaugeIs(o, "influxdb_written_points", float64(accepted)))
	if n := count(t, srv, "db", "SELECT count(seq) FROM block"); n != int64(accepted) || env.Stats.Dropped.Load() != 0 {
		t.Errorf("count = %d, Dropped = %d; want %d and 0", n, env.Stats.Dropped.Load(), accepted)
	}
}

// TestRestartKeepsPoints: the output closes while InfluxDB is down; its
// points wait on disk; the next output of that name delivers them, before
// its own and in order.
func TestRestartKeepsPoints(t *testing.T) {
	srv := influxtest.New(t, "db")
	rec := newRecorder(t, srv.URL)
	srv.Stop()
	dataDir := t.TempDir()
	cfg := func(o *InfluxDB) {
		o.URL, o.Bucket, o.BatchSize, o.BufferBytes = rec.URL, "db", 500, 32<<10
		o.FlushInterval, o.MaxRetryInterval = pipeline.Duration(20*time.Millisecond), pipeline.Duration(200*time.Millisecond)
	}
	first := newDefault()
	cfg(first)
	env, logs := initOutputIn(t, first, dataDir, "main")
	for i := 0; i < 10_000; i += 1000 {
		if err := first.Write(points("restart", i, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	// Let the writer hold a batch and fail on it: Close must put that one
	// in front of what is on disk.
	pipelinetest.WaitUntil(t, 10*time.Second, "a failed write retried", func() error {
		if g := first.Gauges(); g["influxdb_retries"] == 0 {
			return fmt.Errorf("no retry yet, %v points buffered", g["influxdb_buffered_points"])
		}
		return nil
	})
	if first.Gauges()["influxdb_disk_bytes"] == 0 {
		t.Fatal("nothing went to disk before Close")
	}
	start := time.Now()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close with InfluxDB down took %v", time.Since(start).Round(time.Millisecond))
	if env.Stats.Dropped.Load() != 0 {
		t.Fatalf("Dropped = %d at Close", env.Stats.Dropped.Load())
	}
	if !strings.Contains(logs.String(), "the rest is on disk") {
		t.Errorf("Close does not say where the points are:\n%s", logs)
	}
	segs, _ := filepath.Glob(filepath.Join(dataDir, "influxdb", "main", "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no segment on disk after Close")
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	second := newDefault()
	cfg(second)
	_, logs2 := initOutputIn(t, second, dataDir, "main")
	if !strings.Contains(logs2.String(), "previous run") {
		t.Errorf("Init does not say it found points on disk:\n%s", logs2)
	}
	if err := second.Write(points("restart", 10_000, 1000)); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitUntil(t, 20*time.Second, "every point written after the restart", pipelinetest.GaugeIs(second, "influxdb_written_points", 11_000))
	if n := count(t, srv, "db", "SELECT count(seq) FROM restart"); n != 11_000 {
		t.Errorf("count = %d, want 11000", n)
	}
	seqs := rec.seqs()
	for i, s := range seqs {
		if s != int64(i) {
			t.Fatalf("delivery order: the %dth point delivered is seq %d", i, s)
		}
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := filepath.Glob(filepath.Join(dataDir, "influxdb", "main", "*")); len(segs) != 0 {
		t.Errorf("files left after everything was delivered: %v", segs)
	}
}

// count runs a query whose first value is a count.
func count(t *testing.T, srv *influxtest.Server, db, q string) int64 {
	t.Helper()
	series, err := srv.Query(db, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) == 0 {
		return 0
	}
	n, err := series[0].Values[0][1].(json.Number).Int64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// recorder stands between the output and InfluxDB and notes the seq field
// of every point InfluxDB acknowledged, in the order it did: a check of
// delivery order that InfluxDB, which sorts by time, cannot give. When
// InfluxDB is down it drops the connection, as InfluxDB being down would.
type recorder struct {
	*httptest.Server
	backend string
	mu      sync.Mutex
	order   []int64
}

func newRecorder(t *testing.T, backend string) *recorder {
	r := &recorder{backend: backend}
	r.Server = httptest.NewServer(r)
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	fwd, _ := http.NewRequestWithContext(req.Context(), req.Method, r.backend+req.URL.RequestURI(), bytes.NewReader(body))
	fwd.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(fwd)
	if err != nil {
		if conn, _, herr := http.NewResponseController(w).Hijack(); herr == nil {
			conn.Close()
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		r.note(body, req.Header.Get("Content-Encoding") == "gzip")
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (r *recorder) note(body []byte, gzipped bool) {
	if gzipped {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return
		}
		if body, err = io.ReadAll(zr); err != nil {
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, line := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		m := &pipeline.Message{}
		if pipeline.ParseLineProtocol(line, m) == nil {
			if f := m.Field("seq"); f != nil {
				r.order = append(r.order, f.Int)
			}
		}
	}
}

func (r *recorder) seqs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// By default (uint_support = false) unsigned integers are written as
// integers, as Telegraf does for InfluxDB 1.x, clamped at the largest int64.
func TestUintsWrittenAsInts(t *testing.T) {
	srv := influxtest.New(t, "db")
	rt, stop, conn := tcpToInflux(t, t.TempDir(), srv.URL, `flush_interval = "50ms"`)
	io.WriteString(conn, "mem total=25276502016u,used_percent=2.5 1700000000000000000\n"+uintLine+"\n")
	conn.Close()
	out := rt.Plugin(pipeline.KindOutput, "influxdb").(*InfluxDB)
	pipelinetest.WaitUntil(t, 20*time.Second, "2 points written", pipelinetest.GaugeIs(out, "influxdb_written_points", 2))
	if err := stop(true); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		`SELECT total FROM mem`: "25276502016",
		`SELECT u FROM uints`:   "9223372036854775807",
	} {
		series, err := srv.Query("db", q)
		if err != nil || len(series) != 1 || fmt.Sprint(series[0].Values[0][1]) != want {
			t.Errorf("%s: %+v, %v; want %s", q, series, err, want)
		}
	}
	fields, _ := srv.Query("db", `SHOW FIELD KEYS FROM mem`)
	if len(fields) != 1 || fmt.Sprint(fields[0].Values) != "[[total integer] [used_percent float]]" {
		t.Errorf("field types %+v, want total an integer", fields)
	}
}

// tcpToInflux runs inputs.tcp (decoder = "influx") → this output writing to
// url, bucket "db", with outputKeys added to its table, and returns a
// connection to the input.
func tcpToInflux(t *testing.T, dataDir, url, outputKeys string) (*pipeline.Runtime, func(bool) error, net.Conn) {
	t.Helper()
	rt, stop := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"

[[inputs.tcp]]
publish = "metrics.lp"
address = "127.0.0.1:0"
decoder = "influx"

[[outputs.influxdb]]
subscribe = ["metrics.>"]
url = %q
bucket = "db"
%s
`, dataDir, url, outputKeys))
	conn, err := net.Dial("tcp", rt.Plugin(pipeline.KindInput, "tcp").(interface{ Addr() net.Addr }).Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return rt, stop, conn
}
