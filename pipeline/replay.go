package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Replay mode: the configured filters run over recorded data at full
// speed, on the data's own clock (`interoceptor replay`, `interoceptor eval`).
//
// The records go through the real runtime: an embedded NATS server, the
// filters' runners, their matchers, publishers and subscriptions. What is
// different from `run`:
//
//   - Only the filters run; the config's inputs and outputs are neither
//     started nor initialised. The records are published to Subjects, and
//     everything the filters publish (publish and dead_letter subjects) is
//     handed to the sink.
//   - The NATS server is embedded and in-process only (the config's [nats]
//     server, credentials and listen addresses are not used), without
//     JetStream: durable and queue are ignored. There is no admin API, and
//     data_dir is a temporary directory, removed at the end, so that
//     preserve_data neither reads nor overwrites a pipeline's state.
//   - The data's clock: a filter that ticks gets Tick(t) for every
//     ticker_interval boundary t (a multiple of the interval since the Unix
//     epoch) that the Timestamps of the messages it receives (matched by
//     its matcher or not: the data's time passes either way) cross, before
//     the first message at or after t, so that a tick sees exactly the data
//     before it; then a final tick at the first boundary after the latest
//     Timestamp it received. A message it emits without a Timestamp gets the
//     time of the message or tick being handled, not time.Now(). Its clock
//     only moves forward: a message older than one before it ticks nothing.
//     No wall-clock ticker runs.
//   - Order: every filter handles its messages in the order of the records
//     that caused them, each record with what it caused before the next
//     (the record first, then what upstream filters emitted because of it,
//     in the order of the flow); the sink gets everything in that order too.
//     The same records give the same output in every run: UUIDs made by the
//     runtime come from the data's time and a sequence number, and the Pid of
//     messages made here is 0.
//   - Nothing is lost: Replay returns once every record has passed through
//     every filter and everything they emitted has reached the sink, and
//     checks that the sink got as many messages as the filters emitted.
//
// The records are published in chunks of replayChunk; after each chunk the
// runners take their held messages in flow order until none is left.

// ReplaySource yields the recorded data, in order. Next returns the next
// record, or io.EOF after the last one; any other error stops the replay and
// is returned by it (a reader names the file and line). The record must have
// a Timestamp; Replay does not keep it after Next is called again.
type ReplaySource interface {
	Next() (*Message, error)
}

// ReplaySink receives what the filters emit, in the replay's order: the
// subject it was published to, the record whose handling caused it (its
// 0-based index; the number of records for what the final ticks caused),
// and the message, which is the sink's to keep. An error stops the replay
// and is returned by it.
type ReplaySink interface {
	Write(subject string, record int64, m *Message) error
}

// ReplayOptions are Replay's settings.
type ReplayOptions struct {
	// Subjects the records are published to, each record to each. Empty:
	// the one subject the filters subscribe to that none of them publishes
	// to, when it is a literal subject (see ReplaySubjects).
	Subjects []string
	// Log receives the filters' logs (nil: discarded).
	Log *slog.Logger
}

// ReplayStats are the counters of a replay.
type ReplayStats struct {
	Records      uint64 // records read and published
	Written      uint64 // messages handed to the sink
	Ticks        uint64 // ticks given to filters, final ones included
	TicksSkipped uint64 // empty ticks left out in long gaps (see maxGapTicks)
	Filters      []ReplayFilterStats
}

// ReplayFilterStats are one filter's counters in a replay.
type ReplayFilterStats struct {
	ID       string // filters.lua[name]
	Received uint64 // messages that reached it, matched or not
	In       uint64 // messages its matcher let through to it
	Out      uint64 // messages it emitted
	Dropped  uint64
	Errors   uint64
	Ticks    uint64
}

// replayChunk is how many records are published before the runners take
// what they hold: it bounds the memory held, and a settle costs a few NATS
// round trips.
const replayChunk = 4096

// maxGapTicks bounds the ticks one message can cause: a gap in the data of
// more intervals than this gets its first and its last tick only (the ones
// between would see no data), counted in TicksSkipped and logged, so that a
// 10 ms ticker over a week's gap does not tick 60 million times.
const maxGapTicks = 1_000_000

// replayHeader carries, on each batch a publisher sends in replay mode, the
// publisher's number and the sequence number of the batch's first message.
const replayHeader = "Interoceptor-Replay"

