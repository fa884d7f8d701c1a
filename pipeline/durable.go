package pipeline

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Durable mode (durable = true) puts a publisher's subjects on a JetStream
// stream and gives a subscriber a durable consumer that it acks only once its
// output has the data: at-least-once end to end, with duplicates de-duplicated
// by batch id at publish and counted at redelivery.

// durableAckWait is how long an unacked batch waits for redelivery; a batch
// held at shutdown comes back after it on the next start (the server does
// not keep a nak across its own restart). A var for tests.
var durableAckWait = 30 * time.Second

// keepInProgress tells the server, every third of the ack wait, that the
// durable batch msg is still being worked on, until the returned stop is
// called: a batch handled for longer than the ack wait is not redelivered.
func keepInProgress(msg *nats.Msg) (stop func()) {
	every := durableAckWait / 3
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		_ = msg.InProgress()
		t.Reset(every)
	})
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Stop()
	}
}

const (
	durableMaxAckPending = 64 // batches in flight per consumer: backpressure
	durableDupWindow     = 2 * time.Minute
)

// sanitizeName keeps what JetStream allows in stream and consumer names.
func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// StreamName is the stream interoceptor creates for a subject (or a
// subscriber's pattern) when no stream stores it yet. Streams are named by
// subject, not by plugin: every agent that runs the same config publishes
// into one stream.
func StreamName(subject string) string {
	return sanitizeName(streamPrefix + subject)
}

// streamPrefix begins the name of every stream interoceptor makes.
const streamPrefix = "ICP_"

// durableConsumerName names the consumer of one subscription; a queue group
// shares one consumer across processes.
func durableConsumerName(pc *PluginConfig, subject string) string {
	if pc.Queue != "" {
		return sanitizeName("ICP_q_" + pc.Queue + "_" + subject)
	}
	return sanitizeName("ICP_" + string(pc.Kind) + "_" + pc.Name + "_" + subject)
}

// streamConfig is a new stream for subject, with this pipeline's limits. It
// keeps its batches to those limits until a durable subscriber reads it
// (keepByInterest): what agents store before the central's subscribers
// first start waits for them.
func (r *runner) streamConfig(subject string) *nats.StreamConfig {
	nc := r.rt.cfg.Nats
	return &nats.StreamConfig{
		Name:       StreamName(subject),
		Subjects:   []string{subject},
		Retention:  nats.LimitsPolicy,
		Storage:    nats.FileStorage,
		MaxAge:     time.Duration(cmp0(nc.StreamMaxAge, DefaultStreamMaxAge)),
		MaxBytes:   cmp0(nc.StreamMaxBytes, DefaultStreamMaxBytes),
		Replicas:   cmp0(nc.StreamReplicas, DefaultStreamReplicas),
		Duplicates: durableDupWindow,
	}
}

// createStream makes the stream named after subject; another process that
// made it first is no error.
func (r *runner) createStream(js nats.JetStreamContext, subject string) (string, error) {
	cfg := r.streamConfig(subject)
	if _, err := js.AddStream(cfg); err != nil && !errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
		return "", fmt.Errorf("durable: create stream %s for %s: %w", cfg.Name, subject, err)
	}
	r.log.Info("durable: stream created", "stream", cfg.Name, "subject", subject)
	return cfg.Name, nil
}

// keepByInterest makes the streams that the durable subscriptions of
// runners read, once their consumers exist, keep a batch only until every
// durable consumer of its subject has acked it (interest retention), within
// their limits: a stream is then the buffer of its durable subscribers, and
// what they have all written is removed as they go. Kept to its limits, the
// batches written or read in the last 10 s would stay in nats-server's
// memory however fast they went by: its file store keeps each 8 MiB block
// that long (see durable_mem.go). It runs after all the subscriptions of a
// start or a reload, so that none of this process's consumers is made
// after batches the others have acked are gone. Only the streams
// interoceptor names (StreamName) are changed; a stream nobody reads
// durably (dead letters) keeps its batches to its limits.
func (rt *Runtime) keepByInterest(runners []*runner) {
	seen := map[string]bool{}
	for _, r := range runners {
		for _, s := range r.subs {
			if !s.durable || seen[s.stream] || !strings.HasPrefix(s.stream, streamPrefix) {
				continue
			}
			seen[s.stream] = true
			if err := r.keepByInterest(s.stream); err != nil {
				// The stream keeps what it held before: nothing is lost,
				// but the server's memory grows with the rate.
				r.stats.Errors.Add(1)
				r.log.Warn("durable: stream still kept to its limits", "stream", s.stream, "err", err)
			}
		}
	}
}

