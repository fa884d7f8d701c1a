// Package file is the outputs.file plugin: it appends each message as one
// line to a file.
package file

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindOutput,
		Type:        "file",
		Description: "Appends each message as one line to a file (payload, JSON or line protocol)",
		Sample:      sample,
		// 64 KiB: a batch of the default nats.batch_bytes, as payload or
		// line protocol, fits; a JSON one grows the buffer once.
		New: func() any { return &File{Format: "payload", BufferBytes: 64 << 10} },
	})
}

// File appends messages to Path, each batch whole or not at all: a batch is
// counted as written only once it is in the file, and one that does not fit
// (a full disk) leaves nothing of itself behind and is retried.
type File struct {
	Path        string `toml:"path" path:"true"`
	Format      string `toml:"format"`
	BufferBytes int    `toml:"buffer_bytes"` // the first size of the buffer a batch is formatted into (it grows for a larger batch)

	f       *os.File
	regular bool // a regular file, which a failed write can be cut off from
	env     *pipeline.Env
	lines   *wire.LineFormatter
	buf     []byte
	// cutTo is where the file must be cut back to before the next write:
	// the end of the last whole batch, when cutting off a failed one failed
	// too; -1 when nothing is to be cut.
	cutTo        int64
	failingSince time.Time // the first failure of the writes failing now
}

// reserve is reserveSpace; tests turn it off to take the path of a
// filesystem that cannot reserve.
var reserve = reserveSpace

var (
	_ pipeline.Output = (*File)(nil)
	_ pipeline.Closer = (*File)(nil)
)

// Validate checks the decoded keys.
func (o *File) Validate() error {
	var errs []error
	if o.Path == "" {
		errs = append(errs, pipeline.MissingKey("path"))
	}
	return errors.Join(append(errs, wire.ValidateOutputFormat(o.Format),
		bufferBytesRange.Check("buffer_bytes", int64(o.BufferBytes)))...)
}

// bufferBytesRange bounds buffer_bytes, allocated at Init: a batch
// (nats.batch_bytes of messages, 8 MiB at most) is formatted into it and
// written whole, and a larger one grows it, so more buys nothing.
var bufferBytesRange = pipeline.ByteRange{Min: 1, Max: 64 << 20}

// Init opens the file for appending, creating it (0644) and its missing
// parent directories (0755), so that an unwritable path stops the pipeline
// from starting.
func (o *File) Init(env *pipeline.Env) error {
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
		return fmt.Errorf("path %q: %w", o.Path, err)
	}
	f, err := os.OpenFile(o.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err // *PathError: "open /x/out.log: permission denied"
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	o.f, o.regular, o.env, o.cutTo = f, st.Mode().IsRegular(), env, -1
	o.lines = wire.NewLineFormatter(o.Format, env)
	o.buf = make([]byte, 0, o.BufferBytes)
	return nil
}

// Write appends the batch to the file, one line per message, and returns
// once the lines are in it (in the page cache: no fsync). A message the
// format cannot carry (not a metric, for influx) is skipped, counted as
// dropped and as an error, and logged. A write that fails (a full disk)
// leaves nothing of the batch in the file and returns a retryable error: the
// runtime writes the whole batch again later.
// KeepsNothing: a batch is formatted into bytes and forgotten
// (pipeline.Transient).
func (*File) KeepsNothing() {}

func (o *File) Write(batch []*pipeline.Message) error {
	buf, skipped, why := o.lines.AppendBatch(o.buf[:0], batch)
	o.buf = buf
	if err := o.appendWhole(buf); err != nil {
		if o.failingSince.IsZero() {
			o.failingSince = time.Now()
		}
		return pipeline.Retryable(err)
	}
	if !o.failingSince.IsZero() {
		o.env.Log.Info("writing again", "path", o.Path, "failed_for", time.Since(o.failingSince).Round(time.Millisecond))
		o.failingSince = time.Time{}
	}
	o.lines.CountSkipped(skipped, why)
	return nil
}

// appendWhole appends b to the file, all of it or none: the space is reserved
// first where the filesystem can, and a write that fails part way is cut off
// again, so that no torn line is left for the next batch to be glued to.
func (o *File) appendWhole(b []byte) error {
	if o.cutTo >= 0 {
		if err := o.f.Truncate(o.cutTo); err != nil {
			return fmt.Errorf("cut off the lines of a failed write: %w", err)
		}
		o.cutTo = -1
	}
	if len(b) == 0 {
		return nil
	}
	if !o.regular { // a device or a pipe (/dev/stdout): nothing to reserve or cut
		_, err := o.f.Write(b)
		return err
	}
	// The size now, not one kept from the last write: another appender, or
	// a copytruncate rotation, moves the end, and space reserved past it
	// would stay allocated beyond the end of the file.
	st, err := o.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if err := reserve(o.f, size, int64(len(b))); err != nil {
		return &os.PathError{Op: "write", Path: o.Path, Err: err}
	}
	n, err := o.f.Write(b)
	if err == nil {
		return nil
	}
	if n > 0 {
		if terr := o.f.Truncate(size); terr != nil {
			o.cutTo = size
			return errors.Join(err, fmt.Errorf("cut off the %d bytes written: %w; tried again before the next write", n, terr))
		}
	}
	return err // *PathError: "write /x/out.log: no space left on device"
}

// Close closes the file.
func (o *File) Close() error {
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	return err
}
