package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// logBuffer collects a pipeline's log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startAgent starts a pipeline whose log is kept, and returns a channel
// that gets Run's result: an agent with a counted generator ends by itself.
func startAgent(t *testing.T, src string) (*logBuffer, chan error) {
	t.Helper()
	cfg, err := pipeline.ParseConfig("agent.toml", src)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	rt, err := pipeline.Start(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("agent did not stop")
		}
	})
	return logs, done
}

func waitDone(t *testing.T, done chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent: %v", err)
		}
		done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("the agent's counted generator did not finish")
	}
}

// central starts a pipeline that writes every "agent.>" message to a file,
// with extra [nats] lines; it returns the file.
func central(t *testing.T, dir, nats string) string {
	t.Helper()
	out := filepath.Join(dir, "central.log")
	startPipeline(t, fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = "off"
[nats]
%s
[[outputs.file]]
subscribe = ["agent.>"]
external = true
path = %q
`, filepath.Join(dir, "central"), nats, out))
	return out
}

// agent is a pipeline of one counted generator publishing "agent.gen".
func agent(dir, name, nats string, count int) string {
	return fmt.Sprintf(`
[agent]
name = %q
data_dir = %q
admin_addr = "off"
[nats]
%s
[[inputs.generator]]
publish = "agent.gen"
rate = 0
count = %d
`, name, filepath.Join(dir, name), nats, count)
}

// An agent whose embedded server is a leaf node of the central's, opening
// no port of its own, delivers every generated message to the central.
func TestLeafNodeAgentDeliversToCentral(t *testing.T) {
	dir := t.TempDir()
	leaf := freeAddr(t)
	out := central(t, dir, fmt.Sprintf("leafnode_listen = %q", leaf))
	_, done := startAgent(t, agent(dir, "edge", fmt.Sprintf("leafnode_remotes = [\"nats-leaf://%s\"]", leaf), 1000))
	waitDone(t, done)
	pipelinetest.WaitUntil(t, 10*time.Second, "1000 lines at the central", linesIn(out, 1000))
	time.Sleep(100 * time.Millisecond) // time for a late duplicate to arrive
	if n := lineCount(out); n != 1000 {
		t.Fatalf("central wrote %d lines, want 1000", n)
	}
}

// With user and password on the central, leaf nodes must give them too: a
// wrong password is refused and logged by the agent, and nothing arrives;
// the right one delivers everything.
func TestLeafNodeRequiresCentralCredentials(t *testing.T) {
	dir := t.TempDir()
	leaf := freeAddr(t)
	out := central(t, dir, fmt.Sprintf("leafnode_listen = %q\nuser = \"agents\"\npassword = \"s3cret\"", leaf))

	remote := fmt.Sprintf("leafnode_remotes = [\"nats-leaf://%s\"]\nleafnode_user = \"agents\"\n", leaf)
	logs, done := startAgent(t, agent(dir, "wrong", remote+`leafnode_password = "guess"`, 100))
	waitDone(t, done)
	if l := logs.String(); !strings.Contains(l, "Authorization Violation") || !strings.Contains(l, "central not reached yet") {
		t.Errorf("the agent's log does not show the refusal:\n%s", l)
	}
	if n := lineCount(out); n != 0 {
		t.Fatalf("central wrote %d lines from an agent with a wrong password", n)
	}

	_, done = startAgent(t, agent(dir, "right", remote+`leafnode_password = "s3cret"`, 300))
	waitDone(t, done)
	pipelinetest.WaitUntil(t, 10*time.Second, "300 lines at the central", linesIn(out, 300))
	time.Sleep(100 * time.Millisecond) // time for a late duplicate to arrive
	if n := lineCount(out); n != 300 {
		t.Fatalf("central wrote %d lines, want 300", n)
	}
}

// Durable mode through a leaf node: the agent's embedded server runs no
// JetStream of its own, so its durable publisher stores into the stream the
// central's durable subscriber made for "agent.>", across the leaf link.
func TestLeafNodeAgentDurable(t *testing.T) {
	dir := t.TempDir()
	leaf := freeAddr(t)
	out := filepath.Join(dir, "central.log")
	logs, _ := startAgent(t, fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = "off"
[nats]
leafnode_listen = %q
[[outputs.file]]
subscribe = ["agent.>"]
external = true
durable = true
path = %q
`, filepath.Join(dir, "central"), leaf, out))
	src := agent(dir, "edge", fmt.Sprintf("leafnode_remotes = [\"nats-leaf://%s\"]", leaf), 1000)
	alogs, done := startAgent(t, strings.Replace(src, "count = 1000", "count = 1000\ndurable = true", 1))
	waitDone(t, done)
	pipelinetest.WaitUntil(t, 10*time.Second, "1000 lines at the central", linesIn(out, 1000))
	time.Sleep(100 * time.Millisecond) // time for a late duplicate to arrive
	if n := lineCount(out); n != 1000 {
		t.Fatalf("central wrote %d lines, want 1000", n)
	}
	if !strings.Contains(logs.String(), "stream created") || !strings.Contains(alogs.String(), "publishing into an existing stream") {
		t.Errorf("want the central to create the stream and the agent to use it:\ncentral:\n%s\nagent:\n%s", logs, alogs)
	}
}