func (r *runner) keepByInterest(stream string) error {
	js, err := r.rt.bus.JetStream()
	if err != nil {
		return err
	}
	info, err := js.StreamInfo(stream)
	if err != nil {
		return err
	}
	if info.Config.Retention != nats.LimitsPolicy {
		return nil
	}
	cfg := info.Config
	cfg.Retention = nats.InterestPolicy
	if _, err := js.UpdateStream(&cfg); err != nil {
		return err
	}
	r.log.Info("durable: stream now kept by interest: what its durable subscribers have all acked is removed", "stream", stream, "batches", info.State.Msgs)
	return nil
}

// ensureStream makes sure a stream stores what p publishes: the stream that
// already covers p's subject (made by another agent, or by a subscriber
// for a wider pattern), else a new one named after the subject. Only a
// stream named after p's subject gets this pipeline's limits on an update;
// a shared one keeps those of whoever created it.
func (p *publisher) ensureStream() error {
	r := p.r
	js, err := r.rt.bus.JetStream()
	if err != nil {
		return err
	}
	cfg := r.streamConfig(p.subject)
	name, err := js.StreamNameBySubject(p.subject)
	switch {
	case errors.Is(err, nats.ErrNoMatchingStream) || errors.Is(err, nats.ErrStreamNotFound):
		_, err := r.createStream(js, p.subject)
		return err
	case err != nil:
		return fmt.Errorf("durable: find the stream of %s: %w", p.subject, err)
	case name != cfg.Name:
		r.log.Info("durable: publishing into an existing stream", "stream", name, "subject", p.subject)
		return nil
	}
	info, err := js.StreamInfo(cfg.Name)
	if err != nil {
		return fmt.Errorf("durable: stream %s: %w", cfg.Name, err)
	}
	cfg.Retention = info.Config.Retention // its subscribers' (keepByInterest)
	if _, err := js.UpdateStream(cfg); err != nil {
		return fmt.Errorf("durable: update stream %s: %w", cfg.Name, err)
	}
	return nil
}

