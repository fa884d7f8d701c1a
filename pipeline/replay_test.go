package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// replayConfig is a pipeline of Lua filters from testdata/replay, each
// "name script subscribe publish ticker" (ticker "" for none).
func replayConfig(t *testing.T, filters ...[5]string) *pipeline.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("[agent]\nname = \"replay-test\"\n")
	for _, f := range filters {
		script, err := filepath.Abs(filepath.Join("testdata", "replay", f[1]))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "[[filters.lua]]\nname = %q\nscript = %q\nsubscribe = %s\nexternal = true\npublish = %q\nmodule_path = []\n",
			f[0], script, f[2], f[3])
		if f[4] != "" {
			fmt.Fprintf(&b, "ticker_interval = %q\n", f[4])
		}
	}
	cfg, err := pipeline.ParseConfig("replay.toml", b.String())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// collected is a ReplaySink that keeps everything, with its subject and
// the record that caused it.
type collected struct {
	subjects []string
	records  []int64
	msgs     []*pipeline.Message
}

func (c *collected) Write(subject string, record int64, m *pipeline.Message) error {
	c.subjects = append(c.subjects, subject)
	c.records = append(c.records, record)
	c.msgs = append(c.msgs, m)
	return nil
}

// jsonLines is what `replay -out` writes: the JSON form, one a line.
func (c *collected) jsonLines() string {
	var b []byte
	for _, m := range c.msgs {
		b = append(pipeline.AppendJSON(b, m), '\n')
	}
	return string(b)
}

// replayFile replays the records of a file written with content.
func replayFile(t *testing.T, cfg *pipeline.Config, name, content string, opts pipeline.RecordOptions) (*collected, *pipeline.ReplayStats, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := pipeline.OpenRecords(path, opts)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard only
	defer cancel()
	out := &collected{}
	stats, err := pipeline.Replay(ctx, cfg, src, out, pipeline.ReplayOptions{Log: quietLog()})
	return out, stats, err
}

func fieldInt(t *testing.T, m *pipeline.Message, name string) int64 {
	t.Helper()
	f := m.Field(name)
	switch {
	case f != nil && f.Kind == pipeline.KindInt:
		return f.Int
	case f != nil && f.Kind == pipeline.KindFloat: // a Lua number
		return int64(f.Float)
	}
	t.Fatalf("message %s has no number field %q: %s", m.Type, name, pipeline.AppendJSON(nil, m))
	return 0
}

