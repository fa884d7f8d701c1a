package pipeline

import "time"

// SetDurableAckWait shortens the ack wait of consumers created from now on.
func SetDurableAckWait(d time.Duration) (restore func()) {
	old := durableAckWait
	durableAckWait = d
	return func() { durableAckWait = old }
}