func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// subscribeDurable binds s to a durable push consumer of the stream covering
// its subject, creating the consumer if needed. Binding (rather than letting
// nats.go create it) keeps the consumer, and what it has not acked, when the
// subscription is drained.
func (r *runner) subscribeDurable(s *subscription, handler nats.MsgHandler) error {
	js, err := r.rt.bus.JetStream()
	if err != nil {
		return err
	}
	stream, err := r.streamFor(js, s.pattern)
	if err != nil {
		return err
	}
	name := durableConsumerName(r.cfg, s.pattern)
	restartPath := dedupPath(r.rt.cfg.Agent.DataDir, name, ".restart")
	ci, err := js.ConsumerInfo(stream, name)
	if errors.Is(err, nats.ErrConsumerNotFound) {
		cc := &nats.ConsumerConfig{
			Durable:        name,
			DeliverSubject: "_ICP.deliver." + name,
			DeliverGroup:   r.cfg.Queue,
			DeliverPolicy:  nats.DeliverAllPolicy,
			AckPolicy:      nats.AckExplicitPolicy,
			AckWait:        durableAckWait,
			MaxAckPending:  durableMaxAckPending,
			FilterSubject:  s.pattern,
		}
		// A restart cut short by an earlier version (the process died
		// between its delete and its add; see consumerRestart) resumes
		// where it was to start, not at the stream's start.
		cut := r.loadConsumerRestart(restartPath, stream)
		if cut != nil {
			cc.DeliverPolicy, cc.OptStartSeq = nats.DeliverByStartSequencePolicy, cut.StartSeq
		}
		if _, err := js.AddConsumer(stream, cc); err != nil {
			return fmt.Errorf("durable: create consumer %s on %s: %w", name, stream, err)
		}
		if cut != nil {
			r.log.Warn("durable: consumer restart was cut short by a stop; consumer created again at its ack floor",
				"consumer", name, "from_stream_seq", cut.StartSeq)
			s.redeliveredTo = cut.Delivered
			removeConsumerRestart(restartPath)
		}
	} else if err != nil {
		return fmt.Errorf("durable: consumer %s on %s: %w", name, stream, err)
	} else if ci.NumAckPending > 0 && r.cfg.Queue == "" {
		r.restartConsumer(ci)
		s.redeliveredTo = ci.Delivered.Stream // delivered before, though now a first delivery
	} else {
		removeConsumerRestart(restartPath) // an earlier version's restart that stopped after its add
	}
	s.durable, s.stream = true, stream
	opts := []nats.SubOpt{nats.Bind(stream, name), nats.ManualAck()}
	if r.cfg.Queue != "" {
		s.sub, err = js.QueueSubscribe(s.pattern, r.cfg.Queue, handler, opts...)
	} else {
		s.sub, err = js.Subscribe(s.pattern, handler, opts...)
	}
	if err != nil {
		return fmt.Errorf("durable: subscribe to %s/%s: %w", stream, name, err)
	}
	return nil
}

// restartConsumer makes a consumer that has batches delivered and not acked
// (a process that stopped before acking them) deliver again from its ack
// floor, in stream order, at once. The server would send them again only
// after the ack wait, after the batches that follow them: the origin window
// could then not merge its spans across the restart. A queue group's
// consumer is shared and left alone.
//
// It is nats-server's consumer reset (2.14 and later), which keeps the
// consumer: deleting it and adding it again at its ack floor, as this did
// before, would let a stream kept by interest drop what it had not acked.
// A server without the reset leaves the consumer as it is: the batches come
// again after the ack wait, all the same.
func (r *runner) restartConsumer(ci *nats.ConsumerInfo) {
	js, err := r.rt.bus.jetStreamAPI()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), consumerResetTimeout)
		err = resetConsumer(ctx, js, ci.Stream, ci.Name)
		cancel()
	}
	if err != nil {
		r.log.Warn("durable: cannot have the batches delivered and not acked before the last stop come again now (nats-server 2.14 or later resets a consumer); they come again after the ack wait",
			"consumer", ci.Name, "batches", ci.NumAckPending, "err", err)
		return
	}
	r.log.Info("durable: batches delivered and not acked before the last stop come again now, in order",
		"consumer", ci.Name, "batches", ci.NumAckPending, "from_stream_seq", ci.AckFloor.Stream+1)
}

// consumerResetTimeout bounds the wait for a consumer's reset: a server
// without the API may not answer at all.
const consumerResetTimeout = 5 * time.Second

// resetConsumer resets a consumer to its ack floor; a var for tests, which
// make it fail as on a server without the reset.
var resetConsumer = func(ctx context.Context, js jetstream.JetStream, stream, consumer string) error {
	_, err := js.ResetConsumer(ctx, stream, consumer)
	return err
}

// consumerRestart is where a consumer was to start again, saved by earlier
// versions, which restarted a consumer by deleting it and adding it again,
// while it was deleted: one that died between the two leaves the file, and
// subscribeDurable, finding no consumer, creates it there.
type consumerRestart struct {
	Stream    string `json:"stream"`
	StartSeq  uint64 `json:"start_seq"`            // the ack floor + 1
	Delivered uint64 `json:"delivered_stream_seq"` // delivered before the restart: possibly had
}

// dedupPath is the file under dataDir/dedup for the durable consumer
// named consumer; "" without a data_dir.
func dedupPath(dataDir, consumer, suffix string) string {
	if dataDir == "" {
		return ""
	}
	return filepath.Join(dataDir, "dedup", consumer+suffix)
}

