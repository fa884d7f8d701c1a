package notify

import (
	"embed"
	htmltemplate "html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The default templates, each a named template that a receiver's own
// template can call: subject = '{{ template "email.subject" . }} (eu-west)'.
//
//go:embed templates/default.tmpl templates/email.html
var templateFiles embed.FS

// templateFuncs are the functions every template has, besides Go's:
//
//	upper, lower       "FIRING"
//	join SEP LIST      "a, b"
//	pairs MAP          "host=web-1 severity=critical", sorted by name
//	without MAP K...   MAP without the keys K
//	time T             "2024-05-01 10:00:00 UTC"; "" for the zero time
//	values MAP         "usage=97.5 load=3", sorted by name
//	truncate N S       S cut to N characters, ending with "…"
//	isURL S            whether S is an http(s) link
var templateFuncs = map[string]any{
	"upper":    strings.ToUpper,
	"lower":    strings.ToLower,
	"join":     func(sep string, s []string) string { return strings.Join(s, sep) },
	"pairs":    pairs,
	"without":  without,
	"time":     formatTime,
	"values":   formatValues,
	"truncate": truncate,
	"isURL":    isURL,
}

// defaultText returns the default text templates: email.subject,
// email.text, slack.title, slack.text, sms.body. They are parsed on first
// use, not at start: a pipeline without outputs.notify never needs them.
var defaultText = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(templateFuncs).ParseFS(templateFiles, "templates/default.tmpl"))
})

// defaultHTML returns email.html, the HTML body of a mail, and the text
// defaults it calls; parsed on first use, as defaultText.
var defaultHTML = sync.OnceValue(func() *htmltemplate.Template {
	return htmltemplate.Must(htmltemplate.New("").Funcs(templateFuncs).ParseFS(templateFiles, "templates/default.tmpl", "templates/email.html"))
})

// textTemplate returns the template src, or the default named def when src
// is empty. src may call the defaults by name.
func textTemplate(def, src string) (*template.Template, error) {
	if src == "" {
		return defaultText().Lookup(def), nil
	}
	t, err := template.Must(defaultText().Clone()).New("custom " + def).Parse(src)
	if err != nil {
		return nil, err
	}
	if _, err := execute(t, sampleNotification()); err != nil {
		return nil, err
	}
	return t, nil
}

// htmlTemplate is textTemplate for an HTML body.
func htmlTemplate(def, src string) (*htmltemplate.Template, error) {
	if src == "" {
		return defaultHTML().Lookup(def), nil
	}
	t, err := htmltemplate.Must(defaultHTML().Clone()).New("custom " + def).Parse(src)
	if err != nil {
		return nil, err
	}
	if _, err := execute(t, sampleNotification()); err != nil {
		return nil, err
	}
	return t, nil
}

// sampleNotification is what a template of the config is tried on when
// it is loaded, so that a field that does not exist ({{ .Severity }}) is
// a config error rather than a failed notification.
func sampleNotification() *Notification {
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	labels := map[string]string{"alertname": "Sample", "severity": "warning", "host": "example"}
	return &Notification{Receiver: "sample", GroupKey: "{}:{alertname=\"Sample\"}", GroupLabels: map[string]string{"alertname": "Sample"},
		Status: pipeline.AlertFiring, CommonLabels: labels, CommonAnnotations: map[string]string{"summary": "a sample"},
		Alerts: []pipeline.Alert{{Status: pipeline.AlertFiring, Labels: labels, Annotations: map[string]string{"summary": "a sample"},
			Values: map[string]float64{"value": 1}, StartsAt: at, At: at, Fingerprint: pipeline.AlertFingerprint(labels)}},
		ExternalURL: "http://localhost:8080", Sender: "sample", At: at}
}

// execute runs t on n; a template that fails on real data (a missing
// map, a function's error) is a config problem, never retried.
func execute(t interface{ Execute(io.Writer, any) error }, n *Notification) (string, error) {
	var b strings.Builder
	err := t.Execute(&b, n)
	return b.String(), err
}

func pairs(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + m[k])
	}
	return b.String()
}

func without(m map[string]string, keys ...string) map[string]string {
	out := maps.Clone(m)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// formatValues lists values for people: six significant digits, as the
// readers of a mail want them (26.5878, not 26.58783771780021).
func formatValues(m map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + strconv.FormatFloat(m[k], 'g', 6, 64))
	}
	return b.String()
}

// truncate cuts s to at most n characters, the last one "…".
func truncate(n int, s string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func isURL(s string) bool { return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") }
