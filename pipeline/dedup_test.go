package pipeline

import (
	"fmt"
	"testing"
	"time"
)

// lines makes the messages of lines [from, to) of a file whose lines are
// 10 bytes long: line i starts at offset 10*i.
func lines(source byte, from, to int) []*Message {
	var out []*Message
	for i := from; i < to; i++ {
		m := &Message{Payload: fmt.Appendf(nil, "%d/%d", source, i)}
		m.UUID = OriginUUID([8]byte{source}, int64(10*i))
		out = append(out, m)
	}
	return out
}

func payloads(msgs []*Message) string {
	s := ""
	for _, m := range msgs {
		s += string(m.Payload) + " "
	}
	return s
}

func TestOriginUUIDRoundTrip(t *testing.T) {
	src := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	for _, off := range []int64{0, 1, 99, 1 << 40, 1<<62 - 1} {
		u := OriginUUID(src, off)
		s, o, ok := u.Origin()
		if !ok || o != off || s[0] != 1 || s[7] != 8 {
			t.Fatalf("offset %d: got %v %d %v", off, s, o, ok)
		}
		if u[6]>>4 != 8 || u[8]>>6 != 2 {
			t.Fatalf("not a version 8, RFC 9562 variant UUID: %s", u)
		}
	}
	if _, _, ok := NewUUID(time.Unix(1700000000, 0)).Origin(); ok {
		t.Fatal("a version 7 UUID taken for an origin")
	}
}

// A batch read again after a crash, overlapping what was had, loses its
// copies and keeps its new lines; messages without an origin pass.
func TestOriginWindowDropsLinesReadAgain(t *testing.T) {
	var w originWindow
	for _, b := range [][2]int{{0, 50}, {50, 100}} {
		kept, had, _ := w.filter("s", lines(1, b[0], b[1]))
		if had != 0 || len(kept) != b[1]-b[0] {
			t.Fatalf("batch %v: kept %d, had %d", b, len(kept), had)
		}
		w.taken()
	}
	// The restarted input resumes from its checkpoint at line 70.
	again := append(lines(1, 70, 120), &Message{Payload: []byte("no origin"), UUID: NewUUID(time.Unix(1700000000, 0))})
	kept, had, plain := w.filter("s", again)
	w.taken()
	if had != 30 || len(kept) != 21 || string(kept[0].Payload) != "1/100" || plain != 1 {
		t.Fatalf("kept %d (first %q), had %d, %d without origin; want 21 from 1/100, 30 had, 1 without", len(kept), kept[0].Payload, had, plain)
	}
	// Another file, and the same file on another subject, are other sources.
	if _, had, _ := w.filter("s", lines(2, 0, 10)); had != 0 {
		t.Fatalf("another source: %d had", had)
	}
	w.taken()
	if _, had, _ := w.filter("dead", lines(1, 0, 10)); had != 0 {
		t.Fatalf("another subject: %d had", had)
	}
}

// A batch the output did not take comes again later, after batches that
// follow it: it must be taken then, not mistaken for a copy; nor may a
// later span be merged over a batch that has not come back yet.
func TestOriginWindowGapsAreNotMerged(t *testing.T) {
	var w originWindow
	step := func(from, to int, take bool) int {
		t.Helper()
		_, had, _ := w.filter("s", lines(1, from, to))
		if take {
			w.taken()
		} else {
			w.missed()
		}
		return had
	}
	step(0, 10, true)
	step(10, 20, false) // held
	step(20, 30, false) // held
	step(30, 40, true)
	if had := step(10, 20, true); had != 0 {
		t.Fatalf("the held batch 10-20 came back and %d of it was dropped", had)
	}
	step(40, 50, true) // must not be merged with 10-20 across 20-30
	if had := step(20, 30, true); had != 0 {
		t.Fatalf("the held batch 20-30 came back and %d of it was dropped", had)
	}
	// Everything had is recognised, whatever the order it came in.
	if had := step(0, 50, true); had != 50 {
		t.Fatalf("lines 0-50 again: %d had, want 50", had)
	}
}

// Contiguous batches merge into one span, so a long run of small batches
// is remembered whole however many there were.
func TestOriginWindowMergesContiguousBatches(t *testing.T) {
	var w originWindow
	for i := 0; i < 1000; i++ {
		w.filter("s", lines(1, 2*i, 2*i+2))
		w.taken()
	}
	if len(w.sources) != 1 {
		t.Fatalf("%d sources, want 1", len(w.sources))
	}
	for _, s := range w.sources {
		if len(s.spans) != 1 {
			t.Fatalf("%d spans, want 1", len(s.spans))
		}
	}
	kept, had, _ := w.filter("s", lines(1, 0, 2001))
	if had != 2000 || payloads(kept) != "1/2000 " {
		t.Fatalf("had %d, kept %q", had, payloads(kept))
	}
}

func TestOriginWindowForgetsLeastRecentSources(t *testing.T) {
	var w originWindow
	for i := 0; i < 3*originSources; i++ {
		m := &Message{UUID: OriginUUID([8]byte{byte(i), byte(i >> 8), byte(i >> 16)}, 0)}
		w.filter("s", []*Message{m})
		w.taken()
	}
	if n := len(w.sources); n > originSources {
		t.Fatalf("%d sources kept, want at most %d", n, originSources)
	}
	last := 3*originSources - 1
	m := &Message{UUID: OriginUUID([8]byte{byte(last), byte(last >> 8), byte(last >> 16)}, 0)}
	if _, had, _ := w.filter("s", []*Message{m}); had != 1 {
		t.Fatal("the most recent source was forgotten")
	}
}

// A durable delivery lost on the way (its server died) skips a consumer
// sequence; the batch comes again later, after the ones that follow it, and
// must be taken then: the spans around the hole are not merged.
func TestOriginWindowLostDeliveryIsNotMergedOver(t *testing.T) {
	var w originWindow
	deliver := func(seq uint64, from, to int) int {
		t.Helper()
		w.delivered(seq)
		_, had, _ := w.filter("s", lines(1, from, to))
		w.taken()
		return had
	}
	deliver(1, 0, 100)
	// seq 2 (lines 100-199) never arrives
	deliver(3, 200, 300)
	deliver(4, 300, 400)
	if had := deliver(5, 100, 200); had != 0 {
		t.Fatalf("the redelivered batch 100-199: %d of its lines dropped as had", had)
	}
	if had := deliver(6, 0, 400); had != 400 {
		t.Fatalf("everything again: %d had, want 400", had)
	}
}
