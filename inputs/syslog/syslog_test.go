package syslog

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

const loggerPath = "/usr/bin/logger"

// want is what a user checks of a received message: headers, then fields
// (a field absent from fields must not be in the message, except those
// listed in any, whose value is not known in advance).
type want struct {
	payload  string
	severity int32
	hostname string
	logger   string
	pid      int32
	fields   map[string]any
}

func TestLoggerOverUDPAndTCP(t *testing.T) {
	host := hostname(t)
	shortHost, _, _ := strings.Cut(host, ".") // logger cuts it for RFC 3164
	cases := []struct {
		name     string
		protocol string
		framing  string
		args     []string
		want     want
	}{
		{
			name: "udp rfc5424 with structured data", protocol: "udp",
			args: []string{"--udp", "--rfc5424", "-t", "myapp", "-p", "local3.err", "--id=4242", "--msgid", "ID47",
				"--sd-id", "meta@32473", "--sd-param", `user="alice"`, "--sd-param", `room="b 12"`, "hello from 5424"},
			want: want{payload: "hello from 5424", severity: 3, hostname: host, logger: "myapp", pid: 4242,
				fields: map[string]any{"facility": "local3", "facility_code": int64(19), "severity": "err",
					"appname": "myapp", "procid": "4242", "msgid": "ID47", "source": "127.0.0.1",
					"sd.meta@32473.user": "alice", "sd.meta@32473.room": "b 12",
					"sd.timeQuality.tzKnown": "1", "sd.timeQuality.isSynced": any(nil)}},
		},
		{
			name: "udp rfc3164", protocol: "udp",
			args: []string{"--udp", "--rfc3164", "-t", "oldapp", "-p", "mail.warning", "--id=77", "hello from 3164"},
			want: want{payload: "hello from 3164", severity: 4, hostname: shortHost, logger: "oldapp", pid: 77,
				fields: map[string]any{"facility": "mail", "facility_code": int64(2), "severity": "warning",
					"appname": "oldapp", "procid": "77", "source": "127.0.0.1"}},
		},
		{
			name: "tcp octet counting rfc5424", protocol: "tcp", framing: "auto",
			args: []string{"--tcp", "--octet-count", "--rfc5424", "-t", "tcpapp", "-p", "daemon.notice", "--msgid", "M1",
				"--sd-id", "origin@1", "--sd-param", `ip="10.0.0.1"`, "counted frame"},
			want: want{payload: "counted frame", severity: 5, hostname: host, logger: "tcpapp",
				fields: map[string]any{"facility": "daemon", "facility_code": int64(3), "severity": "notice",
					"appname": "tcpapp", "msgid": "M1", "source": "127.0.0.1", "sd.origin@1.ip": "10.0.0.1",
					"sd.timeQuality.tzKnown": any(nil), "sd.timeQuality.isSynced": any(nil)}},
		},
		{
			name: "tcp newline rfc5424", protocol: "tcp", framing: "auto",
			args: []string{"--tcp", "--rfc5424", "-t", "lineapp", "-p", "user.debug", "newline frame"},
			want: want{payload: "newline frame", severity: 7, hostname: host, logger: "lineapp",
				fields: map[string]any{"facility": "user", "facility_code": int64(1), "severity": "debug",
					"appname": "lineapp", "source": "127.0.0.1",
					"sd.timeQuality.tzKnown": any(nil), "sd.timeQuality.isSynced": any(nil)}},
		},
		{
			name: "tcp newline rfc3164, framing set", protocol: "tcp", framing: "non-transparent",
			args: []string{"--tcp", "--rfc3164", "-t", "bsd", "-p", "auth.crit", "--id=31337", "old school"},
			want: want{payload: "old school", severity: 2, hostname: shortHost, logger: "bsd", pid: 31337,
				fields: map[string]any{"facility": "auth", "facility_code": int64(4), "severity": "crit",
					"appname": "bsd", "procid": "31337", "source": "127.0.0.1"}},
		},
		{
			name: "tcp octet counting rfc3164, framing set", protocol: "tcp", framing: "octet-counting",
			args: []string{"--tcp", "--octet-count", "--rfc3164", "-t", "bsd2", "-p", "local7.info", "counted bsd"},
			want: want{payload: "counted bsd", severity: 6, hostname: shortHost, logger: "bsd2",
				fields: map[string]any{"facility": "local7", "facility_code": int64(23), "severity": "info",
					"appname": "bsd2", "source": "127.0.0.1"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newDefault(tc.protocol)
			if tc.framing != "" {
				in.Framing = tc.framing
			}
			env, out, _ := start(t, in)
			before := time.Now()
			runLogger(t, in.Addr(), "", tc.args...)
			out.WaitFor(t, 1, 5*time.Second)
			after := time.Now()
			msgs := out.Messages()
			if len(msgs) != 1 {
				t.Fatalf("emitted %d messages, want 1", len(msgs))
			}
			check(t, msgs[0], tc.want)
			// RFC 3164 timestamps have whole seconds.
			if ts := time.Unix(0, msgs[0].Timestamp); ts.Before(before.Truncate(time.Second)) || ts.After(after) {
				t.Errorf("Timestamp = %v, want the time logger sent it, between %v and %v", ts, before, after)
			}
			if got := env.Stats.Errors.Load(); got != 0 {
				t.Errorf("Errors = %d, want 0", got)
			}
		})
	}
}

func TestLoggerSendsEveryLineOfItsInputInOrder(t *testing.T) {
	for _, framing := range [][]string{{"--octet-count"}, nil} {
		t.Run(strings.Join(append([]string{"--tcp"}, framing...), " "), func(t *testing.T) {
			in := newDefault("tcp")
			_, out, _ := start(t, in)
			args := append([]string{"--tcp", "--rfc5424", "-t", "batch"}, framing...)
			runLogger(t, in.Addr(), "first\nsecond line\nthird\n", args...)
			out.WaitFor(t, 3, 5*time.Second)
			var got []string
			for _, m := range out.Messages() {
				got = append(got, string(m.Payload))
			}
			if want := []string{"first", "second line", "third"}; strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("payloads %q, want %q", got, want)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", caCert, caKey)
	newCert(t, dir, "client", caCert, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)

	t.Run("octet counting and newline framing", func(t *testing.T) {
		const msg = "<165>1 2003-10-11T22:14:15.003Z host.example tls - - - over TLS"
		for _, frame := range []string{strconv.Itoa(len(msg)) + " " + msg, msg + "\n"} {
			in := newDefault("tls")
			in.TLSCert, in.TLSKey = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
			env, out, _ := start(t, in)
			sendTLS(t, in.Addr(), &tls.Config{RootCAs: pool, ServerName: "localhost"}, frame)
			out.WaitFor(t, 1, 5*time.Second)
			check(t, out.Messages()[0], want{payload: "over TLS", severity: 5, hostname: "host.example", logger: "tls",
				fields: map[string]any{"facility": "local4", "facility_code": int64(20), "severity": "notice",
					"appname": "tls", "source": "127.0.0.1"}})
			if ts := time.Unix(0, out.Messages()[0].Timestamp).UTC(); !ts.Equal(time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC)) {
				t.Errorf("Timestamp = %v, want the message's", ts)
			}
			if got := env.Stats.Errors.Load(); got != 0 {
				t.Errorf("Errors = %d, want 0", got)
			}
		}
	})

	t.Run("tls_ca requires a client certificate", func(t *testing.T) {
		in := newDefault("tls")
		in.TLSCert, in.TLSKey = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
		in.TLSCA = filepath.Join(dir, "ca.pem")
		_, out, _ := start(t, in)

		// Without a certificate: the handshake fails and nothing is emitted.
		c, err := tls.Dial("tcp", in.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err == nil {
			io.WriteString(c, "<13>1 - - anon - - - refused\n")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1)) // TLS 1.3: the server's refusal arrives after the handshake
			c.Close()
		}
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a client without a certificate: %v, want the server to refuse it", err)
		}

		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"))
		if err != nil {
			t.Fatal(err)
		}
		sendTLS(t, in.Addr(), &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}},
			"<13>1 - - signed - - - accepted\n")
		out.WaitFor(t, 1, 5*time.Second)
		if got := out.Messages(); len(got) != 1 || string(got[0].Payload) != "accepted" {
			t.Errorf("emitted %d messages (first %q), want only the one from the client with a certificate", len(got), got[0].Payload)
		}
	})
}

