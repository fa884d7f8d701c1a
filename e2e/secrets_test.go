package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/decoders/all"
	_ "github.com/interoceptor/interoceptor/filters/all"
	_ "github.com/interoceptor/interoceptor/inputs/all"
	"github.com/interoceptor/interoceptor/internal/mailpittest"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// canary starts every secret of the leak test: whatever the pipeline shows
// must not contain it. canaryNumber is one as an unquoted number.
const (
	canary       = "CANARY5ecret"
	canaryNumber = "8675309123457"
)

// leakTest gathers everything a user or a scraper can see, and which secret
// keys the scenarios filled with canaries.
type leakTest struct {
	t       *testing.T
	dir     string
	mu      sync.Mutex
	seen    strings.Builder
	covered map[string]bool
}

func (l *leakTest) saw(what, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.seen, "==== %s\n%s\n", what, text)
}

func (l *leakTest) cover(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.covered[k] = true
	}
}

// secretFile writes a file whose contents are the secret (a key, a seed, a
// .creds file) and returns its path.
func (l *leakTest) secretFile(name string) string {
	return writeFile(l.t, filepath.Join(l.dir, name), "-----BEGIN PRIVATE KEY-----\n"+canary+"-file-"+name+"\n-----END PRIVATE KEY-----\n")
}

// config writes a pipeline and records the secret keys it fills.
func (l *leakTest) config(name, src string, keys ...string) string {
	l.cover(keys...)
	return writeFile(l.t, filepath.Join(l.dir, name+".toml"), src)
}

// command runs one interoceptor command to its end and keeps what it printed.
func (l *leakTest) command(env []string, args ...string) (string, int) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	b, _ := cmd.CombinedOutput()
	l.saw(strings.Join(args, " "), string(b))
	return string(b), cmd.ProcessState.ExitCode()
}

// A canary in every secret-bearing key of every plugin and of [agent] and
// [nats] (or in the file such a key names), through `check` of good and
// broken configs, `run` in text and JSON logs (running, and failing to
// start or connect), every admin endpoint, /metrics and the CLI: it shows
// up nowhere.
func TestNoSecretLeaks(t *testing.T) {
	l := &leakTest{t: t, dir: t.TempDir(), covered: map[string]bool{}}
	dir := l.dir

	// An InfluxDB that refuses every write and echoes the request's
	// credentials, as some proxies do: the output logs its answer.
	influx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf(`{"error":"no: Authorization %s, url %s"}`, r.Header.Get("Authorization"), r.URL), http.StatusServiceUnavailable)
	}))
	defer influx.Close()
	influxURL := strings.Replace(influx.URL, "http://", "http://"+canary+"-influx-user:"+canary+"-influx-pass@", 1)
	// An Alertmanager that refuses every alert and echoes the request's
	// credentials, and an alert for it to refuse.
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("no: Authorization %s, url %s", r.Header.Get("Authorization"), r.URL), http.StatusBadRequest)
	}))
	defer am.Close()
	amURL := strings.Replace(am.URL, "http://", "http://"+canary+"-am-user:"+canary+"-am-pass@", 1)
	// The receivers of outputs.notify: a real mailpit that wants a login
	// over STARTTLS, a Slack webhook on a closed port, a webhook whose
	// server fails and echoes the request's credentials, a Twilio that
	// refuses the token and echoes it. Each failure must name the host only.
	tlsCert, tlsKey := writeCert(t, dir) // a good certificate: in the failing scenarios below, what fails is each key file
	mailpit := mailpittest.New(t, mailpittest.Options{TLSCert: tlsCert, TLSKey: tlsKey, RequireSTARTTLS: true,
		Users: map[string]string{"alerts": canary + "-smtp-password"}})
	slackHost := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("no: Authorization %s, url %s", r.Header.Get("Authorization"), r.URL), http.StatusInternalServerError)
	}))
	defer hook.Close()
	twilio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"code": 20003, "message": "Authenticate %s:%s at %s", "more_info": "https://www.twilio.com/docs/errors/20003"}`, user, pass, r.URL)
	}))
	defer twilio.Close()
	twilioURL := strings.Replace(twilio.URL, "http://", "http://"+canary+"-twilio-user:"+canary+"-twilio-pass@", 1)
	alertFile := filepath.Join(dir, "alert.json")
	{
		labels := map[string]string{"alertname": "leak", "host": "h"}
		a := &pipeline.Alert{Status: pipeline.AlertFiring, Labels: labels, StartsAt: time.Now(), At: time.Now(),
			Fingerprint: pipeline.AlertFingerprint(labels)}
		var m pipeline.Message
		a.ToMessage(&m)
		writeFile(t, alertFile, string(pipeline.AppendJSON(nil, &m))+"\n")
	}
	// A NATS server that refuses whoever comes, for clients and leaf nodes.
	leafPort := freePort(t)
	natsConf := writeFile(t, filepath.Join(dir, "nats.conf"), fmt.Sprintf(`
