package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

type publisher struct {
	r       *runner
	subject string
	max     int
	linger  time.Duration

	mu      sync.Mutex
	enc     BatchEncoder
	timer   *time.Timer
	armed   bool
	stopped bool
	local   []*subscription // this process's subscribers of subject, other than r
	durable bool            // publish to the stream and wait for its ack
	first   UUID            // of the batch's first message: the batch id
	rid     int             // replay mode: the publisher's number
	rfirst  uint64          // replay mode: the sequence number of the batch's first message
	lost    error           // durable: the first batch the stream never stored
	retry   drainRetry      // durable, draining: when retries of a failing store stop
	// paused: a reload is swapping subscriptions; batches wait in held,
	// in order, until resume publishes them (see reload.go).
	paused bool
	held   []heldBatch

	pool sync.Pool // scratch messages for EmitLine

	// unfenced counts the bytes published since the last fence, and fence
	// is closed once what was published before it has come back from the
	// embedded server (fenceLocked); startFence, if set, makes fences
	// instead of the bus.
	unfenced   int
	fence      <-chan struct{}
	startFence func() <-chan struct{}
}

func newPublisher(r *runner, subject string) *publisher {
	p := &publisher{r: r, subject: subject, max: r.rt.cfg.Nats.BatchBytes, linger: time.Duration(r.rt.cfg.Nats.BatchLinger)}
	p.timer = time.AfterFunc(time.Hour, func() {
		p.mu.Lock()
		p.armed = false
		p.flushLocked()
		p.mu.Unlock()
	})
	p.timer.Stop()
	p.pool.New = func() any { return new(Message) }
	if rs := r.rt.replay; rs != nil {
		p.rid = rs.addPublisher(r)
	}
	return p
}

// heldBatch is a batch a paused publisher has not published yet.
type heldBatch struct {
	data []byte
	n    int
}

// findLocal looks for the subscriptions of this process's other
// runners that get what p publishes: p holds back while one of them is far
// behind. Done again after a reload changed the runners.
func (p *publisher) findLocal() {
	if p == nil {
		return
	}
	var local []*subscription
	for _, r := range p.r.rt.list() {
		if r == p.r {
			continue // a plugin that hears itself must not wait for itself
		}
		for _, s := range r.subs {
			if SubjectMatches(s.pattern, p.subject) {
				local = append(local, s)
			}
		}
	}
	p.mu.Lock()
	p.local = local
	p.mu.Unlock()
}

// pause makes p keep its batches from now on, instead of publishing them,
// until resume. A durable publisher is not paused: its stream keeps what
// it stores for whichever consumer comes.
func (p *publisher) pause() {
	if p == nil || p.durable {
		return
	}
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}

// resume publishes the batches kept while paused, in order, and the one
// being filled.
func (p *publisher) resume() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.paused {
		return
	}
	p.paused = false
	held := p.held
	p.held = nil
	for _, b := range held {
		p.publish(b.data, b.n)
	}
	p.flushLocked()
}

// noEmitter rejects emits from a plugin without a publish subject.
type noEmitter struct{}

func (noEmitter) Emit(*Message) error {
	return errors.New("this plugin has no publish subject: set publish = \"...\"")
}

func (p *publisher) orNone() Emitter {
	if p == nil {
		return noEmitter{}
	}
	return p
}

// Emit stamps missing headers and adds m to the batch.
func (p *publisher) Emit(m *Message) error {
	p.stamp(m)
	return p.add(m, nil, false)
}

// EmitExtended adds base with extra appended to its fields to the batch
// (see Extender). A base with a header to stamp is encoded in full, since
// its record is not what is sent.
func (p *publisher) EmitExtended(base *Message, extra []Field) error {
	if p.unstamped(base) {
		m := *base
		m.rec = recordSpan{}
		m.Fields = append(slices.Clip(base.Fields), extra...)
		return p.Emit(&m)
	}
	return p.add(base, extra, true)
}

// unstamped reports whether stamp would change m, or markReplay its UUID.
func (p *publisher) unstamped(m *Message) bool {
	return m.Timestamp == 0 || m.UUID == (UUID{}) || m.Hostname == "" || m.Logger == ""
}

