package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// quiesce waits until everything published so far has been handled by every
// local subscriber, repeating while handling publishes more.
func (rt *Runtime) quiesce() error {
	for {
		before := rt.published.Load()
		for _, r := range rt.runners {
			r.pub.flush()
			r.dead.flush()
		}
		if err := rt.bus.Conn.Flush(); err != nil {
			return fmt.Errorf("nats flush: %w", err)
		}
		rt.markDrainTargets()
		for !rt.idle() {
			time.Sleep(200 * time.Microsecond)
		}
		if rt.published.Load() == before && rt.publishersEmpty() {
			return nil
		}
	}
}

// markDrainTargets records, for each durable subscription, the stream
// sequence of the last batch stored now on its subjects: the drain waits
// for what was stored up to here (this process's durable publishers have
// just flushed), not for what remote agents keep storing, which waits in
// the stream for the next start. Its own subjects, not the stream's last
// sequence: a stream may hold other subjects after it, which this consumer
// never gets.
func (rt *Runtime) markDrainTargets() {
	if rt.bus.js == nil {
		return // no durable subscription has connected it
	}
	for _, r := range rt.runners {
		for _, s := range r.subs {
			if !s.durable {
				continue
			}
			m, err := rt.bus.js.GetLastMsg(s.stream, s.pattern)
			switch {
			case err == nil:
				s.drainTo.Store(m.Sequence)
			case errors.Is(err, nats.ErrMsgNotFound):
				s.drainTo.Store(0)
			}
		}
	}
}

func (rt *Runtime) idle() bool {
	for _, r := range rt.runners {
		for _, s := range r.subs {
			if !s.idle() {
				return false
			}
		}
	}
	return true
}

func (rt *Runtime) publishersEmpty() bool {
	for _, r := range rt.runners {
		if !r.pub.empty() || !r.dead.empty() {
			return false
		}
	}
	return true
}

// drain delivers everything in flight, gives filters their final tick, then
// closes the subscriptions upstream first, each after its last message has
// been handled, and finally closes every plugin.
func (rt *Runtime) drain() error {
	rt.draining.Store(true)
	var errs []error
	if err := rt.quiesce(); err != nil {
		errs = append(errs, err)
	}
	order := rt.flowOrder()
	for _, r := range order {
		if r.ticker != nil {
			r.tick(true)
			if err := rt.quiesce(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// A remote publisher may still be sending: NATS's Drain stops the flow
	// and hands over what had already arrived, which Unsubscribe would
	// discard. Upstream first, so that what a filter emits while draining
	// still finds its subscribers.
	for _, r := range order {
		for _, s := range r.subs {
			if err := s.sub.Drain(); err != nil {
				errs = append(errs, fmt.Errorf("%s: drain %s: %w", r.cfg.ID(), s.pattern, err))
			}
		}
		deadline := time.Now().Add(drainRetryGrace + 5*time.Second)
		for _, s := range r.subs {
			for s.sub.IsValid() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		r.mu.Lock()
		r.nakHeld()
		r.mu.Unlock()
		if err := rt.quiesce(); err != nil {
			errs = append(errs, err)
		}
	}
	// Every batch NATS gave this connection must have reached a handler.
	handled := rt.retiredHandled.Load()
	for _, r := range rt.runners {
		for _, s := range r.subs {
			if !s.durable { // durable batches come on the JetStream connection
				handled += s.handled.Load()
			}
		}
	}
	received := rt.bus.Conn.Stats().InMsgs - rt.bus.fencesSent.Load() // each fence came back once to the bus's own subscription
	rt.closeAll()
	for _, r := range rt.runners {
		s := r.stats.Snapshot()
		r.log.Info("stopped", "in", s.In, "out", s.Out, "dropped", s.Dropped, "errors", s.Errors, "duplicates", s.Duplicates)
	}
	rt.log.Info("nats stopped", "received_batches", received, "handled_batches", handled, "published_batches", rt.published.Load())
	if received != handled {
		errs = append(errs, fmt.Errorf("nats: %d batches received but %d handled", received, handled))
	}
	return errors.Join(errs...)
}

// flowOrder sorts the runners so that each comes before the ones that
// subscribe to what it publishes (inputs first, outputs last). Runners in a
// cycle keep their config order.
func (rt *Runtime) flowOrder() []*runner {
	feeds := func(a, b *runner) bool {
		for _, p := range []*publisher{a.pub, a.dead} {
			if p == nil || a == b {
				continue
			}
			for _, s := range b.subs {
				if SubjectMatches(s.pattern, p.subject) {
					return true
				}
			}
		}
		return false
	}
	indegree := map[*runner]int{}
	for _, a := range rt.runners {
		for _, b := range rt.runners {
			if feeds(a, b) {
				indegree[b]++
			}
		}
	}
	var order []*runner
	done := map[*runner]bool{}
	for len(order) < len(rt.runners) {
		progressed := false
		for _, r := range rt.runners {
			if done[r] || indegree[r] > 0 {
				continue
			}
			done[r], progressed = true, true
			order = append(order, r)
			for _, b := range rt.runners {
				if feeds(r, b) {
					indegree[b]--
				}
			}
		}
		if !progressed { // a cycle: take the first remaining in config order
			for _, r := range rt.runners {
				if !done[r] {
					indegree[r] = 0
					break
				}
			}
		}
	}
	return order
}

// closeAll flushes and closes plugins, the admin server and the bus. It is
// safe on a partly started runtime.
func (rt *Runtime) closeAll() {
	for _, r := range rt.runners {
		r.closePlugin(true)
		r.pub.stop()
		r.dead.stop()
		if r.state.Load() != "failed" {
			r.state.Store("stopped")
		}
	}
	if rt.admin != nil {
		rt.admin.close()
	}
	if rt.bus != nil {
		rt.bus.Close()
	}
}
