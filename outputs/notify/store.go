package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/interoceptor/interoceptor/pipeline"
)

// kvStore keeps the engine's state in a JetStream key-value bucket, one
// key per thing:
//
//	alert.<fingerprint>  an alert (storedAlert)
//	log.<hash>           what was last sent to a receiver about a group
//	                     (logEntry; hash: groupID of group key + receiver)
//	ack.<id>             an ack (a group's id or an alert's fingerprint)
//	silence.<uuid>       a silence
//	leader               the lease (lease.go)
//
// The engine writes through on each change; every process watches the
// bucket and takes the others' changes (log, acks, silences), so that a
// follower taking over knows what was sent, and an ack or a silence made
// through any process's admin API reaches the leader.
type kvStore struct {
	kv     nats.KeyValue
	bucket string
	log    *slog.Logger
	w      nats.KeyWatcher
	done   chan struct{}
	warn   pipeline.LogThrottle

	mu      sync.Mutex
	stopped bool
}

// stateMaxBytes bounds the bucket: alerts, log entries, acks and silences
// are small, and a full bucket refuses writes (logged) rather than lose
// what it has.
const stateMaxBytes = 64 << 20

func openKVStore(js nats.JetStreamContext, bucket string, log *slog.Logger) (*kvStore, error) {
	kv, err := js.KeyValue(bucket)
	if errors.Is(err, nats.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(&nats.KeyValueConfig{Bucket: bucket, History: 1, MaxBytes: stateMaxBytes,
			Storage: nats.FileStorage, Description: "outputs.notify state: alerts, notification log, acks, silences, lease"})
		if err != nil {
			// Another process may have made it meanwhile.
			if kv2, err2 := js.KeyValue(bucket); err2 == nil {
				kv, err = kv2, nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("state bucket %q: %w", bucket, err)
	}
	return &kvStore{kv: kv, bucket: bucket, log: log.With("state_bucket", bucket)}, nil
}

// storedAlert is an alert as the bucket keeps it.
type storedAlert struct {
	Status      string             `json:"status"`
	Labels      map[string]string  `json:"labels"`
	Annotations map[string]string  `json:"annotations,omitempty"`
	Values      map[string]float64 `json:"values,omitempty"`
	StartsAt    time.Time          `json:"starts_at"`
	EndsAt      time.Time          `json:"ends_at,omitzero"`
	At          time.Time          `json:"at"`
	Fingerprint string             `json:"fingerprint"`
	FirstSeen   time.Time          `json:"first_seen"`
}

func toStored(a *alertRec) storedAlert {
	return storedAlert{Status: a.Status, Labels: a.Labels, Annotations: a.Annotations, Values: a.Values,
		StartsAt: a.StartsAt, EndsAt: a.EndsAt, At: a.At, Fingerprint: a.Fingerprint, FirstSeen: a.FirstSeen}
}

func (s storedAlert) rec() *alertRec {
	return &alertRec{Alert: pipeline.Alert{Status: s.Status, Labels: s.Labels, Annotations: s.Annotations,
		Values: s.Values, StartsAt: s.StartsAt, EndsAt: s.EndsAt, At: s.At, Fingerprint: s.Fingerprint},
		FirstSeen: s.FirstSeen}
}

func logHash(groupKey, receiver string) string { return groupID(logKey(groupKey, receiver)) }

func (s *kvStore) put(key string, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		_, err = s.kv.Put(key, b)
	}
	if err != nil {
		s.failed("write", key, err)
	}
}

func (s *kvStore) del(key string) {
	if err := s.kv.Delete(key); err != nil && !errors.Is(err, nats.ErrKeyNotFound) {
		s.failed("delete", key, err)
	}
}

// failed logs a write that failed: the state in memory goes on, and the
// next change writes again.
func (s *kvStore) failed(op, key string, err error) {
	if ok, suppressed := s.warn.Allow(); ok {
		s.log.Error("state bucket: "+op+" failed; a restart now could send again or forget it", "key", key, "error", err, "suppressed", suppressed)
	}
}

func (s *kvStore) putAlert(a *alertRec)     { s.put("alert."+a.Fingerprint, toStored(a)) }
func (s *kvStore) deleteAlert(fp string)    { s.del("alert." + fp) }
func (s *kvStore) putLog(e *logEntry)       { s.put("log."+logHash(e.GroupKey, e.Receiver), e) }
func (s *kvStore) deleteLog(gk, rcv string) { s.del("log." + logHash(gk, rcv)) }
func (s *kvStore) putAck(a *ack)            { s.put("ack."+a.ID, a) }
func (s *kvStore) deleteAck(id string)      { s.del("ack." + id) }
func (s *kvStore) putSilence(x *silence)    { s.put("silence."+x.ID, x) }
func (s *kvStore) deleteSilence(id string)  { s.del("silence." + id) }

// load reads the whole bucket into e (the alerts too, which the watch
// leaves alone afterwards), and keeps the watcher for watch.
func (s *kvStore) load(e *engine, now time.Time) error {
	w, err := s.kv.WatchAll()
	if err != nil {
		return fmt.Errorf("state bucket %q: %w", s.bucket, err)
	}
	s.w = w
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case en, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("state bucket %q: the watch ended while loading", s.bucket)
			}
			if en == nil {
				return nil // all there was
			}
			s.apply(e, en, now, true)
		case <-timeout.C:
			return fmt.Errorf("state bucket %q: loading took more than 30s", s.bucket)
		}
	}
}

