package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
)

// Secrets never leave the process: not in logs, errors, `check` output,
// /api/plugins or /metrics. A config key that holds one says so with a
// struct tag, which is also how tests find every such key:
//
//	secret:"true"  the value is a secret (a password, a token)
//	secret:"url"   a URL, or a comma-separated list of them: the user info is secret
//	secret:"file"  the path of a file whose contents are secret (a key, a seed):
//	               the path is shown, the contents are never read into a message
//
// Keys of free-form tables (filters.lua config, decoder_config) are secret
// by name (SecretKeyName). Everything shown is passed through a Redactor.

// Redacted is what a secret is replaced with.
const Redacted = "xxxxx"

// minSecretLen is the shortest secret value replaced wherever it appears:
// a shorter one would blank out unrelated text (a password "1" in every
// number). Shorter secrets are still hidden by key and in URLs.
const minSecretLen = 4

// userinfoRE finds the user info of URLs inside any text: from the scheme's
// "//" to the last "@" before a separator, so that a password holding a raw
// "@" or "/" is hidden whole.
var userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)[^\s"'<>,]*@`)

// RedactURL replaces the user info of every URL in s ("http://u:p@h",
// also inside an error message or a comma-separated list) with xxxxx.
func RedactURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return userinfoRE.ReplaceAllString(s, "${1}"+Redacted+"@")
}

var secretNameRE = regexp.MustCompile(`(?i)(passw|passwd|token|secret|api_?key|webhook|nkey|credential|private_key)`)

// SecretKeyName reports whether a key of a free-form table (a Lua filter's
// config, decoder_config) names a secret by its name: password, token,
// *_token, secret, api_key, webhook, nkey_seed, credentials...
func SecretKeyName(key string) bool { return secretNameRE.MatchString(key) }

// Redactor hides secrets in text: URL user info, and the values of a
// config's secret keys wherever they appear. The zero value and nil hide
// URL user info only.
type Redactor struct {
	state atomic.Pointer[redactState] // nil: URL user info only
}

// redactState is what a Redactor replaces; a reload swaps in a larger one.
type redactState struct {
	secrets  []string // longest first
	replacer *strings.Replacer
}

// NewRedactor returns a Redactor that also replaces each of secrets (those
// of minSecretLen or more bytes) wherever it appears.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add makes r also replace secrets: a reloaded config's new secrets are
// hidden from then on, and the old ones still are (they may be in what was
// logged or queued before).
func (r *Redactor) Add(secrets ...string) {
	seen := map[string]bool{}
	var all []string
	if old := r.state.Load(); old != nil {
		all = append(all, old.secrets...)
		for _, s := range old.secrets {
			seen[s] = true
		}
	}
	for _, s := range secrets {
		if len(s) >= minSecretLen && !seen[s] {
			seen[s] = true
			all = append(all, s)
		}
	}
	if len(all) == 0 {
		return
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Redacted)
	}
	r.state.Store(&redactState{secrets: all, replacer: strings.NewReplacer(pairs...)})
}

// secrets returns what r replaces besides URL user info.
func (r *Redactor) secrets() []string {
	if r == nil {
		return nil
	}
	if st := r.state.Load(); st != nil {
		return st.secrets
	}
	return nil
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	s = RedactURL(s)
	if r == nil {
		return s
	}
	if st := r.state.Load(); st != nil {
		s = st.replacer.Replace(s)
	}
	return s
}

// Error returns err with a redacted message; errors.Is and errors.As still
// see the original chain. It returns err itself when there is nothing to hide.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := r.String(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Value returns v with secrets hidden: strings redacted, the values of
// secret-named keys of maps replaced, maps and slices copied. Other values
// are returned as they are.
func (r *Redactor) Value(v any) any {
	switch v := v.(type) {
	case string:
		return r.String(v)
	case error:
		return r.String(v.Error())
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if s, ok := x.(string); ok && s != "" && SecretKeyName(k) {
				out[k] = Redacted
				continue
			}
			out[k] = r.Value(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = r.Value(x)
		}
		return out
	case []string:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = r.String(x)
		}
		return out
	}
	return v
}

