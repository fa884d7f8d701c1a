// Package stdout is the outputs.stdout plugin: it writes each message as one
// line on standard output.
package stdout

import (
	_ "embed"
	"io"
	"os"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindOutput,
		Type:        "stdout",
		Description: "Writes each message as one line on standard output (payload, JSON or line protocol)",
		Sample:      sample,
		New:         func() any { return &Stdout{Format: "payload"} },
	})
}

// Stdout writes messages to standard output through a buffer that is flushed
// whenever the pipeline has nothing more waiting, and on Close.
type Stdout struct {
	Format string `toml:"format"`

	out io.Writer // os.Stdout; tests put a buffer here
	w   *wire.LineWriter
}

var (
	_ pipeline.Output  = (*Stdout)(nil)
	_ pipeline.Flusher = (*Stdout)(nil)
	_ pipeline.Closer  = (*Stdout)(nil)
)

// Validate checks the decoded keys.
func (s *Stdout) Validate() error { return wire.ValidateOutputFormat(s.Format) }

// Init sets up the buffer.
func (s *Stdout) Init(env *pipeline.Env) error {
	if s.out == nil {
		s.out = os.Stdout
	}
	s.w = wire.NewLineWriter(s.out, 64<<10, s.Format, env)
	return nil
}

// Write formats each message of the batch as one line. A message the format
// cannot carry (not a metric, for influx) is skipped, counted as dropped and
// as an error, and logged; a write error is returned.
// KeepsNothing: a batch is formatted into bytes and forgotten
// (pipeline.Transient).
func (*Stdout) KeepsNothing() {}

func (s *Stdout) Write(batch []*pipeline.Message) error { return s.w.WriteBatch(batch) }

// Flush writes out what is buffered.
func (s *Stdout) Flush() error { return s.w.Flush() }

// Close flushes; standard output itself stays open.
func (s *Stdout) Close() error { return s.Flush() }
