package anomaly_test

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/sandbox"
	_ "github.com/interoceptor/interoceptor/sandbox/modules/anomaly"
)

// newSandbox runs src in a sandbox; what it injects is collected.
func newSandbox(t *testing.T, src string) (*sandbox.Sandbox, *[]*pipeline.Message) {
	t.Helper()
	var got []*pipeline.Message
	s, err := sandbox.New(sandbox.Options{Name: "test", Script: "test.lua", Source: src, Log: slog.New(slog.DiscardHandler),
		Inject: func(m *pipeline.Message) error { got = append(got, m.Clone()); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, &got
}

func metric(t *testing.T, line string) *pipeline.Message {
	t.Helper()
	m := &pipeline.Message{Type: "metric"}
	if err := pipeline.ParseLineProtocol([]byte(line), m); err != nil {
		t.Fatal(err)
	}
	return m
}

// A detector from Lua: add(ts, value) returns the score and, at a spike, the
// event with its levels.
func TestDetectorFromLua(t *testing.T) {
	s, got := newSandbox(t, `
local anomaly = require "anomaly"
local d = anomaly.new{threshold = 0.9}
function process_message()
  local v = read_message("Fields[v]")
  local score, ev = d:add(read_message("Timestamp"), v)
  assert(type(score) == "number" and score >= 0 and score <= 1)
  if ev then
    inject_message{Type = "ev", Payload = ev.kind .. " " .. ev.direction .. " " .. tostring(ev.change_point),
      Fields = {before = ev.before, after = ev.after, at = ev.time, count = d:count()}}
  end
end`)
	for i := range 300 {
		v := 10.0 + float64(i%3)*0.1
		if i == 250 {
			v = 50
		}
		m := &pipeline.Message{Timestamp: int64(i) * 1e9}
		m.AddFloat("v", v)
		if _, err := s.ProcessMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	if len(*got) != 1 {
		t.Fatalf("%d events, want one", len(*got))
	}
	m := (*got)[0]
	if string(m.Payload) != "new_high up false" || m.Field("at").Int != 250e9 || m.Field("after").Float != 50 || m.Field("count").Float != 251 {
		t.Errorf("event %s %v", m.Payload, m.Fields)
	}
}

// A set keeps a detector per series, read from the message in Go, and
// gives the event its series; the options are checked at load.
func TestSetFromLua(t *testing.T) {
	s, got := newSandbox(t, `
local anomaly = require "anomaly"
set = anomaly.set{field = "usage", tags = {"host"}, max_series = 2}
function process_message()
  local score, ev = set:process()
  if score == nil and ev then return -1, ev end
  if ev then
    inject_message{Type = "ev", Payload = ev.key .. " " .. ev.series .. " " .. ev.tags.host .. " " .. ev.kind}
  end
end
function timer_event()
  inject_message{Type = "stats", Fields = {len = set:len(), ignored = set:ignored(), max = set:max_series()}}
end`)
	for i := range 300 {
		for _, host := range []string{"a", "b", "c"} {
			v := 10 + float64(i%2)
			if i == 200 && host == "b" {
				v = 90
			}
			m := metric(t, "cpu,host="+host+",other=x usage="+strconv.FormatFloat(v, 'g', -1, 64)+" "+itoa(int64(i)*1e9))
			if _, err := s.ProcessMessage(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if status, err := s.ProcessMessage(metric(t, `cpu,host=a usage="x" 1`)); status != -1 || err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("a string field: %d, %v", status, err)
	}
	if err := s.TimerEvent(0); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 2 || string((*got)[0].Payload) != "cpu,host=b cpu b new_high" {
		for _, m := range *got {
			t.Logf("%s %v", m.Payload, m.Fields)
		}
		t.Fatalf("want the spike of host b, then the stats")
	}
	st := (*got)[1]
	if st.Field("len").Float != 2 || st.Field("ignored").Float != 300 || st.Field("max").Float != 2 {
		t.Errorf("stats %v: want 2 series, the 300 points of the third ignored", st.Fields)
	}
	for _, bad := range []string{`anomaly.set{}`, `anomaly.set{field = "x", bins = 20}`, `anomaly.set{field = "x", nope = 1}`,
		`anomaly.new{field = "x"}`, `anomaly.set{field = "x", tags = "host"}`} {
		if _, err := sandbox.New(sandbox.Options{Source: `local anomaly = require "anomaly" ` + bad}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// preserve_data: a set is saved with what its detectors learned and
// restored as it was: the same point gets the same score after.
func TestSetIsPreserved(t *testing.T) {
	src := `
local anomaly = require "anomaly"
set = set or anomaly.set{field = "usage"}
function process_message()
  local score, ev = set:process()
  inject_message{Type = "score", Fields = {score = score}}
end`
	feed := func(s *sandbox.Sandbox, from, to int) {
		for i := from; i < to; i++ {
			v := float64(i % 7)
			if i == 400 {
				v = 100
			}
			if _, err := s.ProcessMessage(metric(t, "cpu,host=a usage="+strconv.FormatFloat(v, 'g', -1, 64)+" "+itoa(int64(i)*1e9))); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, gotA := newSandbox(t, src)
	feed(a, 0, 390)
	data, err := a.Preserve()
	if err != nil {
		t.Fatal(err)
	}
	b, gotB := newSandbox(t, src)
	if ok, reason, err := b.Restore(data); err != nil || !ok {
		t.Fatalf("restore: %v %s", err, reason)
	}
	feed(a, 390, 410)
	feed(b, 390, 410)
	sa, sb := (*gotA)[390:], *gotB
	for i := range sb {
		if sa[i].Field("score").Float != sb[i].Field("score").Float {
			t.Fatalf("point %d: score %v before the save, %v after the restore", 390+i, sa[i].Field("score"), sb[i].Field("score"))
		}
	}
	if sb[10].Field("score").Float < 0.9 {
		t.Errorf("the restored set scored the spike %v", sb[10].Field("score"))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
