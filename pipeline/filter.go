package pipeline

import (
	"time"

	"github.com/nats-io/nats.go"
)

// processFailed counts a filter's error; a message the filter did not
// process at all goes to its dead_letter subject, with the error, or is
// counted as dropped.
func (r *runner) processFailed(m *Message, err error) {
	r.stats.Errors.Add(1)
	if !IsNotProcessed(err) {
		r.warnf("process failed", "err", err)
		return
	}
	if r.dead == nil {
		r.stats.Dropped.Add(1)
		r.warnf("message not processed, dropped (no dead_letter)", "err", err)
		return
	}
	r.warnf("message not processed, sent to dead_letter", "dead_letter", r.cfg.DeadLetter, "err", err)
	m.AddString("dead_letter_error", err.Error())
	m.AddString("dead_letter_plugin", string(r.cfg.Kind)+"."+r.cfg.Type+"["+r.cfg.Name+"]")
	if err := r.dead.Emit(m); err != nil {
		r.warnf("dead_letter not published, message dropped", "err", err) // Emit counted it
	}
}

func (r *runner) tick(final bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	if err := r.ticker.Tick(start, final, r.pub.orNone()); err != nil {
		r.stats.Errors.Add(1)
		r.warnf("timer failed", "err", err)
	}
	r.stats.ProcessNanos.Add(int64(time.Since(start)))
}

// processBatch passes each message of one batch that matches the filter's
// matcher to the filter; in durable mode what the filter emitted is stored
// before the batch is acked.
func (r *runner) processBatch(from *subscription, msg *nats.Msg, msgs []*Message) {
	var err error
	from.origins.intend()
	if from.durable {
		// A filter may take long (a Lua script waiting for its
		// restart): the batch must not be redelivered meanwhile.
		defer keepInProgress(msg)()
	}
	if r.bfilter != nil {
		r.matched = r.matched[:0]
		for _, m := range msgs {
			if r.cfg.Matcher == nil || r.cfg.Matcher.Match(m) {
				r.matched = append(r.matched, m)
			}
		}
		r.stats.In.Add(uint64(len(r.matched)))
		r.bfilter.ProcessBatch(r.matched, r.pub.orNone(), r.processFailed)
		clear(r.matched) // the messages are the decoder's, reused
	} else {
		for _, m := range msgs {
			if r.cfg.Matcher != nil && !r.cfg.Matcher.Match(m) {
				continue
			}
			r.stats.In.Add(1)
			if r.sfilter != nil {
				err = r.sfilter.ProcessFrom(msg.Subject, m, r.pub.orNone())
			} else {
				err = r.filter.Process(m, r.pub.orNone())
			}
			if err != nil {
				r.processFailed(m, err)
			}
		}
	}
	r.countSuspect(from.origins.taken())
	if from.durable {
		// What the filter emitted must be stored before its input is acked.
		r.pub.flush()
		r.dead.flush()
		from.origins.commit()
		r.settle(msg, "+ACK")
	}
}
