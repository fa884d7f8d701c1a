package alert

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The state kept by preserve_data, as JSON in
// <data_dir>/alert/<name>.json: the groups seen (for absent_for) and the
// alerts pending or firing, so that a restart neither fires them again nor
// forgets to resolve them.
type savedState struct {
	Version int          `json:"version"`
	Groups  []savedGroup `json:"groups"`
	Alerts  []savedAlert `json:"alerts"`
	Flaps   []savedFlaps `json:"flaps,omitempty"`
}

type savedGroup struct {
	Key      string            `json:"key"`
	Tags     map[string]string `json:"tags"`
	LastSeen int64             `json:"last_seen"`
}

type savedAlert struct {
	Alert      string             `json:"alert"` // the rule
	Group      string             `json:"group"` // the group's key
	Key        string             `json:"key"`   // the alert's key (for an anomaly, with its series)
	Labels     map[string]string  `json:"labels"`
	Firing     bool               `json:"firing"`
	ActiveAt   int64              `json:"active_at"`
	FalseSince int64              `json:"false_since,omitempty"`
	LastSent   int64              `json:"last_sent,omitempty"`
	LastCond   bool               `json:"last_cond,omitempty"`
	Held       bool               `json:"held,omitempty"`
	Flapping   bool               `json:"flapping,omitempty"`
	Values     map[string]float64 `json:"values,omitempty"`
	Anomaly    map[string]any     `json:"anomaly,omitempty"`
}

type savedFlaps struct {
	Alert string  `json:"alert"`
	Key   string  `json:"key"`
	Times []int64 `json:"times"`
}

const stateVersion = 1

func (a *Alert) statePath() string { return a.env.DataPath("alert", ".json") }

// save writes the state; under a.mu.
func (a *Alert) save() error {
	s := savedState{Version: stateVersion}
	for _, g := range a.order {
		s.Groups = append(s.Groups, savedGroup{Key: g.key, Tags: g.tags, LastSeen: g.lastSeen})
	}
	keys := slices.SortedFunc(maps.Keys(a.active), compareKeys)
	for _, k := range keys {
		st := a.active[k]
		sa := savedAlert{Alert: st.rule.name, Key: k.group, Labels: st.labels, Firing: st.phase == firing,
			ActiveAt: st.activeAt, FalseSince: st.falseSince, LastSent: st.lastSent, LastCond: st.lastCond,
			Held: st.held, Flapping: st.flapping, Values: st.values, Anomaly: st.anomaly}
		if st.group != nil {
			sa.Group = st.group.key
		}
		s.Alerts = append(s.Alerts, sa)
	}
	for _, k := range slices.SortedFunc(maps.Keys(a.flaps), compareKeys) {
		s.Flaps = append(s.Flaps, savedFlaps{Alert: a.rules[k.rule].name, Key: k.group, Times: a.flaps[k]})
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return pipeline.WriteFileAtomic(a.statePath(), data) // a crash mid-write leaves the previous file
}

func compareKeys(x, y stateKey) int {
	if x.rule != y.rule {
		return x.rule - y.rule
	}
	return strings.Compare(x.group, y.group)
}

// restore reads the state save wrote. A file that cannot be read is
// logged and the filter starts clean; alerts of rules no longer
// configured are dropped (a notifier resolves them after its
// resolve_timeout).
func (a *Alert) restore() {
	data, err := os.ReadFile(a.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var s savedState
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err == nil && s.Version != stateVersion {
		err = errors.New("unknown version")
	}
	if err != nil {
		a.log.Warn("preserved alert state not read; starting clean", "file", a.statePath(), "err", err)
		return
	}
	byName := map[string]*rule{}
	for _, r := range a.rules {
		byName[r.name] = r
	}
	for _, sg := range s.Groups {
		if len(a.groups) >= a.MaxGroups {
			break
		}
		g := a.newGroup(sg.Key)
		g.lastSeen = sg.LastSeen
		for t, v := range sg.Tags {
			if slices.Contains(a.GroupBy, t) {
				g.tags[t] = v
				g.env["tags."+t], g.env["labels."+t] = v, v
			}
		}
	}
	for _, sa := range s.Alerts {
		r := byName[sa.Alert]
		if r == nil {
			continue
		}
		g := a.groups[sa.Group]
		tags := map[string]string{}
		for k, v := range sa.Labels {
			if slices.Contains(a.GroupBy, k) || r.kind == kindAnomaly && (k == "series" || k == "field") {
				tags[k] = v
			}
		}
		st := a.newState(r, g, stateKey{r.index, sa.Key}, tags)
		st.phase = pending
		if sa.Firing {
			st.phase = firing
		}
		st.activeAt, st.falseSince, st.lastSent, st.lastCond = sa.ActiveAt, sa.FalseSince, sa.LastSent, sa.LastCond
		st.held, st.flapping, st.anomaly, st.restored = sa.Held, sa.Flapping, sa.Anomaly, true
		if sa.Values != nil {
			st.values = sa.Values
		}
	}
	for _, sf := range s.Flaps {
		if r := byName[sf.Alert]; r != nil {
			a.flaps[stateKey{r.index, sf.Key}] = sf.Times
		}
	}
}
