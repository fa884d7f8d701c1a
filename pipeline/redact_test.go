package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://user:pw@127.0.0.1:8086/x", "http://xxxxx@127.0.0.1:8086/x"},
		{"nats://a:b@h1:4222,nats://c:d@h2:4222", "nats://xxxxx@h1:4222,nats://xxxxx@h2:4222"},
		{`Post "http://user:***@127.0.0.1:1/api/v2/write": dial tcp: refused`, `Post "http://xxxxx@127.0.0.1:1/api/v2/write": dial tcp: refused`},
		{"http://u:p@ss/w@h:1", "http://xxxxx@h:1"}, // a raw @ and / in the password
		{"nats-leaf://tok@central:7422", "nats-leaf://xxxxx@central:7422"},
		{"http://127.0.0.1:8086", "http://127.0.0.1:8086"},
		{"mail me at a@b.example", "mail me at a@b.example"},
	} {
		if got := pipeline.RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A value of a secret key is hidden wherever it turns up; one too short to
// replace safely everywhere is left to the key-based redaction.
func TestRedactorHidesSecretValues(t *testing.T) {
	r := pipeline.NewRedactor("tok-123456", "abc")
	if got := r.String("auth failed for tok-123456 (abc)"); got != "auth failed for xxxxx (abc)" {
		t.Errorf("got %q", got)
	}
	err := r.Error(fmt.Errorf("wrapped: %w", io.EOF))
	if !errors.Is(err, io.EOF) {
		t.Errorf("redacted error lost its chain")
	}
	err = r.Error(fmt.Errorf("server said tok-123456: %w", io.EOF))
	if err.Error() != "server said xxxxx: EOF" || !errors.Is(err, io.EOF) {
		t.Errorf("got %v", err)
	}
	v := r.Value(map[string]any{"url": "http://u:p@h", "webhook_url": "https://hooks.example/T0/B0/x",
		"nested": map[string]any{"msg": "tok-123456"}, "n": 3}).(map[string]any)
	if v["url"] != "http://xxxxx@h" || v["webhook_url"] != "xxxxx" || v["nested"].(map[string]any)["msg"] != "xxxxx" || v["n"] != 3 {
		t.Errorf("got %v", v)
	}
}

// Log records lose their secrets in the message, in attributes of every
// kind and in attributes added with With, in both log formats.
func TestRedactingLogHandler(t *testing.T) {
	r := pipeline.NewRedactor("s3cret-pass")
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, nil)
		if format == "json" {
			h = slog.NewJSONHandler(&buf, nil)
		}
		log := slog.New(r.Handler(h)).With("url", "nats://u:s3cret-pass@h:4222")
		log.Info("connect s3cret-pass", "err", errors.New(`dial "http://bob:pw@h"`),
			"list", []string{"s3cret-pass"}, "token", "short", "n", 5,
			slog.Group("g", "x", "s3cret-pass"))
		out := buf.String()
		for _, leak := range []string{"s3cret-pass", "bob:pw", "short"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s log shows %q:\n%s", format, leak, out)
			}
		}
		if !strings.Contains(out, "xxxxx") || !strings.Contains(out, "5") {
			t.Errorf("%s log lost its record:\n%s", format, out)
		}
	}
}

// Every key that looks like it holds a secret is tagged, so that the
// runtime hides it and the leak tests cover it; a new plugin key such as
// api_token or webhook_url fails here until it is.
func TestSecretLookingKeysAreTagged(t *testing.T) {
	secret := pipeline.SecretKeys()
	keys := pipeline.ConfigKeys()
	table := map[string]bool{} // a sub-table's name (receivers[].webhook) holds no value: its keys are checked
	for _, key := range keys {
		if i := strings.LastIndex(key, "."); i > 0 {
			table[strings.TrimSuffix(key[:i], "[]")] = true
		}
	}
	for _, key := range keys {
		if table[key] {
			continue
		}
		name := key[strings.LastIndex(key, ".")+1:]
		looks := pipeline.SecretKeyName(name) || strings.HasSuffix(name, "url") || strings.HasSuffix(name, "urls") ||
			strings.HasSuffix(name, "_remotes") || strings.HasSuffix(name, "_key") || strings.HasSuffix(name, "creds") ||
			strings.HasSuffix(name, "password")
		if looks && secret[key] == "" {
			t.Errorf("%s looks secret but has no secret tag", key)
		}
	}
	for _, k := range []string{"nats.url", "nats.password", "nats.token", "nats.leafnode_remotes", "nats.leafnode_password",
		"agent.admin_token", "agent.admin_password", "outputs.influxdb.url", "outputs.influxdb.token",
		"outputs.alertmanager.basic_auth.password", "outputs.notify.external_url", "outputs.notify.receivers[].email.password",
		"outputs.notify.receivers[].slack.url", "outputs.notify.receivers[].webhook.url", "outputs.notify.receivers[].webhook.headers",
		"outputs.notify.receivers[].twilio.auth_token", "outputs.notify.receivers[].twilio.url"} {
		if secret[k] == "" {
			t.Errorf("%s is not tagged secret", k)
		}
	}
}

