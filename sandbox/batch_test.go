package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// batchOf makes n log messages; those at the positions in bad have Type
// "bad".
func batchOf(n int, bad ...int) []*pipeline.Message {
	msgs := make([]*pipeline.Message, n)
	for i := range msgs {
		msgs[i] = &pipeline.Message{Type: "ok", Payload: []byte(fmt.Sprint(i))}
	}
	for _, i := range bad {
		msgs[i].Type = "bad"
	}
	return msgs
}

// A batch gives each message what ProcessMessage gives it, and counts
// every call.
func TestProcessMessagesLikeOneByOne(t *testing.T) {
	const src = `function process_message()
  local p = tonumber(read_message("Payload"))
  if p % 5 == 1 then return -2 end
  if p % 5 == 2 then return -1, "two" end
  if p % 5 == 3 then error("three") end
  write_message("Fields[n]", p)
  inject_message()
  if p % 5 == 4 then return "four" end
end`
	one, c1 := newSandbox(t, src)
	batch, c2 := newSandbox(t, src)
	msgs := batchOf(23)
	results, err := batch.ProcessMessages(msgs, nil)
	if err != nil || len(results) != len(msgs) {
		t.Fatalf("%d results, err %v", len(results), err)
	}
	for i, m := range msgs {
		status, err := one.ProcessMessage(m)
		r := results[i]
		if r.Status != status || fmt.Sprint(r.Err) != fmt.Sprint(err) {
			t.Errorf("message %d: batch %d, %v; one by one %d, %v", i, r.Status, r.Err, status, err)
		}
	}
	if len(c1.msgs) != len(c2.msgs) {
		t.Fatalf("injected %d one by one, %d in a batch", len(c1.msgs), len(c2.msgs))
	}
	for i := range c1.msgs {
		if !c1.msgs[i].Equal(c2.msgs[i]) {
			t.Errorf("inject %d differs: %+v, %+v", i, c1.msgs[i], c2.msgs[i])
		}
	}
	if u := batch.Usage(); u.Calls != uint64(len(msgs)) {
		t.Errorf("Calls = %d, want %d", u.Calls, len(msgs))
	}
}

// A limit broken at one message of a batch stops the sandbox there: the
// messages before it are done, that one gets the *TerminatedError, the
// rest are not processed; every later call gets the same error.
func TestProcessMessagesLimits(t *testing.T) {
	for _, tc := range []struct {
		name, body, reason string
	}{
		{"infinite loop", "while true do end", ReasonTime},
		{"injects", `for i = 1, 100 do inject_message() end`, ReasonInjects},
		{"large message", `write_message("Payload", string.rep("x", 2000)) inject_message()`, ReasonOutput},
		{"recursion", "local function f() return 1 + f() end f()", ReasonMemory},
		{"tables forever", "local t = {} while true do t[#t+1] = {} end", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limits := testLimits
			if tc.reason != ReasonTime && tc.reason != "" {
				limits.CallTime = 0 // the default, far from this limit
			}
			s, c := newSandbox(t, `function process_message()
  if read_message("Type") == "bad" then `+tc.body+` end
  for i = 1, 9 do inject_message() end -- 9 of the 10 allowed a call: injects are counted per message
end`, func(o *Options) { o.Limits = limits })
			msgs := batchOf(50, 30)
			var results []Result
			var err error
			within(t, testLimits.CallTime+margin, func() { results, err = s.ProcessMessages(msgs, nil) })
			if err != nil || len(results) != 31 {
				t.Fatalf("%d results, err %v; want 31", len(results), err)
			}
			for i, r := range results[:30] {
				if r.Status != 0 || r.Err != nil {
					t.Fatalf("message %d: %d, %v", i, r.Status, r.Err)
				}
			}
			var te *TerminatedError
			if tc.reason == "" {
				te = wantTerminatedAny(t, results[30].Err, ReasonMemory, ReasonTime)
			} else {
				te = wantTerminated(t, results[30].Err, tc.reason)
			}
			if sent := len(c.msgs); sent < 30*9 || sent > 31*9+10 {
				t.Errorf("%d messages sent for 30 good ones", sent)
			}
			if u := s.Usage(); u.Calls != 31 {
				t.Errorf("Calls = %d, want 31", u.Calls)
			}
			if _, err := s.ProcessMessages(msgs[31:], nil); err != te {
				t.Errorf("next batch: %v, want the same *TerminatedError", err)
			}
		})
	}
}

// Each message of a batch is held to the time limit on its own: a batch
// of calls that each take a good part of it is not stopped.
func TestProcessMessagesTimeIsPerMessage(t *testing.T) {
	// 30 ms of the wall clock a call (charged that or less), 10 calls: 300 ms
	// in all, three times the limit.
	s, _ := newSandbox(t, `function process_message() local t0 = os.clock() while os.clock() - t0 < 0.03 do end end`, withLimits)
	results, err := s.ProcessMessages(batchOf(10), nil)
	if err != nil || len(results) != 10 {
		t.Fatalf("%d results, err %v", len(results), err)
	}
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("message %d: %v", i, r.Err)
		}
	}
	u := s.Usage()
	t.Logf("10 calls, %v charged in all, the longest %v", u.CallTime, u.MaxCallTime)
}

// A Lua error fails its message only; the batch goes on.
func TestProcessMessagesErrorsAreNotTerminations(t *testing.T) {
	s, _ := newSandbox(t, `function process_message() if read_message("Type") == "bad" then error("no") end end`)
	results, err := s.ProcessMessages(batchOf(10, 2, 7), nil)
	if err != nil || len(results) != 10 {
		t.Fatalf("%d results, err %v", len(results), err)
	}
	for i, r := range results {
		bad := i == 2 || i == 7
		var te *TerminatedError
		if errors.As(r.Err, &te) || bad != (r.Err != nil) || bad && !strings.Contains(r.Err.Error(), "no") {
			t.Errorf("message %d: %d, %v", i, r.Status, r.Err)
		}
	}
}