// Replay runs the filters of cfg over the records of src and writes what
// they emit to sink (see the top of replay.go for what differs from run).
// It uses cfg's plugin instances, which cannot run twice: load the config
// anew for each replay. Filters that fail to start, a source or sink error,
// or a cancelled ctx stop it with an error; the stats say how far it got.
func Replay(ctx context.Context, cfg *Config, src ReplaySource, sink ReplaySink, opts ReplayOptions) (*ReplayStats, error) {
	stats := &ReplayStats{}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	subjects := opts.Subjects
	if len(subjects) == 0 {
		s, err := ReplaySubjects(cfg)
		if err != nil {
			return stats, err
		}
		subjects = []string{s}
	}
	for _, s := range subjects {
		if msg := checkSubject(s, false); msg != "" {
			return stats, fmt.Errorf("replay subject: %s", msg)
		}
	}
	dataDir, err := os.MkdirTemp("", "interoceptor-replay-")
	if err != nil {
		return stats, err
	}
	defer os.RemoveAll(dataDir)
	rcfg, err := replayConfig(cfg, subjects, dataDir, sink)
	if err != nil {
		return stats, err
	}
	rs := &replayState{}
	rt, err := start(rcfg, log, rs)
	if err != nil {
		return stats, err
	}
	defer rt.closeAll()
	order := rt.flowOrder()
	rs.setRanks(order)
	var sources []*runner
	var sinkRunner *runner
	for _, r := range rt.runners {
		r.state.Store("running")
		switch {
		case r.input != nil:
			sources = append(sources, r)
		case r.output != nil:
			sinkRunner = r
		}
	}
	d := &replayDriver{rt: rt, rs: rs, order: order, sink: sink, sinkRunner: sinkRunner, stats: stats}
	err = d.run(ctx, src, sources)
	d.fillStats()
	return stats, err
}

// ReplaySubjects returns the subject Replay publishes records to by
// default: the one subject that the config's filters subscribe to and none
// of them publishes to. It is an error when there are several, or when it
// has a wildcard: the records' subject must then be given.
func ReplaySubjects(cfg *Config) (string, error) {
	var filters []*PluginConfig
	for _, p := range cfg.Plugins {
		if p.Kind == KindFilter {
			filters = append(filters, p)
		}
	}
	if len(filters) == 0 {
		return "", errors.New("the config has no filters to replay")
	}
	var fed []string
	seen := map[string]bool{}
	for _, f := range filters {
	subjects:
		for _, s := range f.Subscribe {
			for _, g := range filters {
				for _, pub := range []string{g.Publish, g.DeadLetter} {
					if pub != "" && SubjectMatches(s, pub) {
						continue subjects // fed by a filter
					}
				}
			}
			if !seen[s] {
				seen[s] = true
				fed = append(fed, s)
			}
		}
	}
	switch {
	case len(fed) == 0:
		return "", errors.New("every subject the filters subscribe to is published by one of them: give the records' subject")
	case len(fed) > 1:
		return "", fmt.Errorf("the filters subscribe to %d subjects (%s): give the records' subject(s)", len(fed), strings.Join(fed, ", "))
	case strings.ContainsAny(fed[0], "*>"):
		return "", fmt.Errorf("the filters subscribe to %q, a wildcard: give the records' subject (one it matches)", fed[0])
	}
	return fed[0], nil
}

// replayConfig is cfg's filters with a source per subject and the sink, on
// an in-process embedded server without JetStream.
func replayConfig(cfg *Config, subjects []string, dataDir string, sink ReplaySink) (*Config, error) {
	off := false
	rc := &Config{
		Agent: AgentConfig{Name: cfg.Agent.Name, DataDir: dataDir, AdminAddr: "off"},
		Nats: NatsConfig{JetStream: &off, BatchBytes: cfg.Nats.BatchBytes, BatchLinger: cfg.Nats.BatchLinger,
			MaxPendingBytes: cfg.Nats.MaxPendingBytes},
		Files: cfg.Files,
		set:   map[string]keyPos{},
	}
	for i, s := range subjects {
		name := "replay"
		if i > 0 {
			name = "replay-" + strconv.Itoa(i+1)
		}
		rc.Plugins = append(rc.Plugins, &PluginConfig{Kind: KindInput, Type: "replay", Name: name, Publish: s,
			Plugin: replayInput{}})
	}
	var emitted []string
	seen := map[string]bool{}
	for _, p := range cfg.Plugins {
		if p.Kind != KindFilter {
			continue
		}
		c := *p
		c.Durable, c.Queue = false, ""
		rc.Plugins = append(rc.Plugins, &c)
		for _, s := range []string{c.Publish, c.DeadLetter} {
			if s != "" && !seen[s] {
				seen[s] = true
				emitted = append(emitted, s)
			}
		}
	}
	if len(rc.Plugins) == len(subjects) {
		return nil, errors.New("the config has no filters to replay")
	}
	if len(emitted) > 0 {
		rc.Plugins = append(rc.Plugins, &PluginConfig{Kind: KindOutput, Type: "replay", Name: "replay",
			Subscribe: emitted, Plugin: replayOutput{sink}})
	}
	return rc, nil
}

