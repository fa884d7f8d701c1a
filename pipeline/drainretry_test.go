package pipeline

import (
	"testing"
	"time"
)

// The drain's grace runs from the first failure since the last success: a
// success gives the next failure the whole grace again.
func TestDrainRetryStartsAgainAfterASuccess(t *testing.T) {
	var d drainRetry
	t0 := time.Unix(1700000000, 0)
	if d.failed(t0) || d.failed(t0.Add(drainRetryGrace/2)) {
		t.Fatal("gave up within the grace")
	}
	if !d.failed(t0.Add(drainRetryGrace + time.Millisecond)) {
		t.Fatal("still retrying past the grace")
	}
	d.ok()
	later := t0.Add(10 * drainRetryGrace)
	if d.failed(later) {
		t.Fatal("a failure after a success gave up at once: its grace ran from a failure before the success")
	}
	if !d.failed(later.Add(drainRetryGrace + time.Millisecond)) {
		t.Fatal("still retrying past the grace of the failure after the success")
	}
}
