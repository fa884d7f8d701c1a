package pipeline

import (
	"time"

	"github.com/nats-io/nats.go"
)

// writeResult is what became of a batch handed to write.
type writeResult int

const (
	writeOK      writeResult = iota // written
	writeDropped                    // dropped, counted
	writeHeld                       // durable: not written, left in the stream
)

// write hands a batch to the output, retrying what the output says is worth
// retrying. While draining, retries stop as drainRetry says, and the batch
// is counted as dropped. A durable batch (durable != nil) keeps its ack
// timer running while retried, and at shutdown is left in the stream at
// once.
func (r *runner) write(batch []*Message, durable *nats.Msg) writeResult {
	backoff := 100 * time.Millisecond
	for try := 0; ; try++ {
		// An output drops what it cannot write (a log message in line
		// protocol), counting it; the rest of the batch was written.
		droppedBefore := r.stats.Dropped.Load()
		err := r.output.Write(batch)
		if f, ok := r.output.(Flusher); ok && err == nil && durable != nil {
			// Acked and recorded only once written out, one batch at a
			// time: a crash can catch at most this one half written.
			err = f.Flush()
		}
		if err == nil {
			r.retry.ok()
			r.stats.Out.Add(uint64(len(batch)) - min(uint64(len(batch)), r.stats.Dropped.Load()-droppedBefore))
			return writeOK
		}
		r.stats.Errors.Add(1)
		if !IsRetryable(err) {
			r.stats.Dropped.Add(uint64(len(batch)))
			r.log.Error("write failed, batch dropped", "messages", len(batch), "err", err)
			return writeDropped
		}
		if durable != nil {
			if r.rt.draining.Load() {
				r.log.Warn("write failing at shutdown, batch left in the stream", "messages", len(batch), "err", err)
				return writeHeld
			}
			_ = durable.InProgress()
		}
		if r.rt.draining.Load() && r.retry.failed(time.Now()) {
			r.stats.Dropped.Add(uint64(len(batch)))
			if try > 0 { // the batch that waited out the grace
				r.log.Error("write still failing at shutdown, batch dropped", "messages", len(batch), "err", err)
			} else {
				r.warnf("write still failing at shutdown, batch dropped", "messages", len(batch), "err", err)
			}
			return writeDropped
		}
		r.warnf("write failed, retrying", "messages", len(batch), "backoff", backoff, "err", err)
		time.Sleep(r.retry.cap(backoff))
		backoff = min(backoff*2, 10*time.Second)
	}
}

// drainRetryGrace is how long a failing output (or durable publisher) is
// retried once the pipeline is stopping. A var for tests.
var drainRetryGrace = 10 * time.Second

// drainRetry bounds the retries of a failing output or durable publisher
// while the pipeline drains: drainRetryGrace from its first failure since
// it last succeeded. Past that each batch that fails is given up at its
// first try, so that one that stays down (a full disk) does not hold the
// shutdown for the grace once per batch; a success gives the next failure
// the whole grace again.
type drainRetry struct{ giveUp time.Time }

// failed records a failure while draining, at now, and reports whether the
// grace has run out.
func (d *drainRetry) failed(now time.Time) bool {
	if d.giveUp.IsZero() {
		d.giveUp = now.Add(drainRetryGrace)
		return false
	}
	return now.After(d.giveUp)
}

// ok records a success.
func (d *drainRetry) ok() { d.giveUp = time.Time{} }

// cap shortens a retry's wait so that it does not run past the grace.
func (d *drainRetry) cap(wait time.Duration) time.Duration {
	if d.giveUp.IsZero() {
		return wait
	}
	return max(0, min(wait, time.Until(d.giveUp)))
}

// writeBatch hands the messages of one batch that match the output's
// matcher to the output; a durable batch is acked (or left in the stream)
// after. A Flusher is flushed once no batch waits.
func (r *runner) writeBatch(from *subscription, msg *nats.Msg, msgs []*Message) {
	var durableMsg *nats.Msg
	if from.durable {
		durableMsg = msg
	}
	res := writeOK
	r.batch = r.batch[:0]
	for _, m := range msgs {
		if r.cfg.Matcher == nil || r.cfg.Matcher.Match(m) {
			r.batch = append(r.batch, m)
		}
	}
	if len(r.batch) > 0 {
		r.stats.In.Add(uint64(len(r.batch)))
		from.origins.intend()
		res = r.write(r.batch, durableMsg)
	}
	if res == writeOK {
		r.countSuspect(from.origins.taken())
	} else {
		from.origins.missed()
	}
	if from.durable {
		// write has flushed it: record it, then ack it.
		if res == writeOK {
			from.origins.commit()
		}
		r.ackDurable(from, msg, res)
	} else if f, ok := r.output.(Flusher); ok && r.nothingPending(from) {
		if err := f.Flush(); err != nil {
			r.stats.Errors.Add(1)
			r.warnf("flush failed", "err", err)
		}
	}
}
