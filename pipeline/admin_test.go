package pipeline_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// adminRequest sends one request to the admin API and returns its status
// and body; header holds extra headers, "Host" included.
func adminRequest(t *testing.T, client *http.Client, method, url string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const reloadablePipeline = `
[agent]
data_dir = %q
admin_addr = "127.0.0.1:0"
%s
[[filters.versioned_test]]
name = "good"
subscribe = ["x"]
external = true
`

// A web page cannot make the admin API do anything: a cross-origin POST,
// or a "simple" POST a form or fetch() could send anywhere, is refused; a
// page reached through DNS rebinding (a Host that is not this server)
// cannot even read it. The CLI's requests pass.
func TestAdminRefusesCrossSiteRequests(t *testing.T) {
	rt, _, _ := startPipeline(t, fmt.Sprintf(reloadablePipeline, t.TempDir(), ""))
	base := "http://" + rt.AdminAddr()
	c := http.DefaultClient
	for _, r := range []struct {
		name   string
		method string
		path   string
		header map[string]string
		want   int
	}{
		{"the issue's curl: cross-origin text/plain", "POST", "/api/reload",
			map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, http.StatusForbidden},
		{"simple request without origin", "POST", "/api/reload", map[string]string{"Content-Type": "text/plain"}, http.StatusForbidden},
		{"form post", "POST", "/api/reload", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusForbidden},
		{"cross-origin with the header", "POST", "/api/reload",
			map[string]string{"Origin": "http://evil.example", pipeline.AdminRequestHeader: "1"}, http.StatusForbidden},
		{"cross-site fetch metadata", "POST", "/api/reload",
			map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, http.StatusForbidden},
		{"same-site fetch metadata", "POST", "/api/reload",
			map[string]string{"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}, http.StatusForbidden},
		{"rebinding: read plugins", "GET", "/api/plugins", map[string]string{"Host": "evil.example:8377"}, http.StatusMisdirectedRequest},
		{"rebinding: metrics", "GET", "/metrics", map[string]string{"Host": "evil.example"}, http.StatusMisdirectedRequest},
		{"rebinding: reload", "POST", "/api/reload",
			map[string]string{"Host": "evil.example", "Origin": "http://evil.example", pipeline.AdminRequestHeader: "1"}, http.StatusMisdirectedRequest},
		{"the CLI", "POST", "/api/reload", map[string]string{pipeline.AdminRequestHeader: "cli"}, http.StatusOK},
		{"curl with JSON", "POST", "/api/reload", map[string]string{"Content-Type": "application/json"}, http.StatusOK},
		{"same origin", "POST", "/api/reload",
			map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin", pipeline.AdminRequestHeader: "1"}, http.StatusOK},
		{"localhost", "GET", "/api/plugins", map[string]string{"Host": "localhost:8377"}, http.StatusOK},
		{"an IP", "GET", "/healthz", map[string]string{"Host": "[::1]:8377"}, http.StatusOK},
		{"preflight", "OPTIONS", "/api/reload", map[string]string{"Origin": "http://evil.example",
			"Access-Control-Request-Method": "POST"}, http.StatusMethodNotAllowed},
	} {
		code, body := adminRequest(t, c, r.method, base+r.path, r.header, "x")
		if code != r.want {
			t.Errorf("%s: %s %s: %d %s, want %d", r.name, r.method, r.path, code, body, r.want)
		}
		if (code == 403 || code == 421) && !strings.Contains(body, `"error"`) {
			t.Errorf("%s: refusal without a reason: %s", r.name, body)
		}
	}
	if _, body := adminRequest(t, c, "GET", base+"/api/plugins", map[string]string{"Host": "evil.example"}, ""); !strings.Contains(body, "DNS rebinding") {
		t.Errorf("wrong Host: the refusal does not say why: %s", body)
	}
}

// With admin_token and admin_user/admin_password every endpoint but
// /healthz asks for either; a wrong one is refused like none.
func TestAdminAuthentication(t *testing.T) {
	t.Setenv("ICP_TEST_ADMIN_TOKEN", "tok-0123456789")
	t.Setenv("ICP_TEST_ADMIN_PW", "pw-0123456789")
	rt, _, _ := startPipeline(t, fmt.Sprintf(reloadablePipeline, t.TempDir(), `admin_token = "${ICP_TEST_ADMIN_TOKEN}"
admin_user = "ops"
admin_password = "${ICP_TEST_ADMIN_PW}"`))
	base := "http://" + rt.AdminAddr()
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	basic := func(u, p string) map[string]string {
		r, _ := http.NewRequest("GET", base, nil)
		r.SetBasicAuth(u, p)
		return map[string]string{"Authorization": r.Header.Get("Authorization")}
	}
	for _, path := range []string{"/metrics", "/api/plugins"} {
		for _, r := range []struct {
			name   string
			header map[string]string
			want   int
		}{
			{"no credentials", nil, http.StatusUnauthorized},
			{"wrong token", bearer("tok-0123456788"), http.StatusUnauthorized},
			{"token as password", basic("ops", "tok-0123456789"), http.StatusUnauthorized},
			{"wrong password", basic("ops", "pw-0123456788"), http.StatusUnauthorized},
			{"wrong user", basic("root", "pw-0123456789"), http.StatusUnauthorized},
			{"token", bearer("tok-0123456789"), http.StatusOK},
			{"basic", basic("ops", "pw-0123456789"), http.StatusOK},
		} {
			if code, body := adminRequest(t, http.DefaultClient, "GET", base+path, r.header, ""); code != r.want {
				t.Errorf("GET %s with %s: %d %s, want %d", path, r.name, code, body, r.want)
			}
		}
	}
	req, _ := http.NewRequest("GET", base+"/api/plugins", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Values("WWW-Authenticate"); len(got) != 2 {
		t.Errorf("WWW-Authenticate = %q, want a Basic and a Bearer challenge", got)
	}
	// /healthz stays open for liveness probes, which often cannot send credentials.
	if code, body := adminRequest(t, http.DefaultClient, "GET", base+"/healthz", nil, ""); code != http.StatusOK {
		t.Errorf("/healthz without credentials: %d %s", code, body)
	}
	// Credentials do not replace the cross-site checks.
	if code, _ := adminRequest(t, http.DefaultClient, "POST", base+"/api/reload", bearer("tok-0123456789"), ""); code != http.StatusForbidden {
		t.Errorf("POST with a token but as a simple request: %d, want 403", code)
	}
	h := bearer("tok-0123456789")
	h[pipeline.AdminRequestHeader] = "1"
	if code, body := adminRequest(t, http.DefaultClient, "POST", base+"/api/reload", h, ""); code != http.StatusOK {
		t.Errorf("POST with a token: %d %s", code, body)
	}
}

// admin_tls_cert and admin_tls_key serve the admin API over HTTPS only.
func TestAdminTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeTestCert(t, dir)
	rt, _, _ := startPipeline(t, fmt.Sprintf(reloadablePipeline, dir, fmt.Sprintf("admin_tls_cert = %q\nadmin_tls_key = %q", certFile, keyFile)))
	if !strings.HasPrefix(rt.AdminURL(), "https://") {
		t.Fatalf("AdminURL = %q, want https", rt.AdminURL())
	}
	pem, _ := os.ReadFile(certFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if code, body := adminRequest(t, client, "GET", rt.AdminURL()+"api/plugins", nil, ""); code != http.StatusOK || !strings.Contains(body, `"good"`) {
		t.Fatalf("GET over https: %d %s", code, body)
	}
	if code, _ := adminRequest(t, http.DefaultClient, "GET", "http://"+rt.AdminAddr()+"/api/plugins", nil, ""); code != http.StatusBadRequest {
		t.Errorf("plain http to the TLS port: %d, want 400", code)
	}
}

// An admin API reachable from other hosts needs credentials, or an explicit
// admin_allow_unauthenticated: `check` says so, with file, line and key.
func TestAdminAddrBeyondLoopbackNeedsAuth(t *testing.T) {
	const base = "[[inputs.stdin]]\npublish = \"a\"\n[[outputs.stdout]]\nsubscribe = [\"a\"]\n"
	for _, c := range []struct {
		agent, want string
	}{
		{`admin_addr = "0.0.0.0:8377"`, `p.toml:3: agent: key "admin_addr": "0.0.0.0:8377" listens beyond this host, and the admin API has no authentication`},
		{`admin_addr = "[::]:8377"`, `key "admin_addr": "[::]:8377" listens beyond this host`},
		{`admin_addr = ":8377"`, `key "admin_addr": ":8377" listens beyond this host`},
		{`admin_addr = "192.168.1.10:8377"`, `listens beyond this host`},
		{`admin_addr = "edge-1.example:8377"`, `listens beyond this host`},
		{"admin_addr = \"0.0.0.0:8377\"\nadmin_user = \"ops\"", `p.toml:4: agent: key "admin_user": set without admin_password: admin_user and admin_password go together`},
		{"admin_tls_cert = \"c.pem\"", `p.toml:3: agent: key "admin_tls_cert": set without admin_tls_key`},
		{`admin_addr = "8377"`, `key "admin_addr": "8377" is not HOST:PORT`},
		{`admin_addr = "127.0.0.1:http"`, `is not HOST:PORT`},
		{`admin_addr = "127.0.0.1:8377"`, ""},
		{`admin_addr = "127.0.0.2:0"`, ""},
		{`admin_addr = "localhost:8377"`, ""},
		{`admin_addr = "[::1]:8377"`, ""},
		{`admin_addr = "off"`, ""},
		{"admin_addr = \"0.0.0.0:8377\"\nadmin_token = \"t0k3n-x\"", ""},
		{"admin_addr = \"0.0.0.0:8377\"\nadmin_user = \"ops\"\nadmin_password = \"pw\"", ""},
		{"admin_addr = \"0.0.0.0:8377\"\nadmin_allow_unauthenticated = true", ""},
	} {
		_, err := pipeline.ParseConfig("p.toml", "\n[agent]\n"+c.agent+"\n"+base)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.agent, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.agent, err, c.want)
		}
	}
}

// admin_addr and [nats] listen tell loopback from beyond it alike: a host
// name is loopback when every address it resolves to is (this host's own
// name, where /etc/hosts maps it to 127.0.0.1 or 127.0.1.1).
func TestAdminAddrLoopbackNameAsNATSListen(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil || len(ips) == 0 || net.ParseIP(host) != nil {
		t.Skipf("this host's name %q does not resolve here (%v): no loopback name to test with", host, err)
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			t.Skipf("this host's name %q resolves to %v, not only to loopback: no loopback name to test with", host, ips)
		}
	}
	t.Logf("%s resolves to %v", host, ips)
	const base = "[[inputs.stdin]]\npublish = \"a\"\n[[outputs.stdout]]\nsubscribe = [\"a\"]\n"
	for _, table := range []string{
		fmt.Sprintf("[nats]\nlisten = %q\n", net.JoinHostPort(host, "4222")),
		fmt.Sprintf("[agent]\nadmin_addr = %q\n", net.JoinHostPort(host, "8377")),
	} {
		if _, err := pipeline.ParseConfig("p.toml", table+base); err != nil {
			t.Errorf("%s: %v", table, err)
		}
	}
}

// stateful is a filter that reports its own state (as a Lua filter stopped
// for good does) and counts the calls of Status.
type stateful struct {
	State string `toml:"state"`
	calls atomic.Int64
}

func (s *stateful) Process(*pipeline.Message, pipeline.Emitter) error { return nil }
func (s *stateful) Status() map[string]any {
	s.calls.Add(1)
	if s.State == "" {
		return map[string]any{"note": "no state of its own"}
	}
	return map[string]any{"state": s.State}
}

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindFilter, Type: "stateful_test",
		New: func() any { return &stateful{} }})
}

