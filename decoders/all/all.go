// Package all registers every decoder that ships with interoceptor; the
// binary imports it for its side effects.
package all

import (
	_ "github.com/interoceptor/interoceptor/decoders/influx" // "influx": line protocol
	_ "github.com/interoceptor/interoceptor/decoders/json"   // "json": a JSON object per line
	_ "github.com/interoceptor/interoceptor/decoders/logfmt" // "logfmt": key=value pairs
)