// nestedTables is a test output whose secrets are in an array of tables,
// in sub-tables of it and in a table that holds itself.
type nestedTables struct {
	Receivers []struct {
		Name  string `toml:"name"`
		Email *struct {
			Password string `toml:"password" secret:"true"`
		} `toml:"email"`
	} `toml:"receivers"`
	Route nestedRoute `toml:"route"`
}

type nestedRoute struct {
	Token  string        `toml:"token" secret:"true"`
	Routes []nestedRoute `toml:"routes"`
}

func (*nestedTables) Init(*pipeline.Env) error        { return nil }
func (*nestedTables) Write([]*pipeline.Message) error { return nil }

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindOutput, Type: "nested_test",
		Sample: "[[outputs.nested_test]]\n", New: func() any { return &nestedTables{} }})
}

// Keys of arrays of tables and of their sub-tables are named with [] and
// dots; a table that holds itself is walked once.
func TestSecretKeysOfNestedTables(t *testing.T) {
	got := map[string]string{}
	for k, v := range pipeline.SecretKeys() {
		if strings.HasPrefix(k, "outputs.nested_test.") {
			got[k] = v
		}
	}
	want := map[string]string{"outputs.nested_test.receivers[].email.password": "true", "outputs.nested_test.route.token": "true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// leaky is a test output that shows its secrets everywhere it can: in its
// status, its log, its errors.
type leaky struct {
	URL   string `toml:"url" secret:"url"`
	Token string `toml:"token" secret:"true"`
	env   *pipeline.Env
}

func (l *leaky) Init(env *pipeline.Env) error {
	l.env = env
	env.Log.Info("connecting", "url", l.URL, "with", "Token "+l.Token)
	return nil
}
func (l *leaky) Write([]*pipeline.Message) error {
	return fmt.Errorf("server answered 401 to token %s at %s", l.Token, l.URL)
}
func (l *leaky) Status() map[string]any {
	return map[string]any{"url": l.URL, "last_error": "bad token " + l.Token, "token": l.Token}
}
func (l *leaky) APIPaths() []string { return []string{"/api/leaky"} }
func (l *leaky) ServeAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Leaky", l.Token)
	w.Header().Set("Content-Length", "1") // wrong once redacted: the runtime drops it
	w.WriteHeader(http.StatusTeapot)
	fmt.Fprintf(w, `{"last_error": "server answered 401 to token %s at %s"}`, l.Token, l.URL)
}

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindOutput, Type: "leaky_test",
		Sample: "[[outputs.leaky_test]]\n", New: func() any { return &leaky{} }})
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A running pipeline shows none of its plugins' secrets: not in the logs
// (also those the plugin writes itself), not in /api/plugins, not in
// /metrics, not in the plugin's own API, even when the plugin puts them there.
func TestRuntimeHidesPluginSecrets(t *testing.T) {
	const canary = "CANARY-9f3b2c"
	dir := t.TempDir()
	cfg, err := pipeline.ParseConfig("p.toml", fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "127.0.0.1:0"
[[inputs.generator]]
publish = "in"
rate = 200
[[outputs.leaky_test]]
name = "l"
subscribe = ["in"]
url = "http://user-%s:pw-%s@127.0.0.1:1/"
token = "tok-%s"
`, dir, canary, canary, canary))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	rt, err := pipeline.Start(cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	pipelinetest.WaitUntil(t, 20*time.Second, "a failed write in the log", func() error {
		if l := logs.String(); !strings.Contains(l, "batch dropped") {
			return fmt.Errorf("no \"batch dropped\" in %d bytes logged", len(l))
		}
		return nil
	})
	var shown strings.Builder
	for _, path := range []string{"/api/plugins", "/metrics", "/healthz", "/api/leaky"} {
		resp, err := http.Get("http://" + rt.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		fmt.Fprintf(&shown, "GET %s: %d %v\n%s\n", path, resp.StatusCode, resp.Header, b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	all := logs.String() + shown.String()
	if !strings.Contains(all, `"url": "http://xxxxx@127.0.0.1:1/"`) {
		t.Errorf("/api/plugins does not show the redacted url:\n%s", shown.String())
	}
	if !strings.Contains(all, "GET /api/leaky: 418") || !strings.Contains(all, `"server answered 401 to token xxxxx at http://xxxxx@127.0.0.1:1/"`) {
		t.Errorf("/api/leaky does not show its redacted answer:\n%s", shown.String())
	}
	if n := strings.Count(all, canary); n > 0 {
		t.Errorf("the canary shows %d times:\n%s", n, all)
	}
}

// `check` shows no secret: a wrong-typed secret key does not echo its
// value, a wrong-typed value from ${VAR} names the variable instead, and a
// malformed URL is shown without its user info.
func TestConfigErrorsHideSecrets(t *testing.T) {
	t.Setenv("ICP_TEST_PW", "987654321")
	t.Setenv("ICP_TEST_PORT", "5170")
	cases := []struct{ name, src, want, hidden string }{
		{"secret key of the wrong type", `
[nats]
password = 987654321
`, `p.toml:3: nats: key "password": expected a string, got an integer`, "987654321"},
		{"unquoted numeric ${VAR}", `
[nats]
user = "u"
password = ${ICP_TEST_PW}
`, `p.toml:4: nats: key "password": expected a string, got an integer (from ${ICP_TEST_PW})`, "987654321"},
		{"${VAR} of the wrong type in a plugin", `
[[inputs.tcp]]
publish = "a"
address = ${ICP_TEST_PORT}
[[outputs.stdout]]
subscribe = ["a"]
`, `p.toml:4: inputs.tcp[tcp]: key "address": expected a string, got an integer (from ${ICP_TEST_PORT})`, "5170"},
		{"${VAR} on a later line of an array", `
[[inputs.tail]]
publish = "a"
files = [
  "/var/log/a.log",
  ${ICP_TEST_PW},
]
[[outputs.stdout]]
subscribe = ["a"]
`, `p.toml:4: inputs.tail[tail]: key "files": element 1: expected a string, got an integer (from ${ICP_TEST_PW})`, "987654321"},
		{"malformed url with user info", `
[[inputs.stdin]]
publish = "a"
[[outputs.influxdb]]
subscribe = ["a"]
url = "http://admin:pw-CANARY-1@127.0.0.1:80:86"
bucket = "b"
`, `p.toml:6: outputs.influxdb[influxdb]: key "url": want http://host:port or https://host:port; got "http://xxxxx@127.0.0.1:80:86"`, "CANARY"},
		{"url of another scheme", `
[[inputs.stdin]]
publish = "a"
[[outputs.influxdb]]
subscribe = ["a"]
url = "ftp://admin:pw-CANARY-2@127.0.0.1:8086"
bucket = "b"
`, `got "ftp://xxxxx@127.0.0.1:8086"`, "CANARY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := pipeline.ParseConfig("p.toml", c.src)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.hidden) {
				t.Fatalf("error:\n  %s\nwant it to contain:\n  %s\nand not %q", err, c.want, c.hidden)
			}
		})
	}
	// A non-secret literal value is still shown: it helps, and hides nothing.
	_, err := pipeline.ParseConfig("p.toml", "[[inputs.tcp]]\npublish = \"a\"\naddress = 5170\n[[outputs.stdout]]\nsubscribe = [\"a\"]\n")
	if err == nil || !strings.Contains(err.Error(), "got an integer (5170)") {
		t.Fatalf("error %v, want it to show the literal value", err)
	}
}

