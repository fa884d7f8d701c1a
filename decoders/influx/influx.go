// Package influx is the "influx" decoder: one line of InfluxDB line protocol
// becomes one metric message, mapped as docs/message.md defines.
package influx

import (
	"bytes"
	_ "embed"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.RegisterDecoder(pipeline.DecoderRegistration{
		Name:        "influx",
		Description: "InfluxDB line protocol, one point per line, timestamps in ns; # lines are comments",
		Sample:      sample,
		New:         func() pipeline.Decoder { return &Influx{} },
	})
}

// Influx decodes line protocol. It holds no state, so one value may decode
// from several goroutines at once.
type Influx struct{}

var _ pipeline.TransientDecoder = (*Influx)(nil)

// Decode turns line into a metric (Type "metric", see
// pipeline.ParseLineProtocol) and clears the payload, which the point's
// fields now carry. A comment line (first non-blank byte '#') and a blank
// line give pipeline.ErrSkipLine. A line without a timestamp keeps m's (the
// time the line arrived).
func (*Influx) Decode(line []byte, m *pipeline.Message) error {
	return decode(line, m, pipeline.ParseLineProtocol)
}

// DecodeTransient is Decode with strings that alias line
// (pipeline.ParseLineProtocolTransient): what an input's lines are decoded
// with, as each is encoded before the next is read.
func (*Influx) DecodeTransient(line []byte, m *pipeline.Message) error {
	return decode(line, m, pipeline.ParseLineProtocolTransient)
}

func decode(line []byte, m *pipeline.Message, parse func([]byte, *pipeline.Message) error) error {
	if t := bytes.TrimLeft(line, " \t\r"); len(t) == 0 || t[0] == '#' {
		return pipeline.ErrSkipLine
	}
	if err := parse(line, m); err != nil {
		return err
	}
	m.Payload = nil
	return nil
}
