package influxdb

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// run is the writer: it sends the oldest batch, again and again while
// InfluxDB fails, and only then the next.
func (o *InfluxDB) run(ctx context.Context) {
	defer close(o.done)
	backoff := time.Duration(0)
	for {
		b, fromDisk, ok := o.next(ctx)
		if !ok {
			return
		}
		res := o.snd.send(ctx, b.data, b.points)
		if res.retry && ctx.Err() != nil {
			// Close cut the request short: held stays held, a disk record
			// stays on disk (unless drop_oldest deleted it meanwhile).
			o.mu.Lock()
			if fromDisk && o.diskDetached {
				o.lose(b.points, dropOldestDisk)
			}
			o.diskSending, o.diskDetached = false, false
			o.mu.Unlock()
			return
		}
		if res.retry {
			var wait time.Duration
			backoff, wait = o.failed(res, b, fromDisk, backoff)
			o.mu.Lock()
			closing := o.closing
			o.mu.Unlock()
			if closing {
				return // InfluxDB is down: Close keeps the rest on disk
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-o.closingCh: // one more try before Close gives up
			case <-t.C:
			}
			t.Stop()
			continue
		}
		backoff = 0
		o.delivered(res, b, fromDisk)
	}
}

// failed handles a send that is worth retrying and returns the wait before
// the next try: doubling from 250ms up to max_retry_interval, with jitter,
// or what a 429/503 asked for (up to max_retry_interval).
func (o *InfluxDB) failed(res result, b *batch, fromDisk bool, backoff time.Duration) (next, wait time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries++
	o.env.Stats.Errors.Add(1)
	o.lastErr = res.err.Error()
	if o.failingSince.IsZero() {
		o.failingSince = time.Now()
	}
	if fromDisk {
		if o.diskDetached {
			o.lose(b.points, dropOldestDisk)
		}
		o.diskSending, o.diskDetached = false, false
	}
	maxWait := time.Duration(o.MaxRetryInterval)
	backoff = min(max(2*backoff, 250*time.Millisecond), maxWait)
	wait = backoff/2 + rand.N(backoff/2+1) // jitter, so that many senders do not beat in step
	if res.retryAfter > wait {
		wait = min(res.retryAfter, maxWait)
	}
	if ok, more := o.retryLog.Allow(); ok {
		o.env.Log.Warn("write to InfluxDB failed; retrying", "error", res.err, "points", b.points,
			"buffered_points", o.memPoints+o.diskPointsLocked(), "disk_bytes", o.diskBytesLocked(),
			"retry_in", wait.Round(time.Millisecond), "more_since_last_warning", more)
	}
	return backoff, wait
}

// delivered handles a batch InfluxDB answered for: written, or (some of it)
// rejected. Rejected points are counted and logged; they are never sent
// again.
func (o *InfluxDB) delivered(res result, b *batch, fromDisk bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.failingSince.IsZero() {
		o.env.Log.Info("InfluxDB takes writes again", "failed_for", time.Since(o.failingSince).Round(time.Millisecond),
			"buffered_points", o.memPoints+o.diskPointsLocked())
		o.failingSince = time.Time{}
		o.lastErr = ""
	}
	o.written += uint64(res.written)
	if res.rejected > 0 {
		o.rejected += uint64(res.rejected)
		o.env.Stats.Dropped.Add(uint64(res.rejected))
		o.env.Stats.Errors.Add(uint64(res.rejected))
		if ok, more := o.rejectLog.Allow(); ok {
			o.env.Log.Error("InfluxDB rejected points; they are dropped", "status", res.status,
				"rejected", res.rejected, "of", b.points, "reason", shorten(res.reason, 1000), "more_since_last_warning", more)
		}
	}
	if fromDisk {
		if !o.diskDetached {
			if err := o.disk.ack(b.points); err != nil {
				o.env.Stats.Errors.Add(1)
				o.env.Log.Error("disk buffer: recording delivery failed (the batch may be sent again)", "dir", o.dir, "error", err)
			}
		}
		o.diskSending, o.diskDetached = false, false
	} else {
		o.held = nil
		o.memBytes -= int64(len(b.data))
		o.memPoints -= int64(b.points)
		o.recycle(b.data)
	}
	o.signalRoom()
}

// shorten keeps a log line readable: InfluxDB quotes every rejected line in
// its reason.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d more bytes)", len(s)-n)
}

// result is what became of one batch sent to InfluxDB.
type result struct {
	written    int // points InfluxDB took
	rejected   int // points it refused (4xx): counted, never sent again
	reason     string
	status     int
	retry      bool // nothing or not everything is known to be written: send again
	retryAfter time.Duration
	err        error
	counted    bool // InfluxDB said which points it rejected (else: all of them)
}

