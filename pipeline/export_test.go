package pipeline

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SetDurableAckWait shortens the ack wait of consumers created from now on.
func SetDurableAckWait(d time.Duration) (restore func()) {
	old := durableAckWait
	durableAckWait = d
	return func() { durableAckWait = old }
}

// FailConsumerReset makes every consumer reset fail with err, as on a
// nats-server before 2.14, which has none.
func FailConsumerReset(err error) (restore func()) {
	old := resetConsumer
	resetConsumer = func(context.Context, jetstream.JetStream, string, string) error { return err }
	return func() { resetConsumer = old }
}

// SetDrainRetryGrace shortens how long a failing output is retried at
// shutdown.
func SetDrainRetryGrace(d time.Duration) (restore func()) {
	old := drainRetryGrace
	drainRetryGrace = d
	return func() { drainRetryGrace = old }
}

// SaveConsumerRestart saves what an earlier version's restart of the
// durable consumer of pc's subscription to subject saved before it deleted
// the consumer (see consumerRestart), as it did: synced, by a rename.
func SaveConsumerRestart(dataDir string, pc *PluginConfig, subject, stream string, startSeq, delivered uint64) error {
	path := dedupPath(dataDir, durableConsumerName(pc, subject), ".restart")
	b, err := json.Marshal(consumerRestart{Stream: stream, StartSeq: startSeq, Delivered: delivered})
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(b, '\n'))
}

// Draining reports whether the pipeline has begun its drain.
func (rt *Runtime) Draining() bool { return rt.draining.Load() }

// FencesSent reports how many fences the bus has sent (see Bus.fence).
func (rt *Runtime) FencesSent() uint64 { return rt.bus.fencesSent.Load() }