authorization { user: real, password: real }
leafnodes { host: 127.0.0.1, port: %d, authorization { user: real, password: real } }
`, leafPort))
	natsURL, _ := startNatsServer(t, "-c", natsConf)
	script := writeFile(t, filepath.Join(dir, "leak.lua"), `
function process_message()
  error("cannot post to " .. read_config("webhook_url") .. " with " .. read_config("api_token"))
end
`)

	// The central: everything runs, InfluxDB fails, the Lua filter fails,
	// the admin API and the CLI are used.
	central := func(format string) {
		adminAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg := l.config("central-"+format, fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = %q
admin_token = "${ICP_ADMIN_TOKEN}"
admin_user = "ops"
admin_password = "%s-admin-password"
[nats]
listen = "127.0.0.1:%d"
user = "icp"
password = "%s-nats-password"
[[inputs.generator]]
publish = "metrics.gen"
mode = "metric"
rate = 50
[[filters.lua]]
name = "leak"
subscribe = ["metrics.gen"]
script = %q
  [filters.lua.config]
  webhook_url = "https://hooks.example/services/%s-webhook"
  api_token = "%s-lua-token"
[[outputs.influxdb]]
subscribe = ["metrics.gen"]
url = %q
token = "%s-influx-token"
bucket = "b"
flush_interval = "50ms"
max_retry_interval = "200ms"
disk_buffer_bytes = 0
[[outputs.alertmanager]]
name = "am-token"
subscribe = ["alerts.leak"]
external = true
url = [%q]
bearer_token = "%s-am-token"
generator_url = "http://%s-gen-user:%s-gen-pass@grafana.example/d/x?host={{ .Labels.host }}"
[[outputs.alertmanager]]
name = "am-basic"
subscribe = ["alerts.leak"]
external = true
url = [%q]
  [outputs.alertmanager.basic_auth]
  username = "am"
  password = "%s-am-password"
[[outputs.notify]]
subscribe = ["alerts.leak"]
external = true
receiver = "mail"
group_wait = "0s"
external_url = "http://%s-ext-user:%s-ext-pass@central.example/api/alerts"
  [[outputs.notify.routes]]
  receiver = "mail"
  continue = true
  [[outputs.notify.routes]]
  receiver = "mail-refused"
  continue = true
  [[outputs.notify.routes]]
  receiver = "slack"
  continue = true
  [[outputs.notify.routes]]
  receiver = "webhook"
  continue = true
  [[outputs.notify.routes]]
  receiver = "twilio"
  continue = true
  [[outputs.notify.receivers]]
  name = "mail"
    [outputs.notify.receivers.email]
    smtp = %q
    from = "alerts@example.com"
    to = ["ops@example.com"]
    username = "alerts"
    password = "${ICP_SMTP_PASSWORD}"
    starttls = "mandatory"
    insecure_skip_verify = true
  [[outputs.notify.receivers]]
  name = "mail-refused"
    [outputs.notify.receivers.email]
    smtp = %q
    from = "alerts@example.com"
    to = ["refused@example.com"]
    username = "alerts"
    password = "${ICP_SMTP_WRONG_PASSWORD}"
    starttls = "mandatory"
    insecure_skip_verify = true
  [[outputs.notify.receivers]]
  name = "slack"
    [outputs.notify.receivers.slack]
    url = "${ICP_SLACK_URL}"
  [[outputs.notify.receivers]]
  name = "webhook"
    [outputs.notify.receivers.webhook]
    url = "%s/hooks/%s-webhook"
    headers = { Authorization = "Bearer ${ICP_WEBHOOK_TOKEN}" }
  [[outputs.notify.receivers]]
  name = "twilio"
    [outputs.notify.receivers.twilio]
    account_sid = "AC0123456789abcdef0123456789abcdef"
    auth_token = "%s-twilio-token"
    from = "+15005550006"
    to = ["+4915112345678"]
    url = %q
`, filepath.Join(dir, "var-"+format), adminAddr, canary, freePort(t), canary, script, canary, canary, influxURL, canary,
			amURL, canary, canary, canary, am.URL, canary,
			canary, canary, mailpit.SMTP, mailpit.SMTP, hook.URL, canary, canary, twilioURL),
			"agent.admin_token", "agent.admin_password", "nats.password", "outputs.influxdb.url", "outputs.influxdb.token",
			"outputs.alertmanager.url", "outputs.alertmanager.bearer_token", "outputs.alertmanager.generator_url", "outputs.alertmanager.basic_auth.password",
			"outputs.notify.external_url", "outputs.notify.receivers[].email.password", "outputs.notify.receivers[].slack.url",
			"outputs.notify.receivers[].webhook.url", "outputs.notify.receivers[].webhook.headers",
			"outputs.notify.receivers[].twilio.auth_token", "outputs.notify.receivers[].twilio.url")
		env := []string{"ICP_ADMIN_TOKEN=" + canary + "-admin-token", "ICP_SMTP_PASSWORD=" + canary + "-smtp-password",
			"ICP_SMTP_WRONG_PASSWORD=" + canary + "-smtp-wrong-password",
			"ICP_SLACK_URL=http://" + slackHost + "/services/T0/B0/" + canary + "-slack", "ICP_WEBHOOK_TOKEN=" + canary + "-webhook-token"}
		if err := mailpit.DeleteAll(); err != nil {
			t.Fatal(err)
		}
		if out, code := l.command(env, "check", "-config", cfg); code != 0 {
			t.Fatalf("check: exit %d\n%s", code, out)
		}
		cmd := exec.Command(binary, "run", "-config", cfg, "-log-format", format)
		cmd.Env = append(os.Environ(), env...)
		p := start(t, cmd)
		pipelinetest.WaitUntil(t, 30*time.Second, "InfluxDB and Lua failures in the log", p.logHas("write to InfluxDB failed", "cannot post to"))
		l.command(env, "inject", "-config", cfg, "-subject", "alerts.leak", "-file", alertFile)
		pipelinetest.WaitUntil(t, 30*time.Second, "Alertmanager's refusals in the log", p.logHas("alertmanager 127.0.0.1", "400 Bad Request"))
		hookHost, twilioHost := strings.TrimPrefix(hook.URL, "http://"), strings.TrimPrefix(twilio.URL, "http://")
		pipelinetest.WaitUntil(t, 30*time.Second, "the receivers' failures in the log", p.logHas("email to refused@example.com via "+mailpit.SMTP,
			"slack webhook at "+slackHost, "webhook to "+hookHost+": POST to "+hookHost+": 500 Internal Server Error", "via "+twilioHost, "Twilio error 20003"))
		pipelinetest.WaitUntil(t, 30*time.Second, "the mail in mailpit", func() error {
			if msgs, err := mailpit.Messages(); err != nil || len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0].Address != "ops@example.com" {
				return fmt.Errorf("mailpit holds %d mails (%v), want the one to ops@example.com", len(msgs), err)
			}
			return nil
		})
		get := func(method, path, as string, header map[string]string) {
			req, _ := http.NewRequest(method, "http://"+adminAddr+path, nil)
			for k, v := range header {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			l.saw(fmt.Sprintf("%s %s (%s): %s", method, path, as, resp.Status), fmt.Sprint(resp.Header)+"\n"+string(b))
		}
		auth := map[string]string{"Authorization": "Bearer " + canary + "-admin-token", pipeline.AdminRequestHeader: "1"}
		// The receivers' last errors, as the admin API shows them: hosts only.
		pipelinetest.WaitUntil(t, 30*time.Second, "the receivers' last errors in /api/alerts", func() error {
			req, _ := http.NewRequest("GET", "http://"+adminAddr+"/api/alerts", nil)
			req.Header.Set("Authorization", auth["Authorization"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{"slack webhook at " + slackHost, "webhook to " + hookHost, "via " + twilioHost, "via " + mailpit.SMTP} {
				if !strings.Contains(string(b), want) {
					return fmt.Errorf("no %q in /api/alerts: %s", want, b)
				}
			}
			return nil
		})
		for _, path := range []string{"/healthz", "/metrics", "/api/plugins", "/api/alerts", "/api/silences", "/api/nope"} {
			get("GET", path, "token", auth)
			get("GET", path, "no credentials", nil)
			get("GET", path, "wrong host", map[string]string{"Host": "evil.example"})
		}
		get("POST", "/api/reload", "token", auth)
		get("POST", "/api/reload?plugin=leak", "token", auth)
		get("POST", "/api/reload?plugin=nope", "token", auth)
		get("POST", "/api/reload", "token, simple request", map[string]string{"Authorization": "Bearer " + canary + "-admin-token"})
		if out, code := l.command(env, "reload", "-config", cfg); code != 0 || !strings.Contains(out, "filters.lua[leak]: unchanged") {
			t.Errorf("reload -config: exit %d\n%s", code, out)
		}
		l.command(nil, "reload", "-admin", adminAddr) // refused: no token
		l.command(env, "alerts", "-config", cfg)
		l.command(env, "alerts", "-config", cfg, "-json")
		l.command(env, "inject", "-config", cfg, "-subject", "metrics.other", "-payload", "x")
		p.signal(t, syscall.SIGTERM)
		if code := p.wait(t, 60*time.Second); code != 0 {
			t.Errorf("central (%s logs): exit %d", format, code)
		}
		l.saw("central run, "+format+" logs", p.stderr.String())
	}
	central("json")
	central("text")

	// Clients and leaf agents that the NATS server refuses, and plugins
	// whose secret files are not what they should be: each fails in its
	// own way, some at start, some in the background.
	agent := func(name, nats string, input string, keys ...string) string {
		return l.config(name, fmt.Sprintf(`
[agent]
name = %q
data_dir = %q
admin_addr = "off"
[nats]
%s
%s
[[outputs.stdout]]
subscribe = ["x"]
external = true
`, name, filepath.Join(dir, "var-"+name), nats, input), keys...)
	}
	leafURL := fmt.Sprintf("nats-leaf://127.0.0.1:%d", leafPort)
	failing := []string{
		agent("url", fmt.Sprintf("url = %q\ntoken = %q", strings.Replace(natsURL, "nats://", "nats://"+canary+"-nats-url-user:"+canary+"-nats-url-pass@", 1), canary+"-nats-token"),
			"", "nats.url", "nats.token"),
		agent("nkey", fmt.Sprintf("url = %q\nnkey_seed = %q", natsURL, l.secretFile("seed.nk")), "", "nats.nkey_seed"),
		agent("creds", fmt.Sprintf("url = %q\ncreds = %q", natsURL, l.secretFile("user.creds")), "", "nats.creds"),
		agent("tls", fmt.Sprintf("url = %q\ntls_cert = %q\ntls_key = %q", strings.Replace(natsURL, "nats://", "tls://", 1), tlsCert, l.secretFile("nats.key")),
			"", "nats.tls_key"),
		agent("leaf-url", fmt.Sprintf("leafnode_remotes = [%q]", strings.Replace(leafURL, "nats-leaf://", "nats-leaf://"+canary+"-leaf-url-user:"+canary+"-leaf-url-pass@", 1)),
			"", "nats.leafnode_remotes"),
		agent("leaf-token", fmt.Sprintf("leafnode_remotes = [%q]\nleafnode_user = %q", leafURL, canary+"-leaf-token"), "", "nats.leafnode_user"),
		agent("leaf-password", fmt.Sprintf("leafnode_remotes = [%q]\nleafnode_user = \"leaf\"\nleafnode_password = %q", leafURL, canary+"-leaf-password"),
			"", "nats.leafnode_password"),
		agent("leaf-creds", fmt.Sprintf("leafnode_remotes = [%q]\nleafnode_creds = %q", leafURL, l.secretFile("leaf.creds")), "", "nats.leafnode_creds"),
		agent("influx-tls", "", fmt.Sprintf(`[[outputs.influxdb]]
subscribe = ["x"]
external = true
url = "https://127.0.0.1:1"
bucket = "b"
tls_cert = %q
tls_key = %q`, tlsCert, l.secretFile("influx.key")), "outputs.influxdb.tls_key"),
		agent("syslog-tls", "", fmt.Sprintf(`[[inputs.syslog]]
publish = "x"
protocol = "tls"
address = "127.0.0.1:0"
tls_cert = %q
tls_key = %q`, tlsCert, l.secretFile("syslog.key")), "inputs.syslog.tls_key"),
		l.config("admin-tls", fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "127.0.0.1:0"
admin_tls_cert = %q
admin_tls_key = %q
[[inputs.stdin]]
publish = "x"
[[outputs.stdout]]
subscribe = ["x"]
`, filepath.Join(dir, "var-admin-tls"), tlsCert, l.secretFile("admin.key")), "agent.admin_tls_key"),
	}
	var wg sync.WaitGroup
	for i, cfg := range failing {
		l.command(nil, "check", "-config", cfg)
		format := []string{"json", "text"}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(binary, "run", "-config", cfg, "-log-format", format)
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Error(err)
				return
			}
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done: // failed at start
			case <-time.After(10 * time.Second): // leaf agents keep retrying: long enough for a few tries
				_ = cmd.Process.Signal(syscall.SIGTERM)
				<-done
			}
			l.saw("run "+filepath.Base(cfg)+", "+format+" logs", out.String())
		}()
	}
	wg.Wait()
	// Not every failure was at start: the client ones must have been.
	l.command(nil, "inject", "-config", failing[0], "-subject", "x", "-payload", "x")

	// Broken configs: each error must name its key without showing the secret.
	broken := []struct{ name, src, want string }{
		{"influx-url", fmt.Sprintf(`[[inputs.stdin]]
publish = "x"
[[outputs.influxdb]]
subscribe = ["x"]
url = "http://u:%s-bad-url@127.0.0.1:80:86"
bucket = "b"
`, canary), `key "url"`},
		{"numeric-var", "[nats]\nuser = \"u\"\npassword = ${ICP_NUMERIC_PW}\n", `(from ${ICP_NUMERIC_PW})`},
		{"numeric-token", fmt.Sprintf("[agent]\nadmin_token = %s\n", canaryNumber), `key "admin_token": expected a string, got an integer`},
		{"leaf-url", fmt.Sprintf("[agent]\nadmin_addr = \"off\"\n[nats]\nleafnode_remotes = [\"http://u:%s-bad-leaf@h:7422\"]\n", canary), `key "leafnode_remotes"`},
		{"influx-token-var", "[[inputs.stdin]]\npublish = \"x\"\n[[outputs.influxdb]]\nsubscribe = [\"x\"]\nurl = \"http://h:1\"\nbucket = \"b\"\ntoken = ${ICP_NUMERIC_PW}\n",
			`(from ${ICP_NUMERIC_PW})`},
	}
	for _, b := range broken {
		cfg := writeFile(t, filepath.Join(dir, "broken-"+b.name+".toml"), b.src)
		env := []string{"ICP_NUMERIC_PW=" + canaryNumber}
		for _, cmd := range []string{"check", "run"} {
			out, code := l.command(env, cmd, "-config", cfg)
			if code != 1 || !strings.Contains(out, b.want) {
				t.Errorf("%s %s: exit %d, want 1 and %q:\n%s", cmd, b.name, code, b.want, out)
			}
		}
	}

	var missing []string
	for key, kind := range pipeline.SecretKeys() {
		if !l.covered[key] {
			missing = append(missing, key+" ("+kind+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("secret keys in no scenario of this test (add them): %s", strings.Join(missing, ", "))
	}
	seen := l.seen.String()
	for _, c := range []string{canary, canaryNumber} {
		if n := strings.Count(seen, c); n > 0 {
			var lines []string
			for _, line := range strings.Split(seen, "\n") {
				if strings.HasPrefix(line, "==== ") || strings.Contains(line, c) {
					lines = append(lines, line)
				}
			}
			t.Errorf("%q shows up %d times:\n%s", c, n, strings.Join(lines, "\n"))
		}
	}
	if !strings.Contains(seen, "xxxxx") {
		t.Errorf("nothing was redacted: did the scenarios run?")
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and localhost,
// and its key, to dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "interoceptor e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, filepath.Join(dir, "cert.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, filepath.Join(dir, "key.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})))
	return certFile, keyFile
}
