package sandbox

import (
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	lua "github.com/yuin/gopher-lua"
)

// A filter of the usual shape: reads two fields, keeps a sum, injects one
// metric every 100 messages.
const benchScript = `
local n, sum = 0, 0
function process_message()
  local v = read_message("Fields[value]")
  local status = read_message("Fields[status]")
  n = n + 1
  sum = sum + v
  if n % 100 == 0 then
    inject_message{Type = "metric", Fields = {name = "avg_value", value = sum / 100}, Tags = {status = status}}
    sum = 0
  end
  return 0
end`

func BenchmarkProcessMessage(b *testing.B) {
	injected := 0
	s, err := New(Options{Name: "bench", Source: benchScript, Log: slog.New(slog.DiscardHandler),
		Inject: func(*pipeline.Message) error { injected++; return nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := &pipeline.Message{Type: "log", Timestamp: time.Now().UnixNano()}
	m.AddFloat("value", 12.5)
	m.AddString("status", "200")
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := s.ProcessMessage(m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if injected != b.N/100 {
		b.Fatalf("injected %d, want %d", injected, b.N/100)
	}
}

// The cost of the per-instruction stop check: the same loop in a sandbox
// and in a plain gopher-lua state.
const loopScript = `function process_message() local x = 0 for i = 1, 1000 do x = x + i end return 0 end`

func BenchmarkLoop1000(b *testing.B) {
	s, err := New(Options{Source: loopScript})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := &pipeline.Message{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.ProcessMessage(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoop1000PlainGopherLua(b *testing.B) {
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(loopScript); err != nil {
		b.Fatal(err)
	}
	fn := L.GetGlobal("process_message")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		L.Push(fn)
		if err := L.PCall(0, 1, nil); err != nil {
			b.Fatal(err)
		}
		L.Pop(1)
	}
}

// BenchmarkIdleSandbox reports the heap an idle sandbox holds, from the Go
// heap before and after creating 100 of them with a small filter.
func BenchmarkIdleSandbox(b *testing.B) {
	data, err := os.ReadFile("testdata/counter.lua")
	if err != nil {
		b.Fatal(err)
	}
	src := string(data)
	const n = 100
	var perSandbox, estimate float64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		boxes := make([]*Sandbox, n)
		for j := range boxes {
			if boxes[j], err = New(Options{Source: src}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSandbox = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		estimate = float64(boxes[0].Usage().MemoryBytes)
		for _, s := range boxes {
			s.Close()
		}
	}
	b.ReportMetric(perSandbox, "heap-bytes/sandbox")
	b.ReportMetric(estimate, "estimate-bytes/sandbox")
}

// The fixed cost of a call: an empty process_message.
func BenchmarkEmptyCall(b *testing.B) {
	s, err := New(Options{Source: `function process_message() end`})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := &pipeline.Message{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.ProcessMessage(m); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCalls runs src's process_message over m b.N times and reports
// messages per second; every call must inject want messages per call.
func benchCalls(b *testing.B, src string, m *pipeline.Message, want float64) {
	b.Helper()
	injected := 0
	s, err := New(Options{Name: "bench", Source: src, Log: slog.New(slog.DiscardHandler),
		Inject: func(*pipeline.Message) error { injected++; return nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := s.ProcessMessage(m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if float64(injected) != want*float64(b.N) {
		b.Fatalf("injected %d, want %v a call", injected, want)
	}
}

// benchLine is a raw line as inputs.tcp without a decoder sends it.
func benchLine() *pipeline.Message {
	return &pipeline.Message{Type: "log", Timestamp: time.Now().UnixNano(), Logger: "tcp", Hostname: "edge-1",
		Severity: 6, Payload: []byte("cpu,host=edge-0001,cpu=cpu0 user=12.5,system=3.25,idle=84.25 1700000000000000000 and some")}
}

// benchMetric is a parsed line protocol point, as the influx decoder makes it.
func benchMetric() *pipeline.Message {
	m := &pipeline.Message{Type: pipeline.MetricType, Timestamp: time.Now().UnixNano(), Logger: "tcp", Hostname: "edge-1", Severity: 6}
	m.Fields = append(m.Fields,
		pipeline.Field{Name: pipeline.MeasurementField, Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "cpu"},
		pipeline.Field{Name: "cpu", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "cpu0"},
		pipeline.Field{Name: "host", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "edge-0001"},
		pipeline.Field{Name: "idle", Kind: pipeline.KindFloat, Float: 84.25},
		pipeline.Field{Name: "system", Kind: pipeline.KindFloat, Float: 3.25},
		pipeline.Field{Name: "user", Kind: pipeline.KindFloat, Float: 12.5})
	return m
}

// A raw line with one field added, passed on: the 1:1 transform.
func BenchmarkAddFieldPassOn(b *testing.B) {
	benchCalls(b, `function process_message()
  write_message("Fields[env]", "prod")
  inject_message()
end`, benchLine(), 1)
}

// The same, the old way: a new message built from a table.
func BenchmarkAddFieldInjectTable(b *testing.B) {
	benchCalls(b, `function process_message()
  inject_message{Type = read_message("Type"), Payload = read_message("Payload"), Fields = {env = "prod"}}
end`, benchLine(), 1)
}

// A metric: read two values, add a tag, pass it on.
func BenchmarkMetricTagPassOn(b *testing.B) {
	benchCalls(b, `function process_message()
  local user, system = read_message("Fields[user]", "Fields[system]")
  if user + system > 90 then write_message("Tags[busy]", "yes") else write_message("Tags[busy]", "no") end
  inject_message()
end`, benchMetric(), 1)
}

// The same, the old way: the metric rebuilt from a table.
func BenchmarkMetricTagInjectTable(b *testing.B) {
	benchCalls(b, `function process_message()
  local user = read_message("Fields[user]")
  local system = read_message("Fields[system]")
  local busy = "no"
  if user + system > 90 then busy = "yes" end
  inject_message{Type = "metric", Timestamp = read_message("Timestamp"),
    Tags = {cpu = read_message("Fields[cpu]"), host = read_message("Fields[host]"), busy = busy},
    Fields = {name = read_message("Fields[name]"), user = user, system = system, idle = read_message("Fields[idle]")}}
end`, benchMetric(), 1)
}

// The cost of one API call, for the README's table: each script makes
// the call once per process_message; compare with BenchmarkEmptyCall.
func BenchmarkCallReadField(b *testing.B) {
	benchCalls(b, `function process_message() local v = read_message("Fields[user]") end`, benchMetric(), 0)
}

func BenchmarkCallReadTwoFields(b *testing.B) {
	benchCalls(b, `function process_message() local u, s = read_message("Fields[user]", "Fields[system]") end`, benchMetric(), 0)
}

func BenchmarkCallReadFieldTwice(b *testing.B) {
	benchCalls(b, `function process_message() local u = read_message("Fields[user]") local s = read_message("Fields[system]") end`, benchMetric(), 0)
}

func BenchmarkCallWriteNewField(b *testing.B) {
	benchCalls(b, `function process_message() write_message("Fields[env]", "prod") end`, benchMetric(), 0)
}

func BenchmarkCallWriteExistingField(b *testing.B) {
	benchCalls(b, `function process_message() write_message("Fields[user]", 1.5) end`, benchMetric(), 0)
}

func BenchmarkCallWriteTag(b *testing.B) {
	benchCalls(b, `function process_message() write_message("Tags[env]", "prod") end`, benchMetric(), 0)
}

func BenchmarkCallPassOn(b *testing.B) {
	benchCalls(b, `function process_message() inject_message() end`, benchMetric(), 1)
}

// The pass-on transforms of above, a batch of 100 messages a call to
// ProcessMessages, as filters.lua runs them: decoded from a frame (in Alias
// mode, as the runtime decodes for a Lua filter) and what the script
// injects encoded into the next frame. Sub-benchmark "record" passes
// messages on as filters.lua does (Options.PassOn, the record copied);
// "encode" encodes every message passed on in full, as without PassOn.
func benchBatch(b *testing.B, src string, m *pipeline.Message) {
	var in pipeline.BatchEncoder
	for range 100 {
		in.Add(m)
	}
	frame := in.Bytes()
	for _, mode := range []string{"record", "encode"} {
		b.Run(mode, func(b *testing.B) {
			var enc pipeline.BatchEncoder
			opts := Options{Name: "bench", Source: src, Log: slog.New(slog.DiscardHandler),
				Inject: func(m *pipeline.Message) error { enc.Add(m); return nil }}
			if mode == "record" {
				opts.PassOn = func(base *pipeline.Message, extra []pipeline.Field) error {
					enc.AddExtended(base, extra)
					return nil
				}
			}
			s, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			dec := pipeline.BatchDecoder{Alias: true}
			var results []Result
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i += 100 {
				msgs, err := dec.Decode(frame)
				if err != nil {
					b.Fatal(err)
				}
				enc.Reset()
				if results, err = s.ProcessMessages(msgs, results[:0]); err != nil || len(results) != len(msgs) {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

func BenchmarkBatchEmptyCall(b *testing.B) {
	benchBatch(b, `function process_message() end`, benchMetric())
}

func BenchmarkBatchAddFieldPassOn(b *testing.B) {
	benchBatch(b, `function process_message() write_message("Fields[env]", "prod") inject_message() end`, benchLine())
}

func BenchmarkBatchMetricTagPassOn(b *testing.B) {
	benchBatch(b, `function process_message()
  local user, system = read_message("Fields[user]", "Fields[system]")
  if user + system > 90 then write_message("Tags[busy]", "yes") else write_message("Tags[busy]", "no") end
  inject_message()
end`, benchMetric())
}
