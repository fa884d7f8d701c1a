// Package regex is the "regex" decoder: an RE2 pattern with named groups,
// from decoder_config, turns each line into a message whose fields are the
// groups, typed as decoder_config's types say.
package regex

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"

	"github.com/interoceptor/interoceptor/decoders/internal/captures"
	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.RegisterDecoder(pipeline.DecoderRegistration{
		Name:        "regex",
		Description: "An RE2 pattern with named groups (decoder_config.pattern); groups become fields",
		Sample:      sample,
		New:         func() pipeline.Decoder { return &Regex{Type: "log"} },
	})
}

// Regex decodes lines with a regular expression. Once configured it holds
// no mutable state, so one value may decode from several goroutines.
type Regex struct {
	Type  string // the messages' Type, "log" unless decoder_config.type says
	re    *regexp.Regexp
	names []string // SubexpNames, "" for unnamed groups
	types *captures.Types
}

var _ pipeline.ConfigurableDecoder = (*Regex)(nil)

var errNoMatch = errors.New("regex: line does not match")

// Configure reads pattern (required), types, timestamp_format and type.
func (r *Regex) Configure(table map[string]any) error {
	if err := captures.CheckKeys(table, "pattern", "timestamp_format", "type", "types"); err != nil {
		return err
	}
	p, ok := table["pattern"]
	if !ok {
		return pipeline.MissingKey("pattern")
	}
	s, ok := p.(string)
	if !ok || s == "" {
		return pipeline.InvalidKey("pattern", "expected a non-empty string")
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return pipeline.InvalidKey("pattern", "%v", err)
	}
	named := map[string]bool{}
	for _, n := range re.SubexpNames() {
		if n != "" {
			named[n] = true
		}
	}
	if len(named) == 0 {
		return pipeline.InvalidKey("pattern", "has no named groups: write (?P<name>...)")
	}
	types, err := captures.ParseTypes(table)
	if err != nil {
		return err
	}
	for g := range types.ByGroup {
		if !named[g] {
			return pipeline.InvalidKey("types."+g, "the pattern has no group named %q", g)
		}
	}
	if t, ok := table["type"]; ok {
		if r.Type, ok = t.(string); !ok || r.Type == "" {
			return pipeline.InvalidKey("type", "expected a non-empty string")
		}
	}
	r.re, r.names, r.types = re, re.SubexpNames(), types
	return nil
}

// Decode sets Type and adds a field per named group that took part in the
// match, in the pattern's order; a timestamp group sets Timestamp instead.
// A group named as a level (pipeline.LevelFields: (?P<level>\w+)) sets
// Severity. Payload keeps the line. On error m is as it was.
func (r *Regex) Decode(line []byte, m *pipeline.Message) error {
	if r.re == nil {
		return errors.New("regex: no pattern configured")
	}
	loc := r.re.FindSubmatchIndex(line)
	if loc == nil {
		return errNoMatch
	}
	n0, ts := len(m.Fields), m.Timestamp
	for i, name := range r.names {
		if name == "" || loc[2*i] < 0 {
			continue
		}
		if err := r.types.Add(m, name, string(line[loc[2*i]:loc[2*i+1]]), &ts); err != nil {
			clear(m.Fields[n0:])
			m.Fields = m.Fields[:n0]
			return fmt.Errorf("regex: %w", err)
		}
	}
	m.Timestamp = ts
	m.Type = r.Type
	pipeline.SeverityFromFields(m, m.Fields[n0:])
	return nil
}
