package pipeline

import (
	"maps"
	"slices"
)

// SharedKeys returns, in name order, the keys of a plugin table of the given
// kind that the runtime decodes itself (name, publish, subscribe...): every
// other key of the table belongs to the plugin. It returns nil for an unknown
// kind.
func SharedKeys(kind Kind) []string {
	return slices.Sorted(maps.Keys(sharedKeys[kind]))
}