// loadConsumerRestart returns the restart saved at path for stream, or nil
// when there is none. One it cannot read, or saved for another stream, is
// logged, counted and ignored: the consumer then starts at the stream's
// start, as one that never existed does.
func (r *runner) loadConsumerRestart(path, stream string) *consumerRestart {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var c consumerRestart
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err == nil && (c.Stream != stream || c.StartSeq == 0) {
		err = fmt.Errorf("saved for stream %q at sequence %d, not for %s", c.Stream, c.StartSeq, stream)
	}
	if err != nil {
		r.stats.Errors.Add(1)
		r.log.Error("durable: consumer restart file ignored: the stream is delivered from its start", "path", path, "err", err)
		removeConsumerRestart(path)
		return nil
	}
	return &c
}

func removeConsumerRestart(path string) {
	if path != "" {
		_ = os.Remove(path) // gone already, or left for the next start, which checks the consumer first
	}
}

// streamFor finds, and if need be makes, the one stream that stores every
// subject of a durable subscriber's pattern: a new stream for the pattern
// when none stores any of it (agents then publish into it), the stream that
// stores part of it widened to the whole pattern, and an error when the
// pattern spans several streams (a consumer reads one).
func (r *runner) streamFor(js nats.JetStreamContext, pattern string) (string, error) {
	var streams []string
	for name := range js.StreamNames(nats.StreamListFilter(pattern)) {
		streams = append(streams, name)
	}
	switch len(streams) {
	case 0:
		return r.createStream(js, pattern)
	case 1:
	default:
		sort.Strings(streams)
		return "", fmt.Errorf("durable: %q spans the streams %s; subscribe to each stream's subjects, or delete them and start the subscriber first so that it makes one stream for %q",
			pattern, strings.Join(streams, ", "), pattern)
	}
	info, err := js.StreamInfo(streams[0])
	if err != nil {
		return "", fmt.Errorf("durable: stream %s: %w", streams[0], err)
	}
	if slices.Contains(info.Config.Subjects, pattern) {
		return streams[0], nil
	}
	// Widen the stream only when the pattern covers all it stores, so that
	// nothing it stored before drops out of it.
	for _, subj := range info.Config.Subjects {
		if !SubjectMatches(pattern, subj) || strings.HasSuffix(subj, ">") && !strings.HasSuffix(pattern, ">") {
			return streams[0], nil // the pattern is the narrower one: bind as is
		}
	}
	cfg := info.Config
	cfg.Subjects = []string{pattern}
	if _, err := js.UpdateStream(&cfg); err != nil {
		return "", fmt.Errorf("durable: widen stream %s to %s: %w", cfg.Name, pattern, err)
	}
	r.log.Info("durable: stream widened", "stream", cfg.Name, "subject", pattern)
	return streams[0], nil
}

// durableIdle reports whether the consumer has nothing left for s: nothing
// unacked, and nothing undelivered up to the stream sequence the drain
// recorded (drainTo). A subscription whose output gave up counts as idle;
// what it did not ack stays in the stream. idle calls it once s has handled
// every delivery that reached this process (localIdle).
func (s *subscription) durableIdle() bool {
	if s.failing.Load() || !s.sub.IsValid() {
		return true // drained: nothing more comes to it
	}
	ci, err := s.sub.ConsumerInfo()
	if err != nil {
		return true // closed
	}
	return s.consumerIdle(ci, time.Now())
}

// consumerIdle is durableIdle's verdict on the consumer's state ci at now.
func (s *subscription) consumerIdle(ci *nats.ConsumerInfo, now time.Time) bool {
	switch {
	case ci.Delivered.Stream >= s.drainTo.Load():
		s.undeliveredSince = time.Time{}
	case ci.NumPending > 0:
		s.undeliveredSince = time.Time{}
		return false
	// Not delivered up to the target, and nothing pending: the consumer
	// counts a stored batch in NumPending a moment after the stream acked
	// it, so this proves nothing at once. It does once it lasts (a batch
	// that left the stream by its limits before it was delivered), and
	// then the drain does not wait forever.
	case !outlasted(&s.undeliveredSince, now):
		return false
	}
	if ci.NumAckPending == 0 {
		s.ackPendingSince = time.Time{}
		return true
	}
	// Acks pending on the server while this process has handled all it
	// got: acks lost with a server that died (a cluster's consumer leader)
	// or deliveries lost on the way. Those batches stay in the stream and
	// come again; waiting for the ack wait would only delay the shutdown.
	return outlasted(&s.ackPendingSince, now)
}

