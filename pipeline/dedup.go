package pipeline

// A file input reads some lines twice: after a crash (kill -9, power loss)
// it resumes from its last checkpoint, and the lines it had sent after that
// checkpoint come again. Their messages carry the same UUID both times
// (OriginUUID: the file's source id and the line's offset), and each
// subscription drops the second copy and counts it in duplicates.
//
// Per source, a subscription keeps the spans of offsets it has had: [first,
// last] line starts of one source in one batch, merged with the span before
// while batches follow one another. An input sends a file's lines in order
// and a batch holds a run of them, so a line whose offset lies in a span has
// been had. A batch the output did not take (held for redelivery, or
// dropped), and a durable delivery that never arrived (a consumer sequence
// skipped), open a gap: the next span is not merged across it, so that the
// batch, when it comes again, is not mistaken for a copy.

const (
	originSpans   = 16   // spans kept per source
	originSources = 4096 // sources kept per subscription; the least recent go first
)

type originKey struct {
	subject string // a dead letter of the same line travels on another subject
	source  [8]byte
}

type span struct{ first, last int64 }

type originSource struct {
	spans []span
	hwm   int    // index of the span with the highest offsets
	gap   bool   // a batch of this source was not taken since hwm grew
	used  uint64 // batch count when last seen, for eviction
}

// originWindow is one subscription's memory of the origins it has had.
type originWindow struct {
	sources map[originKey]*originSource
	batches uint64
	runs    []originRun // scratch: this batch's runs
	lastSeq uint64      // durable: the consumer sequence of the last delivery
}

// delivered tells w the consumer sequence of a durable delivery. A number
// skipped is a delivery that never arrived (its server died with it): it
// comes again later, so no span may be merged across it.
func (w *originWindow) delivered(seq uint64) {
	if w == nil {
		return
	}
	if w.lastSeq != 0 && seq != w.lastSeq+1 {
		for _, s := range w.sources {
			s.gap = true
		}
	}
	w.lastSeq = seq
}

// originRun is the part of a batch from one source not had before.
type originRun struct {
	src         *originSource
	first, last int64
}

func (s *originSource) had(off int64) bool {
	for _, sp := range s.spans {
		if off >= sp.first && off <= sp.last {
			return true
		}
	}
	return false
}

// filter drops from msgs the messages whose origin was had before, and
// returns what is left, how many it dropped, and how many of those left
// have no origin. The runs of the new ones are remembered by taken, once
// the output has them.
func (w *originWindow) filter(subject string, msgs []*Message) (kept []*Message, dropped, plain int) {
	w.batches++
	w.runs = w.runs[:0]
	kept = msgs[:0]
	var cur *originSource
	var curKey originKey
	for _, m := range msgs {
		source, off, ok := m.UUID.Origin()
		if !ok {
			kept = append(kept, m)
			plain++
			continue
		}
		if cur == nil || source != curKey.source {
			curKey = originKey{subject, source}
			cur = w.source(curKey)
		}
		if cur.had(off) {
			dropped++
			continue
		}
		kept = append(kept, m)
		if n := len(w.runs); n > 0 && w.runs[n-1].src == cur && off > w.runs[n-1].last {
			w.runs[n-1].last = off
		} else {
			w.runs = append(w.runs, originRun{src: cur, first: off, last: off})
		}
	}
	return kept, dropped, plain
}

func (w *originWindow) source(k originKey) *originSource {
	if w.sources == nil {
		w.sources = map[originKey]*originSource{}
	}
	s := w.sources[k]
	if s == nil {
		if len(w.sources) >= originSources {
			w.evict()
		}
		s = &originSource{hwm: -1}
		w.sources[k] = s
	}
	s.used = w.batches
	return s
}

// evict forgets the least recently seen half of the sources.
func (w *originWindow) evict() {
	var sum uint64
	for _, s := range w.sources {
		sum += s.used
	}
	cut := sum / uint64(len(w.sources)) // the mean: about half are older
	for k, s := range w.sources {
		if s.used <= cut {
			delete(w.sources, k)
		}
	}
}

// taken remembers the runs of the last filtered batch: the output has them.
func (w *originWindow) taken() {
	if w == nil {
		return
	}
	for _, r := range w.runs {
		s := r.src
		if s.hwm >= 0 && !s.gap && r.first > s.spans[s.hwm].last {
			s.spans[s.hwm].last = r.last
			continue
		}
		newHigh := s.hwm < 0 || r.last > s.spans[s.hwm].last
		if len(s.spans) < originSpans {
			s.spans = append(s.spans, span{r.first, r.last})
			if newHigh {
				s.hwm = len(s.spans) - 1
			}
		} else {
			i := s.oldest()
			s.spans[i] = span{r.first, r.last}
			if newHigh {
				s.hwm = i
			}
		}
		if newHigh {
			s.gap = false
		}
	}
	w.runs = w.runs[:0]
}

// oldest picks the span to overwrite: the lowest one that is not hwm.
func (s *originSource) oldest() int {
	best := -1
	for i, sp := range s.spans {
		if i != s.hwm && (best < 0 || sp.last < s.spans[best].last) {
			best = i
		}
	}
	return best
}

// missed marks a gap in the sources of the last filtered batch: the output
// did not take it, and it may come again.
func (w *originWindow) missed() {
	if w == nil {
		return
	}
	for _, r := range w.runs {
		r.src.gap = true
	}
	w.runs = w.runs[:0]
}