// A filter that ticks daily, replayed over records spanning four days with
// a gap: every tick carries the data's time (a midnight of 2019, not now),
// comes before the first record at or after it, and its summary counts
// exactly the records since the tick before; the final tick is at the
// midnight after the last record. Messages injected without a Timestamp
// get the record's time, or the tick's.
func TestReplayTicksOnTheDataClock(t *testing.T) {
	day := time.Date(2019, 3, 4, 0, 0, 0, 0, time.UTC)
	at := func(h int) int64 { return day.Add(time.Duration(h) * time.Hour).UnixNano() }
	records := []struct {
		hour  int
		value float64
	}{{6, 1}, {18, 200}, {24, 2}, {36, 3}, {78, 4}, {80, 300}}
	var lp strings.Builder
	for _, r := range records {
		fmt.Fprintf(&lp, "load value=%g %d\n", r.value, at(r.hour))
	}
	cfg := replayConfig(t, [5]string{"daily", "daily.lua", `["metrics.in"]`, "summaries", "24h"})
	out, stats, err := replayFile(t, cfg, "load.lp", lp.String(), pipeline.RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		typ                string
		ts                 int64
		count, first, last int64
		record             int64 // the record whose handling (or tick before it) caused it
	}
	wants := []want{
		{"spike", at(18), 0, 0, 0, 1},
		{"summary", at(24), 2, at(6), at(18), 2}, // before the record at exactly midnight
		{"summary", at(48), 2, at(24), at(36), 4},
		{"summary", at(72), 0, 0, 0, 4}, // a day without data still ticks
		{"spike", at(80), 0, 0, 0, 5},
		{"summary", at(96), 2, at(78), at(80), 6}, // the final tick, after the 6 records
	}
	if len(out.msgs) != len(wants) {
		t.Fatalf("got %d messages, want %d:\n%s", len(out.msgs), len(wants), out.jsonLines())
	}
	for i, w := range wants {
		m := out.msgs[i]
		if m.Type != w.typ || m.Timestamp != w.ts {
			t.Errorf("message %d: %s at %s, want %s at %s", i, m.Type, time.Unix(0, m.Timestamp).UTC(), w.typ, time.Unix(0, w.ts).UTC())
			continue
		}
		if out.subjects[i] != "summaries" || out.records[i] != w.record {
			t.Errorf("message %d on %q, caused by record %d; want summaries, %d", i, out.subjects[i], out.records[i], w.record)
		}
		if w.typ == "summary" {
			if got := fieldInt(t, m, "tick"); got != w.ts {
				t.Errorf("message %d: timer_event(%d), want %d", i, got, w.ts)
			}
			got := [3]int64{fieldInt(t, m, "count"), fieldInt(t, m, "first"), fieldInt(t, m, "last")}
			if got != [3]int64{w.count, w.first, w.last} {
				t.Errorf("summary at %s: count, first, last = %v, want %v", time.Unix(0, w.ts).UTC(), got, [3]int64{w.count, w.first, w.last})
			}
		}
	}
	if stats.Records != 6 || stats.Written != 6 || stats.Ticks != 4 {
		t.Errorf("stats: %d records, %d written, %d ticks; want 6, 6, 4", stats.Records, stats.Written, stats.Ticks)
	}
	if len(stats.Filters) != 1 || stats.Filters[0].Received != 6 || stats.Filters[0].Out != 6 || stats.Filters[0].Errors != 0 {
		t.Errorf("filter stats: %+v", stats.Filters)
	}
}

// The same points as line protocol, JSON lines and CSV (with an empty cell,
// epoch and layout times, auto-detected or named) give the same output.
func TestReplayFormats(t *testing.T) {
	base := time.Date(2024, 2, 29, 23, 0, 0, 0, time.UTC)
	values := []float64{1.5, -2, 0, 1e6, 3.25}
	var lp, js, csvLayout, csvEpoch strings.Builder
	csvLayout.WriteString("when,value,empty\n")
	csvEpoch.WriteString("value,timestamp\n")
	for i, v := range values {
		ts := base.Add(time.Duration(i) * 90 * time.Minute)
		fmt.Fprintf(&lp, "cpu value=%g %d\n", v, ts.UnixNano())
		fmt.Fprintf(&js, `{"type":"metric","timestamp":%q,"fields":[{"name":"name","role":"measurement","type":"string","value":"cpu"},{"name":"value","type":"float","value":%g}]}`+"\n",
			ts.Format(time.RFC3339Nano), v)
		fmt.Fprintf(&csvLayout, "%s,%g,\n", ts.Format("2006-01-02 15:04:05"), v)
		fmt.Fprintf(&csvEpoch, "%g,%d\n", v, ts.UnixMilli())
	}
	csvLayout.WriteString(base.Add(24*time.Hour).Format("2006-01-02 15:04:05") + ",,\n") // no value: skipped, counted
	cases := []struct {
		name, file, content string
		opts                pipeline.RecordOptions
		format              string
	}{
		{"line protocol", "points.lp", lp.String(), pipeline.RecordOptions{}, "influx"},
		{"line protocol by content", "points.txt", "# recorded\n" + lp.String(), pipeline.RecordOptions{}, "influx"},
		{"json lines", "points.jsonl", js.String(), pipeline.RecordOptions{}, "json"},
		{"json by content", "points", js.String(), pipeline.RecordOptions{}, "json"},
		{"csv with a layout", "cpu.csv", csvLayout.String(), pipeline.RecordOptions{TimeColumn: "when", TimeLayout: "2006-01-02 15:04:05"}, "csv"},
		{"csv with the default layout", "cpu.csv", csvLayout.String(), pipeline.RecordOptions{TimeColumn: "when"}, "csv"},
		{"csv with epoch ms, named", "data.txt", csvEpoch.String(), pipeline.RecordOptions{Format: "csv", TimeLayout: "ms", Measurement: "cpu"}, "csv"},
	}
	var first string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := replayConfig(t, [5]string{"echo", "echo.lua", `["metrics.cpu"]`, "seen", ""})
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := pipeline.OpenRecords(path, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if src.Format() != tc.format {
				t.Errorf("format %s, want %s", src.Format(), tc.format)
			}
			out := &collected{}
			stats, err := pipeline.Replay(context.Background(), cfg, src, out, pipeline.ReplayOptions{Log: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.msgs) != len(values) || stats.Records != uint64(len(values)) {
				t.Fatalf("%d records, %d messages out; want %d:\n%s", stats.Records, len(out.msgs), len(values), out.jsonLines())
			}
			for i, m := range out.msgs {
				want := base.Add(time.Duration(i) * 90 * time.Minute).UnixNano()
				if f := m.Field("value"); m.Timestamp != want || f == nil || f.Float != values[i] || m.Field("series").Str != "cpu" {
					t.Errorf("message %d: %s", i, pipeline.AppendJSON(nil, m))
				}
			}
			if tc.file == "cpu.csv" && src.Skipped() != 1 {
				t.Errorf("skipped %d rows, want the one without a value", src.Skipped())
			}
			if first == "" {
				first = out.jsonLines()
			} else if got := out.jsonLines(); got != first {
				t.Errorf("output differs from the line protocol's:\n%s\nwant\n%s", got, first)
			}
		})
	}
}

