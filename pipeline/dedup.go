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
//
// A durable subscription also keeps its window on disk (originJournal), so
// that after a crash it still drops what it had: the batches the stream
// delivers again (written, not acked) and the lines the input reads again.
// The batch being written when the process died is in doubt: it may or may
// not have reached the output. Its lines are written when they come again,
// and counted as duplicates then.

const (
	originSpans   = 16   // spans kept per source
	originSources = 4096 // sources kept per subscription; the least recent go first
	originDoubts  = 16   // runs in doubt kept per source; the oldest go first
)

type originKey struct {
	subject string // a dead letter of the same line travels on another subject
	source  [8]byte
}

type span struct{ first, last int64 }

type originSource struct {
	spans  []span
	hwm    int    // index of the span with the highest offsets
	gap    bool   // a batch of this source was not taken since hwm grew
	used   uint64 // batch count when last seen, for eviction
	doubts []doubt
}

// doubt is a run of lines that may have reached the output, or not: the
// process stopped, or the output failed, while it was writing them.
type doubt struct {
	span
	lines int // of the run, those that have not come again since
}

// originWindow is one subscription's memory of the origins it has had.
type originWindow struct {
	sources map[originKey]*originSource
	batches uint64
	runs    []originRun // scratch: this batch's runs
	lastSeq uint64      // durable: the consumer sequence of the last delivery
	suspect int         // scratch: this batch's lines that are in doubt
	cleared []clearing  // scratch: the doubts they belong to

	journal  *originJournal // durable: the window on disk; nil keeps it in memory only
	intended bool           // the journal has this batch's runs in doubt
}

// delivered tells w the consumer sequence of a durable delivery. A number
// skipped is a delivery that never arrived (its server died with it): it
// comes again later, so no span may be merged across it.
func (w *originWindow) delivered(seq uint64) {
	if w == nil {
		return
	}
	if w.lastSeq != 0 && seq != w.lastSeq+1 {
		for k, s := range w.sources {
			s.gap = true
			w.journal.gap(k)
		}
	}
	w.lastSeq = seq
}

// clearing is how many lines of a batch came from one run in doubt.
type clearing struct {
	key originKey
	src *originSource
	d   span // which doubt: its span
	n   int
}

// originRun is the part of a batch from one source not had before.
type originRun struct {
	key         originKey
	src         *originSource
	first, last int64
	lines       int
}

func (s *originSource) had(off int64) bool {
	for _, sp := range s.spans {
		if off >= sp.first && off <= sp.last {
			return true
		}
	}
	return false
}

// inDoubt returns the doubt off is in, if any.
func (s *originSource) inDoubt(off int64) (span, bool) {
	for _, d := range s.doubts {
		if off >= d.first && off <= d.last {
			return d.span, true
		}
	}
	return span{}, false
}

// addDoubt remembers a run in doubt, forgetting the oldest beyond originDoubts.
func (s *originSource) addDoubt(d doubt) {
	for i := range s.doubts {
		if s.doubts[i].span == d.span { // the same batch failed again
			s.doubts[i] = d
			return
		}
	}
	if len(s.doubts) >= originDoubts {
		s.doubts = append(s.doubts[:0], s.doubts[1:]...)
	}
	s.doubts = append(s.doubts, d)
}