// With tls_cert and tls_key on the central its leaf node port speaks TLS:
// an agent that trusts its CA (leafnode_tls_ca) delivers; one that does
// not trust it is refused and delivers nothing.
func TestLeafNodeTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeTestCert(t, dir)
	leaf := freeAddr(t)
	out := central(t, dir, fmt.Sprintf("leafnode_listen = %q\ntls_cert = %q\ntls_key = %q", leaf, cert, key))

	other, _ := writeTestCert(t, t.TempDir()) // a CA that did not sign the central's certificate
	logs, done := startAgent(t, agent(dir, "untrusting", fmt.Sprintf("leafnode_remotes = [\"tls://%s\"]\nleafnode_tls_ca = %q", leaf, other), 50))
	waitDone(t, done)
	if l := logs.String(); !strings.Contains(l, "certificate") || !strings.Contains(l, "central not reached yet") {
		t.Errorf("the agent's log does not show the refused certificate:\n%s", l)
	}
	if n := lineCount(out); n != 0 {
		t.Fatalf("central wrote %d lines from an agent that does not trust it", n)
	}

	_, done = startAgent(t, agent(dir, "trusting", fmt.Sprintf("leafnode_remotes = [\"tls://%s\"]\nleafnode_tls_ca = %q", leaf, cert), 500))
	waitDone(t, done)
	pipelinetest.WaitUntil(t, 10*time.Second, "500 lines at the central", linesIn(out, 500))
	time.Sleep(100 * time.Millisecond) // time for a late duplicate to arrive
	if n := lineCount(out); n != 500 {
		t.Fatalf("central wrote %d lines, want 500", n)
	}
}

// An agent may also be a plain client of the central's listen address.
func TestDirectAgentDeliversToCentral(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	out := central(t, dir, fmt.Sprintf("listen = %q", addr))
	_, done := startAgent(t, agent(dir, "direct", fmt.Sprintf("url = \"nats://%s\"", addr), 1000))
	waitDone(t, done)
	pipelinetest.WaitUntil(t, 10*time.Second, "1000 lines at the central", linesIn(out, 1000))
	time.Sleep(100 * time.Millisecond) // time for a late duplicate to arrive
	if n := lineCount(out); n != 1000 {
		t.Fatalf("central wrote %d lines, want 1000", n)
	}
}

func TestLeafNodeConfigErrors(t *testing.T) {
	for _, c := range []struct{ nats, want string }{
		{`url = "nats://c:4222"` + "\n" + `leafnode_remotes = ["nats-leaf://c:7422"]`, `key "leafnode_remotes": needs the embedded server: url must be empty`},
		{`url = "nats://c:4222"` + "\n" + `leafnode_listen = "0.0.0.0:7422"`, `key "leafnode_listen": needs the embedded server`},
		{`leafnode_listen = "7422"`, `key "leafnode_listen": not a HOST:PORT address`},
		{`leafnode_remotes = ["http://c:7422"]`, `key "leafnode_remotes": "http://c:7422": the scheme must be`},
		{`leafnode_remotes = ["nats-leaf://c"]`, `key "leafnode_remotes": "nats-leaf://c": write it as nats-leaf://HOST:PORT`},
		{`leafnode_user = "a"`, `key "leafnode_user": set without leafnode_remotes`},
		{`leafnode_tls_ca = "ca.pem"`, `key "leafnode_tls_ca": set without leafnode_remotes`},
		{`leafnode_remotes = ["nats-leaf://c:7422"]` + "\n" + `leafnode_password = "p"`, `key "leafnode_password": set without leafnode_user`},
		{`leafnode_remotes = ["nats-leaf://c:7422"]` + "\n" + `leafnode_user = "a"` + "\n" + `leafnode_creds = "a.creds"`, `key "leafnode_creds": set together with leafnode_user`},
	} {
		_, err := pipeline.ParseConfig("p.toml", "[nats]\n"+c.nats+"\n[[inputs.generator]]\npublish = \"agent.gen\"\n")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.nats, err, c.want)
		}
	}
}