// replayInput stands for the records in the runtime: the driver publishes
// them through its runner's publisher.
type replayInput struct{}

func (replayInput) Run(context.Context, LineEmitter) error { return nil }

// replayOutput stands for the sink: the driver hands it what it holds.
type replayOutput struct{ sink ReplaySink }

func (replayOutput) Write([]*Message) error { return nil }

// replayState is what the runners of a runtime in replay mode share: for
// each publisher, the cause of each message it sent, so that a receiver can
// order what it holds.
type replayState struct {
	mu   sync.Mutex
	pubs []*replayPub // by publisher number
}

type replayPub struct {
	r      *runner
	source bool         // publishes the records
	rank   int          // the runner's place in the flow order
	seq    uint64       // messages sent so far
	base   uint64       // sequence number of marks[0]
	marks  []replayMark // since the last settle
}

// replayMark is why a message was emitted: the record being handled when it
// was (its cause), and its place among everything its runner emitted.
type replayMark struct {
	cause int64
	n     uint64
}

// replayRunner is a runner's part of replay mode.
type replayRunner struct {
	held     []heldMessage
	now      int64 // the data's time of the message or tick being handled
	cause    int64 // the record that caused it
	emitted  uint64
	clock    int64 // the latest Timestamp received, for ticks
	clockSet bool
	received uint64
	ticks    uint64
	skipped  uint64
	badBatch uint64
}

// heldMessage is a message a runner received, waiting for its turn.
type heldMessage struct {
	m       *Message
	subject string
	cause   int64
	rank    int
	n       uint64
	record  bool // published by a source: a record, not what a filter emitted
}

func (rs *replayState) addPublisher(r *runner) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.pubs = append(rs.pubs, &replayPub{r: r, source: r.input != nil})
	return len(rs.pubs) - 1
}

func (rs *replayState) setRanks(order []*runner) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, p := range rs.pubs {
		for i, r := range order {
			if p.r == r {
				p.rank = i
			}
		}
	}
}

// trim forgets the marks of every message sent so far: once the runners
// have settled, every one of them has been received.
func (rs *replayState) trim() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, p := range rs.pubs {
		p.base, p.marks = p.seq, p.marks[:0]
	}
}

// markReplay gives m its sequence number, and its UUID when it has none;
// under p.mu, so that the numbers follow the batch order.
func (p *publisher) markReplay(m *Message) {
	r, rs := p.r, p.r.rt.replay
	rs.mu.Lock()
	rp := rs.pubs[p.rid]
	seq := rp.seq
	rp.seq++
	rp.marks = append(rp.marks, replayMark{cause: r.rp.cause, n: r.rp.emitted})
	rs.mu.Unlock()
	r.rp.emitted++
	if m.UUID == (UUID{}) {
		m.UUID = replayUUID(m.Timestamp, p.rid, seq)
	}
	if p.enc.Len() == 0 {
		p.rfirst = seq
	}
}

// replayUUID is a version 7 UUID (RFC 9562) from the data's time, with the
// publisher's number and the message's sequence number in place of random
// bits: the same in every run of the same replay.
func replayUUID(ts int64, pub int, seq uint64) UUID {
	var u UUID
	binary.BigEndian.PutUint64(u[0:8], uint64(ts/int64(time.Millisecond))<<16)
	u[6] = 0x70 | byte(pub>>8)&0x0f
	u[7] = byte(pub)
	binary.BigEndian.PutUint64(u[8:16], seq)
	u[8] = 0x80 | u[8]&0x3f
	return u
}

// replayBatch is the batch being filled, with the header that says who sent
// it; under p.mu.
func (p *publisher) replayBatch() *nats.Msg {
	h := nats.Header{}
	h.Set(replayHeader, strconv.Itoa(p.rid)+" "+strconv.FormatUint(p.rfirst, 10))
	return &nats.Msg{Subject: p.subject, Data: p.enc.Bytes(), Header: h}
}

