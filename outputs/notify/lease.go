package notify

import (
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// leaseKey is the key of the lease in the state bucket.
const leaseKey = "leader"

// lease decides which of the processes that run one output notifies: the
// one whose name is in the lease key. The leader renews it every ttl/5
// with compare-and-set (kv.Update at the revision it wrote last); a
// follower that sees the key's revision unchanged for ttl, by its own
// clock (so that the hosts' clocks need not agree), takes it the same way,
// so that of two followers only one does. A leader that cannot renew for
// ttl steps down, since another may have taken over meanwhile.
//
// step is called with the time, by the plugin's loop and by tests, which
// drive a fake clock.
type lease struct {
	kv     nats.KeyValue
	holder string // this process
	ttl    time.Duration
	log    *slog.Logger

	mu      sync.Mutex
	leader  bool
	rev     uint64    // the key's revision last written (leader) or seen (follower)
	seenAt  time.Time // when rev was written or first seen
	current string    // the holder last seen
	checked time.Time // a follower's last look at the key
}

// leaseValue is what the key holds; an empty Holder is a lease let go.
type leaseValue struct {
	Holder string    `json:"holder"`
	At     time.Time `json:"at"` // the holder's clock, for people only
}

func newLease(kv nats.KeyValue, holder string, ttl time.Duration, log *slog.Logger) *lease {
	return &lease{kv: kv, holder: holder, ttl: ttl, log: log}
}

func (l *lease) value(holder string, now time.Time) []byte {
	b, _ := json.Marshal(leaseValue{Holder: holder, At: now.UTC()})
	return b
}

// step renews or seeks the lease at now and returns whether this process
// leads, and who does.
func (l *lease) step(now time.Time) (leader bool, holder string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leader {
		if now.Sub(l.seenAt) < l.ttl/5 {
			return true, l.holder
		}
		rev, err := l.kv.Update(leaseKey, l.value(l.holder, now), l.rev)
		switch {
		case err == nil:
			l.rev, l.seenAt = rev, now
			return true, l.holder
		case errors.Is(err, nats.ErrKeyRevisionMismatch), errors.Is(err, nats.ErrKeyNotFound):
			l.log.Warn("notify lease taken by another process: this one stops notifying")
			l.leader, l.rev, l.current = false, 0, ""
			return false, ""
		case now.Sub(l.seenAt) >= l.ttl:
			l.log.Warn("notify lease not renewed in time: this one stops notifying", "error", err)
			l.leader, l.rev, l.current = false, 0, ""
			return false, ""
		}
		return true, l.holder // renew again at the next step
	}
	if !l.checked.IsZero() && now.Sub(l.checked) < l.ttl/10 && now.After(l.checked) {
		return false, l.current // looked a moment ago (the loop also runs on each batch)
	}
	l.checked = now
	en, err := l.kv.Get(leaseKey)
	switch {
	case errors.Is(err, nats.ErrKeyNotFound):
		if rev, err := l.kv.Create(leaseKey, l.value(l.holder, now)); err == nil {
			return l.took(rev, now)
		}
		return false, l.current
	case err != nil:
		return false, l.current
	}
	var v leaseValue
	_ = json.Unmarshal(en.Value(), &v)
	if en.Revision() != l.rev {
		l.rev, l.seenAt, l.current = en.Revision(), now, v.Holder
	}
	if v.Holder == l.holder {
		// Ours (a step that failed after the write went through): renew it.
		return l.took(en.Revision(), now)
	}
	if v.Holder != "" && now.Sub(l.seenAt) < l.ttl {
		return false, v.Holder
	}
	rev, err := l.kv.Update(leaseKey, l.value(l.holder, now), en.Revision())
	if err != nil {
		return false, l.current // another follower was quicker
	}
	if v.Holder != "" {
		l.log.Warn("notify lease not renewed: taking over", "from", v.Holder, "lease", l.ttl)
	}
	return l.took(rev, now)
}

func (l *lease) took(rev uint64, now time.Time) (bool, string) {
	l.leader, l.rev, l.seenAt, l.current = true, rev, now, l.holder
	return true, l.holder
}

// currentHolder is the holder last seen.
func (l *lease) currentHolder() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current
}

// release lets the lease go (a stopping leader), so that a follower takes
// over at its next step rather than after ttl.
func (l *lease) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leader {
		return
	}
	if _, err := l.kv.Update(leaseKey, l.value("", time.Now()), l.rev); err != nil {
		l.log.Warn("notify lease: could not let it go; another process takes over once it expires", "error", err)
	}
	l.leader = false
}
