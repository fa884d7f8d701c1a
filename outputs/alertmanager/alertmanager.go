// Package alertmanager is the outputs.alertmanager plugin: it posts the
// alerts of the pipeline (messages of Type "alert", from filters.alert) to
// one or several Prometheus Alertmanagers through their v2 API
// (/api/v2/alerts), as Prometheus does: firing alerts again every
// resend_interval with an end time that lets Alertmanager resolve them by
// itself if the pipeline dies, resolved ones with their end time.
package alertmanager

// Where to find what:
//
//	alertmanager.go  registration, the keys and their checks, Init, Write,
//	                 Close, gauges and status
//	state.go         the alerts it knows, the re-send loop and the
//	                 resolve_timeout
//	post.go          an alert as Alertmanager takes it, and the POST to each
//	                 Alertmanager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindOutput,
		Type:        "alertmanager",
		Description: "Posts alerts to Prometheus Alertmanager (v2 API), re-sending firing ones and resolving them, to one or several (HA) Alertmanagers",
		Sample:      sample,
		New: func() any {
			return &Alertmanager{
				Timeout:        pipeline.Duration(10 * time.Second),
				ResendInterval: pipeline.Duration(time.Minute),
				ResolveTimeout: pipeline.Duration(5 * time.Minute),
				ExternalLabels: map[string]string{},
			}
		},
	})
}

// Alertmanager posts each alert message to every Alertmanager of url, and
// keeps the alerts it has seen in memory: firing ones are posted again
// every resend_interval until the rule says they are resolved or stops
// saying anything for resolve_timeout; resolved ones are posted again for
// resolvedRetention, for an Alertmanager that was down when they resolved.
type Alertmanager struct {
	URL                []string          `toml:"url" secret:"url"`
	Timeout            pipeline.Duration `toml:"timeout"`
	ResendInterval     pipeline.Duration `toml:"resend_interval"`
	ResolveTimeout     pipeline.Duration `toml:"resolve_timeout"`
	GeneratorURL       string            `toml:"generator_url" secret:"url"`
	BasicAuth          BasicAuth         `toml:"basic_auth"`
	BearerToken        string            `toml:"bearer_token" secret:"true"`
	TLSCA              string            `toml:"tls_ca" path:"true"`
	InsecureSkipVerify bool              `toml:"insecure_skip_verify"`
	ExternalLabels     map[string]string `toml:"external_labels"`

	env       *pipeline.Env
	client    *http.Client
	targets   []*target
	generator *template.Template // nil: generatorURL is constURL
	constURL  string

	// The clock and the re-send loop's ticks; tests drive both.
	now   func() time.Time
	ticks <-chan time.Time

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the re-send loop has returned

	// sendMu orders the posts: Write's and the re-send loop's never
	// interleave, so that Alertmanager never gets an alert's older state
	// after its newer one.
	sendMu sync.Mutex

	mu                sync.Mutex // the state below, for Status and Gauges too
	alerts            map[string]*entry
	postsOK, postsBad uint64

	dropLog, invalidLog, resendLog pipeline.LogThrottle
}

// BasicAuth is the basic_auth table: HTTP basic authentication for every
// Alertmanager of url.
type BasicAuth struct {
	Username string `toml:"username"`
	Password string `toml:"password" secret:"true"`
}

var (
	_ pipeline.Output          = (*Alertmanager)(nil)
	_ pipeline.Validator       = (*Alertmanager)(nil)
	_ pipeline.Initializer     = (*Alertmanager)(nil)
	_ pipeline.Closer          = (*Alertmanager)(nil)
	_ pipeline.GaugeReporter   = (*Alertmanager)(nil)
	_ pipeline.CounterReporter = (*Alertmanager)(nil)
	_ pipeline.StatusReporter  = (*Alertmanager)(nil)
)

// Ranges of the keys that time the output.
var (
	timeoutRange        = pipeline.DurationRange{Min: 100 * time.Millisecond, Max: 10 * time.Minute} // one request
	resendIntervalRange = pipeline.DurationRange{Min: time.Second, Max: time.Hour}                   // a post of every alert
	resolveTimeoutRange = pipeline.DurationRange{Min: time.Second, Max: 7 * 24 * time.Hour}
	maxAlertmanagers    = 16 // url: each is posted every batch, concurrently
)