// stamp fills in the headers m lacks.
func (p *publisher) stamp(m *Message) {
	r := p.r
	if r.rt.replay != nil {
		if m.Timestamp == 0 {
			m.Timestamp = r.rp.now // the data's time, not the wall clock
		}
		// The UUID is made under p.mu, from the replay's sequence.
	} else if m.Timestamp == 0 || m.UUID == (UUID{}) {
		now := time.Now()
		if m.Timestamp == 0 {
			m.Timestamp = now.UnixNano()
		}
		if m.UUID == (UUID{}) {
			m.UUID = NewUUID(now)
		}
	}
	if m.Hostname == "" {
		// Made here: this host, this process. A message that names another
		// host (a syslog line relayed) keeps its Pid, even an unknown one.
		m.Hostname = r.rt.cfg.Agent.Name
		if m.Pid == 0 {
			m.Pid = r.rt.pid
		}
	}
	if m.Logger == "" {
		m.Logger = r.cfg.Name
	}
}

// add adds m to the batch; extended, with extra appended to its fields by
// BatchEncoder.AddExtended.
func (p *publisher) add(m *Message, extra []Field, extended bool) error {
	r := p.r
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		r.stats.Dropped.Add(1)
		return errors.New("pipeline stopped")
	}
	if r.rt.replay != nil {
		p.markReplay(m)
	}
	if p.enc.Len() == 0 {
		p.first = m.UUID
	}
	if extended {
		p.enc.AddExtended(m, extra)
	} else {
		p.enc.Add(m)
	}
	if p.enc.Size() >= p.max {
		p.flushLocked()
	} else if !p.armed {
		p.armed = true
		p.timer.Reset(p.linger)
	}
	p.mu.Unlock()
	r.stats.Out.Add(1)
	return nil
}

func (p *publisher) flush() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.flushLocked()
	p.mu.Unlock()
}

func (p *publisher) empty() bool {
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.enc.Len() == 0
}

func (p *publisher) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.stopped = true
	p.timer.Stop()
	p.mu.Unlock()
}

// backpressureWait bounds how long a publisher waits for a stuck local
// subscriber; past it, the batch is queued anyway (memory, not loss).
const backpressureWait = 10 * time.Second