// Two filters in a chain, the second hearing both the records and the
// first's output, over more records than one chunk: the output is the same
// in two runs, and the second filter handles each record before what the
// first emitted because of it, and that before the next record.
func TestReplayIsDeterministic(t *testing.T) {
	var lp strings.Builder
	base := time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC)
	const n = 9000
	for i := range n {
		fmt.Fprintf(&lp, "x value=%d %d\n", i, base.Add(time.Duration(i)*time.Second).UnixNano())
	}
	run := func() (*collected, *pipeline.ReplayStats) {
		cfg := replayConfig(t,
			[5]string{"double", "double.lua", `["metrics.x"]`, "derived", ""},
			[5]string{"order", "order.lua", `["metrics.x", "derived"]`, "ordered", "1h"})
		out, stats, err := replayFile(t, cfg, "x.lp", lp.String(), pipeline.RecordOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return out, stats
	}
	a, stats := run()
	b, _ := run()
	if a.jsonLines() != b.jsonLines() {
		t.Fatal("two replays of the same records differ")
	}
	derived := n + n/3
	if want := uint64(derived + n + derived + 3); stats.Written != want { // + 2 hourly ticks and the final one
		t.Fatalf("wrote %d messages, want %d", stats.Written, want)
	}
	// The order filter's view, from its payloads.
	var seen []string
	for _, m := range a.msgs {
		if m.Type == "txt" {
			seen = append(seen, string(m.Payload))
		}
	}
	var want []string
	k := 0
	for i := range n {
		if i > 0 && i%3600 == 0 {
			want = append(want, fmt.Sprintf("tick %d after %d", base.Add(time.Duration(i)*time.Second).UnixNano(), k))
		}
		k++
		want = append(want, fmt.Sprintf("%d metric %d", k, i))
		k++
		want = append(want, fmt.Sprintf("%d derived %d", k, 2*i))
		if (i+1)%3 == 0 {
			k++
			want = append(want, fmt.Sprintf("%d derived %d", k, -i))
		}
	}
	want = append(want, fmt.Sprintf("tick %d after %d", base.Add(3*time.Hour).UnixNano(), k))
	if len(seen) != len(want) {
		t.Fatalf("the order filter said %d things, want %d", len(seen), len(want))
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("line %d: %q, want %q (before it: %q)", i, seen[i], want[i], seen[max(0, i-3):i])
		}
	}
}

