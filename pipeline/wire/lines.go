package wire

import (
	"bufio"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/interoceptor/interoceptor/pipeline"
)

// DefaultMaxLineBytes is the longest line an input keeps when its
// max_line_bytes is not set: 1 MiB.
const DefaultMaxLineBytes = 1 << 20

// readBufferBytes is the read buffer of ReadLines: large enough that a read
// system call brings in hundreds of typical lines, small enough for a
// thousand connections.
const readBufferBytes = 64 << 10

// ReadLines reads newline-delimited lines from r until EOF or a read error
// and hands each one to out.EmitLine, without its trailing "\n" or "\r\n".
// Nothing is skipped: an empty line is emitted as an empty line. At EOF, a
// final line without a newline is emitted as it is. At a read error (a reset
// connection, or a read deadline set to stop the reader) every complete line
// already read is emitted, but a final line without its newline is incomplete:
// it is not emitted, and it is counted in stats.Dropped and logged.
//
// A line longer than maxLine bytes (DefaultMaxLineBytes if maxLine <= 0) is
// cut to its first maxLine bytes and emitted; the rest of it is discarded,
// stats.Errors is incremented and a warning is logged, at most once a second
// per plugin (per stats).
//
// The line given to EmitLine is only valid during the call: it points into a
// buffer that is reused. ReadLines returns nil at EOF, the read error
// otherwise, or the first error EmitLine returns (the runtime counts and
// dead-letters lines that fail to decode; an error reaching ReadLines means
// the pipeline cannot take more, so reading stops).
func ReadLines(r io.Reader, maxLine int, out pipeline.LineEmitter, stats *pipeline.PluginStats, log *slog.Logger) error {
	return readLines(r, maxLine, out, stats, log, nil)
}

// readLines is ReadLines; with conn, it tells conn where each line ends and
// holds a long line in memory charged to conn's input, given back once the
// line is emitted.
func readLines(r io.Reader, maxLine int, out pipeline.LineEmitter, stats *pipeline.PluginStats, log *slog.Logger, conn *TCPConn) error {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	br := bufio.NewReaderSize(r, min(readBufferBytes, maxLine+2))
	// long keeps the first maxLine bytes of a line that does not fit in
	// br's buffer; seen counts every byte of it read so far, and last is
	// the last of them, the "\r" of a "\r\n" split across two reads.
	var (
		long   []byte
		inLong bool
		seen   int
		last   byte
	)
	for {
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if !inLong {
				inLong, long, seen = true, long[:0], 0
			}
			var kerr error
			if long, kerr = keepLong(long, chunk, maxLine, conn); kerr != nil {
				warnIncomplete(stats, log, kerr)
				return kerr
			}
			seen, last = seen+len(chunk), chunk[len(chunk)-1]
			continue
		}
		line, truncated := chunk, false
		if inLong {
			var kerr error
			if long, kerr = keepLong(long, chunk, maxLine, conn); kerr != nil {
				warnIncomplete(stats, log, kerr)
				return kerr
			}
			n := seen + len(chunk) // the line's length, with its terminator
			if err == nil {
				before := last
				if len(chunk) >= 2 {
					before = chunk[len(chunk)-2]
				}
				n--
				if before == '\r' {
					n--
				}
			}
			line, truncated = long[:min(n, len(long))], n > maxLine
		}
		if err != nil && err != io.EOF {
			if len(line) > 0 {
				warnIncomplete(stats, log, err)
			}
			return err
		}
		if !inLong {
			if len(line) == 0 && err != nil {
				return nil // EOF after a newline
			}
			if err == nil {
				line = line[:len(line)-1]
				if n := len(line); n > 0 && line[n-1] == '\r' {
					line = line[:n-1]
				}
			}
			if len(line) > maxLine {
				line, truncated = line[:maxLine], true
			}
		}
		if truncated {
			warnTruncated(stats, log, maxLine)
		}
		emitErr := out.EmitLine(line)
		if inLong {
			inLong = false
			if conn != nil {
				conn.ReleaseBuffer()
				long = nil
			}
		}
		if emitErr != nil {
			return emitErr
		}
		if err != nil {
			return nil // EOF after a last line without a newline
		}
		if conn != nil {
			conn.FrameDone(br.Buffered())
		}
	}
}

// keepLong appends to long what still fits of chunk within maxLine bytes.
// With conn, long grows within the memory its input may hold, else the
// error says it cannot.
func keepLong(long, chunk []byte, maxLine int, conn *TCPConn) ([]byte, error) {
	chunk = chunk[:min(len(chunk), maxLine-len(long))]
	if need := len(long) + len(chunk); need > cap(long) {
		size := min(max(2*cap(long), need), maxLine)
		if conn == nil {
			long = slices.Grow(long, size-len(long))
		} else {
			var err error
			if long, err = conn.GrowBuffer(long, size); err != nil {
				return long, err
			}
		}
	}
	return append(long, chunk...), nil
}

// lineLogs rate-limits ReadLines' warnings per plugin: an input with a
// thousand connections still logs one line a second of each kind.
var lineLogs sync.Map // *pipeline.PluginStats -> *lineThrottles

type lineThrottles struct{ truncated, incomplete pipeline.LogThrottle }

func throttlesFor(stats *pipeline.PluginStats) *lineThrottles {
	if stats == nil {
		return new(lineThrottles)
	}
	t, ok := lineLogs.Load(stats)
	if !ok {
		t, _ = lineLogs.LoadOrStore(stats, new(lineThrottles))
	}
	return t.(*lineThrottles)
}

func warnTruncated(stats *pipeline.PluginStats, log *slog.Logger, maxLine int) {
	if stats != nil {
		stats.Errors.Add(1)
	}
	if log == nil {
		return
	}
	if ok, suppressed := throttlesFor(stats).truncated.Allow(); ok {
		log.Warn("line longer than max_line_bytes truncated; the rest of it is discarded",
			"max_line_bytes", maxLine, "more_since_last_warning", suppressed)
	}
}

func warnIncomplete(stats *pipeline.PluginStats, log *slog.Logger, err error) {
	if stats != nil {
		stats.Dropped.Add(1)
	}
	if log == nil {
		return
	}
	if ok, suppressed := throttlesFor(stats).incomplete.Allow(); ok {
		log.Warn("incomplete line dropped: reading stopped before its newline",
			"error", err, "more_since_last_warning", suppressed)
	}
}
