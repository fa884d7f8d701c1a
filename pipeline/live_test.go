package pipeline

import "testing"

// When the pipeline ends: the last live input finishing on its own ends
// it, at once or when the hold over it (Run's start, a reload) is
// released; an input stopped by a reload never does.
func TestLiveInputs(t *testing.T) {
	type step struct {
		op   string // add, own (finished on its own), stop, hold, release
		want bool   // what leave or release reports
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"the last one finishes", []step{{"add", false}, {"add", false}, {"own", false}, {"own", true}}},
		{"the last one is stopped", []step{{"add", false}, {"stop", false}}},
		{"one ends during a hold", []step{{"hold", false}, {"add", false}, {"own", false}, {"release", true}}},
		{"one ends, another starts, during a hold", []step{{"hold", false}, {"add", false}, {"own", false}, {"add", false}, {"release", false}, {"own", true}}},
		{"a reload stops the one left", []step{{"add", false}, {"add", false}, {"hold", false}, {"own", false}, {"stop", false}, {"release", false}}},
		{"a reload replaces the one left", []step{{"add", false}, {"hold", false}, {"stop", false}, {"add", false}, {"release", false}, {"own", true}}},
		{"nested holds", []step{{"hold", false}, {"hold", false}, {"add", false}, {"own", false}, {"release", false}, {"release", true}}},
		{"no input at all", []step{{"hold", false}, {"release", false}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var l liveInputs
			for i, s := range c.steps {
				var got bool
				switch s.op {
				case "add":
					l.add()
				case "own":
					got = l.leave(true)
				case "stop":
					got = l.leave(false)
				case "hold":
					l.hold()
				case "release":
					got = l.release()
				}
				if got != s.want {
					t.Fatalf("step %d (%s): %v, want %v", i, s.op, got, s.want)
				}
			}
		})
	}
}
