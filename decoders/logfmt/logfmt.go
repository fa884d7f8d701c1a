// Package logfmt is the "logfmt" decoder: one line of key=value pairs
// (https://brandur.org/logfmt) becomes one "log" message with a field per
// pair. Parsing is github.com/go-logfmt/logfmt's.
package logfmt

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"sync"

	"github.com/go-logfmt/logfmt"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.RegisterDecoder(pipeline.DecoderRegistration{
		Name:        "logfmt",
		Description: "key=value pairs per line (logfmt); values are strings, a bare key is true",
		Sample:      sample,
		New:         func() pipeline.Decoder { return &Logfmt{} },
	})
}

// Logfmt decodes logfmt lines. It holds no state, so one value may decode
// from several goroutines at once.
type Logfmt struct{}

var _ pipeline.Decoder = (*Logfmt)(nil)

// Decode sets Type "log" and appends a field per pair, in the line's order:
// key=value and key="quoted value" give a string field (no type is guessed:
// 200 is the string "200"), key= and key="" the empty string, a bare key the
// bool true. A key that appears twice gives two fields. A level key
// (pipeline.LevelFields: level=warn) sets Severity. Payload keeps the line.
// On error m's fields are as they were.
func (*Logfmt) Decode(line []byte, m *pipeline.Message) error {
	if bytes.IndexByte(line, '\n') >= 0 {
		// go-logfmt would read two records; the runtime never passes one.
		return errors.New("logfmt: the line contains a newline")
	}
	s := states.Get().(*state)
	defer s.release()
	s.r.Reset(line)
	// A decoder per line: go-logfmt's cannot be reset. Its buffer is sized to
	// the line so that no line is too long.
	dec := logfmt.NewDecoderSize(&s.r, len(line)+1)
	n0 := len(m.Fields)
	if err := s.decode(dec, line, m); err != nil {
		clear(m.Fields[n0:])
		m.Fields = m.Fields[:n0]
		return err
	}
	m.Type = "log"
	pipeline.SeverityFromFields(m, m.Fields[n0:])
	return nil
}

// state is what a decode reuses: the reader and the names seen (keys repeat
// from line to line).
type state struct {
	r     bytes.Reader
	names pipeline.Interner
}

var states = sync.Pool{New: func() any { return new(state) }}

func (s *state) release() {
	s.r.Reset(nil)
	states.Put(s)
}

func (s *state) decode(dec *logfmt.Decoder, line []byte, m *pipeline.Message) error {
	if !dec.ScanRecord() {
		return syntaxError(dec.Err()) // nil for an empty line: no fields
	}
	// go-logfmt gives a nil value for both "k" and "k="; pos follows the
	// scan through line to tell them apart.
	pos := 0
	for dec.ScanKeyval() {
		key := dec.Key()
		for pos < len(line) && line[pos] <= ' ' {
			pos++
		}
		pos += len(key)
		if pos >= len(line) || line[pos] != '=' {
			m.Fields = append(m.Fields, pipeline.Field{Name: s.names.String(key), Kind: pipeline.KindBool, Bool: true})
			continue
		}
		pos = skipValue(line, pos+1)
		m.Fields = append(m.Fields, pipeline.Field{Name: s.names.String(key), Kind: pipeline.KindString, Str: string(dec.Value())})
	}
	return syntaxError(dec.Err())
}

// skipValue returns the end of the value that starts at line[pos], scanning
// as go-logfmt does.
func skipValue(line []byte, pos int) int {
	if pos >= len(line) || line[pos] != '"' {
		for pos < len(line) && line[pos] > ' ' {
			pos++
		}
		return pos
	}
	esc := false
	for pos++; pos < len(line); pos++ {
		switch c := line[pos]; {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			return pos + 1
		}
	}
	return pos
}

// syntaxError rewrites go-logfmt's "logfmt syntax error at pos 7 on line 1"
// as "logfmt: column 7": there is only one line.
func syntaxError(err error) error {
	var se *logfmt.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("logfmt: column %d: %s", se.Pos, se.Msg)
	}
	if err != nil {
		return fmt.Errorf("logfmt: %w", err)
	}
	return nil
}