// `run` wraps its log handler with the config's redactor and so does
// Start: the config has one redactor, so that the second wrap is no wrap
// and each record is redacted once.
func TestConfigRedactorIsBuiltOnce(t *testing.T) {
	cfg, err := pipeline.ParseConfig("p.toml", `
[agent]
admin_token = "tok-0123456789"
[[inputs.stdin]]
publish = "a"
[[outputs.stdout]]
subscribe = ["a"]
`)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Redactor()
	if cfg.Redactor() != r {
		t.Fatal("Redactor returned a new redactor at its second call")
	}
	var buf bytes.Buffer
	once := r.Handler(slog.NewTextHandler(&buf, nil))
	if twice := cfg.Redactor().Handler(once); twice != once {
		t.Error("a handler wrapped by the config's redactor was wrapped again: each record would be redacted twice")
	}
	slog.New(once).Info("auth", "with", "tok-0123456789")
	if out := buf.String(); strings.Contains(out, "tok-0123456789") || !strings.Contains(out, "with=xxxxx") {
		t.Errorf("log: %s", out)
	}
}

// TestPathLookingKeysAreTagged: a key that names a file or a folder is
// resolved against its config file's folder only if it is tagged
// path:"true"; one added without the tag would silently be relative to the
// working directory again.
func TestPathLookingKeysAreTagged(t *testing.T) {
	paths := pipeline.PathKeys()
	notPaths := map[string]bool{"inputs.generator.seed": true} // a random seed
	for _, key := range pipeline.ConfigKeys() {
		if notPaths[key] || strings.Contains(key, "_test.") { // the plugins of this package's tests
			continue
		}
		name := key[strings.LastIndex(key, ".")+1:]
		looks := false
		for _, s := range []string{"path", "paths", "file", "files", "script", "dir", "_cert", "_ca", "creds", "seed"} {
			looks = looks || strings.HasSuffix(name, s)
		}
		looks = looks || (strings.HasPrefix(name, "tls_") || strings.HasPrefix(name, "admin_tls_") || strings.HasPrefix(name, "leafnode_tls_")) && strings.HasSuffix(name, "_key")
		if looks && !paths[key] {
			t.Errorf("%s looks like a path but has no path tag", key)
		}
	}
	for _, k := range []string{"agent.data_dir", "filters.lua.script", "filters.lua.module_path", "inputs.tail.files", "outputs.file.path"} {
		if !paths[k] {
			t.Errorf("%s is not tagged path", k)
		}
	}
}