// A plugin's own "state" overrides the runtime's "running", alike in
// /api/plugins and in /metrics' interoceptor_plugin_running; each request
// asks the plugin for its status once.
func TestAdminPluginOwnState(t *testing.T) {
	rt, _, _ := startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "127.0.0.1:0"
[[filters.stateful_test]]
name = "gone"
subscribe = ["x"]
external = true
state = "stopped"
[[filters.stateful_test]]
name = "fine"
subscribe = ["x"]
external = true
`, t.TempDir()))
	pipelinetest.WaitUntil(t, 20*time.Second, "the pipeline running", func() error {
		if s := statsOf(rt, pipeline.KindFilter, "fine").State; s != "running" {
			return fmt.Errorf("filter fine is %q", s)
		}
		return nil
	})
	gone := rt.Plugin(pipeline.KindFilter, "gone").(*stateful)
	before := gone.calls.Load()
	code, body := adminRequest(t, http.DefaultClient, "GET", "http://"+rt.AdminAddr()+"/api/plugins", nil, "")
	var plugins []pipeline.PluginStatus
	if err := json.Unmarshal([]byte(body), &plugins); code != http.StatusOK || err != nil {
		t.Fatalf("GET /api/plugins: %d %v\n%s", code, err, body)
	}
	states := map[string]string{}
	for _, p := range plugins {
		states[p.Name] = p.State
	}
	if states["gone"] != "stopped" || states["fine"] != "running" {
		t.Errorf("/api/plugins states %v; want gone stopped, fine running", states)
	}
	if n := gone.calls.Load() - before; n != 1 {
		t.Errorf("/api/plugins asked for the status %d times, want 1", n)
	}
	before = gone.calls.Load()
	code, body = adminRequest(t, http.DefaultClient, "GET", "http://"+rt.AdminAddr()+"/metrics", nil, "")
	for _, want := range []string{
		`interoceptor_plugin_running{kind="filters",name="gone",type="stateful_test"} 0`,
		`interoceptor_plugin_running{kind="filters",name="fine",type="stateful_test"} 1`,
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET /metrics: %d, no %s", code, want)
		}
	}
	if n := gone.calls.Load() - before; n != 1 {
		t.Errorf("/metrics asked for the status %d times, want 1", n)
	}
}

// The commands that call the admin API read [agent] as run does: a TOML
// syntax error is located by its line, as `check` locates it.
func TestLoadAgentConfigLocatesSyntaxErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.toml")
	const agent = "[agent]\nadmin_addr = \"127.0.0.1:9000\"\n"
	if err := os.WriteFile(path, []byte(agent+"[[filters.lua]]\nscript = \"x.lua\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := pipeline.LoadAgentConfig(path)
	_, checkErr := pipeline.LoadConfig(path)
	if want := path + ":4: TOML syntax: "; err == nil || !strings.HasPrefix(err.Error(), want) || checkErr == nil || err.Error() != checkErr.Error() {
		t.Errorf("LoadAgentConfig: %v\nwant %q..., as LoadConfig says: %v", err, want, checkErr)
	}
	if err := os.WriteFile(path, []byte(agent+"[[filters.lua]]\nscript = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if a, err := pipeline.LoadAgentConfig(path); err != nil || a.AdminAddr != "127.0.0.1:9000" {
		t.Errorf("a broken plugin beside [agent]: %+v, %v", a, err)
	}
}

// apiFilter serves /api/things through the admin API (as outputs.notify
// serves /api/alerts), and answers with its name.
type apiFilter struct {
	Path string `toml:"path"`
	name string
}

func (f *apiFilter) Process(*pipeline.Message, pipeline.Emitter) error { return nil }
func (f *apiFilter) Init(env *pipeline.Env) error                      { f.name = env.Name; return nil }
func (f *apiFilter) APIPaths() []string                                { return []string{f.Path} }
func (f *apiFilter) ServeAPI(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s %s %s", f.name, r.Method, r.URL.Path)
}

func init() {
	pipeline.Register(pipeline.Registration{Kind: pipeline.KindFilter, Type: "api_test",
		New: func() any { return &apiFilter{} }})
}

// A plugin's API paths reach it behind the admin API's guard; the built-in
// paths stay the runtime's, and ?plugin= picks among plugins that claim a
// path.
func TestAdminRoutesPluginAPIs(t *testing.T) {
	rt, _, _ := startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "127.0.0.1:0"
admin_token = "s3cret"
[[filters.api_test]]
name = "first"
subscribe = ["x"]
external = true
path = "/api/things"
[[filters.api_test]]
name = "second"
subscribe = ["x"]
external = true
path = "/api/things"
[[filters.api_test]]
name = "greedy"
subscribe = ["x"]
external = true
path = "/api/plugins"
`, t.TempDir()))
	base := "http://" + rt.AdminAddr()
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	for _, c := range []struct {
		method, path string
		header       map[string]string
		code         int
		body         string
	}{
		{"GET", "/api/things", auth, http.StatusOK, "first GET /api/things"},
		{"GET", "/api/things/7", auth, http.StatusOK, "first GET /api/things/7"},
		{"GET", "/api/things?plugin=second", auth, http.StatusOK, "second GET /api/things"},
		{"GET", "/api/thingsmore", auth, http.StatusNotFound, "no such endpoint"},
		{"GET", "/api/things", nil, http.StatusUnauthorized, ""},
		{"POST", "/api/things/7", map[string]string{"Authorization": "Bearer s3cret", "Origin": "http://evil.example"}, http.StatusForbidden, ""},
		{"GET", "/api/plugins", auth, http.StatusOK, `"name": "greedy"`},
	} {
		code, body := adminRequest(t, http.DefaultClient, c.method, base+c.path, c.header, "")
		if code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("%s %s: %d %q; want %d with %q", c.method, c.path, code, body, c.code, c.body)
		}
	}
}

