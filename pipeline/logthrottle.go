package pipeline

import (
	"sync/atomic"
	"time"
)

// LogThrottle keeps a flood of bad input from becoming a flood of log lines:
// it allows one log line a second and counts the ones it held back. The zero
// value is ready to use and it is safe for concurrent use.
//
// It lives here rather than in package wire with the other helpers of
// inputs and outputs because the runtime uses it too (the runner, the
// JetStream store, the dedup journal), and wire imports pipeline.
type LogThrottle struct {
	next       atomic.Int64 // unix ns before which nothing is allowed
	suppressed atomic.Uint64
}

// Allow reports whether a log line may be written now and, if so, how many
// were held back since the last one allowed.
func (t *LogThrottle) Allow() (ok bool, suppressed uint64) {
	now := time.Now().UnixNano()
	next := t.next.Load()
	if now < next || !t.next.CompareAndSwap(next, now+int64(time.Second)) {
		t.suppressed.Add(1)
		return false, 0
	}
	return true, t.suppressed.Swap(0)
}
