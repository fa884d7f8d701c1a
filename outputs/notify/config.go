package notify

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// RouteConfig is one [[outputs.notify.routes]]: the alerts its matchers
// match go to its receiver, grouped its way. The first route that matches
// takes an alert, unless it says continue; an alert no route takes goes to
// the output's own receiver (the default route).
type RouteConfig struct {
	Matchers []string `toml:"matchers"` // Alertmanager's syntax: 'severity="critical"', 'team=~"db|storage"'
	Receiver string   `toml:"receiver"`
	// GroupBy and the intervals override the output's when set.
	GroupBy        []string           `toml:"group_by"`
	GroupWait      *pipeline.Duration `toml:"group_wait"`
	GroupInterval  *pipeline.Duration `toml:"group_interval"`
	RepeatInterval *pipeline.Duration `toml:"repeat_interval"`
	Continue       bool               `toml:"continue"`
	Escalate       []EscalateConfig   `toml:"escalate"`
}

// EscalateConfig is one step of escalation: a group not acknowledged After
// its first notification is notified to Receiver too.
type EscalateConfig struct {
	After    pipeline.Duration `toml:"after"`
	Receiver string            `toml:"receiver"`
}

// The ranges of the keys that time something.
var (
	groupWaitRange      = pipeline.DurationRange{Min: 0, Max: time.Hour}
	groupIntervalRange  = pipeline.DurationRange{Min: time.Second, Max: 24 * time.Hour}
	repeatIntervalRange = pipeline.DurationRange{Min: time.Second, Max: 30 * 24 * time.Hour}
	resolveTimeoutRange = pipeline.DurationRange{Min: time.Second, Max: 24 * time.Hour}
	escalateAfterRange  = pipeline.DurationRange{Min: time.Second, Max: 30 * 24 * time.Hour}
	leaseRange          = pipeline.DurationRange{Min: 2 * time.Second, Max: time.Minute} // renewed every lease/5
	timeoutRange        = pipeline.DurationRange{Min: 100 * time.Millisecond, Max: 5 * time.Minute}
)

