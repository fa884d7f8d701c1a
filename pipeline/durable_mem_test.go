package pipeline

import (
	"bytes"
	"fmt"
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

// compressedBatch is a batch as a durable publisher stores it: S2, with
// the header that says so.
func compressedBatch(t *testing.T, data []byte) *nats.Msg {
	t.Helper()
	msg := &nats.Msg{Subject: "a", Data: bytes.Clone(data), Header: nats.Header{}}
	if compressBatch(msg) == nil {
		t.Fatalf("%d bytes did not compress", len(data))
	}
	return msg
}

// A runner whose plugin keeps nothing (Transient: its decoder aliases the
// batch) decompresses every durable batch into the same buffer, so a
// durable output makes no garbage of its own per batch; a runner whose
// plugin may keep its messages gives each batch memory of its own, which
// the next batch leaves as it was; and a batch too big to keep the buffer
// for is decompressed all the same.
func TestRunnerBatchDataReusesItsBufferOnlyForTransientPlugins(t *testing.T) {
	first := []byte(strings.Repeat("cpu,host=edge-0042 user=10.5,idle=89.5 1700000000042000000\n", 900))
	second := []byte(strings.Repeat("mem,host=edge-0007 used=41i 1700000000042000001\n", 1000))
	msg1, msg2 := compressedBatch(t, first), compressedBatch(t, second)

	transient := &runner{dec: BatchDecoder{Alias: true}}
	if _, err := transient.batchData(msg1); err != nil {
		t.Fatal(err)
	}
	var got []byte
	allocs := testing.AllocsPerRun(20, func() {
		var err error
		if got, err = transient.batchData(msg2); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 || !bytes.Equal(got, second) {
		t.Errorf("Transient plugin: %.0f allocations a batch (want 0), right bytes %v", allocs, bytes.Equal(got, second))
	}

	keeping := &runner{}
	kept, err := keeping.batchData(msg1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keeping.batchData(msg2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kept, first) {
		t.Error("a plugin that may keep its messages had its first batch overwritten by the second")
	}

	big := make([]byte, 0, maxKeptUnzipped+4096)
	for len(big) < maxKeptUnzipped+1 {
		big = fmt.Appendf(big, "disk,host=edge-%04d free=%di\n", len(big)%9973, len(big))
	}
	if got, err := transient.batchData(compressedBatch(t, big)); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("a %d-byte batch: err %v, right bytes %v", len(big), err, bytes.Equal(got, big))
	}
	if cap(transient.unzipped) > maxKeptUnzipped {
		t.Errorf("the runner keeps a %d-byte buffer, more than the %d it may", cap(transient.unzipped), maxKeptUnzipped)
	}
	if got, err := transient.batchData(msg1); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("after the big batch: err %v, right bytes %v", err, bytes.Equal(got, first))
	}
}
