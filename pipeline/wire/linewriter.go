package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/interoceptor/interoceptor/pipeline"
)

// LineFormatter formats batches of messages as lines, in one of
// OutputFormats, for the outputs that write lines (stdout, file). A message
// the format cannot carry (not a metric, for influx) is left out; the caller
// counts it with CountSkipped once it is done with the batch, so that a batch
// that is retried is counted once.
type LineFormatter struct {
	format  string
	env     *pipeline.Env
	skipped pipeline.LogThrottle
}

// NewLineFormatter returns a LineFormatter for format (see AppendFormatted)
// that counts and logs what it skips in env's stats and logger.
func NewLineFormatter(format string, env *pipeline.Env) *LineFormatter {
	return &LineFormatter{format: format, env: env}
}

// AppendBatch appends each message of batch to buf as one line, and returns
// buf with how many messages it left out and why the first was.
func (f *LineFormatter) AppendBatch(buf []byte, batch []*pipeline.Message) (_ []byte, skipped int, why error) {
	for _, m := range batch {
		var err error
		buf, err = AppendFormatted(buf, m, f.format)
		if err != nil {
			if skipped == 0 {
				why = err
			}
			skipped++
		}
	}
	return buf, skipped, why
}

// CountSkipped counts n messages left out in Stats.Errors and Stats.Dropped,
// and logs why, at most once a second.
func (f *LineFormatter) CountSkipped(n int, why error) {
	if n == 0 {
		return
	}
	f.env.Stats.Errors.Add(uint64(n))
	f.env.Stats.Dropped.Add(uint64(n))
	if ok, more := f.skipped.Allow(); ok {
		f.env.Log.Warn("message skipped: it cannot be written in this format",
			"format", f.format, "error", why, "messages", n, "more_since_last_warning", more)
	}
}

// LineWriter writes messages one per line, in one of OutputFormats, through
// a buffer: the Write and Flush of outputs that write lines to a stream they
// cannot take back (stdout). It is not safe for concurrent use; the runtime
// calls an output from one goroutine.
type LineWriter struct {
	dst   io.Writer
	w     *bufio.Writer
	lines *LineFormatter
	line  []byte // the batch being written, formatted
}

// NewLineWriter returns a LineWriter that writes to dst through a buffer of
// size bytes, in format (see AppendFormatted), counting and logging what it
// skips in env's stats and logger.
func NewLineWriter(dst io.Writer, size int, format string, env *pipeline.Env) *LineWriter {
	return &LineWriter{dst: dst, w: bufio.NewWriterSize(dst, size), lines: NewLineFormatter(format, env)}
}

// WriteBatch formats each message of batch as one line into the buffer,
// which writes to dst when it fills. A message the format cannot carry (not
// a metric, for influx) is not written: it is counted in Stats.Errors and
// Stats.Dropped and logged, at most once a second, once the rest of the
// batch is written, so that a batch that is retried is counted once. A
// write error is returned; what the buffer held is lost with it, and the
// next write starts afresh.
func (lw *LineWriter) WriteBatch(batch []*pipeline.Message) error {
	buf, skipped, why := lw.lines.AppendBatch(lw.line[:0], batch)
	lw.line = buf
	if _, err := lw.w.Write(buf); err != nil {
		lw.w.Reset(lw.dst) // bufio keeps an error forever; start afresh
		return err
	}
	lw.lines.CountSkipped(skipped, why)
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

// OutputFormats are the values of the format key of outputs that write one
// message per line (stdout, file), as AppendFormatted takes them.
var OutputFormats = []string{"payload", "json", "influx"}

// ValidateOutputFormat returns a pipeline.InvalidKey error for the format
// key unless format is one of OutputFormats.
func ValidateOutputFormat(format string) error {
	for _, f := range OutputFormats {
		if format == f {
			return nil
		}
	}
	return pipeline.InvalidKey("format", "must be one of %s; got %q", strings.Join(OutputFormats, ", "), format)
}

// ErrNotMetric is returned by AppendFormatted, wrapped, for a message that
// the influx format cannot write because it is not a metric point.
var ErrNotMetric = errors.New("not a metric")

// AppendFormatted appends m to buf as one line, ending in "\n", in the given
// output format:
//
//   - "payload": the payload bytes as they are;
//   - "json": the message as JSON (pipeline.AppendJSON);
//   - "influx": InfluxDB line protocol (pipeline.AppendLineProtocol); a
//     message that is not a metric point is an error wrapping ErrNotMetric.
//
// On error buf is returned unchanged and the message should be counted as an
// error and skipped: it can never be written in that format.
func AppendFormatted(buf []byte, m *pipeline.Message, format string) ([]byte, error) {
	switch format {
	case "payload":
		buf = append(buf, m.Payload...)
		return append(buf, '\n'), nil
	case "json":
		return append(pipeline.AppendJSON(buf, m), '\n'), nil
	case "influx":
		if m.Type != pipeline.MetricType {
			return buf, fmt.Errorf("influx format: message of type %q: %w", m.Type, ErrNotMetric)
		}
		return pipeline.AppendLineProtocol(buf, m)
	}
	return buf, fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(OutputFormats, ", "))
}
