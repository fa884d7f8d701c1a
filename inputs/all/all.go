// Package all registers every input plugin: import it for its side effects.
package all

import (
	_ "github.com/interoceptor/interoceptor/inputs/file"      // inputs.file
	_ "github.com/interoceptor/interoceptor/inputs/generator" // inputs.generator
	_ "github.com/interoceptor/interoceptor/inputs/internal"  // inputs.internal
	_ "github.com/interoceptor/interoceptor/inputs/stdin"     // inputs.stdin
	_ "github.com/interoceptor/interoceptor/inputs/syslog"    // inputs.syslog
	_ "github.com/interoceptor/interoceptor/inputs/system"    // inputs.system
	_ "github.com/interoceptor/interoceptor/inputs/tail"      // inputs.tail
	_ "github.com/interoceptor/interoceptor/inputs/tcp"       // inputs.tcp
	_ "github.com/interoceptor/interoceptor/inputs/udp"       // inputs.udp
)
