package pipeline_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// serverReadBytes is the most nats-server reads from a client connection at
// once (its maxBufSize): a message whose PUB line and payload arrive in one
// read is parsed in place, a longer one is first copied into a buffer of its
// own.
const serverReadBytes = 64 << 10

// A default batch of lines up to 2 KiB, with its PUB line, fits in one
// server read, as DefaultBatchBytes's comment promises.
func TestDefaultBatchFitsOneServerRead(t *testing.T) {
	for _, lineBytes := range []int{1, 100, 1000, 2048} {
		var enc pipeline.BatchEncoder
		for enc.Size() < pipeline.DefaultBatchBytes {
			now := time.Now()
			enc.Add(&pipeline.Message{UUID: pipeline.NewUUID(now), Timestamp: now.UnixNano(), Type: "log",
				Logger: "nginx_access", Hostname: "edge-0001.example.com", Pid: 4242, Severity: pipeline.DefaultSeverity,
				Payload: bytes.Repeat([]byte("x"), lineBytes)})
		}
		pub := fmt.Sprintf("PUB logs.nginx.access %d\r\n", enc.Size())
		if n := len(pub) + enc.Size() + len("\r\n"); n > serverReadBytes {
			t.Errorf("lines of %d bytes: a batch of %d bytes takes %d bytes with its PUB line, more than the %d the server reads at once",
				lineBytes, enc.Size(), n, serverReadBytes)
		}
	}
}
