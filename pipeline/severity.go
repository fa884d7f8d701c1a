package pipeline

// Severity is RFC 5424's (syslog's): 0 emergency, 1 alert, 2 critical,
// 3 error, 4 warning, 5 notice, 6 informational, 7 debug. Every message an
// input makes has one, and 0 is a real severity, so "no level in the line"
// cannot be the zero value: the runtime hands a decoder its message with
// Severity already DefaultSeverity (as it sets Timestamp to the arrival
// time), and a decoder that finds a level overwrites it. A line that says
// level=emerg keeps its 0; a line that says nothing is 6.

// DefaultSeverity is the severity of a message whose source gives none:
// informational, as syslog, journald and the usual loggers default to.
const DefaultSeverity = 6

// LevelFields are the names of the field whose value is a decoded line's
// level, in the order the decoders look for them: the first one a line has
// sets the message's Severity (see SeverityFromFields). They are the usual
// keys of logfmt, JSON loggers (zap, logrus, slog, zerolog, pino, bunyan)
// and ECS ("log.level" once the JSON decoder has flattened it).
var LevelFields = [...]string{"level", "severity", "lvl", "log.level", "loglevel"}

// ParseSeverity returns the severity named by s: a level name of the usual
// loggers, in any case, or a syslog number "0" to "7". ok is false for
// anything else, and the caller keeps the severity it had.
//
//	0 emerg, emergency, panic     4 warn, warning
//	1 alert                       5 notice
//	2 crit, critical, fatal       6 info, information, informational
//	3 err, error                  7 debug, trace
func ParseSeverity(s string) (sev int32, ok bool) {
	if len(s) == 1 && s[0] >= '0' && s[0] <= '7' {
		return int32(s[0] - '0'), true
	}
	if len(s) > len("informational") {
		return 0, false
	}
	// Lower-case into a stack buffer: this runs once per decoded line.
	var buf [len("informational")]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(s)]) {
	case "emerg", "emergency", "panic":
		return 0, true
	case "alert":
		return 1, true
	case "crit", "critical", "fatal":
		return 2, true
	case "err", "error":
		return 3, true
	case "warn", "warning":
		return 4, true
	case "notice":
		return 5, true
	case "info", "information", "informational":
		return 6, true
	case "debug", "trace":
		return 7, true
	}
	return 0, false
}

// SeverityFromFields sets m.Severity from the first of fields whose name is
// one of LevelFields and whose value ParseSeverity understands (a string,
// or an int 0 to 7). It reports whether it found one; if not, m.Severity is
// left as it was (DefaultSeverity, as the runtime hands it over). Decoders
// call it on the fields they appended.
func SeverityFromFields(m *Message, fields []Field) bool {
	for i := range fields {
		f := &fields[i]
		if !isLevelField(f.Name) {
			continue
		}
		switch f.Kind {
		case KindString:
			if sev, ok := ParseSeverity(f.Str); ok {
				m.Severity = sev
				return true
			}
		case KindInt:
			if f.Int >= 0 && f.Int <= 7 {
				m.Severity = int32(f.Int)
				return true
			}
		case KindUint:
			if f.Uint <= 7 {
				m.Severity = int32(f.Uint)
				return true
			}
		}
	}
	return false
}

func isLevelField(name string) bool {
	// Cheap first test: every level name starts with l or s.
	if name == "" || (name[0] != 'l' && name[0] != 's') {
		return false
	}
	for _, n := range LevelFields {
		if name == n {
			return true
		}
	}
	return false
}

// SeverityNames lists what ParseSeverity accepts, for error messages.
const SeverityNames = "a level name (emerg, alert, crit, error, warn, notice, info, debug and their usual spellings, any case) or 0 to 7"
