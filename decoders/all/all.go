// Package all registers every decoder that ships with interoceptor; the
// binary imports it for its side effects.
package all

import (
	_ "github.com/interoceptor/interoceptor/decoders/accesslog" // "common" and "combined": access logs
	_ "github.com/interoceptor/interoceptor/decoders/grok"      // "grok": a grok pattern
	_ "github.com/interoceptor/interoceptor/decoders/influx"    // "influx": line protocol
	_ "github.com/interoceptor/interoceptor/decoders/json"      // "json": a JSON object per line
	_ "github.com/interoceptor/interoceptor/decoders/logfmt"    // "logfmt": key=value pairs
	_ "github.com/interoceptor/interoceptor/decoders/lua"       // "<path>.lua": a Lua decoder script
	_ "github.com/interoceptor/interoceptor/decoders/regex"     // "regex": an RE2 pattern with named groups
	_ "github.com/interoceptor/interoceptor/decoders/syslog"    // "syslog": RFC 5424 and RFC 3164
)