// hold keeps a batch for the driver, each message with its cause.
func (r *runner) hold(msg *nats.Msg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs, err := r.dec.Decode(msg.Data)
	var pub, first uint64
	if err == nil {
		id, seq, ok := strings.Cut(msg.Header.Get(replayHeader), " ")
		pub, err = strconv.ParseUint(id, 10, 31)
		if err == nil {
			first, err = strconv.ParseUint(seq, 10, 64)
		}
		if err != nil || !ok {
			err = fmt.Errorf("replay: batch without a valid %s header", replayHeader)
		}
	}
	rs := r.rt.replay
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err == nil && int(pub) >= len(rs.pubs) {
		err = fmt.Errorf("replay: batch from unknown publisher %d", pub)
	}
	if err != nil {
		r.stats.Errors.Add(1)
		r.stats.Dropped.Add(uint64(len(msgs)))
		r.rp.badBatch++
		r.warnf("replay: batch not held", "subject", msg.Subject, "err", err)
		return
	}
	p := rs.pubs[pub]
	for j, m := range msgs {
		seq := first + uint64(j)
		if seq < p.base || seq-p.base >= uint64(len(p.marks)) {
			r.stats.Errors.Add(1)
			r.stats.Dropped.Add(1)
			r.rp.badBatch++
			r.warnf("replay: message of unknown cause", "subject", msg.Subject, "seq", seq)
			continue
		}
		mk := p.marks[seq-p.base]
		r.rp.held = append(r.rp.held, heldMessage{m: m.Clone(), subject: msg.Subject, cause: mk.cause,
			rank: p.rank, n: mk.n, record: p.source})
		r.rp.received++
	}
}

// replayDriver publishes the records and has the runners take what they
// hold, in flow order.
type replayDriver struct {
	rt         *Runtime
	rs         *replayState
	order      []*runner
	sink       ReplaySink
	sinkRunner *runner
	stats      *ReplayStats
	last       int64 // the latest record Timestamp
	warnedGap  bool
}

func (d *replayDriver) run(ctx context.Context, src ReplaySource, sources []*runner) error {
	var cause int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if m.Timestamp == 0 {
			return fmt.Errorf("record %d has no Timestamp: replay runs on the data's clock", cause+1)
		}
		if cause == 0 || m.Timestamp > d.last {
			d.last = m.Timestamp
		}
		for _, r := range sources {
			r.rp.now, r.rp.cause = m.Timestamp, cause
			if err := r.pub.Emit(m); err != nil {
				return fmt.Errorf("replay: publish record %d: %w", cause+1, err)
			}
		}
		cause++
		d.stats.Records++
		if cause%replayChunk == 0 {
			if err := d.settle(); err != nil {
				return err
			}
		}
	}
	if err := d.settle(); err != nil {
		return err
	}
	// The final ticks, upstream first, each followed by what it caused.
	for _, r := range d.order {
		if r.ticker == nil || r.cfg.TickerInterval <= 0 {
			continue
		}
		if !r.rp.clockSet && d.stats.Records == 0 {
			continue // no data, no data time
		}
		clock := d.last
		if r.rp.clockSet {
			clock = r.rp.clock
		}
		r.mu.Lock()
		r.replayTick(nextBoundary(clock, int64(r.cfg.TickerInterval)), true, cause)
		r.mu.Unlock()
		if err := d.settle(); err != nil {
			return err
		}
	}
	return d.check()
}

// settle has every runner take what it holds, in flow order, until nothing
// is held or in flight.
func (d *replayDriver) settle() error {
	for {
		progressed := false
		for _, r := range d.order {
			if err := d.rt.quiesce(); err != nil {
				return err
			}
			n, err := d.take(r)
			if err != nil {
				return err
			}
			if n > 0 {
				progressed = true
			}
		}
		if !progressed {
			if err := d.rt.quiesce(); err != nil {
				return err
			}
			if !d.anyHeld() {
				d.rs.trim()
				return nil
			}
		}
	}
}