// Handler wraps a slog handler so that every record it writes is redacted:
// the message and every attribute, including those added with With.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	if rh, ok := h.(*redactHandler); ok && rh.r == r {
		return h
	}
	return &redactHandler{h: h, r: r}
}

type redactHandler struct {
	h slog.Handler
	r *Redactor
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.r.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.r.attr(a)
	}
	return &redactHandler{h: h.h.WithAttrs(red), r: h.r}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: h.h.WithGroup(name), r: h.r}
}

func (r *Redactor) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if SecretKeyName(a.Key) && v.String() != "" {
			return slog.String(a.Key, Redacted)
		}
		return slog.String(a.Key, r.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, x := range g {
			red[i] = r.attr(x)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, r.String(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, r.String(x.String()))
		case []string, map[string]any, []any:
			return slog.Any(a.Key, r.Value(x))
		default:
			// Other values keep their form unless their text holds a secret.
			s := fmt.Sprint(x)
			if red := r.String(s); red != s {
				return slog.String(a.Key, red)
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// Redactor returns the redactor for this config's secrets: the values of
// every key tagged secret in [agent], [nats] and each plugin, the user info
// of its URLs, and the values of secret-named keys of free-form tables.
// It is built at the first call, once the config is loaded, and the same
// one is returned after: a log handler it wraps is not wrapped again
// (Handler), so that each record is redacted once.
func (cfg *Config) Redactor() *Redactor {
	cfg.redactOnce.Do(func() { cfg.redactor = cfg.newRedactor() })
	return cfg.redactor
}

func (cfg *Config) newRedactor() *Redactor {
	var secrets []string
	add := func(v reflect.Value) { secrets = appendSecrets(secrets, v) }
	add(reflect.ValueOf(cfg.Agent))
	add(reflect.ValueOf(cfg.Nats))
	// leafnode_user without leafnode_password is sent as a token.
	if cfg.Nats.LeafnodeUser != "" && cfg.Nats.LeafnodePassword == "" {
		secrets = append(secrets, cfg.Nats.LeafnodeUser)
	}
	for _, p := range cfg.Plugins {
		secrets = appendMapSecrets(secrets, p.DecoderConfig)
		if p.Plugin != nil {
			add(reflect.ValueOf(p.Plugin))
		}
	}
	return NewRedactor(secrets...)
}

// appendSecrets adds the secrets held by the fields of a struct (or a
// pointer to one): tagged fields, and maps with secret-named keys.
func appendSecrets(out []string, v reflect.Value) []string {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return out
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return out
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		switch f.Tag.Get("secret") {
		case "true":
			out = append(out, stringsOf(fv)...)
			continue
		case "url":
			for _, s := range stringsOf(fv) {
				out = append(out, urlSecrets(s)...)
			}
			continue
		}
		switch fv.Kind() {
		case reflect.Map:
			if m, ok := fv.Interface().(map[string]any); ok {
				out = appendMapSecrets(out, m)
			}
		case reflect.Struct, reflect.Pointer:
			if _, tagged := f.Tag.Lookup("toml"); tagged {
				out = appendSecrets(out, fv)
			}
		case reflect.Slice, reflect.Array:
			// An array of tables ([[outputs.notify.receivers]]): each
			// element's secrets.
			if _, tagged := f.Tag.Lookup("toml"); tagged {
				for j := 0; j < fv.Len(); j++ {
					out = appendSecrets(out, fv.Index(j))
				}
			}
		}
	}
	return out
}

// appendMapSecrets adds the string values of secret-named keys of a
// free-form table, and the user info of any URL in it.
func appendMapSecrets(out []string, m map[string]any) []string {
	for k, v := range m {
		switch v := v.(type) {
		case string:
			if SecretKeyName(k) {
				out = append(out, v)
			}
			out = append(out, urlSecrets(v)...)
		case map[string]any:
			out = appendMapSecrets(out, v)
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					if SecretKeyName(k) {
						out = append(out, s)
					}
					out = append(out, urlSecrets(s)...)
				}
			}
		}
	}
	return out
}

