//go:build race

package sandbox

// The race detector changes timing and allocation; tests that measure the
// heap skip under it.
const raceEnabled = true