// flushLocked publishes the batch being filled. The error says that it was
// dropped; a durable batch the stream never stored is also kept in p.lost,
// so that no later flush reports the lines before it as delivered.
func (p *publisher) flushLocked() error {
	n := p.enc.Len()
	if n == 0 {
		return nil
	}
	rt := p.r.rt
	if p.durable {
		err := p.publishDurable(p.enc.Bytes(), n)
		if err != nil {
			p.r.stats.Dropped.Add(uint64(n))
			p.r.log.Error("durable publish still failing at shutdown, messages dropped", "subject", p.subject, "messages", n, "err", err)
			if p.lost == nil {
				p.lost = fmt.Errorf("durable publish to %s: %w", p.subject, err)
			}
		} else {
			rt.published.Add(1)
		}
		p.enc.Reset()
		return err // the stream's consumers hold back by max ack pending
	}
	if p.paused {
		p.held = append(p.held, heldBatch{data: bytes.Clone(p.enc.Bytes()), n: n})
		p.enc.Reset()
		return nil
	}
	var err error
	size := p.enc.Size()
	if rt.replay != nil {
		err = rt.bus.Conn.PublishMsg(p.replayBatch())
		p.count(err, n)
	} else {
		err = p.publish(p.enc.Bytes(), n)
	}
	p.enc.Reset()
	if err != nil {
		return err
	}
	// Backpressure: hold this publisher (and so its input or filter) while a
	// subscriber in this process is too far behind.
	limit := rt.cfg.Nats.MaxPendingBytes
	deadline := time.Time{}
	p.fenceLocked(size)
	for _, s := range p.local {
		for {
			_, b, err := s.sub.Pending()
			if err != nil || int64(b) <= limit {
				break
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(backpressureWait)
			} else if time.Now().After(deadline) {
				p.r.warnf("subscriber still behind, publishing anyway", "subject", s.pattern)
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	return nil
}

// fenceEvery is how many bytes a publisher with subscribers in this process
// sends between two fences. It waits for the one before at each, so the
// embedded server holds at most about twice this of its batches on their
// way back: enough for every stage between to be busy.
const fenceEvery = 256 << 10

// fenceLocked, every fenceEvery bytes, waits until the batches published
// before the previous fence have come back from the embedded server, and
// sets a new fence. The subscribers' pending counts see a batch only once
// it has come back: without the fence, a publisher that runs ahead of the
// connection's reader piles its batches up in the server's outbound buffer
// for this connection, in memory and with no bound.
func (p *publisher) fenceLocked(size int) {
	start := p.startFence
	if start == nil {
		if p.r.rt.bus.Server == nil {
			return // an external server holds what is on its way, not this process
		}
		start = p.r.rt.bus.fence
	}
	if len(p.local) == 0 {
		return
	}
	if p.unfenced += size; p.unfenced < fenceEvery {
		return
	}
	p.unfenced = 0
	if p.fence != nil {
		select {
		case <-p.fence:
		default:
			select {
			case <-p.fence:
			case <-time.After(backpressureWait):
				p.r.warnf("the embedded NATS server has not delivered what this plugin published, publishing anyway", "subject", p.subject)
			}
		}
	}
	p.fence = start()
}

// publish sends one batch of n messages to p's subject.
func (p *publisher) publish(data []byte, n int) error {
	err := p.r.rt.bus.Conn.Publish(p.subject, data)
	p.count(err, n)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", p.subject, err)
	}
	return nil
}

// count counts a batch of n messages published, or dropped with err.
func (p *publisher) count(err error, n int) {
	if err != nil {
		p.r.stats.Dropped.Add(uint64(n))
		p.r.stats.Errors.Add(1)
		p.r.warnf("publish failed, messages dropped", "subject", p.subject, "messages", n, "err", err)
		return
	}
	p.r.rt.published.Add(1)
}

// lineEmitter is the LineEmitter given to an input.
type lineEmitter struct {
	*publisher
}

var _ LineEmitter = lineEmitter{}

// Flush publishes the batch being filled and returns once every line emitted
// before it has left: in durable mode, once the stream acked it. Holding p.mu
// also waits for a batch the linger timer is publishing. A durable batch
// that was dropped fails every later Flush: an input's checkpoint must stay
// before it.
func (e lineEmitter) Flush() error {
	p := e.publisher
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.flushLocked()
	if p.lost != nil {
		return p.lost
	}
	return err
}

// Emit counts a message an input made itself (not from a line) and emits it.
func (e lineEmitter) Emit(m *Message) error {
	e.r.stats.In.Add(1)
	return e.publisher.Emit(m)
}

// EmitLine decodes one line and emits it. The line is copied into the batch
// before EmitLine returns.
func (e lineEmitter) EmitLine(line []byte) error {
	return e.EmitLineAt(line, nil)
}

// EmitLineAt is EmitLine for a line whose origin the input knows: its
// message gets the origin's UUID and path tag.
func (e lineEmitter) EmitLineAt(line []byte, at *LineOrigin) error {
	p := e.publisher
	r := p.r
	r.stats.In.Add(1)
	m := p.pool.Get().(*Message)
	defer p.pool.Put(m)
	m.Reset()
	m.Payload = line
	m.Severity = DefaultSeverity // a decoder that finds a level overwrites it
	if r.decoder == nil {
		m.Type = "log"
		return p.Emit(at.stamp(m))
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	now := time.Now()
	m.Timestamp = now.UnixNano()
	var err error
	if r.tdec != nil {
		err = r.tdec.DecodeTransient(line, m) // Emit encodes m before this returns
	} else {
		err = r.decoder.Decode(line, m)
	}
	if err == nil {
		if at == nil && m.UUID == (UUID{}) && r.rt.replay == nil {
			// The UUID Emit would make, from this clock reading: one
			// time.Now a line, not two (the line's own timestamp, if it
			// has one, has replaced Timestamp).
			m.UUID = NewUUID(now)
		}
		return p.Emit(at.stamp(m))
	}
	if errors.Is(err, ErrSkipLine) {
		return nil
	}
	r.stats.Errors.Add(1)
	r.warnf("line failed to decode", "decoder", r.cfg.Decoder, "err", err)
	if r.dead == nil {
		r.stats.Dropped.Add(1)
		return nil
	}
	m.Reset()
	m.Type = "decode_error"
	m.Severity = 3 // error: a line was not understood
	m.Payload = line
	m.AddString("error", err.Error())
	m.AddString("decoder", r.cfg.Decoder)
	return r.dead.Emit(at.stamp(m))
}

// stamp gives m the UUID and path tag of its origin, if it has one.
func (at *LineOrigin) stamp(m *Message) *Message {
	if at == nil {
		return m
	}
	m.UUID = OriginUUID(at.Source, at.Offset)
	if at.PathField != "" && m.Field(at.PathField) == nil {
		m.Fields = append(m.Fields, Field{Name: at.PathField, Kind: KindString, Str: at.Path, Role: RoleTag})
	}
	return m
}
