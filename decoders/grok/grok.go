// Package grok is the "grok" decoder: a grok pattern from decoder_config
// (elastic/go-grok, with its complete pattern set: the defaults plus httpd,
// syslog, java, haproxy, ...) turns each line into a message whose fields
// are the pattern's named captures.
package grok

import (
	_ "embed"
	"errors"
	"fmt"
	"sort"

	gogrok "github.com/elastic/go-grok"

	"github.com/interoceptor/interoceptor/decoders/internal/captures"
	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.RegisterDecoder(pipeline.DecoderRegistration{
		Name:        "grok",
		Description: "A grok pattern (decoder_config.pattern, e.g. \"%{COMBINEDAPACHELOG}\"); named captures become fields",
		Sample:      sample,
		New:         func() pipeline.Decoder { return &Grok{Type: "log"} },
	})
}

// Grok decodes lines with a grok pattern. Once configured it holds no
// mutable state, so one value may decode from several goroutines.
type Grok struct {
	Type  string // the messages' Type, "log" unless decoder_config.type says
	g     *gogrok.Grok
	types *captures.Types
}

var _ pipeline.ConfigurableDecoder = (*Grok)(nil)

var errNoMatch = errors.New("grok: line does not match")

// Configure reads pattern (required), custom_patterns, types,
// timestamp_format and type.
func (d *Grok) Configure(table map[string]any) error {
	if err := captures.CheckKeys(table, "custom_patterns", "pattern", "timestamp_format", "type", "types"); err != nil {
		return err
	}
	p, ok := table["pattern"]
	if !ok {
		return pipeline.MissingKey("pattern")
	}
	pattern, ok := p.(string)
	if !ok || pattern == "" {
		return pipeline.InvalidKey("pattern", "expected a non-empty string")
	}
	custom := map[string]string{}
	if c, ok := table["custom_patterns"]; ok {
		ct, ok := c.(map[string]any)
		if !ok {
			return pipeline.InvalidKey("custom_patterns", "expected a table such as {NAME = \"regexp\"}")
		}
		for name, v := range ct {
			s, ok := v.(string)
			if !ok {
				return pipeline.InvalidKey("custom_patterns."+name, "expected a string")
			}
			custom[name] = s
		}
	}
	g, err := gogrok.NewComplete(custom)
	if err != nil {
		return pipeline.InvalidKey("custom_patterns", "%v", err)
	}
	if err := g.Compile(pattern, true); err != nil {
		return pipeline.InvalidKey("pattern", "%v", err)
	}
	if !g.HasCaptureGroups() {
		return pipeline.InvalidKey("pattern", "captures nothing: name what to keep, as in %%{NUMBER:took}")
	}
	types, err := captures.ParseTypes(table)
	if err != nil {
		return err
	}
	if t, ok := table["type"]; ok {
		if d.Type, ok = t.(string); !ok || d.Type == "" {
			return pipeline.InvalidKey("type", "expected a non-empty string")
		}
	}
	d.g, d.types = g, types
	return nil
}

// Decode sets Type and adds a field per non-empty named capture, sorted by
// name (go-grok returns a map). Captures typed in the pattern (:int, :long,
// :float, :double, :bool) keep that type; the others follow types; a
// timestamp capture sets Timestamp. A capture named as a level
// (pipeline.LevelFields: %{LOGLEVEL:level}) sets Severity. Payload keeps the
// line. On error m is as it was.
func (d *Grok) Decode(line []byte, m *pipeline.Message) error {
	if d.g == nil {
		return errors.New("grok: no pattern configured")
	}
	caps, err := d.g.ParseTyped(line)
	if err != nil {
		return fmt.Errorf("grok: %w", err)
	}
	if len(caps) == 0 && !d.g.Match(line) {
		return errNoMatch
	}
	names := make([]string, 0, len(caps))
	for k := range caps {
		names = append(names, k)
	}
	sort.Strings(names)
	n0, ts := len(m.Fields), m.Timestamp
	for _, name := range names {
		switch v := caps[name].(type) {
		case int:
			m.AddInt(name, int64(v))
		case float64:
			m.AddFloat(name, v)
		case bool:
			m.AddBool(name, v)
		case string:
			err = d.types.Add(m, name, v, &ts)
		default:
			err = fmt.Errorf("capture %q: unexpected %T", name, v)
		}
		if err != nil {
			clear(m.Fields[n0:])
			m.Fields = m.Fields[:n0]
			return fmt.Errorf("grok: %w", err)
		}
	}
	m.Timestamp = ts
	m.Type = d.Type
	pipeline.SeverityFromFields(m, m.Fields[n0:])
	return nil
}