// TestRFC3164WithOnlyAPRIIsAccepted: RFC 3164 4.3.2 has a relay take what
// follows a valid PRI as the content when the header is not there.
func TestRFC3164WithOnlyAPRIIsAccepted(t *testing.T) {
	in := newDefault("udp")
	env, out, _ := start(t, in)
	sendRaw(t, "udp", in.Addr(), "<28>disk almost full")
	out.WaitFor(t, 1, 5*time.Second)
	check(t, out.Messages()[0], want{payload: "disk almost full", severity: 4, hostname: "127.0.0.1", logger: "syslog",
		fields: map[string]any{"facility": "daemon", "facility_code": int64(3), "severity": "warning", "source": "127.0.0.1"}})
	if got := env.Stats.Errors.Load(); got != 0 {
		t.Errorf("Errors = %d, want 0", got)
	}
}

func TestMalformedMessagesAreKeptWithAnError(t *testing.T) {
	cases := []struct {
		name     string
		protocol string
		send     string
		want     want
		errHas   string
	}{
		{name: "not syslog over udp", protocol: "udp", send: "just some text",
			want: want{payload: "just some text", severity: 5, hostname: "127.0.0.1", logger: "syslog",
				fields: map[string]any{"source": "127.0.0.1", "error": nil}}, errHas: "rfc3164: expecting a priority"},
		{name: "rfc5424 with a bad timestamp over udp", protocol: "udp",
			send: "<11>1 2024-13-45T99:00:00Z web01 app 12 - - bad time",
			want: want{payload: "<11>1 2024-13-45T99:00:00Z web01 app 12 - - bad time", severity: 3,
				hostname: "127.0.0.1", logger: "syslog",
				fields: map[string]any{"facility": "user", "facility_code": int64(1), "severity": "err",
					"source": "127.0.0.1", "error": nil}}, errHas: "rfc5424: expecting a RFC3339MICRO timestamp"},
		{name: "not syslog over tcp", protocol: "tcp", send: "garbage line\n",
			want: want{payload: "garbage line", severity: 5, hostname: "127.0.0.1", logger: "syslog",
				fields: map[string]any{"source": "127.0.0.1", "error": nil}}, errHas: "rfc3164: expecting a priority"},
		{name: "octet count without its space", protocol: "tcp", send: "12<13>1 - - - - - - x\n",
			want: want{payload: "12<13>1 - - - - - - x", severity: 5, hostname: "127.0.0.1", logger: "syslog",
				fields: map[string]any{"source": "127.0.0.1", "error": nil}}, errHas: "octet-counting"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newDefault(tc.protocol)
			env, out, _ := start(t, in)
			sendRaw(t, tc.protocol, in.Addr(), tc.send)
			out.WaitFor(t, 1, 5*time.Second)
			m := out.Messages()[0]
			check(t, m, tc.want)
			if f := m.Field("error"); f == nil || !strings.Contains(f.Str, tc.errHas) {
				t.Errorf("error field %v, want one saying %q", f, tc.errHas)
			}
			if got := env.Stats.Errors.Load(); got != 1 {
				t.Errorf("Errors = %d, want 1", got)
			}
		})
	}
}