// watch applies the other processes' changes to e until close.
func (s *kvStore) watch(e *engine) {
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		for en := range s.w.Updates() {
			if en != nil {
				s.apply(e, en, time.Now(), false)
			}
			s.mu.Lock()
			stopped := s.stopped
			s.mu.Unlock()
			if stopped {
				return
			}
		}
	}()
}

// apply takes one entry of the bucket; alerts only when loading.
func (s *kvStore) apply(e *engine, en nats.KeyValueEntry, now time.Time, loading bool) {
	key := en.Key()
	prefix, id, _ := strings.Cut(key, ".")
	deleted := en.Operation() != nats.KeyValuePut
	bad := func(err error) {
		if ok, suppressed := s.warn.Allow(); ok {
			s.log.Warn("state bucket: skipped an entry that does not read", "key", key, "error", err, "suppressed", suppressed)
		}
	}
	switch prefix {
	case "alert":
		if !loading || deleted {
			return
		}
		var sa storedAlert
		if err := json.Unmarshal(en.Value(), &sa); err != nil || sa.Fingerprint == "" || sa.Labels == nil {
			bad(fmt.Errorf("alert: %v", err))
			return
		}
		e.applyAlert(sa.rec(), now)
	case "log":
		if deleted {
			e.applyLogDeleteHash(id)
			return
		}
		var le logEntry
		if err := json.Unmarshal(en.Value(), &le); err != nil || le.GroupKey == "" {
			bad(fmt.Errorf("log: %v", err))
			return
		}
		e.applyLog(&le)
	case "ack":
		if deleted {
			e.applyAckDelete(id)
			return
		}
		var k ack
		if err := json.Unmarshal(en.Value(), &k); err != nil || k.ID == "" {
			bad(fmt.Errorf("ack: %v", err))
			return
		}
		e.applyAck(&k)
	case "silence":
		if deleted {
			e.applySilenceDelete(id)
			return
		}
		var x silence
		if err := json.Unmarshal(en.Value(), &x); err != nil || x.ID == "" {
			bad(fmt.Errorf("silence: %v", err))
			return
		}
		if err := e.applySilence(&x); err != nil {
			bad(err)
		}
	}
}

// purgeDeletes drops the markers that deleted keys leave, older than 30
// minutes, so that they do not fill the bucket.
func (s *kvStore) purgeDeletes() {
	if err := s.kv.PurgeDeletes(); err != nil {
		s.failed("purge deletes", "", err)
	}
}

func (s *kvStore) close() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	if s.w != nil {
		_ = s.w.Stop()
	}
	if s.done != nil {
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
	}
}
