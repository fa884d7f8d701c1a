package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/internal/mailpittest"
	"github.com/interoceptor/interoceptor/internal/testtool"
	"github.com/interoceptor/interoceptor/pipeline"
)

func newEmail(t *testing.T, c *EmailConfig) sender {
	t.Helper()
	senders, err := newSenders(&ReceiverConfig{Name: "ops", Email: c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return senders[0]
}

func send(t *testing.T, s sender, n *Notification) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Send(ctx, n)
}

func addresses(as []mailpittest.Address) string {
	var out []string
	for _, a := range as {
		out = append(out, a.Address)
	}
	return strings.Join(out, ",")
}

// A notification is one mail into a real SMTP server: its subject, sender,
// recipients and a text body that lists each alert; the all-clear is a
// second mail.
func TestEmailIntoMailpit(t *testing.T) {
	mp := mailpittest.New(t, mailpittest.Options{})
	s := newEmail(t, &EmailConfig{SMTP: mp.SMTP, From: "Interoceptor <alerts@example.com>",
		To: []string{"ops@example.com", "oncall@example.com"}, Cc: []string{"boss@example.com"}})

	if err := send(t, s, firingGroup()); err != nil {
		t.Fatal(err)
	}
	got := mp.WaitMessages(t, 1, 10*time.Second)[0]
	if want := "[FIRING:2] [ESCALATION 1] HighCPU (severity=critical)"; got.Subject != want {
		t.Errorf("subject %q, want %q", got.Subject, want)
	}
	if got.From.Address != "alerts@example.com" || got.From.Name != "Interoceptor" {
		t.Errorf("from %+v", got.From)
	}
	if to, cc := addresses(got.To), addresses(got.Cc); to != "ops@example.com,oncall@example.com" || cc != "boss@example.com" {
		t.Errorf("to %q cc %q", to, cc)
	}
	for _, want := range []string{"2 alerts firing, 1 resolved", "[FIRING] HighCPU: CPU at web-1 is high", "[FIRING] HighCPU: CPU at web-2 is high",
		"[RESOLVED] HighCPU: CPU at web-3 is high", "Values: usage=97.5", "dashboard: https://grafana.example.com/d/cpu?var-host=web-1",
		"See and acknowledge: http://agent-1:8080/api/alerts"} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, got.Text)
		}
	}
	if !strings.Contains(got.HTML, `href="https://grafana.example.com/d/cpu?var-host=web-1"`) {
		t.Errorf("html lacks the dashboard link:\n%s", got.HTML)
	}

	if err := send(t, s, allClear()); err != nil {
		t.Fatal(err)
	}
	clear := mp.WaitMessages(t, 2, 10*time.Second)[1]
	if clear.Subject != "[RESOLVED] HighCPU (severity=critical)" || !strings.Contains(clear.Text, "All clear: HighCPU (severity=critical) resolved (3 alerts)") {
		t.Errorf("all-clear mail: %q\n%s", clear.Subject, clear.Text)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailpit test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// A server that requires STARTTLS and a login takes the mail of a sender
// that starts TLS and logs in; a wrong password is an error that is not
// retried and does not show the password, as is a certificate that does
// not verify; a server that does not answer is retried.
func TestEmailSTARTTLSAndAuth(t *testing.T) {
	cert, key := writeCert(t)
	mp := mailpittest.New(t, mailpittest.Options{TLSCert: cert, TLSKey: key, RequireSTARTTLS: true,
		Users: map[string]string{"alerts": "right-password"}})
	conf := func(password string, skipVerify bool) *EmailConfig {
		return &EmailConfig{SMTP: mp.SMTP, From: "alerts@example.com", To: []string{"ops@example.com"}, STARTTLS: "mandatory",
			InsecureSkipVerify: skipVerify, Username: "alerts", Password: password, Hello: "agent-1.example.com"}
	}

	if err := send(t, newEmail(t, conf("right-password", true)), firingGroup()); err != nil {
		t.Fatal(err)
	}
	if got := mp.WaitMessages(t, 1, 10*time.Second)[0]; got.Subject != "[FIRING:2] [ESCALATION 1] HighCPU (severity=critical)" {
		t.Errorf("subject %q", got.Subject)
	}

	err := send(t, newEmail(t, conf("wrong-password", true)), firingGroup())
	if err == nil || pipeline.IsRetryable(err) || strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("wrong password: %v (retryable %v), want an error that is not retried and hides the password", err, pipeline.IsRetryable(err))
	}
	t.Logf("wrong password: %v", err)

	err = send(t, newEmail(t, conf("right-password", false)), firingGroup())
	if err == nil || pipeline.IsRetryable(err) {
		t.Errorf("self-signed certificate, verified: %v (retryable %v), want an error that is not retried", err, pipeline.IsRetryable(err))
	}
	t.Logf("unverified certificate: %v", err)

	noTLS := conf("right-password", true)
	noTLS.STARTTLS = "none"
	if err := send(t, newEmail(t, noTLS), firingGroup()); err == nil {
		t.Errorf("a server that requires STARTTLS took a mail without it")
	}

	port, err := testtool.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	down := conf("right-password", true)
	down.SMTP = "127.0.0.1:" + strconv.Itoa(port)
	if err := send(t, newEmail(t, down), firingGroup()); err == nil || !pipeline.IsRetryable(err) {
		t.Errorf("server down: %v, want a retryable error", err)
	}
	mp.WaitMessages(t, 1, time.Second) // still only the first
}
