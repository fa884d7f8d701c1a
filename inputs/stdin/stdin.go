// Package stdin is the inputs.stdin plugin: it reads the process's standard
// input line by line until EOF.
package stdin

import (
	"context"
	_ "embed"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindInput,
		Type:        "stdin",
		Description: "Reads standard input line by line until EOF",
		Sample:      sample,
		New:         func() any { return &Stdin{MaxLineBytes: wire.DefaultMaxLineBytes} },
	})
}

// Stdin emits each line of standard input. At EOF Run returns nil, so that a
// pipeline fed by `cat file | interoceptor run` ends once everything is
// delivered.
type Stdin struct {
	MaxLineBytes int `toml:"max_line_bytes"`

	env *pipeline.Env
	in  io.Reader // os.Stdin; tests put a pipe here
}

var (
	_ pipeline.Input    = (*Stdin)(nil)
	_ pipeline.Gatherer = (*Stdin)(nil)
)

// Validate checks the decoded keys.
func (s *Stdin) Validate() error {
	return pipeline.LineBytesRange.Check("max_line_bytes", int64(s.MaxLineBytes))
}

// Init keeps env.
func (s *Stdin) Init(env *pipeline.Env) error {
	s.env = env
	if s.in == nil {
		s.in = os.Stdin
	}
	return nil
}

// errStopped ends the reader when Run has returned before standard input did.
var errStopped = errors.New("stdin: pipeline stopping")

// Run reads until EOF or until ctx is done. A terminal or a pipe cannot be
// interrupted in the middle of a read: when ctx ends first, Run returns at
// once and the read left blocked emits nothing more.
func (s *Stdin) Run(ctx context.Context, out pipeline.LineEmitter) error {
	g := &gate{out: out}
	done := make(chan error, 1)
	go func() { done <- wire.ReadLines(s.in, s.MaxLineBytes, g, s.env.Stats, s.env.Log) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	if f, ok := s.in.(interface{ SetReadDeadline(time.Time) error }); ok && f.SetReadDeadline(time.Now()) == nil {
		// A pollable descriptor: the reader returns with what it has read.
		err := <-done
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil
		}
		return err
	}
	g.close()
	return nil
}

// Gather reads standard input to EOF, as Run does (interoceptor run
// -once).
func (s *Stdin) Gather(ctx context.Context, out pipeline.LineEmitter) error { return s.Run(ctx, out) }

// gate passes lines on until it is closed, so that a read still blocked when
// Run returns cannot emit into a pipeline that has moved on.
type gate struct {
	mu     sync.Mutex
	closed bool
	out    pipeline.LineEmitter
}

func (g *gate) EmitLine(line []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errStopped
	}
	return g.out.EmitLine(line)
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
