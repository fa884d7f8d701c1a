package pipeline

import (
	"bufio"
	"io"
)

// LineWriter writes messages one per line, in one of OutputFormats, through
// a buffer: the Write and Flush of the outputs that write lines (stdout,
// file). It is not safe for concurrent use; the runtime calls an output from
// one goroutine.
type LineWriter struct {
	dst     io.Writer
	w       *bufio.Writer
	format  string
	env     *Env
	line    []byte
	skipped LogThrottle
}

// NewLineWriter returns a LineWriter that writes to dst through a buffer of
// size bytes, in format (see AppendFormatted), counting and logging what it
// skips in env's stats and logger.
func NewLineWriter(dst io.Writer, size int, format string, env *Env) *LineWriter {
	return &LineWriter{dst: dst, w: bufio.NewWriterSize(dst, size), format: format, env: env}
}

// WriteBatch formats each message of batch as one line into the buffer,
// which writes to dst when it fills. A message the format cannot carry (not
// a metric, for influx) is not written: it is counted in Stats.Errors and
// Stats.Dropped and logged, at most once a second, and the rest of the batch
// is written. A write error is returned; what the buffer held is lost with
// it, and the next write starts afresh.
func (lw *LineWriter) WriteBatch(batch []*Message) error {
	for _, m := range batch {
		var err error
		lw.line, err = AppendFormatted(lw.line[:0], m, lw.format)
		if err != nil {
			lw.env.Stats.Errors.Add(1)
			lw.env.Stats.Dropped.Add(1)
			if ok, more := lw.skipped.Allow(); ok {
				lw.env.Log.Warn("message skipped: it cannot be written in this format",
					"format", lw.format, "error", err, "more_since_last_warning", more)
			}
			continue
		}
		if _, err := lw.w.Write(lw.line); err != nil {
			lw.w.Reset(lw.dst) // bufio keeps an error forever; start afresh
			return err
		}
	}
	return nil
}

// Flush writes out what is buffered. On error what the buffer held is lost,
// and the next write starts afresh. Flush of a nil LineWriter does nothing,
// so that an output may be flushed before Init or after Close.
func (lw *LineWriter) Flush() error {
	if lw == nil {
		return nil
	}
	if err := lw.w.Flush(); err != nil {
		lw.w.Reset(lw.dst)
		return err
	}
	return nil
}
