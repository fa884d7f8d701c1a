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
