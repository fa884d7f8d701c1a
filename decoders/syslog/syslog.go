// Package syslog is the "syslog" decoder: RFC 5424 and RFC 3164 lines, told
// apart by the version after the PRI or fixed by decoder_config.rfc, parsed
// with leodido/go-syslog/v4 (RFC 3164 in best-effort mode, as Telegraf does).
package syslog

import (
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.RegisterDecoder(pipeline.DecoderRegistration{
		Name:        "syslog",
		Description: "Syslog lines, RFC 5424 or RFC 3164 (decoder_config.rfc: \"auto\", \"5424\", \"3164\")",
		Sample:      sample,
		New:         func() pipeline.Decoder { return &Syslog{RFC: "auto"} },
	})
}

// Syslog decodes one syslog message per line. The go-syslog machines keep
// state while parsing, so each call takes a pair from a pool: one value may
// decode from several goroutines.
type Syslog struct {
	RFC      string // "auto", "5424" or "3164"
	machines sync.Pool
}

var _ pipeline.ConfigurableDecoder = (*Syslog)(nil)

type machines struct{ rfc5424, rfc3164 gosyslog.Machine }

// Configure reads rfc; a nil table keeps "auto".
func (s *Syslog) Configure(table map[string]any) error {
	for k, v := range table {
		if k != "rfc" {
			return pipeline.InvalidKey(k, "unknown key (known keys: rfc)")
		}
		switch v {
		case "auto", "5424", "3164":
			s.RFC = v.(string)
		default:
			return pipeline.InvalidKey("rfc", "%#v: want \"auto\", \"5424\" or \"3164\"", v)
		}
	}
	return nil
}

func (s *Syslog) get() *machines {
	if m, ok := s.machines.Get().(*machines); ok {
		return m
	}
	return &machines{
		rfc5424: rfc5424.NewParser(),
		rfc3164: rfc3164.NewParser(rfc3164.WithBestEffort(), rfc3164.WithYear(rfc3164.CurrentYear{})),
	}
}

var errNoPRI = errors.New("syslog: line does not start with a <PRI>")

// Decode sets Type "syslog", Severity from the PRI, Hostname, Logger (the
// app name), Pid (the procid when it is a number), Timestamp, Payload (the
// message, empty when there is none), and adds the fields facility,
// severity (short names: "daemon", "err"), appname, procid, msgid, and
// sd.<id>.<param> for RFC 5424 structured data, sorted; fields for absent
// parts are left out. On error m is as it was.
func (s *Syslog) Decode(line []byte, m *pipeline.Message) error {
	rfc := s.RFC
	if rfc == "auto" || rfc == "" {
		var ok bool
		if rfc, ok = detect(line); !ok {
			return errNoPRI
		}
	}
	ms := s.get()
	defer s.machines.Put(ms)
	var base *gosyslog.Base
	var sd *map[string]map[string]string
	if rfc == "5424" {
		msg, err := ms.rfc5424.Parse(line)
		if err != nil {
			return fmt.Errorf("syslog: rfc5424: %w", err)
		}
		sm, ok := msg.(*rfc5424.SyslogMessage)
		if !ok || sm == nil || !sm.Valid() {
			return errors.New("syslog: rfc5424: not a valid message")
		}
		base, sd = &sm.Base, sm.StructuredData
	} else {
		msg, err := ms.rfc3164.Parse(line)
		sm, ok := msg.(*rfc3164.SyslogMessage)
		if !ok || sm == nil || !sm.Valid() { // best effort: a partial message with a PRI will do
			if err == nil {
				err = errors.New("not a valid message")
			}
			return fmt.Errorf("syslog: rfc3164: %w", err)
		}
		base = &sm.Base
	}

	m.Type = "syslog"
	if base.Severity != nil {
		m.Severity = int32(*base.Severity)
	}
	if base.Hostname != nil {
		m.Hostname = *base.Hostname
	}
	if base.Appname != nil {
		m.Logger = *base.Appname
	}
	if base.ProcID != nil {
		if pid, err := strconv.ParseInt(*base.ProcID, 10, 32); err == nil {
			m.Pid = int32(pid)
		}
	}
	if t := base.Timestamp; t != nil && t.Year() >= 1678 && t.Year() <= 2261 {
		m.Timestamp = t.UnixNano()
	}
	m.Payload = nil
	if base.Message != nil {
		m.Payload = []byte(*base.Message)
	}
	if f := base.FacilityLevel(); f != nil {
		m.AddString("facility", *f)
	}
	if sev := base.SeverityShortLevel(); sev != nil {
		m.AddString("severity", *sev)
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"appname", base.Appname}, {"procid", base.ProcID}, {"msgid", base.MsgID}} {
		if f.v != nil {
			m.AddString(f.name, *f.v)
		}
	}
	if sd != nil {
		for _, id := range sortedKeys(*sd) {
			params := (*sd)[id]
			for _, p := range sortedKeys(params) {
				m.AddString("sd."+id+"."+p, params[p])
			}
		}
	}
	return nil
}

// detect tells RFC 5424 ("<PRI>1 ") from RFC 3164 ("<PRI>Mmm dd ...").
func detect(line []byte) (string, bool) {
	if len(line) < 3 || line[0] != '<' {
		return "", false
	}
	i := 1
	for i < len(line) && i <= 4 && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	if i == 1 || i >= len(line) || line[i] != '>' {
		return "", false
	}
	i++
	j := i // the version: 1 to 3 digits, not starting with 0
	for j < len(line) && j-i < 3 && line[j] >= '0' && line[j] <= '9' {
		j++
	}
	if j > i && line[i] != '0' && j < len(line) && line[j] == ' ' {
		return "5424", true
	}
	return "3164", true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
