// Package stdout is the outputs.stdout plugin: it writes each message as one
// line on standard output.
package stdout

import (
	"bufio"
	_ "embed"
	"io"
	"os"

	"github.com/interoceptor/interoceptor/pipeline"
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

	env     *pipeline.Env
	out     io.Writer // os.Stdout; tests put a buffer here
	w       *bufio.Writer
	line    []byte
	skipped pipeline.LogThrottle
}

var (
	_ pipeline.Output  = (*Stdout)(nil)
	_ pipeline.Flusher = (*Stdout)(nil)
	_ pipeline.Closer  = (*Stdout)(nil)
)

// Validate checks the decoded keys.
func (s *Stdout) Validate() error { return pipeline.ValidateOutputFormat(s.Format) }

// Init sets up the buffer.
func (s *Stdout) Init(env *pipeline.Env) error {
	s.env = env
	if s.out == nil {
		s.out = os.Stdout
	}
	s.w = bufio.NewWriterSize(s.out, 64<<10)
	return nil
}

// Write formats each message of the batch as one line. A message the format
// cannot carry (not a metric, for influx) is counted as an error, logged and
// skipped; a write error is returned.
func (s *Stdout) Write(batch []*pipeline.Message) error {
	for _, m := range batch {
		var err error
		s.line, err = pipeline.AppendFormatted(s.line[:0], m, s.Format)
		if err != nil {
			s.env.Stats.Errors.Add(1)
			if ok, more := s.skipped.Allow(); ok {
				s.env.Log.Warn("message skipped: it cannot be written in this format",
					"format", s.Format, "error", err, "more_since_last_warning", more)
			}
			continue
		}
		if _, err := s.w.Write(s.line); err != nil {
			s.w.Reset(s.out) // bufio keeps an error forever; start afresh
			return err
		}
	}
	return nil
}

// Flush writes out what is buffered.
func (s *Stdout) Flush() error {
	if s.w == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		s.w.Reset(s.out)
		return err
	}
	return nil
}

// Close flushes; standard output itself stays open.
func (s *Stdout) Close() error { return s.Flush() }
