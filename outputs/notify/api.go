package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The admin API of the output (pipeline.APIHandler), on every process that
// runs it, leader or not: acks and silences go to the state bucket, where
// the leader sees them.
//
//	GET    /api/alerts          alerts, groups, who leads
//	POST   /api/alerts/ack      {"group": key or id | "fingerprint": fp, "by", "comment", "expires" | "for"}
//	GET    /api/silences        silences, expired ones for a day
//	POST   /api/silences        {"matchers": [...], "starts_at", "ends_at" | "duration", "created_by", "comment"}
//	DELETE /api/silences/{id}   expire a silence (cancel a window to come)

// APIPaths claims /api/alerts and /api/silences.
func (p *Notify) APIPaths() []string { return []string{"/api/alerts", "/api/silences"} }

// ServeAPI answers the admin API's requests under APIPaths.
func (p *Notify) ServeAPI(w http.ResponseWriter, r *http.Request) {
	switch path := r.URL.Path; {
	case path == "/api/alerts" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, p.alertsView())
	case path == "/api/alerts/ack" && r.Method == http.MethodPost:
		p.serveAck(w, r)
	case path == "/api/silences" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, p.silencesView())
	case path == "/api/silences" && r.Method == http.MethodPost:
		p.serveSilence(w, r)
	case strings.HasPrefix(path, "/api/silences/") && r.Method == http.MethodDelete:
		s, err := p.engine.expireSilence(strings.TrimPrefix(path, "/api/silences/"), p.now())
		if err != nil {
			apiError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, viewSilence(s, p.now()))
	default:
		allow := map[string]string{"/api/alerts": "GET", "/api/alerts/ack": "POST", "/api/silences": "GET, POST"}[path]
		if allow == "" && strings.HasPrefix(path, "/api/silences/") {
			allow = "DELETE"
		}
		if allow == "" {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint: " + path})
			return
		}
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": r.Method + " " + path + ": use " + allow})
	}
}

// decodeBody reads a JSON body strictly into v.
func decodeBody(r *http.Request, v any) error {
	d := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: the body: %v", errBadInput, err)
	}
	return nil
}

// apiAckRequest is the body of POST /api/alerts/ack: ackRequest and "for",
// a duration from now instead of "expires".
type apiAckRequest struct {
	ackRequest
	For string `json:"for,omitempty"`
}

func (p *Notify) serveAck(w http.ResponseWriter, r *http.Request) {
	var req apiAckRequest
	if err := decodeBody(r, &req); err != nil {
		apiError(w, err)
		return
	}
	now := p.now()
	if req.For != "" {
		d, err := time.ParseDuration(req.For)
		if err != nil || d <= 0 {
			apiError(w, fmt.Errorf("%w: for %q: want a positive duration (\"2h\")", errBadInput, req.For))
			return
		}
		if !req.Expires.IsZero() {
			apiError(w, fmt.Errorf("%w: give expires or for, not both", errBadInput))
			return
		}
		req.Expires = now.Add(d)
	}
	k, err := p.engine.acknowledge(req.ackRequest, now)
	if err != nil {
		apiError(w, err)
		return
	}
	p.poke()
	writeJSON(w, http.StatusOK, k)
}

// apiSilenceRequest is the body of POST /api/silences.
type apiSilenceRequest struct {
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at,omitzero"` // default: now
	EndsAt    time.Time `json:"ends_at,omitzero"`
	Duration  string    `json:"duration,omitempty"` // instead of ends_at: from starts_at
	CreatedBy string    `json:"created_by,omitempty"`
	Comment   string    `json:"comment,omitempty"`
}

func (p *Notify) serveSilence(w http.ResponseWriter, r *http.Request) {
	var req apiSilenceRequest
	if err := decodeBody(r, &req); err != nil {
		apiError(w, err)
		return
	}
	now := p.now()
	s := &silence{Matchers: req.Matchers, StartsAt: req.StartsAt, EndsAt: req.EndsAt, CreatedBy: req.CreatedBy, Comment: req.Comment}
	if s.StartsAt.IsZero() || s.StartsAt.Before(now) {
		s.StartsAt = now
	}
	switch {
	case req.Duration != "" && !req.EndsAt.IsZero():
		apiError(w, fmt.Errorf("%w: give ends_at or duration, not both", errBadInput))
		return
	case req.Duration != "":
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			apiError(w, fmt.Errorf("%w: duration %q: want a positive duration (\"2h\")", errBadInput, req.Duration))
			return
		}
		s.EndsAt = s.StartsAt.Add(d)
	case req.EndsAt.IsZero():
		apiError(w, fmt.Errorf("%w: give ends_at or duration", errBadInput))
		return
	}
	if err := p.engine.addSilence(s, now); err != nil {
		apiError(w, err)
		return
	}
	p.poke()
	writeJSON(w, http.StatusOK, viewSilence(s, now))
}

// poke wakes the loop, so that an ack or a silence counts at once.
func (p *Notify) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// alertJSON is an alert in GET /api/alerts.
type alertJSON struct {
	Fingerprint string             `json:"fingerprint"`
	Status      string             `json:"status"`
	Labels      map[string]string  `json:"labels"`
	Annotations map[string]string  `json:"annotations,omitempty"`
	Values      map[string]float64 `json:"values,omitempty"`
	StartsAt    time.Time          `json:"starts_at"`
	EndsAt      time.Time          `json:"ends_at,omitzero"`
	SilencedBy  []string           `json:"silenced_by,omitempty"`
	AckedBy     *ack               `json:"acked,omitempty"`
	Groups      []string           `json:"groups"`
}