func (d *replayDriver) anyHeld() bool {
	for _, r := range d.order {
		r.mu.Lock()
		n := len(r.rp.held)
		r.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

// take has r handle what it holds, in the order of their causes; it
// returns how many messages that was.
func (d *replayDriver) take(r *runner) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	held := r.rp.held
	r.rp.held = nil // what arrives meanwhile (a filter that hears itself) waits for the next pass
	if len(held) == 0 {
		return 0, nil
	}
	sort.SliceStable(held, func(i, j int) bool {
		a, b := &held[i], &held[j]
		if a.cause != b.cause {
			return a.cause < b.cause
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.n < b.n
	})
	if r == d.sinkRunner {
		for _, h := range held {
			if h.record {
				continue // a filter publishes to the records' subject: the records are not its output
			}
			if err := d.sink.Write(h.subject, h.cause, h.m); err != nil {
				return len(held), fmt.Errorf("replay: write: %w", err)
			}
			d.stats.Written++
			r.stats.Out.Add(1)
		}
		return len(held), nil
	}
	if r.filter == nil {
		return len(held), nil // a source that hears a filter: nothing to do with it
	}
	ticks := r.ticker != nil && r.cfg.TickerInterval > 0
	for _, h := range held {
		m := h.m
		if ticks {
			r.replayClock(m.Timestamp, h.cause, d)
		}
		r.rp.now, r.rp.cause = m.Timestamp, h.cause
		if r.cfg.Matcher != nil && !r.cfg.Matcher.Match(m) {
			continue
		}
		r.stats.In.Add(1)
		start := time.Now()
		var err error
		if r.sfilter != nil {
			err = r.sfilter.ProcessFrom(h.subject, m, r.pub.orNone())
		} else {
			err = r.filter.Process(m, r.pub.orNone())
		}
		if err != nil {
			r.processFailed(m, err)
		}
		r.stats.ProcessNanos.Add(int64(time.Since(start)))
	}
	return len(held), nil
}

// replayClock moves r's clock to ts, ticking at each boundary it crosses;
// under r.mu.
func (r *runner) replayClock(ts, cause int64, d *replayDriver) {
	if !r.rp.clockSet {
		r.rp.clock, r.rp.clockSet = ts, true
		return
	}
	if ts <= r.rp.clock {
		return
	}
	iv := int64(r.cfg.TickerInterval)
	first := nextBoundary(r.rp.clock, iv)
	r.rp.clock = ts
	if first > ts {
		return
	}
	last := ts - floorMod(ts, iv)
	if n := (last-first)/iv + 1; n > maxGapTicks {
		r.replayTick(first, false, cause)
		r.replayTick(last, false, cause)
		r.rp.skipped += uint64(n - 2)
		if !d.warnedGap {
			d.warnedGap = true
			r.log.Warn("replay: a gap in the data spans more ticks than a replay gives; only its first and last tick were given",
				"from", time.Unix(0, first).UTC(), "to", time.Unix(0, last).UTC(), "ticks_skipped", n-2, "max_gap_ticks", maxGapTicks)
		}
		return
	}
	for t := first; t <= last; t += iv {
		r.replayTick(t, false, cause)
	}
}

// replayTick calls Tick at the data's time t; under r.mu.
func (r *runner) replayTick(t int64, final bool, cause int64) {
	r.rp.now, r.rp.cause = t, cause
	r.rp.ticks++
	start := time.Now()
	if err := r.ticker.Tick(time.Unix(0, t).UTC(), final, r.pub.orNone()); err != nil {
		r.stats.Errors.Add(1)
		r.warnf("timer failed", "err", err)
	}
	r.stats.ProcessNanos.Add(int64(time.Since(start)))
}

// nextBoundary is the first multiple of iv after t.
func nextBoundary(t, iv int64) int64 { return t - floorMod(t, iv) + iv }

func floorMod(t, iv int64) int64 {
	m := t % iv
	if m < 0 {
		m += iv
	}
	return m
}

// check says whether anything was lost: the sink must have got every
// message the filters emitted, and no batch may have been refused.
func (d *replayDriver) check() error {
	var emitted, bad uint64
	for _, r := range d.order {
		bad += r.rp.badBatch
		if r.filter != nil {
			emitted += r.stats.Out.Load()
		}
	}
	if bad > 0 {
		return fmt.Errorf("replay: %d messages could not be ordered and were dropped", bad)
	}
	if emitted != d.stats.Written {
		return fmt.Errorf("replay: the filters emitted %d messages but %d reached the output", emitted, d.stats.Written)
	}
	return nil
}

func (d *replayDriver) fillStats() {
	for _, r := range d.order {
		r.mu.Lock()
		d.stats.Ticks += r.rp.ticks
		d.stats.TicksSkipped += r.rp.skipped
		if r.filter != nil {
			s := r.stats.Snapshot()
			d.stats.Filters = append(d.stats.Filters, ReplayFilterStats{ID: r.cfg.ID(), Received: r.rp.received,
				In: s.In, Out: s.Out, Dropped: s.Dropped, Errors: s.Errors, Ticks: r.rp.ticks})
		}
		r.mu.Unlock()
	}
}