// GET / is a page for people: every plugin with its counters, and links to
// the other endpoints and to the plugins' own, behind the same guard; what
// it shows is escaped, and the config's secrets are hidden as in
// /api/plugins.
func TestAdminIndexPage(t *testing.T) {
	rt, _, _ := startPipeline(t, fmt.Sprintf(`
[agent]
name = "edge<1>"
data_dir = %q
admin_addr = "127.0.0.1:0"
admin_token = "s3cret"
[[inputs.tcp]]
name = "app"
publish = "logs.app"
address = "127.0.0.1:0"
[[filters.stateful_test]]
name = "odd"
subscribe = ["logs.app"]
state = "<i>stuck</i> on s3cret"
[[filters.api_test]]
name = "things"
subscribe = ["x"]
external = true
path = "/api/things"
`, t.TempDir()))
	base := "http://" + rt.AdminAddr()
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	if code, _ := adminRequest(t, http.DefaultClient, "GET", base+"/", nil, ""); code != http.StatusUnauthorized {
		t.Errorf("GET / without the token: %d, want 401", code)
	}
	conn, err := net.Dial("tcp", rt.Plugin(pipeline.KindInput, "app").(interface{ Addr() net.Addr }).Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(conn, "one line")
	conn.Close()
	pipelinetest.WaitUntil(t, 20*time.Second, "the line through the filter", func() error {
		if n := statsOf(rt, pipeline.KindFilter, "odd").Counters.In; n != 1 {
			return fmt.Errorf("filter odd took %d messages", n)
		}
		return nil
	})
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	for _, want := range []string{
		"<title>Interoceptor edge&lt;1&gt;</title>",
		`<td>inputs.tcp[app]</td><td>running</td><td>→ logs.app</td><td class="n">1</td><td class="n">1</td><td class="n">0</td><td class="n">0</td>`,
		`<td>filters.stateful_test[odd]</td><td>&lt;i&gt;stuck&lt;/i&gt; on`,
		`<td>filters.api_test[things]</td>`,
		`<a href="/healthz">`, `<a href="/metrics">`, `<a href="/api/plugins">`, `<a href="/api/listeners">`, `<a href="/api/things">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("GET / has no %s\n%s", want, page)
		}
	}
	if strings.Contains(page, "s3cret") || strings.Contains(page, "<i>") {
		t.Errorf("GET / shows a secret or unescaped text:\n%s", page)
	}
	if code, body := adminRequest(t, http.DefaultClient, "GET", base+"/nothing", auth, ""); code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d %s; want 404", code, body)
	}
}

// /api/listeners reports the addresses bound, the ports chosen by the
// system included, as a banner needs them.
func TestAdminListeners(t *testing.T) {
	natsAddr := freeAddr(t)
	rt, _, _ := startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "127.0.0.1:0"
[nats]
listen = %q
[[inputs.tcp]]
name = "app"
publish = "logs.app"
address = "127.0.0.1:0"
`, t.TempDir(), natsAddr))
	code, body := adminRequest(t, http.DefaultClient, "GET", "http://"+rt.AdminAddr()+"/api/listeners", nil, "")
	var got pipeline.Listeners
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil {
		t.Fatalf("GET /api/listeners: %d %v\n%s", code, err, body)
	}
	tcp := rt.Plugin(pipeline.KindInput, "app").(interface{ Addr() net.Addr }).Addr().String()
	want := pipeline.Listeners{Admin: "http://" + rt.AdminAddr() + "/", NATS: "nats://" + natsAddr,
		Inputs: []pipeline.InputListener{{Plugin: "inputs.tcp[app]", Network: "tcp", Addr: tcp}}}
	if fmt.Sprint(got) != fmt.Sprint(want) || strings.HasSuffix(rt.AdminAddr(), ":0") || strings.HasSuffix(tcp, ":0") {
		t.Errorf("GET /api/listeners: %+v\nwant %+v", got, want)
	}
}
