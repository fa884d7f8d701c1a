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
// consumer reads each block just behind the writes; neither the block size
// nor the 10 s (nats-server issue #5740) can be set through the server's
// options. A stream kept to its limits so held about the bytes stored in
// the last 10 s. What bounds it: a stream a durable subscriber reads is
// kept by interest (see keepByInterest), and the store drops a block, with
// its memory, once none of its messages is left; batches are compressed (durable_compression);
// and the runners make no garbage of their own per durable batch
// (runner.batchData), each collection of which would empty nats-server's
// pools of block buffers.

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
	data, _, err := batchData(msg, nil)
	return data, err
}

// batchData is BatchData decompressing into buf's memory when it has room
// (a new buffer when not); unzipped says whether data was decompressed, and
// so is buf's memory or new, rather than msg.Data.
func batchData(msg *nats.Msg, buf []byte) (data []byte, unzipped bool, err error) {
	switch enc := msg.Header.Get(batchEncodingHdr); enc {
	case "":
		return msg.Data, false, nil
	case "s2":
		b, err := s2.Decode(buf[:0], msg.Data)
		if err != nil {
			return nil, false, fmt.Errorf("s2 batch: %w", err)
		}
		return b, true, nil
	default:
		return nil, false, fmt.Errorf("batch encoded as %q, which this version cannot read", enc)
	}
}

// maxKeptUnzipped bounds the buffer a runner keeps to decompress batches
// into: a batch of a few huge messages gets memory of its own instead.
const maxKeptUnzipped = 1 << 20

// batchData is BatchData for handle. When the plugin keeps nothing of its
// messages (it is Transient: the decoder aliases the batch), nothing refers
// to a batch once handle returns, so a compressed batch is decompressed
// into the same buffer every time, under r.mu: a durable output otherwise
// makes as much garbage as it writes, and each collection that garbage
// brings on empties nats-server's pools of 8 MiB block buffers, which are
// then made anew. Other plugins may keep their messages, which alias the
// batch: theirs get memory of their own.
func (r *runner) batchData(msg *nats.Msg) ([]byte, error) {
	if !r.dec.Alias {
		return BatchData(msg)
	}
	data, unzipped, err := batchData(msg, r.unzipped)
	if unzipped && cap(data) <= maxKeptUnzipped {
		r.unzipped = data[:0]
	}
	return data, err
}

// applyMemoryLimit sets the Go runtime's soft memory limit from
// agent.memory_limit (0: off, the runtime's default).
func applyMemoryLimit(limit int64) {
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
}