// sender posts batches of line protocol to /api/v2/write. Only the writer
// goroutine uses it.
type sender struct {
	http     influxhttp.Service // influxdb-client-go's: sets the token and user agent
	url      string             // .../api/v2/write?bucket=...&org=...&precision=...
	gzip     bool
	gzBuf    bytes.Buffer
	gzWriter *gzip.Writer
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// send posts data, holding points lines, and says what became of them:
// 2xx written; 429, 5xx and network errors retried; any other status
// rejected, counting the points InfluxDB says it dropped.
//
// InfluxDB 1.x refuses a whole batch, saying only "field type conflict",
// when two of its points disagree on the type of a field it does not know
// yet. Then send splits the batch in halves and sends each, down to the
// points at fault, so that the good points of that batch are written and
// the count of rejected ones is exact.
func (s *sender) send(ctx context.Context, data []byte, points int) result {
	r := s.post(ctx, data, points)
	if r.retry || r.rejected == 0 || points < 2 || r.counted || !strings.Contains(r.reason, "field type conflict") {
		return r
	}
	cut := splitPoint(data, points/2)
	if cut <= 0 || cut >= len(data) {
		return r
	}
	a := s.send(ctx, data[:cut], points/2)
	if a.retry {
		return a
	}
	b := s.send(ctx, data[cut:], points-points/2)
	if b.retry {
		return b
	}
	r.written, r.rejected = a.written+b.written, a.rejected+b.rejected
	for _, x := range []result{a, b} {
		if x.rejected > 0 {
			r.reason, r.status = x.reason, x.status
		}
	}
	r.counted = true
	return r
}

// splitPoint returns where the line after the first n lines of data starts.
// A line ends at a newline outside the quotes of a string value (strings
// may hold newlines: rawControlsInStrings).
func splitPoint(data []byte, n int) int {
	i := 0
	for ; n > 0 && i < len(data); n-- {
		i = lineEnd(data, i)
	}
	return i
}

// lineEnd returns where the line that starts at data[i] ends, its newline
// included; the grammar is the one rawControlsInStrings reads.
func lineEnd(data []byte, i int) int {
	for i < len(data) && data[i] != ' ' { // measurement and tags
		if data[i] == '\\' && i+1 < len(data) && isKeySpecial(data[i+1]) {
			i++
		}
		i++
	}
	for i < len(data) {
		switch c := data[i]; {
		case c == '\n':
			return i + 1
		case c == '=' && i+1 < len(data) && data[i+1] == '"':
			for i += 2; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			i++
		case c == '\\' && i+1 < len(data) && isKeySpecial(data[i+1]):
			i += 2
		default:
			i++
		}
	}
	return len(data)
}

// post sends one request.
func (s *sender) post(ctx context.Context, data []byte, points int) result {
	body := data
	if s.gzip {
		s.gzBuf.Reset()
		if s.gzWriter == nil {
			s.gzWriter, _ = gzip.NewWriterLevel(&s.gzBuf, gzip.BestSpeed)
		} else {
			s.gzWriter.Reset(&s.gzBuf)
		}
		s.gzWriter.Write(data) // a bytes.Buffer does not fail
		s.gzWriter.Close()
		body = s.gzBuf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return result{retry: true, err: err}
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.http.DoHTTPRequestWithResponse(req, nil)
	if err != nil {
		return result{retry: true, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody)) // keep the connection
		return result{written: points, status: resp.StatusCode}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	reason, lines := errorReason(resp, msg)
	r := result{status: resp.StatusCode, reason: reason}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode < 400:
		r.retry = true
		r.err = fmt.Errorf("%s: %s", resp.Status, reason)
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			r.retryAfter = time.Duration(secs) * time.Second
		}
	default:
		r.rejected, r.counted = rejectedPoints(reason, lines, points)
		r.written = points - r.rejected
	}
	return r
}

// errorReason returns what InfluxDB says went wrong: the "error" (1.x, 3.x)
// or "code: message" (2.x) of its JSON body, else its X-Influxdb-Error
// header, else the body as text; and, from a 3.x body, how many lines it
// lists as rejected (0 when it does not say).
func errorReason(resp *http.Response, body []byte) (reason string, lines int) {
	var e struct {
		Error   string            `json:"error"`
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Data    []json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &e) == nil {
		switch {
		case e.Error != "":
			reason = e.Error
		case e.Message != "" && e.Code != "":
			reason = e.Code + ": " + e.Message
		case e.Message != "":
			reason = e.Message
		}
		lines = len(e.Data)
	}
	if reason == "" {
		reason = resp.Header.Get("X-Influxdb-Error")
	}
	if reason == "" {
		reason = strings.TrimSpace(string(body))
	}
	if reason == "" {
		reason = resp.Status
	}
	return reason, lines
}

var droppedCount = regexp.MustCompile(`dropped=(\d+)`)

// rejectedPoints counts the points of a batch of n that InfluxDB refused,
// from its reason: a partial write says "dropped=N" (field type conflicts,
// points outside the retention policy) and lists each line it could not
// parse ("unable to parse '...'"); InfluxDB 3 lists the lines in its body.
// When the reason gives no count, the whole batch counts as refused, and
// counted is false.
func rejectedPoints(reason string, lines, n int) (rejected int, counted bool) {
	count := lines
	if count == 0 {
		for _, m := range droppedCount.FindAllStringSubmatch(reason, -1) {
			if v, err := strconv.Atoi(m[1]); err == nil {
				count += v
			}
		}
		count += strings.Count(reason, "unable to parse '")
	}
	if count <= 0 || count > n {
		return n, false
	}
	return count, true
}