// A filter that passes records on, some with a tag added (sent by copying
// the record it was handed, pipeline.Extender), replays the same twice, with
// the records' own headers and the tag where the script wrote it.
func TestReplayPassOn(t *testing.T) {
	var lp strings.Builder
	base := time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC)
	const n = 1000
	for i := range n {
		fmt.Fprintf(&lp, "x,host=h value=%di %d\n", i, base.Add(time.Duration(i)*time.Second).UnixNano())
	}
	run := func() *collected {
		cfg := replayConfig(t, [5]string{"tag", "tag.lua", `["metrics.x"]`, "tagged", ""})
		out, _, err := replayFile(t, cfg, "x.lp", lp.String(), pipeline.RecordOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := run(), run()
	if a.jsonLines() != b.jsonLines() {
		t.Fatal("two replays of the same records differ")
	}
	var got []*pipeline.Message
	for i, m := range a.msgs {
		if a.subjects[i] == "tagged" {
			got = append(got, m)
		}
	}
	if len(got) != n {
		t.Fatalf("%d messages passed on, want %d", len(got), n)
	}
	for i, m := range got {
		tag := m.Field("parity")
		if fieldInt(t, m, "value") != int64(i) || m.Timestamp != base.Add(time.Duration(i)*time.Second).UnixNano() ||
			m.Field("host") == nil || (tag != nil) != (i%2 == 0) || (tag != nil && (tag.Str != "even" || tag.Role != pipeline.RoleTag)) {
			t.Fatalf("message %d: %s", i, pipeline.AppendJSON(nil, m))
		}
	}
}

// Bad records stop the replay with an error that names the file and line.
func TestReplayBadInputNamesFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		file, content string
		opts          pipeline.RecordOptions
		want          string
	}{
		{"a.lp", "m value=1 1000000000\n\nm value= 2000000000\n", pipeline.RecordOptions{}, "a.lp:3: "},
		{"b.lp", "# comment\nm value=1\n", pipeline.RecordOptions{}, "b.lp:2: the record has no timestamp"},
		{"c.jsonl", `{"timestamp":1,"type":"x"}` + "\n" + `{"timestamp":2,"type":"x","bogus":1}` + "\n", pipeline.RecordOptions{}, `c.jsonl:2: `},
		{"d.jsonl", `{"type":"x"}` + "\n", pipeline.RecordOptions{}, "d.jsonl:1: the record has no timestamp"},
		{"e.csv", "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,abc\n", pipeline.RecordOptions{}, `e.csv:3: column "value": "abc" is not a number`},
		{"f.csv", "timestamp,value\n2020-01-01 00:00:00,1\nyesterday,2\n", pipeline.RecordOptions{}, `f.csv:3: column "timestamp": "yesterday" is not a time`},
		{"g.csv", "time,value\n1,2\n", pipeline.RecordOptions{}, `g.csv:1: no column "timestamp" in the header`},
		{"h.csv", "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,1,2\n", pipeline.RecordOptions{}, "h.csv:3: wrong number of fields"},
		{"i.csv", "timestamp,value\n1577836800,1\n1577836800x,2\n", pipeline.RecordOptions{TimeLayout: "s"}, `i.csv:3: column "timestamp": "1577836800x" is not a time in s since the Unix epoch`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			cfg := replayConfig(t, [5]string{"echo", "echo.lua", `["metrics.cpu"]`, "seen", ""})
			_, _, err := replayFile(t, cfg, tc.file, tc.content, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The records' subject: the filters' one input subject, or given; an error
// that says what to do when there is no single literal one.
func TestReplaySubjects(t *testing.T) {
	for _, tc := range []struct {
		subscribe [2]string
		want      string
		err       bool
	}{
		{[2]string{`["metrics.a"]`, `["out1"]`}, "metrics.a", false},                   // the second hears the first
		{[2]string{`["metrics.a", "out2"]`, `["out1"]`}, "metrics.a", false},           // and the first the second
		{[2]string{`["metrics.a"]`, `["metrics.b"]`}, "subscribe to 2 subjects", true}, // two inputs
		{[2]string{`["metrics.>"]`, `["out1"]`}, "a wildcard", true},                   // no literal one
		{[2]string{`["out2"]`, `["out1"]`}, "published by one of them", true},          // a cycle: nothing from outside
	} {
		cfg := replayConfig(t,
			[5]string{"one", "echo.lua", tc.subscribe[0], "out1", ""},
			[5]string{"two", "echo.lua", tc.subscribe[1], "out2", ""})
		got, err := pipeline.ReplaySubjects(cfg)
		if err != nil {
			got = err.Error()
		}
		if (err != nil) != tc.err || !strings.Contains(got, tc.want) {
			t.Errorf("subscribe %v: %q (error: %v), want %q", tc.subscribe, got, err != nil, tc.want)
		}
	}
	// Given subjects reach the filter, each record on each.
	cfg := replayConfig(t, [5]string{"echo", "echo.lua", `["metrics.>"]`, "seen", ""})
	src, err := pipeline.NewRecordReader(bytes.NewReader([]byte("cpu value=1 1000000000\n")), "p.lp", pipeline.RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := &collected{}
	if _, err := pipeline.Replay(context.Background(), cfg, src, out, pipeline.ReplayOptions{Subjects: []string{"metrics.a", "metrics.b"}, Log: quietLog()}); err != nil {
		t.Fatal(err)
	}
	if len(out.msgs) != 2 {
		t.Errorf("%d messages, want one per subject:\n%s", len(out.msgs), out.jsonLines())
	}
}

// The config's inputs and outputs are not run, its NATS server is not
// used, and preserve_data writes nothing under its data_dir.
func TestReplayRunsOnlyTheFilters(t *testing.T) {
	dir := t.TempDir()
	var lp strings.Builder
	for i := range 3 {
		fmt.Fprintf(&lp, "cpu value=%d %d\n", i, time.Date(2020, 1, 1, 0, i, 0, 0, time.UTC).UnixNano())
	}
	records := filepath.Join(dir, "in.lp")
	if err := os.WriteFile(records, []byte(lp.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "replay", "echo.lua"))
	written := filepath.Join(dir, "out", "written.jsonl")
	cfg, err := pipeline.ParseConfig("p.toml", fmt.Sprintf(`
[agent]
data_dir = %q
[nats]
url = "nats://127.0.0.1:1"
[[inputs.file]]
publish = "metrics.cpu"
path = %q
decoder = "influx"
[[filters.lua]]
name = "echo"
subscribe = ["metrics.cpu"]
publish = "seen"
script = %q
module_path = []
preserve_data = true
[[outputs.file]]
subscribe = ["seen"]
path = %q
`, filepath.Join(dir, "var"), records, script, written))
	if err != nil {
		t.Fatal(err)
	}
	src, err := pipeline.OpenRecords(records, pipeline.RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := &collected{}
	stats, err := pipeline.Replay(context.Background(), cfg, src, out, pipeline.ReplayOptions{Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.msgs) != 3 || stats.Filters[0].Received != 3 {
		t.Errorf("%d messages out, %d received; want 3 each (the records, not the input's copy too)", len(out.msgs), stats.Filters[0].Received)
	}
	if _, err := os.Stat(written); !os.IsNotExist(err) {
		t.Errorf("the output was initialised: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "var")); !os.IsNotExist(err) {
		t.Errorf("data_dir was written to: %v", err)
	}
}
