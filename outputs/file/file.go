// Package file is the outputs.file plugin: it appends each message as one
// line to a file.
package file

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindOutput,
		Type:        "file",
		Description: "Appends each message as one line to a file (payload, JSON or line protocol)",
		Sample:      sample,
		New:         func() any { return &File{Format: "payload", BufferBytes: 256 << 10} },
	})
}

// File appends messages to Path through a buffer of BufferBytes, flushed
// whenever the pipeline has nothing more waiting, and on Close.
type File struct {
	Path        string `toml:"path"`
	Format      string `toml:"format"`
	BufferBytes int    `toml:"buffer_bytes"`

	f *os.File
	w *pipeline.LineWriter
}

var (
	_ pipeline.Output  = (*File)(nil)
	_ pipeline.Flusher = (*File)(nil)
	_ pipeline.Closer  = (*File)(nil)
)

// Validate checks the decoded keys.
func (o *File) Validate() error {
	var errs []error
	if o.Path == "" {
		errs = append(errs, pipeline.MissingKey("path"))
	}
	return errors.Join(append(errs, pipeline.ValidateOutputFormat(o.Format),
		bufferBytesRange.Check("buffer_bytes", int64(o.BufferBytes)))...)
}

// bufferBytesRange bounds buffer_bytes, allocated at Init: the buffer is
// written out whenever the pipeline is idle, so more buys nothing.
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
	o.f = f
	o.w = pipeline.NewLineWriter(f, o.BufferBytes, o.Format, env)
	return nil
}

// Write formats each message of the batch as one line. A message the format
// cannot carry (not a metric, for influx) is skipped, counted as dropped and
// as an error, and logged; a write error (a full disk) is returned.
func (o *File) Write(batch []*pipeline.Message) error { return o.w.WriteBatch(batch) }

// Flush writes out what is buffered.
func (o *File) Flush() error { return o.w.Flush() }

// Close flushes and closes the file.
func (o *File) Close() error {
	if o.f == nil {
		return nil
	}
	err := errors.Join(o.Flush(), o.f.Close())
	o.f, o.w = nil, nil
	return err
}
