package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The channels' configs are in their files: EmailConfig (email.go),
// SlackConfig (slack.go), WebhookConfig (webhook.go), TwilioConfig
// (twilio.go). Each has validate, which fills in its defaults and returns
// KeyErrors with keys relative to its own table ("to"), and a sender.

// validate checks a receiver's channels and fills in their defaults. Its
// KeyErrors name keys relative to the receiver's table ("email.to"), so
// that the plugin can put its own prefix before them
// ("receivers[0].email.to"); several problems are joined.
func (rc *ReceiverConfig) validate() error {
	var errs []error
	if rc.Name == "" {
		errs = append(errs, pipeline.MissingKey("name"))
	}
	if rc.Email == nil && rc.Slack == nil && rc.Webhook == nil && rc.Twilio == nil {
		errs = append(errs, pipeline.InvalidKey("name", "receiver %q has no channel: give it an email, slack, webhook or twilio table", rc.Name))
	}
	if rc.Email != nil {
		errs = append(errs, prefixKeys("email.", rc.Email.validate()))
	}
	if rc.Slack != nil {
		errs = append(errs, prefixKeys("slack.", rc.Slack.validate()))
	}
	if rc.Webhook != nil {
		errs = append(errs, prefixKeys("webhook.", rc.Webhook.validate()))
	}
	if rc.Twilio != nil {
		errs = append(errs, prefixKeys("twilio.", rc.Twilio.validate()))
	}
	return errors.Join(errs...)
}

// newSenders returns the senders of a receiver's channels, in the order
// email, slack, webhook, twilio. It validates rc first.
func newSenders(rc *ReceiverConfig, log *slog.Logger) ([]sender, error) {
	if err := rc.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var out []sender
	if rc.Email != nil {
		out = append(out, newEmailSender(rc.Email, log))
	}
	if rc.Slack != nil {
		out = append(out, newSlackSender(rc.Slack, log))
	}
	if rc.Webhook != nil {
		out = append(out, newWebhookSender(rc.Webhook, log))
	}
	if rc.Twilio != nil {
		out = append(out, newTwilioSender(rc.Twilio, log))
	}
	return out, nil
}

// prefixKeys puts prefix before the key of every KeyError err holds (err
// may join several); other errors are kept as they are.
func prefixKeys(prefix string, err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, prefixKeys(prefix, e))
		}
		return errors.Join(out...)
	}
	var ke *pipeline.KeyError
	if errors.As(err, &ke) {
		cp := *ke
		cp.Key = prefix + ke.Key
		return &cp
	}
	return err
}

// defaultTimeout bounds one delivery when the channel's timeout is not set.
const defaultTimeout = 30 * time.Second

// checkURL checks a channel's URL key: http or https with a host. The
// message never shows the URL, which may hold a token.
func checkURL(key, raw string, required bool) error {
	if raw == "" {
		if required {
			return pipeline.MissingKey(key)
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return pipeline.InvalidKey(key, "must be an http:// or https:// URL with a host")
	}
	return nil
}

// urlHost returns the host of a URL for Describe and errors: never the
// path, query or user info, where tokens live.
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Host
}

// maxErrorBody is how much of an error response's body an error shows.
const maxErrorBody = 512

// httpPost sends body to target and returns the response's body when its
// status is 2xx. A network error, a timeout, 429 and 5xx are retryable;
// other statuses are not (a wrong URL or token, a payload refused). Its
// errors name the host only: the URL may hold a token.
func httpPost(ctx context.Context, client *http.Client, target, contentType string, body []byte, prepare func(*http.Request)) ([]byte, error) {
	host := urlHost(target)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("POST to %s: invalid request", host)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "interoceptor")
	if prepare != nil {
		prepare(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message holds the whole URL
		}
		return nil, pipeline.Retryable(fmt.Errorf("POST to %s: %w", host, err))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return data, nil
	}
	err = &httpStatusError{Host: host, Status: resp.Status, Code: resp.StatusCode, Body: strings.TrimSpace(truncate(maxErrorBody, hideTarget(target, string(data))))}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout {
		return data, pipeline.Retryable(err)
	}
	return data, err
}

// hideTarget cuts the path and query of target out of text, a service's
// answer: some echo the request's URL, whose path may hold a token.
func hideTarget(target, text string) string {
	u, err := url.Parse(target)
	if err != nil {
		return text
	}
	for _, part := range []string{u.RequestURI(), u.EscapedPath(), u.Path, u.RawQuery} {
		if len(part) > 1 { // not "/": it would cut every slash
			text = strings.ReplaceAll(text, part, "...")
		}
	}
	return text
}

// httpStatusError is a refusal by the receiving service, with what it said.
type httpStatusError struct {
	Host, Status string
	Code         int
	Body         string
}

func (e *httpStatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("POST to %s: %s", e.Host, e.Status)
	}
	return fmt.Sprintf("POST to %s: %s: %s", e.Host, e.Status, e.Body)
}

// newHTTPClient is the client of an HTTP channel: its own timeout, no
// redirects followed (a redirect of a POST is a misconfigured URL).
func newHTTPClient(timeout pipeline.Duration) *http.Client {
	t := time.Duration(timeout)
	if t == 0 {
		t = defaultTimeout
	}
	return &http.Client{Timeout: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// marshalJSON is json.Marshal without HTML escaping: "<", ">" and "&"
// reach Slack and webhooks as they are.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