// setDoubt sets how many lines of a doubt have not come again, and forgets
// it at 0. It reports whether s had the doubt.
func (s *originSource) setDoubt(sp span, lines int) bool {
	for i := range s.doubts {
		if s.doubts[i].span == sp {
			if lines > 0 {
				s.doubts[i].lines = lines
			} else {
				s.doubts = append(s.doubts[:i], s.doubts[i+1:]...)
			}
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
	w.suspect = 0
	w.cleared = w.cleared[:0]
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
		if len(cur.doubts) > 0 {
			if d, ok := cur.inDoubt(off); ok {
				w.suspect++
				if n := len(w.cleared); n > 0 && w.cleared[n-1].src == cur && w.cleared[n-1].d == d {
					w.cleared[n-1].n++
				} else {
					w.cleared = append(w.cleared, clearing{key: curKey, src: cur, d: d, n: 1})
				}
			}
		}
		if n := len(w.runs); n > 0 && w.runs[n-1].src == cur && off > w.runs[n-1].last {
			w.runs[n-1].last = off
			w.runs[n-1].lines++
		} else {
			w.runs = append(w.runs, originRun{key: curKey, src: cur, first: off, last: off, lines: 1})
		}
	}
	return kept, dropped, plain
}

// intend records in the journal, before the output gets the last filtered
// batch, that its runs are in doubt until taken and committed.
func (w *originWindow) intend() {
	if w == nil || w.journal == nil || len(w.runs) == 0 {
		return
	}
	w.journal.intend(w)
	w.intended = true
}

// commit writes to the journal what taken recorded; the runtime calls it
// once the output has the batch (written and flushed), before the ack.
func (w *originWindow) commit() {
	if w != nil && w.journal != nil {
		w.journal.commit(w)
	}
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
// It returns how many of its lines were in doubt: written again now, and
// perhaps before the crash too, they count as duplicates.
func (w *originWindow) taken() (suspect int) {
	if w == nil {
		return 0
	}
	for _, r := range w.runs {
		s := r.src
		if s.hwm >= 0 && !s.gap && r.first > s.spans[s.hwm].last {
			s.spans[s.hwm].last = r.last
			w.journal.span(r.key, s, s.hwm)
			continue
		}
		newHigh := s.hwm < 0 || r.last > s.spans[s.hwm].last
		i := len(s.spans)
		if i < originSpans {
			s.spans = append(s.spans, span{r.first, r.last})
		} else {
			i = s.oldest()
			s.spans[i] = span{r.first, r.last}
		}
		if newHigh {
			s.hwm = i
			s.gap = false
		}
		w.journal.span(r.key, s, i)
	}
	// Lines in doubt that came again are had now: their doubt shrinks.
	for _, c := range w.cleared {
		for _, d := range c.src.doubts {
			if d.span == c.d {
				left := max(d.lines-c.n, 0)
				c.src.setDoubt(d.span, left)
				w.journal.clear(c.key, d.span, left)
				break
			}
		}
	}
	if w.intended {
		w.journal.done()
		w.intended = false
	}
	w.runs = w.runs[:0]
	w.cleared = w.cleared[:0]
	suspect, w.suspect = w.suspect, 0
	return suspect
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
		w.journal.gap(r.key)
		if w.intended {
			// The output may have written part of it before it failed.
			r.src.addDoubt(doubt{span{r.first, r.last}, r.lines})
		}
	}
	w.intended = false
	w.runs = w.runs[:0]
	w.suspect = 0
	w.cleared = w.cleared[:0]
}

// restoreSpan sets span i of a source to sp, as the journal recorded it.
// It reports false for an index that no run of taken could have made.
func (w *originWindow) restoreSpan(k originKey, i int, sp span, high bool) bool {
	s := w.source(k)
	switch {
	case i < len(s.spans):
		s.spans[i] = sp
	case i == len(s.spans) && i < originSpans:
		s.spans = append(s.spans, sp)
	default:
		return false
	}
	if high {
		s.hwm, s.gap = i, false // as taken does when a span becomes the highest
	}
	return true
}

// restored ends a restore and says what it brought back. Gaps are restored
// too, and none is opened: a durable consumer delivers again, in stream
// order, what it had not acked (restartConsumer), so the next run follows
// the last one taken as it would have without the restart.
func (w *originWindow) restored() (sources, doubtLines int) {
	for _, s := range w.sources {
		for _, d := range s.doubts {
			doubtLines += d.lines
		}
	}
	return len(w.sources), doubtLines
}

// close closes the window's journal, if it has one.
func (w *originWindow) close() {
	if w != nil {
		w.journal.close(w)
	}
}
