package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// WebhookConfig is a receiver's [outputs.notify.receivers.webhook] table:
// a POST of Alertmanager's webhook payload (version "4") per notification,
// so that tools written for Alertmanager read it as they are.
type WebhookConfig struct {
	URL string `toml:"url" secret:"true"`
	// MaxAlerts caps the alerts of a payload (firing ones first);
	// truncatedAlerts says how many were left out. 0: all.
	MaxAlerts int `toml:"max_alerts"`
	// Headers are added to each request; their values are treated as
	// secrets (an Authorization header holds a token).
	Headers map[string]string `toml:"headers" secret:"true"`
	Timeout pipeline.Duration `toml:"timeout"`
}

func (c *WebhookConfig) validate() error {
	var errs []error
	errs = append(errs, checkURL("url", c.URL, true))
	if c.MaxAlerts < 0 {
		errs = append(errs, pipeline.InvalidKey("max_alerts", "must be 0 (all) or more; got %d", c.MaxAlerts))
	}
	for k := range c.Headers {
		if k == "" || !validHeaderName(k) {
			errs = append(errs, pipeline.InvalidKey("headers", "%q is not a header name", k))
		}
	}
	return errors.Join(errs...)
}

func validHeaderName(k string) bool {
	for _, r := range k {
		if r <= ' ' || r >= 0x7f || r == ':' {
			return false
		}
	}
	return true
}

// WebhookMessage is Alertmanager's webhook payload, version "4".
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert of a WebhookMessage.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"` // 0001-01-01T00:00:00Z while it fires, as Alertmanager sends
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// webhookMessage is the payload of n, with at most max alerts (0: all).
// generatorURL is the notification's ExternalURL: where the alert is seen.
func webhookMessage(n *Notification, max int) *WebhookMessage {
	alerts := n.Alerts
	truncated := 0
	if max > 0 && len(alerts) > max {
		truncated = len(alerts) - max
		alerts = alerts[:max]
	}
	m := &WebhookMessage{
		Version: "4", GroupKey: n.GroupKey, TruncatedAlerts: truncated, Status: n.Status, Receiver: n.Receiver,
		GroupLabels: nonNil(n.GroupLabels), CommonLabels: nonNil(n.CommonLabels), CommonAnnotations: nonNil(n.CommonAnnotations),
		ExternalURL: n.ExternalURL, Alerts: make([]WebhookAlert, 0, len(alerts)),
	}
	for _, a := range alerts {
		m.Alerts = append(m.Alerts, WebhookAlert{
			Status: a.Status, Labels: nonNil(a.Labels), Annotations: nonNil(a.Annotations),
			StartsAt: a.StartsAt.UTC(), EndsAt: a.EndsAt.UTC(), GeneratorURL: n.ExternalURL, Fingerprint: a.Fingerprint,
		})
	}
	return m
}

// nonNil makes an empty map encode as {} rather than null, as
// Alertmanager's does.
func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

type webhookSender struct {
	c      *WebhookConfig
	client *http.Client
	log    *slog.Logger
}

var _ sender = (*webhookSender)(nil)

func newWebhookSender(c *WebhookConfig, log *slog.Logger) *webhookSender {
	return &webhookSender{c: c, client: newHTTPClient(c.Timeout), log: log}
}

func (s *webhookSender) Describe() string { return "webhook to " + urlHost(s.c.URL) }

func (s *webhookSender) Send(ctx context.Context, n *Notification) error {
	body, err := marshalJSON(webhookMessage(n, s.c.MaxAlerts))
	if err != nil {
		return fmt.Errorf("webhook payload: %w", err)
	}
	_, err = httpPost(ctx, s.client, s.c.URL, "application/json", body, func(r *http.Request) {
		for k, v := range s.c.Headers {
			r.Header.Set(k, v)
		}
	})
	return err
}