// groupJSON is a group in GET /api/alerts.
type groupJSON struct {
	ID        string            `json:"id"`
	Key       string            `json:"key"`
	Labels    map[string]string `json:"labels"`
	Status    string            `json:"status"` // firing, resolved, silenced
	Acked     bool              `json:"acked"`
	Alerts    []string          `json:"alerts"` // fingerprints
	Receivers []receiverJSON    `json:"receivers"`
}

// receiverJSON is what a receiver of a group was told, and how sending to
// it goes.
type receiverJSON struct {
	Receiver  string    `json:"receiver"`
	Step      int       `json:"escalation"`
	LastSent  time.Time `json:"last_sent,omitzero"`
	Firing    int       `json:"firing"`   // alerts last told as firing
	Resolved  int       `json:"resolved"` // and as resolved
	Failures  int       `json:"failures,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// alertsJSON is GET /api/alerts.
type alertsJSON struct {
	Output string      `json:"output"`
	Leader bool        `json:"leader"`
	Holder string      `json:"holder,omitempty"`
	Alerts []alertJSON `json:"alerts"`
	Groups []groupJSON `json:"groups"`
}

func (p *Notify) alertsView() alertsJSON {
	out := alertsJSON{Output: p.env.Name}
	p.mu.Lock()
	out.Leader, out.Holder = p.leader, p.holder
	p.mu.Unlock()
	if p.lease != nil {
		out.Holder = p.lease.currentHolder()
	}
	out.Alerts, out.Groups = p.engine.snapshot(p.now())
	return out
}

// snapshot lists the alerts (firing first, then by labels) and the groups
// (by key) for the API.
func (e *engine) snapshot(now time.Time) ([]alertJSON, []groupJSON) {
	e.mu.Lock()
	defer e.mu.Unlock()
	alerts := []alertJSON{}
	in := map[string][]string{}
	groups := []groupJSON{}
	for _, key := range slices.Sorted(maps.Keys(e.groups)) {
		g := e.groups[key]
		v := e.view(g, now)
		gj := groupJSON{ID: g.id, Key: g.key, Labels: g.labels, Alerts: slices.Sorted(maps.Keys(g.alerts)),
			Acked: len(v.firing) > 0 && len(v.unacked) == 0}
		switch {
		case len(v.firing) > 0:
			gj.Status = pipeline.AlertFiring
		case g.firing():
			gj.Status = "silenced"
		default:
			gj.Status = pipeline.AlertResolved
		}
		for step, rcv := range g.route.receivers() {
			rj := receiverJSON{Receiver: rcv, Step: step}
			if le := e.log[logKey(g.key, rcv)]; le != nil {
				rj.LastSent, rj.Firing, rj.Resolved = le.At, len(le.Firing), len(le.Resolved)
			}
			if st := e.sending[logKey(g.key, rcv)]; st != nil {
				rj.Failures, rj.LastError = st.failures, st.lastErr
			}
			gj.Receivers = append(gj.Receivers, rj)
		}
		for fp := range g.alerts {
			in[fp] = append(in[fp], g.id)
		}
		groups = append(groups, gj)
	}
	for _, a := range e.alerts {
		aj := alertJSON{Fingerprint: a.Fingerprint, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
			Values: a.Values, StartsAt: a.StartsAt, EndsAt: a.EndsAt, SilencedBy: e.silencedBy(a, now),
			AckedBy: e.ackedBy(a, now), Groups: in[a.Fingerprint]}
		slices.Sort(aj.Groups)
		alerts = append(alerts, aj)
	}
	slices.SortFunc(alerts, func(a, b alertJSON) int {
		if (a.Status == pipeline.AlertFiring) != (b.Status == pipeline.AlertFiring) {
			if a.Status == pipeline.AlertFiring {
				return -1
			}
			return 1
		}
		return strings.Compare(labelString(a.Labels), labelString(b.Labels))
	})
	return alerts, groups
}

// firing reports whether any alert of g fires, silenced or not.
func (g *group) firing() bool {
	for _, a := range g.alerts {
		if a.Status == pipeline.AlertFiring {
			return true
		}
	}
	return false
}

// silenceView is a silence in the API, with its state.
type silenceView struct {
	*silence
	State string `json:"state"` // active, pending (a window to come), expired
}

func viewSilence(s *silence, now time.Time) silenceView {
	return silenceView{silence: s, State: s.state(now)}
}

func (p *Notify) silencesView() []silenceView {
	now := p.now()
	p.engine.mu.Lock()
	defer p.engine.mu.Unlock()
	out := []silenceView{}
	for _, id := range slices.Sorted(maps.Keys(p.engine.silences)) {
		out = append(out, viewSilence(p.engine.silences[id], now))
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// apiError answers err: 404 for what is not there, 400 for the rest.
func apiError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, errNotFound) {
		status = http.StatusNotFound
	}
	msg := err.Error()
	for _, pre := range []string{errBadInput.Error() + ": ", errNotFound.Error() + ": "} {
		msg = strings.TrimPrefix(msg, pre)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}
