package alertmanager

import (
	"sort"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// resolvedRetention is how long a resolved alert is kept and posted again
// every resend_interval, as Prometheus does: an Alertmanager that was down
// when the alert resolved learns it when it is back, instead of holding
// the alert firing until its endsAt.
const resolvedRetention = 15 * time.Minute

// expiryFactor times resend_interval is how far ahead a firing alert's
// endsAt is set, as Prometheus does: Alertmanager resolves the alert by
// itself when three posts in a row are missed (the pipeline died, or was
// cut off from it).
const expiryFactor = 4

// entry is what the output knows of one alert, by fingerprint.
type entry struct {
	alert      *pipeline.Alert
	seen       time.Time // when the pipeline last said it, on the output's clock
	sent       time.Time // when an Alertmanager last took it; zero: not yet
	resolvedAt time.Time // on the output's clock; zero while it fires
}

func (e *entry) firing() bool { return e.resolvedAt.IsZero() }

// learn records what the pipeline says of an alert, at now. o.mu is held.
func (o *Alertmanager) learn(a *pipeline.Alert, now time.Time) *entry {
	e := &entry{alert: a, seen: now}
	if a.Status == pipeline.AlertResolved {
		e.resolvedAt = now
	}
	o.alerts[a.Fingerprint] = e
	return e
}

// countLocked counts the alerts held, firing and resolved. o.mu is held.
func (o *Alertmanager) countLocked() (firing, resolved int) {
	for _, e := range o.alerts {
		if e.firing() {
			firing++
		} else {
			resolved++
		}
	}
	return firing, resolved
}

// resend is the re-send loop's work at now: a firing alert the rule has
// not repeated for resolve_timeout becomes resolved; a resolved one held
// for resolvedRetention is forgotten; every alert not taken by an
// Alertmanager for resend_interval (or ever) is posted again, in one
// request to each.
func (o *Alertmanager) resend(now time.Time) {
	o.sendMu.Lock()
	defer o.sendMu.Unlock()
	resendEvery, timeout := time.Duration(o.ResendInterval), time.Duration(o.ResolveTimeout)
	var due []*entry
	var timedOut []string
	o.mu.Lock()
	for fp, e := range o.alerts {
		if e.firing() && now.Sub(e.seen) >= timeout {
			a := *e.alert
			a.Status, a.EndsAt = pipeline.AlertResolved, now
			e.alert, e.resolvedAt, e.sent = &a, now, time.Time{}
			timedOut = append(timedOut, a.Name()+" "+fp)
		}
		if !e.firing() && now.Sub(e.resolvedAt) >= resolvedRetention {
			delete(o.alerts, fp)
			continue
		}
		if e.sent.IsZero() || now.Sub(e.sent) >= resendEvery {
			due = append(due, e)
		}
	}
	o.mu.Unlock()
	if len(timedOut) > 0 {
		sort.Strings(timedOut)
		o.env.Log.Info("no word from the rule for resolve_timeout: alerts posted as resolved",
			"alerts", len(timedOut), "first", timedOut[0], "resolve_timeout", timeout)
	}
	if len(due) == 0 {
		return
	}
	sort.Slice(due, func(i, j int) bool { return due[i].alert.Fingerprint < due[j].alert.Fingerprint })
	if err := o.send(due, now); err != nil {
		if ok, more := o.resendLog.Allow(); ok {
			o.env.Log.Warn("re-sending alerts failed; trying again at the next tick", "alerts", len(due),
				"error", err, "more_since_last_warning", more)
		}
	}
}
