package sandbox

import (
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The ranges config accepts for Limits, in filters.lua and in Lua decoders:
// a limit beyond them is no limit (a 1 GiB Lua state, a minute-long call
// holding the pipeline), one below them stops every script at once.
var (
	MemoryBytesRange = pipeline.ByteRange{Min: 64 << 10, Max: 1 << 30}
	CallTimeRange    = pipeline.DurationRange{Min: time.Millisecond, Max: time.Minute}
	// OutputBytesRange stops at the largest batch: an injected message
	// must fit in one NATS message.
	OutputBytesRange    = pipeline.ByteRange{Min: 1 << 10, Max: pipeline.MaxBatchBytes}
	InjectsPerCallRange = pipeline.CountRange{Min: 1, Max: 1_000_000}
)
