// Package all registers every filter plugin: import it for its side effects.
package all

import (
	_ "github.com/interoceptor/interoceptor/filters/alert"   // filters.alert
	_ "github.com/interoceptor/interoceptor/filters/counter" // filters.counter
	_ "github.com/interoceptor/interoceptor/filters/lua"     // filters.lua
)
