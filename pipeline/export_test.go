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

// SaveConsumerRestart saves what a restart of the durable consumer of pc's
// subscription to subject saves before it deletes the consumer.
func SaveConsumerRestart(dataDir string, pc *PluginConfig, subject, stream string, startSeq, delivered uint64) error {
	path := dedupPath(dataDir, durableConsumerName(pc, subject), ".restart")
	return saveConsumerRestart(path, consumerRestart{Stream: stream, StartSeq: startSeq, Delivered: delivered})
}

// Draining reports whether the pipeline has begun its drain.
func (rt *Runtime) Draining() bool { return rt.draining.Load() }

// FencesSent reports how many fences the bus has sent (see Bus.fence).
func (rt *Runtime) FencesSent() uint64 { return rt.bus.fencesSent.Load() }