// Validate checks the decoded keys.
func (o *Alertmanager) Validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	https := false
	switch {
	case len(o.URL) == 0:
		add(pipeline.MissingKey("url"))
	case len(o.URL) > maxAlertmanagers:
		add(pipeline.InvalidKey("url", "at most %d Alertmanagers; got %d", maxAlertmanagers, len(o.URL)))
	}
	seen := map[string]bool{}
	for _, s := range o.URL {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(pipeline.InvalidKey("url", "want an Alertmanager's base URL, http://host:9093 or https://host:9093; got %q", pipeline.RedactURL(s)))
			continue
		}
		if u.RawQuery != "" || u.Fragment != "" {
			add(pipeline.InvalidKey("url", "%q: a base URL has no query nor fragment", pipeline.RedactURL(s)))
		}
		if seen[u.Host+u.Path] {
			add(pipeline.InvalidKey("url", "%s is listed twice", u.Host))
		}
		seen[u.Host+u.Path] = true
		https = https || u.Scheme == "https"
	}
	add(timeoutRange.Check("timeout", time.Duration(o.Timeout)))
	add(resendIntervalRange.Check("resend_interval", time.Duration(o.ResendInterval)))
	add(resolveTimeoutRange.Check("resolve_timeout", time.Duration(o.ResolveTimeout)))
	if strings.Contains(o.GeneratorURL, "{{") {
		if _, err := parseGenerator(o.GeneratorURL); err != nil {
			add(pipeline.InvalidKey("generator_url", "%v", err))
		}
	} else if o.GeneratorURL != "" {
		if u, err := url.Parse(o.GeneratorURL); err != nil || u.Scheme == "" || u.Host == "" {
			add(pipeline.InvalidKey("generator_url", "want an absolute URL or a template; got %q", pipeline.RedactURL(o.GeneratorURL)))
		}
	}
	if o.BasicAuth.Password != "" && o.BasicAuth.Username == "" {
		add(pipeline.InvalidKey("basic_auth", "password without username"))
	}
	if o.BasicAuth.Username != "" && o.BearerToken != "" {
		add(pipeline.InvalidKey("bearer_token", "basic_auth and bearer_token are both set: choose one"))
	}
	if !https && len(o.URL) > 0 {
		if o.TLSCA != "" {
			add(pipeline.InvalidKey("tls_ca", "is set, but no url is https"))
		}
		if o.InsecureSkipVerify {
			add(pipeline.InvalidKey("insecure_skip_verify", "is set, but no url is https"))
		}
	}
	for _, k := range sortedKeys(o.ExternalLabels) {
		if err := checkLabel(k, o.ExternalLabels[k]); err != nil {
			add(pipeline.InvalidKey("external_labels", "%v", err))
		}
	}
	return errors.Join(errs...)
}

// checkLabel says what Alertmanager would refuse in a label or annotation:
// a name outside [a-zA-Z_][a-zA-Z0-9_]*, a value that is not UTF-8. An empty
// value is refused too: Alertmanager drops the label, so the alert would
// not be what the rule said.
func checkLabel(name, value string) error {
	switch {
	case !model.LegacyValidation.IsValidLabelName(name):
		return fmt.Errorf("%q is not a valid label name: letters, digits and '_', not starting with a digit", name)
	case value == "":
		return fmt.Errorf("label %q: empty value", name)
	case !utf8.ValidString(value):
		return fmt.Errorf("label %q: value is not UTF-8", name)
	}
	return nil
}

