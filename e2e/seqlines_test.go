package e2e

// Helpers for the tests that write numbered lines to a file an agent tails
// and check that each arrives: the kill -9, central-down and cluster tests.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// seqWriter appends seqLine(0), seqLine(1), ... to a file at a steady rate.
type seqWriter struct {
	written atomic.Int64  // lines written so far
	done    chan struct{} // closed when it has written for its duration
	end     time.Time     // when it stopped; read after done
}

// startSeqWriter appends numbered lines of 100 bytes to path at rate lines/s
// for d, in a write every ~5 ms.
func startSeqWriter(t *testing.T, path string, rate int, d time.Duration) *seqWriter {
	t.Helper()
	w := &seqWriter{done: make(chan struct{})}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		defer func() { w.end = time.Now() }()
		defer f.Close()
		begin := time.Now()
		var buf []byte
		for n := 0; time.Since(begin) < d; {
			due := int(time.Since(begin).Seconds() * float64(rate))
			buf = buf[:0]
			for ; n < due; n++ {
				buf = append(append(buf, seqLine(n)...), '\n')
			}
			if _, err := f.Write(buf); err != nil {
				t.Error(err)
				return
			}
			w.written.Store(int64(n))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return w
}

// countSeqLines counts in seen how often each of seqLine(0) to
// seqLine(len(seen)-1) occurs in path and returns how many never do. While
// the file is being written its last line may be partial, so only a strict
// count rejects a line that is not one of the writer's.
func countSeqLines(t *testing.T, path string, seen []int, strict bool) (missing int) {
	t.Helper()
	clear(seen)
	if _, err := os.Stat(path); os.IsNotExist(err) && !strict {
		return len(seen)
	}
	for _, s := range readLines(t, path) {
		f := strings.Fields(s)
		i := -1
		if len(s) == 99 && len(f) == 3 && f[0] == "line" {
			i, _ = strconv.Atoi(f[1])
		}
		if i >= 0 && i < len(seen) {
			seen[i]++
		} else if strict {
			t.Fatalf("unexpected line %q in %s", s, filepath.Base(path))
		}
	}
	for _, c := range seen {
		if c == 0 {
			missing++
		}
	}
	return missing
}

// waitSeqLines waits until path holds each of the first n sequence lines and
// returns how often each occurs; it fails with the first one missing.
func waitSeqLines(t *testing.T, path string, n int, d time.Duration) []int {
	t.Helper()
	return waitSeqLinesUnlessLost(t, path, n, d, nil)
}

// waitSeqLinesUnlessLost is waitSeqLines that also fails as soon as lost,
// asked before the file is read, says why the missing lines can no longer
// come; its argument is the first line missing.
func waitSeqLinesUnlessLost(t *testing.T, path string, n int, d time.Duration, lost func(first int) string) []int {
	t.Helper()
	seen := make([]int, n)
	firstMissing := func() int {
		for i, c := range seen {
			if c == 0 {
				return i
			}
		}
		return -1
	}
	deadline := time.Now().Add(d)
	for {
		var why string
		if lost != nil && firstMissing() >= 0 {
			why = lost(firstMissing())
		}
		m := countSeqLines(t, path, seen, false)
		switch {
		case m == 0:
			return seen
		case why != "":
			t.Fatalf("%d of %d lines never reached %s (first missing: %d): %s", m, n, filepath.Base(path), firstMissing(), why)
		case time.Now().After(deadline):
			t.Fatalf("%d of %d lines never reached %s (first missing: %d)", m, n, filepath.Base(path), firstMissing())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// warnings counts the events behind the log records with message msg (a
// rate-limited warning says how many it held back) and returns the time of
// the first and the last record and their distinct errors.
func warnings(log, msg string) (events int, first, last time.Time, errs []string) {
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
			Err  string    `json:"err"`
			Held int       `json:"more_since_last_warning"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != msg {
			continue
		}
		events += 1 + rec.Held
		if first.IsZero() {
			first = rec.Time
		}
		last = rec.Time
		if !slices.Contains(errs, rec.Err) {
			errs = append(errs, rec.Err)
		}
	}
	return events, first, last, errs
}
