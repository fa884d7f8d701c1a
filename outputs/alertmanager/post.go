package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// target is one Alertmanager of url.
type target struct {
	url  string // .../api/v2/alerts, user info included
	host string // what is shown of it: a URL may hold a password

	// Guarded by Alertmanager.mu.
	failingSince time.Time
	lastErr      string
	log          pipeline.LogThrottle
}

// postableAlert is an alert as Alertmanager's v2 API takes it
// (postableAlert in its OpenAPI spec).
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// postable is e as posted at now. A firing alert ends resend_interval ×
// expiryFactor from now, unless posted again before; a resolved one ends
// when the rule said it did (or when resolve_timeout ran out).
func (o *Alertmanager) postable(e *entry, now time.Time) postableAlert {
	a := e.alert
	labels := a.Labels
	if len(o.ExternalLabels) > 0 {
		labels = make(map[string]string, len(a.Labels)+len(o.ExternalLabels))
		for k, v := range o.ExternalLabels {
			labels[k] = v
		}
		for k, v := range a.Labels { // the alert's own labels win, as in Prometheus
			labels[k] = v
		}
	}
	starts := a.StartsAt
	if starts.IsZero() {
		starts = a.At
	}
	var ends time.Time
	if e.firing() {
		ends = now.Add(expiryFactor * time.Duration(o.ResendInterval))
	} else {
		ends = a.EndsAt
		if ends.IsZero() {
			ends = e.resolvedAt
		}
	}
	if starts.IsZero() || starts.After(ends) {
		starts = ends // Alertmanager refuses an alert that ends before it starts
		if now.Before(ends) {
			starts = now
		}
	}
	return postableAlert{Labels: labels, Annotations: a.Annotations, StartsAt: formatTime(starts),
		EndsAt: formatTime(ends), GeneratorURL: o.generatorURL(a)}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// generatorData is what a generator_url template sees.
type generatorData struct {
	Name, Status, Fingerprint string
	Labels, Annotations       map[string]string
	Values                    map[string]float64
}

func parseGenerator(s string) (*template.Template, error) {
	return template.New("generator_url").Option("missingkey=zero").Parse(s)
}

// generatorURL is the link back from Alertmanager to the alert's source:
// generator_url filled in for a, or left out when that fails or is not an
// absolute URL (Alertmanager would refuse the alert).
func (o *Alertmanager) generatorURL(a *pipeline.Alert) string {
	if o.generator == nil {
		return o.constURL
	}
	var b strings.Builder
	err := o.generator.Execute(&b, generatorData{Name: a.Name(), Status: a.Status, Fingerprint: a.Fingerprint,
		Labels: a.Labels, Annotations: a.Annotations, Values: a.Values})
	if err == nil {
		if u, perr := url.Parse(b.String()); perr != nil || !u.IsAbs() {
			err = fmt.Errorf("%q is not an absolute URL", b.String())
		}
	}
	if err != nil {
		if ok, more := o.invalidLog.Allow(); ok {
			o.env.Log.Warn("generator_url: left out of the alert", "alert", a.Name(), "error", err,
				"more_since_last_warning", more)
		}
		return ""
	}
	return b.String()
}

// send posts entries to every Alertmanager, in one request each, and marks
// them sent when one took them. It returns nil when one did; otherwise
// every Alertmanager's error, retryable when one of them is.
func (o *Alertmanager) send(entries []*entry, now time.Time) error {
	alerts := make([]postableAlert, len(entries))
	for i, e := range entries {
		alerts[i] = o.postable(e, now)
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	errs := make([]error, len(o.targets))
	var wg sync.WaitGroup
	for i, t := range o.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = o.post(t, body)
		}()
	}
	wg.Wait()

	o.mu.Lock()
	defer o.mu.Unlock()
	took, retry := false, false
	for i, t := range o.targets {
		if errs[i] == nil {
			o.postsOK++
			t.failingSince, t.lastErr = time.Time{}, ""
			took = true
			continue
		}
		o.postsBad++
		if t.failingSince.IsZero() {
			t.failingSince = now
		}
		t.lastErr = errs[i].Error()
		retry = retry || pipeline.IsRetryable(errs[i])
	}
	if !took {
		err := errors.Join(errs...)
		if retry {
			return pipeline.Retryable(err)
		}
		return err
	}
	for _, e := range entries {
		e.sent = now
	}
	// Another took them: the ones that failed catch up at the next re-send.
	for i, t := range o.targets {
		if errs[i] != nil {
			if ok, more := t.log.Allow(); ok {
				o.env.Log.Warn("an Alertmanager did not take the alerts; the others did", "alerts", len(entries),
					"error", errs[i], "more_since_last_warning", more)
			}
		}
	}
	return nil
}

// maxReason is how much of an Alertmanager's refusal is kept for the log.
const maxReason = 1 << 10

// post sends body to one Alertmanager. A network error, a 5xx or a 429 is
// retryable; another answer that is not a 2xx is not. Errors name the
// Alertmanager by its host only.
func (o *Alertmanager) post(t *target, body []byte) error {
	req, err := http.NewRequestWithContext(o.ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("alertmanager %s: %w", t.host, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "interoceptor")
	if o.BasicAuth.Username != "" {
		req.SetBasicAuth(o.BasicAuth.Username, o.BasicAuth.Password)
	} else if o.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+o.BearerToken)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text holds the URL, and so any password in it
		}
		return pipeline.Retryable(fmt.Errorf("alertmanager %s: %w", t.host, err))
	}
	defer resp.Body.Close()
	reason, _ := io.ReadAll(io.LimitReader(resp.Body, maxReason))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so that the connection is reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("alertmanager %s: %s: %s", t.host, resp.Status, strings.TrimSpace(string(reason)))
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return pipeline.Retryable(err)
	}
	return err
}
