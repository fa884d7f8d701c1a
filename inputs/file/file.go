// Package file is the inputs.file plugin: it reads one file once, line by
// line, and is done at its end.
package file

import (
	"context"
	_ "embed"
	"errors"
	"io"
	"os"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindInput,
		Type:        "file",
		Description: "Reads a file once, line by line, and ends at its end",
		Sample:      sample,
		New:         func() any { return &File{MaxLineBytes: wire.DefaultMaxLineBytes} },
	})
}

// File emits each line of Path, from the start to the end of the file as it
// is when read; it does not follow the file as it grows (that is tailing).
type File struct {
	Path         string `toml:"path" path:"true"`
	MaxLineBytes int    `toml:"max_line_bytes"`

	env *pipeline.Env
	f   *os.File
}

var (
	_ pipeline.Input    = (*File)(nil)
	_ pipeline.Gatherer = (*File)(nil)
)

// Validate checks the decoded keys.
func (p *File) Validate() error {
	var errs []error
	if p.Path == "" {
		errs = append(errs, pipeline.MissingKey("path"))
	}
	errs = append(errs, pipeline.LineBytesRange.Check("max_line_bytes", int64(p.MaxLineBytes)))
	return errors.Join(errs...)
}

// Init opens the file, so that a missing or unreadable file stops the
// pipeline from starting.
func (p *File) Init(env *pipeline.Env) error {
	p.env = env
	f, err := os.Open(p.Path)
	if err != nil {
		return err // *PathError: "open /var/log/x.log: no such file or directory"
	}
	p.f = f
	return nil
}

// Run reads the file to its end and returns nil; when ctx ends first it stops
// after the lines already read and returns nil.
func (p *File) Run(ctx context.Context, out pipeline.LineEmitter) error {
	err := wire.ReadLines(ctxReader{ctx, p.f}, p.MaxLineBytes, out, p.env.Stats, p.env.Log)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// Gather reads the file to its end, as Run does (interoceptor run -once).
func (p *File) Gather(ctx context.Context, out pipeline.LineEmitter) error { return p.Run(ctx, out) }

// Close closes the file.
func (p *File) Close() error {
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f = nil
	return err
}

// ctxReader ends reading when ctx ends; checked once per read, that is once
// per 64 KiB of lines.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
