package pipeline

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// A batch that compresses is stored as S2 with its header, and BatchData
// gives back the same bytes; one that does not is left as it is.
func TestCompressBatchRoundTrip(t *testing.T) {
	data := []byte(strings.Repeat("cpu,host=edge-0042 user=10.5,idle=89.5 1700000000042000000\n", 1000))
	msg := &nats.Msg{Subject: "a", Data: data, Header: nats.Header{}}
	zbuf := compressBatch(msg)
	if zbuf == nil || msg.Header.Get(batchEncodingHdr) != "s2" || len(msg.Data) >= len(data)/4 {
		t.Fatalf("compressed to %d bytes of %d, header %q", len(msg.Data), len(data), msg.Header.Get(batchEncodingHdr))
	}
	got, err := BatchData(msg)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("BatchData: %d bytes, err %v; want the %d bytes compressed", len(got), err, len(data))
	}
	batchBufs.Put(zbuf)

	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	plain := &nats.Msg{Subject: "a", Data: random, Header: nats.Header{}}
	if zbuf := compressBatch(plain); zbuf != nil {
		t.Fatalf("random bytes compressed, from %d to %d", len(random), len(plain.Data))
	}
	if plain.Header.Get(batchEncodingHdr) != "" || !bytes.Equal(plain.Data, random) {
		t.Fatal("a batch left as it is was changed")
	}
	if got, err := BatchData(plain); err != nil || !bytes.Equal(got, random) {
		t.Fatalf("BatchData of a plain batch: err %v", err)
	}
}

// A batch in an encoding this version does not know, or S2 that is not,
// is an error, not a garbled batch.
func TestBatchDataRefusesWhatItCannotRead(t *testing.T) {
	for enc, want := range map[string]string{"zstd": `"zstd"`, "s2": "s2 batch"} {
		msg := &nats.Msg{Data: []byte("not compressed at all"), Header: nats.Header{}}
		msg.Header.Set(batchEncodingHdr, enc)
		if _, err := BatchData(msg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want one naming %s", enc, err, want)
		}
	}
}