// Init builds the HTTP client and starts the re-send loop. No Alertmanager
// need be up.
func (o *Alertmanager) Init(env *pipeline.Env) error {
	o.env = env
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.TLSCA != "" || o.InsecureSkipVerify {
		cfg := &tls.Config{InsecureSkipVerify: o.InsecureSkipVerify} // false unless the user asked
		if o.TLSCA != "" {
			pem, err := os.ReadFile(o.TLSCA)
			if err != nil {
				return fmt.Errorf("tls_ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("tls_ca: %s holds no PEM certificate", o.TLSCA)
			}
			cfg.RootCAs = pool
		}
		tr.TLSClientConfig = cfg
	}
	o.client = &http.Client{Transport: tr, Timeout: time.Duration(o.Timeout)}
	for _, s := range o.URL {
		u, _ := url.Parse(s) // checked by Validate
		o.targets = append(o.targets, &target{url: u.JoinPath("api/v2/alerts").String(), host: u.Host})
	}
	switch {
	case strings.Contains(o.GeneratorURL, "{{"):
		o.generator, _ = parseGenerator(o.GeneratorURL) // checked by Validate
	case o.GeneratorURL != "":
		o.constURL = o.GeneratorURL
	default:
		o.constURL = adminURL(env.Agent)
	}
	if o.now == nil {
		o.now = time.Now
	}
	o.alerts = map[string]*entry{}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.done = make(chan struct{})
	ticks := o.ticks
	var ticker *time.Ticker
	if ticks == nil {
		ticker = time.NewTicker(o.tickEvery())
		ticks = ticker.C
	}
	go func() {
		defer close(o.done)
		if ticker != nil {
			defer ticker.Stop()
		}
		for {
			select {
			case <-o.ctx.Done():
				return
			case <-ticks:
				o.resend(o.now())
			}
		}
	}()
	return nil
}

// tickEvery is how often the re-send loop looks for alerts to post again
// or to resolve: a quarter of the shorter of the two intervals, so that
// each is kept within a quarter.
func (o *Alertmanager) tickEvery() time.Duration {
	return max(min(time.Duration(o.ResendInterval), time.Duration(o.ResolveTimeout))/4, 250*time.Millisecond)
}

// adminURL is the admin API's address, the default generatorURL: where an
// Alertmanager user finds the pipeline that raised the alert. Empty when
// the admin API is off.
func adminURL(a pipeline.AgentConfig) string {
	if a.AdminAddr == "" || a.AdminAddr == "off" {
		return ""
	}
	host, port, err := net.SplitHostPort(a.AdminAddr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = a.Name // listening everywhere: the agent's name, by default the hostname
		if host == "" {
			host, _ = os.Hostname()
		}
	}
	scheme := "http"
	if a.AdminTLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

// Write posts the batch's alerts to every Alertmanager, in one request
// each, and remembers them for the re-send loop. A message that is not an
// alert is skipped and counted as dropped; an alert Alertmanager would
// refuse (a bad label name) is skipped and counted as dropped and as an
// error. When no Alertmanager took the alerts, a network error, a 5xx or a
// 429 is returned as retryable; any other answer (a 4xx: the request is
// wrong, retrying will not help) as an error that holds Alertmanager's
// reason.
func (o *Alertmanager) Write(batch []*pipeline.Message) error {
	o.sendMu.Lock()
	defer o.sendMu.Unlock()
	now := o.now()
	var latest []*pipeline.Alert
	at := map[string]int{} // fingerprint → index in latest: the last word on each alert wins
	notAlerts, invalid := 0, 0
	var invalidErr error
	for _, m := range batch {
		a, err := pipeline.AlertFromMessage(m)
		if errors.Is(err, pipeline.ErrNotAlert) {
			notAlerts++
			continue
		}
		if err == nil {
			err = checkAlert(a)
		}
		if err != nil {
			invalid++
			invalidErr = err
			continue
		}
		if i, ok := at[a.Fingerprint]; ok {
			latest[i] = a
		} else {
			at[a.Fingerprint] = len(latest)
			latest = append(latest, a)
		}
	}
	if notAlerts > 0 {
		o.env.Stats.Dropped.Add(uint64(notAlerts))
		if ok, more := o.dropLog.Allow(); ok {
			o.env.Log.Warn("message skipped: not an alert (Type \"alert\", from filters.alert)", "messages", notAlerts,
				"more_since_last_warning", more)
		}
	}
	if invalid > 0 {
		o.env.Stats.Dropped.Add(uint64(invalid))
		o.env.Stats.Errors.Add(uint64(invalid))
		if ok, more := o.invalidLog.Allow(); ok {
			o.env.Log.Warn("alert skipped: Alertmanager would refuse it", "alerts", invalid, "error", invalidErr,
				"more_since_last_warning", more)
		}
	}
	if len(latest) == 0 {
		return nil
	}
	o.mu.Lock()
	entries := make([]*entry, len(latest))
	for i, a := range latest {
		entries[i] = o.learn(a, now)
	}
	o.mu.Unlock()
	return o.send(entries, now)
}

// checkAlert says what Alertmanager would refuse in an alert.
func checkAlert(a *pipeline.Alert) error {
	for _, k := range sortedKeys(a.Labels) {
		if err := checkLabel(k, a.Labels[k]); err != nil {
			return fmt.Errorf("alert %s: %w", a.Name(), err)
		}
	}
	for _, k := range sortedKeys(a.Annotations) {
		if !model.LegacyValidation.IsValidLabelName(k) || !utf8.ValidString(a.Annotations[k]) {
			return fmt.Errorf("alert %s: annotation %q: a name of letters, digits and '_' and a UTF-8 value", a.Name(), k)
		}
	}
	return nil
}

// Close stops the re-send loop, aborting a post in flight. Alertmanager
// keeps what it has: firing alerts until their endsAt, resend_interval × 4
// after their last post.
func (o *Alertmanager) Close() error {
	if o.done == nil {
		return nil // never initialised, or closed
	}
	o.cancel()
	<-o.done
	o.done = nil
	o.client.CloseIdleConnections()
	return nil
}

// Gauges reports the alerts held and the posts, as
// interoceptor_plugin_alertmanager_*.
func (o *Alertmanager) Gauges() map[string]float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	firing, resolved := o.countLocked()
	return map[string]float64{
		"alertmanager_alerts_firing":   float64(firing),
		"alertmanager_alerts_resolved": float64(resolved),
		"alertmanager_posts_ok":        float64(o.postsOK),
		"alertmanager_posts_failed":    float64(o.postsBad),
	}
}

// IsCounter reports which of the Gauges keys only grow: the posts, good and
// failed (pipeline.CounterReporter).
func (o *Alertmanager) IsCounter(key string) bool {
	return key == "alertmanager_posts_ok" || key == "alertmanager_posts_failed"
}

// Status shows the Alertmanagers (their hosts: a URL may hold a password)
// and, for each that fails, since when and why.
func (o *Alertmanager) Status() map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	firing, resolved := o.countLocked()
	ams := make([]any, 0, len(o.targets)) // []any: the runtime redacts what it knows
	for _, t := range o.targets {
		s := map[string]any{"host": t.host}
		if !t.failingSince.IsZero() {
			s["failing_since"] = t.failingSince.UTC().Format(time.RFC3339)
			s["last_error"] = t.lastErr
		}
		ams = append(ams, s)
	}
	return map[string]any{"alertmanagers": ams, "alerts_firing": firing, "alerts_resolved": resolved}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