func TestOverlongMessageIsCutAndCounted(t *testing.T) {
	for _, protocol := range []string{"udp", "tcp"} {
		t.Run(protocol, func(t *testing.T) {
			in := newDefault(protocol)
			in.MaxMessageBytes = 32
			env, out, _ := start(t, in)
			msg := "<13>1 - - app - - - " + strings.Repeat("x", 40) // 60 bytes
			frame := msg
			if protocol == "tcp" {
				frame = strconv.Itoa(len(msg)) + " " + msg + "24 <13>1 - - app - - - next"
			}
			sendRaw(t, protocol, in.Addr(), frame)
			n := 1
			if protocol == "tcp" {
				n = 2
			}
			out.WaitFor(t, n, 5*time.Second)
			msgs := out.Messages()
			if got, want := string(msgs[0].Payload), strings.Repeat("x", 32-20); got != want {
				t.Errorf("payload %q, want %q", got, want)
			}
			if protocol == "tcp" {
				if got := string(msgs[1].Payload); got != "next" {
					t.Errorf("next frame's payload %q, want %q", got, "next")
				}
			}
			if got := env.Stats.Errors.Load(); got != 1 {
				t.Errorf("Errors = %d, want 1", got)
			}
		})
	}
}

func TestShutdownEmitsWhatWasRead(t *testing.T) {
	in := newDefault("tcp")
	env, out, stop := start(t, in)
	c, err := net.Dial("tcp", in.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One write: by the time "a" and "b" are out, the cut frame is in the
	// connection's buffer.
	if _, err := io.WriteString(c, "21 <13>1 - - app - - - a21 <13>1 - - app - - - b40 <13>1 - - app - - - cut"); err != nil {
		t.Fatal(err)
	}
	out.WaitFor(t, 2, 5*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	msgs := out.Messages()
	if len(msgs) != 2 || string(msgs[0].Payload) != "a" || string(msgs[1].Payload) != "b" {
		t.Errorf("emitted %d messages, want a and b", len(msgs))
	}
	if got := env.Stats.Dropped.Load(); got != 1 {
		t.Errorf("Dropped = %d, want 1 incomplete frame", got)
	}
	if _, err := net.Dial("tcp", in.Addr().String()); err == nil {
		t.Error("still accepting connections after Run returned")
	}
}

func TestAddressInUseStopsStartup(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	in := newDefault("tcp")
	in.Address = taken.Addr().String()
	pipelinetest.CheckInitFails(t, in, pipelinetest.Env(pipeline.KindInput, "syslog", "syslog"), in.Address)
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", caCert, caKey)
	cases := []struct {
		name    string
		edit    func(*Syslog)
		wantKey string
	}{
		{name: "defaults", edit: func(*Syslog) {}},
		{name: "udp", edit: func(s *Syslog) { s.Protocol = "udp" }},
		{name: "tls", edit: func(s *Syslog) {
			s.Protocol, s.TLSCert, s.TLSKey = "tls", filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
		}},
		{name: "tls with ca", edit: func(s *Syslog) {
			s.Protocol, s.TLSCert, s.TLSKey = "tls", filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
			s.TLSCA = filepath.Join(dir, "ca.pem")
		}},
		{name: "unknown protocol", edit: func(s *Syslog) { s.Protocol = "unix" }, wantKey: "protocol"},
		{name: "no address", edit: func(s *Syslog) { s.Address = "" }, wantKey: "address"},
		{name: "address without port", edit: func(s *Syslog) { s.Address = "localhost" }, wantKey: "address"},
		{name: "unknown framing", edit: func(s *Syslog) { s.Framing = "newline" }, wantKey: "framing"},
		{name: "unknown rfc", edit: func(s *Syslog) { s.RFC = "rfc5424" }, wantKey: "rfc"},
		{name: "zero max_message_bytes", edit: func(s *Syslog) { s.MaxMessageBytes = 0 }, wantKey: "max_message_bytes"},
		{name: "zero max_connections", edit: func(s *Syslog) { s.MaxConnections = 0 }, wantKey: "max_connections"},
		{name: "tls without cert", edit: func(s *Syslog) { s.Protocol = "tls" }, wantKey: "tls_cert"},
		{name: "tls without key", edit: func(s *Syslog) {
			s.Protocol, s.TLSCert = "tls", filepath.Join(dir, "server.pem")
		}, wantKey: "tls_key"},
		{name: "tls cert missing", edit: func(s *Syslog) {
			s.Protocol, s.TLSCert, s.TLSKey = "tls", filepath.Join(dir, "nope.pem"), filepath.Join(dir, "server.key")
		}, wantKey: "tls_cert"},
		{name: "tls_ca not PEM", edit: func(s *Syslog) {
			s.Protocol, s.TLSCert, s.TLSKey = "tls", filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
			s.TLSCA = filepath.Join(dir, "server.key")
		}, wantKey: "tls_ca"},
		{name: "tls key without tls", edit: func(s *Syslog) { s.TLSCert = "x.pem" }, wantKey: "tls_cert"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newDefault("tcp")
			tc.edit(in)
			err := in.Validate()
			var ke *pipeline.KeyError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantKey != "" && (!errors.As(err, &ke) || ke.Key != tc.wantKey):
				t.Errorf("Validate = %v, want an error on key %q", err, tc.wantKey)
			}
		})
	}
}

