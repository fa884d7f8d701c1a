package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// A pipeline whose embedded NATS listens, so that cat, inject and flood can
// talk to it as a user would from another terminal.
func listeningPipeline(t *testing.T) (dir, natsURL, out string, p *proc) {
	dir = t.TempDir()
	port := freePort(t)
	out = filepath.Join(dir, "out.jsonl")
	p = runPipeline(t, dir, "p", fmt.Sprintf(`
[agent]
name = "tools"
data_dir = %q
admin_addr = "off"
[nats]
listen = "127.0.0.1:%d"
[[outputs.file]]
subscribe = ["tools.>"]
external = true
path = %q
format = "json"
`, filepath.Join(dir, "var"), port, out))
	natsURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	p.waitRunning(t)
	return dir, natsURL, out, p
}

func TestInjectAndCatThroughARunningPipeline(t *testing.T) {
	_, url, out, p := listeningPipeline(t)

	cat := exec.Command(binary, "cat", "-server", url, "-subject", "tools.>", "-count", "3")
	var catOut bytes.Buffer
	cat.Stdout = &catOut
	catProc := start(t, cat)
	time.Sleep(300 * time.Millisecond) // cat must be subscribed before the messages are published (core NATS)

	in := `{"type":"metric","timestamp":1700000000000000001,"fields":{"name":"cpu","usage":1.5,"n":3}}
{"type":"log","severity":3,"payload":"disk full","fields":[{"name":"path","type":"string","value":"/var"}]}
`
	inject := exec.Command(binary, "inject", "-server", url, "-subject", "tools.in")
	inject.Stdin = strings.NewReader(in)
	if b, err := inject.CombinedOutput(); err != nil || !strings.Contains(string(b), "injected 2 messages into tools.in") {
		t.Fatalf("inject: %v\n%s", err, b)
	}
	if b, err := exec.Command(binary, "inject", "-server", url, "-subject", "tools.one", "-payload", "hello").CombinedOutput(); err != nil {
		t.Fatalf("inject -payload: %v\n%s", err, b)
	}
	if code := catProc.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("cat exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(catOut.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("cat printed %d lines, want 3:\n%s", len(lines), catOut.String())
	}
	var first struct {
		Timestamp string `json:"timestamp"`
		Type      string `json:"type"`
		Fields    []struct {
			Name, Type string
			Value      any
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Type != "metric" || first.Timestamp != "2023-11-14T22:13:20.000000001Z" || len(first.Fields) != 3 ||
		first.Fields[1].Name != "usage" || first.Fields[1].Type != "float" || first.Fields[2].Type != "int" {
		t.Errorf("first message as cat prints it: %s", lines[0])
	}
	if !strings.Contains(lines[2], `"payload":"hello"`) {
		t.Errorf("third message: %s", lines[2])
	}

	pipelinetest.WaitUntil(t, 10*time.Second, "the pipeline's file output to have all 3", func() error {
		if n := countLines(t, out); n != 3 {
			return fmt.Errorf("%d lines", n)
		}
		return nil
	})
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("pipeline exit %d", code)
	}
}

func TestInjectRejectsBadJSONWithItsLine(t *testing.T) {
	_, url, _, _ := listeningPipeline(t)
	inject := exec.Command(binary, "inject", "-server", url, "-subject", "tools.in")
	inject.Stdin = strings.NewReader("{\"type\":\"log\"}\n{\"tpye\":\"log\"}\n")
	b, err := inject.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "-:2:") || !strings.Contains(string(b), "tpye") {
		t.Fatalf("inject of a bad line: %v\n%s", err, b)
	}
}

func TestFloodDeliversEveryMessageToAPipeline(t *testing.T) {
	_, url, out, p := listeningPipeline(t)
	const n = 50_000
	b, err := exec.Command(binary, "flood", "-server", url, "-subject", "tools.flood", "-count", fmt.Sprint(n), "-size", "64").CombinedOutput()
	if err != nil || !strings.Contains(string(b), fmt.Sprintf("sent %d messages of 64 bytes", n)) {
		t.Fatalf("flood: %v\n%s", err, b)
	}
	t.Logf("flood: %s", strings.TrimSpace(string(b)))
	pipelinetest.WaitUntil(t, 30*time.Second, "every flooded message in the file", hasLines(t, out, n))
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("pipeline exit %d", code)
	}
	if got := countLines(t, out); got != n {
		t.Fatalf("file has %d messages, want %d", got, n)
	}
}