// outlasted starts *since at now if it is unset, and reports whether
// lostAckGrace has passed since.
func outlasted(since *time.Time, now time.Time) bool {
	if since.IsZero() {
		*since = now
	}
	return now.Sub(*since) > lostAckGrace
}

// lostAckGrace is how long a drain waits for acks the server has not
// recorded, once this process has handled everything delivered to it.
const lostAckGrace = 2 * time.Second

// batchID names a batch for the stream's de-duplication: the UUID of its
// first message and its count, the same if the batch is published again.
func batchID(first UUID, n int) string {
	return hex.EncodeToString(first[:]) + "-" + strconv.Itoa(n)
}

// publishDurable stores one batch, waiting for the stream's ack, retrying
// while the pipeline runs: a failed store must not move an input's
// checkpoint past it.
func (p *publisher) publishDurable(data []byte, n int) error {
	js, err := p.r.rt.bus.JetStream()
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: p.subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(nats.MsgIdHdr, batchID(p.first, n))
	// Compressed, the stream stores (and its file store keeps in memory)
	// fewer bytes; the id stays that of the batch as encoded.
	if p.r.rt.cfg.Nats.DurableCompression != "none" {
		if zbuf := compressBatch(msg); zbuf != nil {
			defer batchBufs.Put(zbuf)
		}
	}
	backoff := 100 * time.Millisecond
	for {
		ack, err := js.PublishMsg(msg)
		if err == nil {
			p.retry.ok()
			if ack.Duplicate {
				p.r.stats.Duplicates.Add(uint64(n))
			}
			return nil
		}
		p.r.stats.Errors.Add(1)
		if p.r.rt.draining.Load() && p.retry.failed(time.Now()) {
			return err
		}
		p.r.warnf("durable publish failed, retrying", "subject", p.subject, "messages", n, "err", err)
		time.Sleep(backoff)
		// Each try already waits for an answer (a timeout, or nats.go's
		// retries on no responders): a short cap resumes soon after a
		// stream leader is elected or the central is back.
		backoff = min(backoff*2, time.Second)
	}
}

// ackDurable settles a durable batch after handle: ack what the output has
// (write flushed a Flusher), keep the rest for redelivery.
func (r *runner) ackDurable(from *subscription, msg *nats.Msg, res writeResult) {
	switch res {
	case writeHeld:
		from.failing.Store(true)
		r.held = append(r.held, msg)
		return
	case writeDropped:
		r.settle(msg, "+TERM") // the output can never write it: do not redeliver
	case writeOK:
		from.failing.Store(false)
		r.settle(msg, "+ACK")
	}
}

// settle answers the stream for one delivered batch ("+ACK", "-NAK",
// "+TERM"). It publishes on the JetStream connection itself: nats.go's
// Msg.Ack refuses once the subscription is drained, and the naks of a
// drain come after that.
func (r *runner) settle(m *nats.Msg, kind string) {
	if m.Reply == "" || r.rt.bus.jsConn == nil {
		return
	}
	if err := r.rt.bus.jsConn.Publish(m.Reply, []byte(kind)); err != nil {
		r.warnf("durable ack failed; the batch will be redelivered", "ack", kind, "err", err)
	}
}

// nakHeld hands back, once r's subscriptions are closed, the batches its
// output did not take, so that the next start gets them at once instead of
// after the ack wait.
func (r *runner) nakHeld() {
	for _, m := range r.held {
		r.settle(m, "-NAK")
	}
	r.held = nil
}