var (
	receiverNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	labelNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	bucketNameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// groupAll is the group_by that groups by every label.
const groupAll = "..."

// Validate checks the keys that can be checked without acquiring anything.
func (p *Notify) Validate() error {
	if p.Receiver == "" {
		return pipeline.MissingKey("receiver")
	}
	known := map[string]bool{}
	for i, rc := range p.Receivers {
		key := fmt.Sprintf("receivers[%d].name", i)
		switch {
		case rc.Name == "":
			return pipeline.MissingKey(key)
		case !receiverNameRE.MatchString(rc.Name):
			return pipeline.InvalidKey(key, "%q: use letters, digits, _ and -", rc.Name)
		case known[rc.Name]:
			return pipeline.InvalidKey(key, "%q is defined twice", rc.Name)
		}
		known[rc.Name] = true
	}
	checkReceiver := func(key, name string) error {
		if !known[name] {
			return pipeline.InvalidKey(key, "no [[outputs.notify.receivers]] is named %q", name)
		}
		return nil
	}
	if err := checkReceiver("receiver", p.Receiver); err != nil {
		return err
	}
	if err := checkGroupBy("group_by", p.GroupBy); err != nil {
		return err
	}
	for _, c := range []struct {
		key string
		r   pipeline.DurationRange
		v   pipeline.Duration
	}{
		{"group_wait", groupWaitRange, p.GroupWait}, {"group_interval", groupIntervalRange, p.GroupInterval},
		{"repeat_interval", repeatIntervalRange, p.RepeatInterval}, {"resolve_timeout", resolveTimeoutRange, p.ResolveTimeout},
		{"lease", leaseRange, p.Lease}, {"timeout", timeoutRange, p.Timeout},
	} {
		if err := c.r.Check(c.key, time.Duration(c.v)); err != nil {
			return err
		}
	}
	if p.ExternalURL != "" {
		if u, err := url.Parse(p.ExternalURL); err != nil || u.Scheme == "" || u.Host == "" {
			return pipeline.InvalidKey("external_url", "want an absolute URL (https://host/path)")
		}
	}
	if p.StateBucket != "" && !bucketNameRE.MatchString(p.StateBucket) {
		return pipeline.InvalidKey("state_bucket", "%q: use letters, digits, _ and -", p.StateBucket)
	}
	if err := checkEscalate("escalate", p.Receiver, p.Escalate, checkReceiver); err != nil {
		return err
	}
	for i, r := range p.Routes {
		pre := fmt.Sprintf("routes[%d].", i)
		if r.Receiver == "" {
			return pipeline.MissingKey(pre + "receiver")
		}
		if err := checkReceiver(pre+"receiver", r.Receiver); err != nil {
			return err
		}
		if _, err := parseMatchers(r.Matchers); err != nil {
			return pipeline.InvalidKey(pre+"matchers", "%v", err)
		}
		if err := checkGroupBy(pre+"group_by", r.GroupBy); err != nil {
			return err
		}
		for _, c := range []struct {
			key string
			r   pipeline.DurationRange
			v   *pipeline.Duration
		}{
			{"group_wait", groupWaitRange, r.GroupWait}, {"group_interval", groupIntervalRange, r.GroupInterval},
			{"repeat_interval", repeatIntervalRange, r.RepeatInterval},
		} {
			if c.v != nil {
				if err := c.r.Check(pre+c.key, time.Duration(*c.v)); err != nil {
					return err
				}
			}
		}
		if err := checkEscalate(pre+"escalate", r.Receiver, r.Escalate, checkReceiver); err != nil {
			return err
		}
	}
	return nil
}

func checkGroupBy(key string, by []string) error {
	for _, l := range by {
		switch {
		case l == groupAll && len(by) > 1:
			return pipeline.InvalidKey(key, "%q groups by every label: it goes alone", groupAll)
		case l != groupAll && !labelNameRE.MatchString(l):
			return pipeline.InvalidKey(key, "%q is not a label name", l)
		}
	}
	return nil
}

// checkEscalate checks a route's steps; each names a receiver the route
// does not tell yet.
func checkEscalate(key, receiver string, steps []EscalateConfig, checkReceiver func(key, name string) error) error {
	seen := map[string]bool{receiver: true}
	for i, s := range steps {
		pre := fmt.Sprintf("%s[%d].", key, i)
		if s.Receiver == "" {
			return pipeline.MissingKey(pre + "receiver")
		}
		if err := checkReceiver(pre+"receiver", s.Receiver); err != nil {
			return err
		}
		if seen[s.Receiver] {
			return pipeline.InvalidKey(pre+"receiver", "%q is already told of the route's alerts", s.Receiver)
		}
		seen[s.Receiver] = true
		if err := escalateAfterRange.Check(pre+"after", time.Duration(s.After)); err != nil {
			return err
		}
		if i > 0 && s.After <= steps[i-1].After {
			return pipeline.InvalidKey(pre+"after", "each step comes after the one before it: %s is not after %s",
				time.Duration(s.After), time.Duration(steps[i-1].After))
		}
	}
	return nil
}

// routes compiles the routes of a validated config, the default route
// last.
func (p *Notify) routes() []*route {
	def := &route{id: "default", receiver: p.Receiver, groupWait: time.Duration(p.GroupWait),
		groupInterval: time.Duration(p.GroupInterval), repeatInterval: time.Duration(p.RepeatInterval),
		escalate: escalations(p.Escalate)}
	setGroupBy(def, p.GroupBy)
	var out []*route
	for i, rc := range p.Routes {
		ms, _ := parseMatchers(rc.Matchers) // checked by Validate
		r := &route{id: fmt.Sprintf("routes[%d]", i), matchers: ms, receiver: rc.Receiver,
			groupWait: def.groupWait, groupInterval: def.groupInterval, repeatInterval: def.repeatInterval,
			cont: rc.Continue, escalate: escalations(rc.Escalate)}
		if rc.GroupBy != nil {
			setGroupBy(r, rc.GroupBy)
		} else {
			r.groupBy, r.groupAll = def.groupBy, def.groupAll
		}
		for _, o := range []struct {
			v   *pipeline.Duration
			dst *time.Duration
		}{{rc.GroupWait, &r.groupWait}, {rc.GroupInterval, &r.groupInterval}, {rc.RepeatInterval, &r.repeatInterval}} {
			if o.v != nil {
				*o.dst = time.Duration(*o.v)
			}
		}
		out = append(out, r)
	}
	return append(out, def)
}

func setGroupBy(r *route, by []string) {
	if slices.Contains(by, groupAll) {
		r.groupAll = true
		return
	}
	r.groupBy = slices.Sorted(slices.Values(by))
}

func escalations(cs []EscalateConfig) []escalation {
	var out []escalation
	for _, c := range cs {
		out = append(out, escalation{after: time.Duration(c.After), receiver: c.Receiver})
	}
	return out
}
