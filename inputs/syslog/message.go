package syslog

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/common"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/interoceptor/interoceptor/pipeline"
)

// defaultSeverity is the severity of a message without a PRI: RFC 3164
// 4.3.3 has a relay give it PRI 13, user.notice.
const defaultSeverity = 5

// parser turns raw syslog messages into pipeline messages, for one
// goroutine: it reuses its parsers and its message.
type parser struct {
	s       *Syslog
	out     pipeline.Emitter
	rfc5424 gosyslog.Machine
	rfc3164 gosyslog.Machine
	msg     pipeline.Message
}

func (s *Syslog) newParser(out pipeline.Emitter) *parser {
	return &parser{
		s:       s,
		out:     out,
		rfc5424: rfc5424.NewParser(rfc5424.WithBestEffort()),
		// No year: the parser would fix it once, when made; timestamp()
		// gives each message the year that puts it nearest to now. A
		// timestamp without a zone is the receiver's local time.
		rfc3164: rfc3164.NewParser(rfc3164.WithBestEffort(), rfc3164.WithRFC3339(),
			rfc3164.WithLocaleTimezone(time.Local)),
	}
}

// is5424 reports whether raw starts as an RFC 5424 message does: "<PRI>"
// and a version (always 1 so far) followed by a space. An RFC 3164
// timestamp starts with a month's name or, in RFC 3339, a four-digit year.
func is5424(raw []byte) bool {
	end := bytes.IndexByte(raw, '>')
	if len(raw) == 0 || raw[0] != '<' || end < 2 || end > 4 {
		return false
	}
	v := raw[end+1:]
	i := 0
	for i < len(v) && i < 3 && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	return i > 0 && v[0] != '0' && i < len(v) && v[i] == ' '
}

// emit parses raw, sent by source (the peer's IP), and emits the message.
// A message that does not parse is counted, logged and emitted all the same,
// its raw text as the payload and the parser's complaint in an error field.
func (p *parser) emit(raw []byte, source string) error {
	raw = bytes.TrimRight(raw, "\r\n\x00")
	if len(raw) == 0 {
		return nil // keep-alive newlines, or a sender's empty datagram
	}
	received := time.Now()
	var (
		sm  gosyslog.Message
		err error
	)
	if p.s.RFC == "5424" || p.s.RFC == "auto" && is5424(raw) {
		sm, err = p.rfc5424.Parse(raw)
		if err != nil {
			err = fmt.Errorf("rfc5424: %w", err)
		}
	} else {
		sm, err = p.rfc3164.Parse(raw)
		if err != nil {
			sm, err = contentOnly(raw, err)
		}
	}
	if err == nil && (sm == nil || !sm.Valid()) {
		err = errInvalid
	}
	if err != nil {
		p.s.env.Stats.Errors.Add(1)
		if ok, more := p.s.invalid.Allow(); ok {
			p.s.env.Log.Warn("syslog message does not parse; emitted with its raw text and an error field",
				"source", source, "error", err, "more_since_last_log", more)
		}
		return p.emitParsed(raw, sm, err, source, received)
	}
	return p.emitParsed(raw, sm, nil, source, received)
}

// emitInvalid emits raw as a message that does not parse, with err.
func (p *parser) emitInvalid(raw []byte, source string, err error) error {
	return p.emitParsed(bytes.TrimRight(raw, "\r\n\x00"), nil, err, source, time.Now())
}

// contentOnly accepts an RFC 3164 message that has a valid <PRI> but not
// the rest of the header (a timestamp, a hostname), as RFC 3164 4.3.2 asks
// of a relay: all that follows the PRI is the message's content.
func contentOnly(raw []byte, err error) (gosyslog.Message, error) {
	end := bytes.IndexByte(raw, '>')
	if len(raw) == 0 || raw[0] != '<' || end < 2 || end > 4 {
		return nil, fmt.Errorf("rfc3164: %w", err)
	}
	pri, perr := strconv.ParseUint(string(raw[1:end]), 10, 8)
	if perr != nil || !common.ValidPriority(uint8(pri)) || len(raw[1:end]) > 1 && raw[1] == '0' {
		return nil, fmt.Errorf("rfc3164: %w", err)
	}
	sm := &rfc3164.SyslogMessage{}
	sm.ComputeFromPriority(uint8(pri))
	content := string(raw[end+1:])
	sm.Message = &content
	return sm, nil
}

type parseError string

func (e parseError) Error() string { return string(e) }

const errInvalid = parseError("not a syslog message: no valid <PRI>")

// emitParsed builds the message from what the parser found in sm (partial
// when parseErr is set, nil when nothing was found) and emits it.
func (p *parser) emitParsed(raw []byte, sm gosyslog.Message, parseErr error, source string, received time.Time) error {
	m := &p.msg
	m.Reset()
	m.Type = "syslog"
	m.Severity = defaultSeverity
	m.Logger = "syslog"
	m.Hostname = source

	var base *gosyslog.Base
	var sd *map[string]map[string]string
	switch sm := sm.(type) {
	case *rfc5424.SyslogMessage:
		if sm != nil {
			base, sd = &sm.Base, sm.StructuredData
		}
	case *rfc3164.SyslogMessage:
		if sm != nil {
			base = &sm.Base
		}
	}
	if base == nil {
		base = &gosyslog.Base{}
	}

	if base.Timestamp != nil && !base.Timestamp.IsZero() {
		m.Timestamp = timestamp(*base.Timestamp, received).UnixNano()
	} else {
		m.Timestamp = received.UnixNano()
	}
	if h := str(base.Hostname); h != "" {
		m.Hostname = h
	}
	if a := str(base.Appname); a != "" {
		m.Logger = a
	}
	if pid, err := strconv.ParseInt(str(base.ProcID), 10, 32); err == nil && pid >= 0 && pid <= math.MaxInt32 {
		m.Pid = int32(pid)
	}
	if parseErr != nil {
		m.Payload = append(m.Payload, raw...)
	} else {
		m.Payload = append(m.Payload, str(base.Message)...)
	}

	if base.Facility != nil && base.Severity != nil {
		m.Severity = int32(*base.Severity)
		m.AddString("facility", common.FacilityKeywords[*base.Facility])
		m.AddInt("facility_code", int64(*base.Facility))
		m.AddString("severity", common.SeverityLevelsShort[*base.Severity])
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"appname", base.Appname}, {"procid", base.ProcID}, {"msgid", base.MsgID}} {
		if v := str(f.v); v != "" {
			m.AddString(f.name, v)
		}
	}
	m.AddString("source", source)
	if sd != nil {
		// Sorted, so that a message's fields do not depend on map order.
		for _, id := range slices.Sorted(maps.Keys(*sd)) {
			params := (*sd)[id]
			for _, name := range slices.Sorted(maps.Keys(params)) {
				m.AddString("sd."+id+"."+name, params[name])
			}
		}
	}
	if parseErr != nil {
		m.AddString("error", parseErr.Error())
	}
	return p.out.Emit(m)
}

// timestamp gives an RFC 3164 timestamp, which has no year, the year that
// puts it nearest to received: a message sent on 31 December and received
// on 1 January is from last year.
func timestamp(t, received time.Time) time.Time {
	if t.Year() != 0 {
		return t
	}
	t = t.AddDate(received.Year(), 0, 0)
	switch {
	case t.Sub(received) > 24*time.Hour:
		t = t.AddDate(-1, 0, 0)
	case received.Sub(t) > 335*24*time.Hour:
		t = t.AddDate(1, 0, 0)
	}
	return t
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
