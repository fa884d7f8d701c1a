// Package all registers every Lua module written in Go with the sandbox;
// import it for its side effects:
//
//	import _ "github.com/interoceptor/interoceptor/sandbox/modules/all"
package all

import (
	_ "github.com/interoceptor/interoceptor/sandbox/modules/anomaly"        // require "anomaly"
	_ "github.com/interoceptor/interoceptor/sandbox/modules/change"         // require "change"
	_ "github.com/interoceptor/interoceptor/sandbox/modules/circularbuffer" // require "circular_buffer"
	_ "github.com/interoceptor/interoceptor/sandbox/modules/json"           // require "json"
)
