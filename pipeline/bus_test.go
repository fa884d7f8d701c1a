package pipeline_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The embedded server's listen address is protected by [nats] user and
// password: a client without them is refused, one with them (as the CLI
// tools build it from the same table) gets the pipeline's messages.
func TestEmbeddedListenRequiresCredentials(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
listen = %q
user = "agent"
password = "s3cret"
[[inputs.generator]]
publish = "auth.gen"
rate = 100
`, dir, addr))
	if _, err := nats.Connect("nats://" + addr); err == nil {
		t.Fatal("connected without credentials")
	}
	opts, err := pipeline.ClientOptions(pipeline.NatsConfig{URL: "nats://" + addr, User: "agent", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+addr, opts...)
	if err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("auth.gen")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var dec pipeline.BatchDecoder
	batch, err := dec.Decode(msg.Data)
	if err != nil || len(batch) == 0 || batch[0].Type != "log" {
		t.Fatalf("decoded %d messages, err %v", len(batch), err)
	}
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "interoceptor test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// With tls_cert and tls_key the embedded server's listen address speaks TLS;
// a second pipeline reaches it as an external server with tls_ca.
func TestTLSBetweenTwoPipelines(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeTestCert(t, dir)
	addr := freeAddr(t)
	out := filepath.Join(dir, "out.log")
	startPipeline(t, fmt.Sprintf(`
[agent]
name = "central"
data_dir = %q
admin_addr = "off"
[nats]
listen = %q
tls_cert = %q
tls_key = %q
[[outputs.file]]
subscribe = ["edge.>"]
external = true
path = %q
`, filepath.Join(dir, "central"), addr, cert, key, out))
	if _, err := nats.Connect("nats://" + addr); err == nil {
		t.Fatal("a plain-text client was accepted by a TLS listener")
	}
	startPipeline(t, fmt.Sprintf(`
[agent]
name = "edge"
data_dir = %q
admin_addr = "off"
[nats]
url = "tls://%s"
tls_ca = %q
[[inputs.generator]]
publish = "edge.gen"
rate = 200
`, filepath.Join(dir, "edge"), addr, cert))
	pipelinetest.WaitUntil(t, 10*time.Second, "messages from the edge over TLS", linesIn(out, 20))
}