func TestDetectsRFC5424(t *testing.T) {
	for raw, want := range map[string]bool{
		"<13>1 2003-10-11T22:14:15Z h a - - - m": true,
		"<165>1 - - - - - -":                     true,
		"<0>12 x":                                true,
		"<13>Oct 11 22:14:15 h a: m":             false,
		"<13>2003-10-11T22:14:15Z h a: m":        false,
		"<13>0 x":                                false,
		"<13>1x":                                 false,
		"hello":                                  false,
		"":                                       false,
	} {
		if got := is5424([]byte(raw)); got != want {
			t.Errorf("is5424(%q) = %v, want %v", raw, got, want)
		}
	}
}

func TestRFC3164TimestampGetsTheNearestYear(t *testing.T) {
	stamp := func(s string) time.Time {
		ts, err := time.Parse(time.Stamp, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	for _, tc := range []struct {
		stamp    string
		received time.Time
		want     time.Time
	}{
		{"Jun  5 10:00:00", time.Date(2025, 6, 5, 10, 0, 1, 0, time.UTC), time.Date(2025, 6, 5, 10, 0, 0, 0, time.UTC)},
		{"Dec 31 23:59:59", time.Date(2026, 1, 1, 0, 0, 2, 0, time.UTC), time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"Jan  1 00:00:01", time.Date(2025, 12, 31, 23, 59, 58, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)},
	} {
		if got := timestamp(stamp(tc.stamp), tc.received); !got.Equal(tc.want) {
			t.Errorf("timestamp(%q, received %v) = %v, want %v", tc.stamp, tc.received, got, tc.want)
		}
	}
}

// TestSample keeps sample.toml and the code in step.
func TestSample(t *testing.T) { pipelinetest.CheckSample(t, pipeline.KindInput, "syslog") }

func newDefault(protocol string) *Syslog {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "syslog")
	in := reg.New().(*Syslog)
	in.Protocol = protocol
	in.Address = "127.0.0.1:0"
	return in
}

// start initialises and runs the input as the runtime does; stop ends it and
// returns what Run returned. The test's cleanup stops it too.
func start(t *testing.T, in *Syslog) (env *pipeline.Env, out *pipelinetest.Collector, stop func() error) {
	t.Helper()
	env, out = pipelinetest.Env(pipeline.KindInput, "syslog", "syslog"), &pipelinetest.Collector{MessagesOnly: true}
	return env, out, pipelinetest.StartInput(t, in, env, out)
}

// runLogger runs util-linux's logger against addr, with stdin as its input
// when not empty. Without logger the test is skipped, except under CI.
func runLogger(t *testing.T, addr net.Addr, stdin string, args ...string) {
	t.Helper()
	if _, err := os.Stat(loggerPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is needed under CI (install util-linux, bsdutils on Debian): %v", loggerPath, err)
		}
		t.Skipf("SKIPPED: %s not found (install util-linux, bsdutils on Debian, to run this test): %v", loggerPath, err)
	}
	_, port, _ := net.SplitHostPort(addr.String())
	cmd := exec.Command(loggerPath, append([]string{"--server", "127.0.0.1", "--port", port}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// check compares m with w. A field whose wanted value is nil must be there,
// with any value.
func check(t *testing.T, m *pipeline.Message, w want) {
	t.Helper()
	if m.Type != "syslog" {
		t.Errorf("Type = %q, want syslog", m.Type)
	}
	if string(m.Payload) != w.payload {
		t.Errorf("Payload = %q, want %q", m.Payload, w.payload)
	}
	if m.Severity != w.severity {
		t.Errorf("Severity = %d, want %d", m.Severity, w.severity)
	}
	if m.Hostname != w.hostname {
		t.Errorf("Hostname = %q, want %q", m.Hostname, w.hostname)
	}
	if m.Logger != w.logger {
		t.Errorf("Logger = %q, want %q", m.Logger, w.logger)
	}
	if m.Pid != w.pid {
		t.Errorf("Pid = %d, want %d", m.Pid, w.pid)
	}
	for name, v := range w.fields {
		f := m.Field(name)
		switch {
		case f == nil:
			t.Errorf("no field %q", name)
		case v != nil && f.Value() != v:
			t.Errorf("field %q = %#v, want %#v", name, f.Value(), v)
		}
	}
	for _, f := range m.Fields {
		if _, ok := w.fields[f.Name]; !ok {
			t.Errorf("unexpected field %q = %#v", f.Name, f.Value())
		}
	}
}

func sendRaw(t *testing.T, protocol string, addr net.Addr, s string) {
	t.Helper()
	c, err := net.Dial(protocol, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

func sendTLS(t *testing.T, addr net.Addr, cfg *tls.Config, s string) {
	t.Helper()
	c, err := tls.Dial("tcp", addr.String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// newCert writes dir/name.pem and dir/name.key: a CA when parent is nil,
// else a certificate for localhost and 127.0.0.1 signed by parent.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		parent, parentKey = tmpl, key
	} else {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+".key", "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