func TestPluginsListsAndPrintsSamples(t *testing.T) {
	b, err := exec.Command(binary, "plugins").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for _, want := range []string{"inputs:", "tcp", "generator", "filters:", "counter", "outputs:", "file", "decoders", "influx", "logfmt"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("plugins output lacks %q:\n%s", want, b)
		}
	}
	b, err = exec.Command(binary, "plugins", "inputs.tcp").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "[[inputs.tcp]]") || !strings.Contains(string(b), "address") {
		t.Fatalf("plugins inputs.tcp: %v\n%s", err, b)
	}
	cmd := exec.Command(binary, "plugins", "inputs.nope")
	b, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(b), `no plugin "inputs.nope"`) {
		t.Fatalf("plugins inputs.nope: exit %d\n%s", cmd.ProcessState.ExitCode(), b)
	}
}

// Lines that fail to decode are counted and go to the dead-letter subject
// with their original text; good lines go on.
func TestDecodeErrorsGoToDeadLetter(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	good := filepath.Join(dir, "good.influx")
	bad := filepath.Join(dir, "bad.jsonl")
	p := runPipeline(t, dir, "p", fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[[inputs.udp]]
publish = "m"
address = "127.0.0.1:%d"
decoder = "influx"
dead_letter = "m.bad"
[[outputs.file]]
name = "good"
subscribe = ["m"]
path = %q
format = "influx"
[[outputs.file]]
name = "bad"
subscribe = ["m.bad"]
path = %q
format = "json"
`, filepath.Join(dir, "var"), port, good, bad))
	var conn net.Conn
	pipelinetest.WaitUntil(t, 15*time.Second, "udp input", func() error {
		var err error
		conn, err = net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	})
	lines := "cpu,host=a usage=1.5 1700000000000000000\nthis is not line protocol\nmem,host=a used=3i 1700000000000000001\n"
	pipelinetest.WaitUntil(t, 15*time.Second, "the datagram to arrive", func() error {
		if countLines(t, good) > 0 {
			return nil
		}
		_, _ = conn.Write([]byte(lines))   // the socket may not be bound yet: resend until it is
		time.Sleep(100 * time.Millisecond) // time for it to arrive before it is sent again
		return hasLines(t, good, 1)()
	})
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	goodLines := readLines(t, good)
	if len(goodLines) < 2 || goodLines[0] != "cpu,host=a usage=1.5 1700000000000000000" || goodLines[1] != "mem,host=a used=3i 1700000000000000001" {
		t.Fatalf("good output:\n%s", strings.Join(goodLines, "\n"))
	}
	badLines := readLines(t, bad)
	if len(badLines) == 0 || !strings.Contains(badLines[0], `"payload":"this is not line protocol"`) ||
		!strings.Contains(badLines[0], `"type":"decode_error"`) || !strings.Contains(badLines[0], `"name":"error"`) {
		t.Fatalf("dead letter:\n%s", strings.Join(badLines, "\n"))
	}
	c := stoppedCounters(t, p.stderr.String(), "inputs.udp[udp]")
	if c["errors"] != float64(len(badLines)) || c["dropped"] != 0 {
		t.Fatalf("udp counters %v: each bad line is an error, none dropped (they went to the dead letter)", c)
	}
}

// A plain `go build` of the command, as the Makefile, `go install` and the
// release archives build it, optimizes it with the committed CPU profile
// (cmd/interoceptor/default.pgo), and `version -json` says so.
func TestTheBinaryIsBuiltWithTheProfile(t *testing.T) {
	out, err := exec.Command(binary, "version", "-json").Output()
	if err != nil {
		t.Fatalf("version -json: %v", err)
	}
	var v struct {
		PGO string `json:"pgo"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("version -json: %v: %s", err, out)
	}
	if v.PGO != "default.pgo" {
		t.Errorf("version -json says pgo %q, want default.pgo: is cmd/interoceptor/default.pgo missing? (`make pgo` writes it)\n%s", v.PGO, out)
	}
}
