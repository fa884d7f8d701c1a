package pipeline

import "sync/atomic"

// PluginStats are one plugin instance's counters. The runtime counts In, Out,
// Dropped, Errors and ProcessNanos; a plugin adds to Errors or Dropped for
// what only it can see (a truncated line, an unreachable peer).
type PluginStats struct {
	In           atomic.Uint64 // messages handed to the plugin (inputs: lines or datagrams read)
	Out          atomic.Uint64 // messages it emitted (outputs: messages written)
	Dropped      atomic.Uint64 // messages lost, each one also logged or reported
	Errors       atomic.Uint64 // failed calls, bad input, decode errors
	ProcessNanos atomic.Int64  // time spent inside the plugin's own code
	// Duplicates counts messages seen twice: on a publisher, those of a
	// durable batch the stream recognised by its id; on a subscriber, lines
	// read again (a file after a crash) or delivered again that it dropped by
	// their origin id, lines in doubt after a crash that it wrote again
	// (perhaps twice), and the messages without an origin of a redelivered
	// durable batch.
	Duplicates atomic.Uint64
}