// stringsOf returns the string, or the strings of a slice or the values
// of a map (a table of headers), held by v.
func stringsOf(v reflect.Value) []string {
	switch v.Kind() {
	case reflect.Map:
		var out []string
		for it := v.MapRange(); it.Next(); {
			out = append(out, stringsOf(it.Value())...)
		}
		return out
	case reflect.String:
		return []string{v.String()}
	case reflect.Slice:
		var out []string
		for i := 0; i < v.Len(); i++ {
			out = append(out, stringsOf(v.Index(i))...)
		}
		return out
	case reflect.Pointer:
		if !v.IsNil() {
			return stringsOf(v.Elem())
		}
	}
	return nil
}

// urlSecrets returns the user info of each URL in s (a comma-separated list
// is fine), whole and split into user and password, raw and unescaped. It
// does not need s to parse: a malformed URL must not leak either.
func urlSecrets(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		_, rest, ok := strings.Cut(part, "://")
		if !ok {
			continue
		}
		at := strings.LastIndex(rest, "@")
		if at < 0 {
			continue
		}
		info := rest[:at]
		out = append(out, info)
		user, pass, hasPass := strings.Cut(info, ":")
		out = append(out, user)
		if hasPass {
			out = append(out, pass)
		}
		for _, raw := range []string{user, pass} {
			if u, err := url.PathUnescape(raw); err == nil && u != raw {
				out = append(out, u)
			}
		}
	}
	return out
}

// SecretKeys lists every config key tagged as secret, as
// "agent.admin_token", "nats.url" or "outputs.influxdb.token", each with
// its kind of secret ("true", "url", "file"). Tests use it so that a new
// secret key of any plugin is covered by the leak tests.
func SecretKeys() map[string]string {
	out := map[string]string{}
	walkConfigKeys(func(key string, f reflect.StructField) {
		if s := f.Tag.Get("secret"); s != "" {
			out[key] = s
		}
	})
	return out
}

// ConfigKeys lists every key of [agent], [nats] and each registered plugin
// (without the keys every plugin shares), named as SecretKeys names them;
// a test checks that the secret-looking ones are tagged.
func ConfigKeys() []string {
	var out []string
	walkConfigKeys(func(key string, _ reflect.StructField) { out = append(out, key) })
	sort.Strings(out)
	return out
}

// walkConfigKeys calls visit for every key of [agent], [nats] and each
// registered plugin's struct, sub-tables included: a struct or a pointer
// to one is a sub-table ("basic_auth.password", "receivers[].email.password"),
// a slice of them an array of tables ("receivers[].name").
func walkConfigKeys(visit func(key string, f reflect.StructField)) {
	var walk func(prefix string, t reflect.Type, open map[reflect.Type]bool)
	walk = func(prefix string, t reflect.Type, open map[reflect.Type]bool) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		// A type that holds itself (a route of routes) is walked once per path.
		if t.Kind() != reflect.Struct || open[t] {
			return
		}
		open[t] = true
		defer delete(open, t)
		for k, i := range structKeys(t) {
			f := t.Field(i)
			visit(prefix+k, f)
			if sub, ok := subTable(f.Type); ok {
				walk(prefix+k+".", sub, open)
			} else if el := f.Type; el.Kind() == reflect.Slice || el.Kind() == reflect.Array {
				if sub, ok := subTable(el.Elem()); ok {
					walk(prefix+k+"[].", sub, open)
				}
			}
		}
	}
	walk("agent.", reflect.TypeFor[AgentConfig](), map[reflect.Type]bool{})
	walk("nats.", reflect.TypeFor[NatsConfig](), map[reflect.Type]bool{})
	for _, r := range Plugins() {
		walk(string(r.Kind)+"."+r.Type+".", reflect.TypeOf(r.New()), map[reflect.Type]bool{})
	}
}

// subTable returns the struct a key of type t holds as a table: t itself
// or what t points to, unless it decodes from a value (a Duration).
func subTable(t reflect.Type) (reflect.Type, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil, false
	}
	return t, true
}

// redactErrors hides the config's secrets in config errors, in place, and
// in any other error of the list.
func redactErrors(r *Redactor, errs []error) {
	for i, err := range errs {
		if ce, ok := err.(*ConfigError); ok {
			ce.Msg = r.String(ce.Msg)
			continue
		}
		errs[i] = r.Error(err)
	}
}
