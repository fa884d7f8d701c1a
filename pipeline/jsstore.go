package pipeline

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// storeWatch brings the embedded server's JetStream back after its store
// could not be written (a full disk). nats-server (2.15) then keeps the
// stream's write error for good: every later store fails, and publishers get
// no answer, even once space is freed; on some errors it disables JetStream
// instead. Neither mends without restarting JetStream, which re-opens the
// streams from their files: storeWatch does that once the store has room
// again. Durable publishers retry meanwhile (their inputs hold, checkpoints
// stay), so nothing is lost.
type storeWatch struct {
	srv  *server.Server
	opts *server.Options
	dir  string
	log  *slog.Logger

	failed atomic.Pointer[string] // the server's error, until JetStream is restarted
	warn   LogThrottle

	// Used by the watching goroutine only.
	since     time.Time     // when the trouble was first seen
	restarted time.Time     // the last restart
	gap       time.Duration // the least time between two restarts

	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

// storeProbeBytes is the room the store must have before JetStream is
// restarted: a few batches, so that it does not fail again at once.
const storeProbeBytes = 1 << 20

// storeCheckEvery is how often a failed store is checked for room. A store
// that fails again soon after a restart (an error that room does not mend)
// waits twice as long before the next one, up to storeMaxGap.
const (
	storeCheckEvery = time.Second
	storeMaxGap     = time.Minute
)

// storeProbePattern names the files roomFor writes in the store directory.
const storeProbePattern = ".room-probe-*"

func newStoreWatch(opts *server.Options, log *slog.Logger) *storeWatch {
	return &storeWatch{opts: opts, dir: opts.StoreDir, log: log, gap: storeCheckEvery, stop: make(chan struct{})}
}

// serverSaid looks at an error or warning the embedded server logged, for
// one that says its store cannot be written.
func (w *storeWatch) serverSaid(msg string) {
	lower := strings.ToLower(msg)
	if strings.Contains(lower, "critical write error") || strings.Contains(lower, "failed to store a msg") ||
		strings.Contains(lower, "will be disabled") || strings.Contains(lower, "disabling jetstream") {
		if w.failed.CompareAndSwap(nil, &msg) {
			w.log.Error("JetStream store cannot be written: durable publishers retry and their inputs hold; JetStream restarts by itself once the store has room",
				"store", w.dir, "server_error", msg)
		}
	}
}

// start watches srv until close.
func (w *storeWatch) start(srv *server.Server) {
	w.srv = srv
	// Left by a process that stopped in the middle of a probe.
	if stale, _ := filepath.Glob(filepath.Join(w.dir, storeProbePattern)); len(stale) > 0 {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		t := time.NewTicker(storeCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.check()
			}
		}
	}()
}

// check restarts JetStream if its store failed (or it is off) and the store
// has room now.
func (w *storeWatch) check() {
	failed := w.failed.Load() != nil
	if !failed && w.srv.JetStreamEnabled() {
		w.since = time.Time{}
		return
	}
	if w.since.IsZero() {
		w.since = time.Now()
	}
	if time.Since(w.restarted) < w.gap {
		return
	}
	if err := roomFor(w.dir, storeProbeBytes); err != nil {
		return // still full: try again at the next check
	}
	w.failed.Store(nil) // a failure from here on is a new one
	if w.srv.JetStreamEnabled() {
		if err := w.srv.ShutdownJetStream(); err != nil {
			w.log.Error("JetStream restart: shutdown failed", "err", err)
			return
		}
	}
	// As server.Start enables it, from the same options.
	o := w.opts
	err := w.srv.EnableJetStream(&server.JetStreamConfig{
		StoreDir: o.StoreDir, SyncInterval: o.SyncInterval, SyncAlways: o.SyncAlways, Strict: !o.NoJetStreamStrict,
		MaxMemory: o.JetStreamMaxMemory, MaxStore: o.JetStreamMaxStore, Domain: o.JetStreamDomain,
		CompressOK: true, UniqueTag: o.JetStreamUniqueTag,
	})
	if err != nil {
		if ok, more := w.warn.Allow(); ok {
			w.log.Error("JetStream restart failed; trying again", "store", w.dir, "err", err, "more_since_last_warning", more)
		}
		return
	}
	w.log.Warn("JetStream restarted: its store can be written again", "store", w.dir,
		"failed_for", time.Since(w.since).Round(time.Millisecond))
	if time.Since(w.restarted) < storeMaxGap {
		w.gap = min(w.gap*2, storeMaxGap)
	} else {
		w.gap = storeCheckEvery
	}
	w.since, w.restarted = time.Time{}, time.Now()
}

func (w *storeWatch) close() {
	if w == nil {
		return
	}
	w.stopOnce.Do(func() { close(w.stop) })
	w.done.Wait()
}

// roomFor reports whether n bytes can be written in dir now, by writing
// them to a file it removes again.
func roomFor(dir string, n int) error {
	f, err := os.CreateTemp(dir, storeProbePattern)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for written := 0; written < n; written += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}
