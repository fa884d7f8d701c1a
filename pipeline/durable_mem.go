package pipeline

import (
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
)

// Where durable mode's memory goes. nats-server's file store keeps a
// stream's message block (8 MiB with the default stream_max_bytes) in
// memory for 10 s after it was last written or read, and a durable
// consumer reads each block just behind the writes: a run holds about the
// bytes stored in the last 10 s, however small the batches or the acks
// pending. Neither the block size (derived from the stream's limits) nor
// the 10 s (nats-server issue #5740) can be set through the server's
// options. What bounds it here is what is stored: batches are compressed
// (durable_compression), and the Go heap's headroom above what is live
// (agent.memory_limit).

// batchEncodingHdr says how a stored batch's data is encoded; without it
// the data is the codec's bytes as they are.
const batchEncodingHdr = "Icp-Encoding"

// batchBufs holds the buffers compressBatch writes into.
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// compressBatch replaces msg.Data by its S2 encoding, with the header that
// says so, and returns the pooled buffer that now holds it, to put back in
// batchBufs once msg is sent; nil when msg is left as it is (no smaller).
func compressBatch(msg *nats.Msg) *[]byte {
	zbuf := batchBufs.Get().(*[]byte)
	if need := s2.MaxEncodedLen(len(msg.Data)); cap(*zbuf) < need {
		*zbuf = make([]byte, need)
	}
	z := s2.Encode((*zbuf)[:cap(*zbuf)], msg.Data)
	if len(z) >= len(msg.Data) {
		batchBufs.Put(zbuf)
		return nil
	}
	msg.Data = z
	msg.Header.Set(batchEncodingHdr, "s2")
	return zbuf
}

// BatchData is the codec's bytes of a batch: msg.Data, decompressed when a
// durable publisher compressed it. The result may share nothing with
// msg.Data, and is the caller's to keep.
func BatchData(msg *nats.Msg) ([]byte, error) {
	switch enc := msg.Header.Get(batchEncodingHdr); enc {
	case "":
		return msg.Data, nil
	case "s2":
		b, err := s2.Decode(nil, msg.Data)
		if err != nil {
			return nil, fmt.Errorf("s2 batch: %w", err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("batch encoded as %q, which this version cannot read", enc)
	}
}

// applyMemoryLimit sets the Go runtime's soft memory limit from
// agent.memory_limit (0: off, the runtime's default).
func applyMemoryLimit(limit int64) {
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
}
