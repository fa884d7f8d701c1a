package pipeline

import "time"

// SetDurableAckWait shortens the ack wait of consumers created from now on.
func SetDurableAckWait(d time.Duration) (restore func()) {
	old := durableAckWait
	durableAckWait = d
	return func() { durableAckWait = old }
}

// SetDrainRetryGrace shortens how long a failing output is retried at
// shutdown.
func SetDrainRetryGrace(d time.Duration) (restore func()) {
	old := drainRetryGrace
	drainRetryGrace = d
	return func() { drainRetryGrace = old }
}
