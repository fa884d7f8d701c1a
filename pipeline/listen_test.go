package pipeline_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/interoceptor/interoceptor/pipeline"
)

// An embedded server that listens beyond loopback without user/password or
// token would let anyone who reaches the port inject messages and read every
// subject: check refuses it, at the key's line, unless the config says
// allow_unauthenticated = true.
func TestOpenListenWithoutCredentialsFailsCheck(t *testing.T) {
	const advice = `anyone who reaches it can publish and read every subject; set user and password (or token), or listen on 127.0.0.1, or set allow_unauthenticated = true to accept that`
	refused := []struct{ nats, want string }{
		{`listen = "0.0.0.0:4222"`, `p.toml:2: nats: key "listen": "0.0.0.0:4222" listens on every interface, and the embedded server asks no credentials: `},
		{`listen = ":4222"`, `p.toml:2: nats: key "listen": ":4222" listens on every interface, and the embedded server asks no credentials: `},
		{`listen = "[::]:4222"`, `p.toml:2: nats: key "listen": "[::]:4222" listens on every interface, and the embedded server asks no credentials: `},
		{`listen = "192.0.2.10:4222"`, `p.toml:2: nats: key "listen": "192.0.2.10:4222" is not a loopback address, and the embedded server asks no credentials: `},
		{`listen = "nowhere.invalid:4222"`, `p.toml:2: nats: key "listen": "nowhere.invalid:4222" names a host that does not resolve here, so it may not be loopback, and the embedded server asks no credentials: `},
		{"user = \"agents\"\nlisten = \"0.0.0.0:4222\"", `p.toml:3: nats: key "listen": "0.0.0.0:4222" listens on every interface, and user has no password: `},
		{`leafnode_listen = "0.0.0.0:7422"`, `p.toml:2: nats: key "leafnode_listen": "0.0.0.0:7422" listens on every interface, and the embedded server asks no credentials: `},
		{"listen = \"0.0.0.0:4222\"\nallow_unauthenticated = false", `p.toml:2: nats: key "listen": "0.0.0.0:4222" listens on every interface, and the embedded server asks no credentials: `},
	}
	for _, c := range refused {
		_, err := pipeline.ParseConfig("p.toml", "[nats]\n"+c.nats+"\n[[inputs.generator]]\npublish = \"a\"\n")
		if want := c.want + advice; err == nil || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", c.nats, err, want)
		}
	}
	for _, ok := range []string{
		`listen = "127.0.0.1:4222"`,
		`listen = "127.0.0.2:4222"`,
		`listen = "[::1]:4222"`,
		`listen = "localhost:4222"`,
		`leafnode_listen = "127.0.0.1:7422"`,
		"listen = \"0.0.0.0:4222\"\nleafnode_listen = \"0.0.0.0:7422\"\nuser = \"agents\"\npassword = \"s3cret\"",
		"listen = \"0.0.0.0:4222\"\ntoken = \"s3cret\"",
		"listen = \"0.0.0.0:4222\"\nallow_unauthenticated = true",
		"leafnode_listen = \"0.0.0.0:7422\"\nallow_unauthenticated = true",
		"url = \"nats://10.0.0.1:4222\"", // no embedded server: nothing listens
	} {
		if _, err := pipeline.ParseConfig("p.toml", "[nats]\n"+ok+"\n[[inputs.generator]]\npublish = \"a\"\n"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// allow_unauthenticated = true is what it says: the pipeline runs, and a
// client without credentials reaches it on a non-loopback listen address.
func TestAllowUnauthenticatedListens(t *testing.T) {
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skipf("cannot listen on every interface here: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	startPipeline(t, fmt.Sprintf(`
[agent]
data_dir = %q
admin_addr = "off"
[nats]
listen = "0.0.0.0:%d"
allow_unauthenticated = true
[[inputs.generator]]
publish = "open.gen"
rate = 100
`, t.TempDir(), port))
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("connect without credentials: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("open.gen")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("no message from the open server: %v", err)
	}
}

// The [nats] errors found once every file is loaded carry the file and
// line of the key, as a plugin's do.
func TestNatsErrorsNameTheirLine(t *testing.T) {
	_, err := pipeline.ParseConfig("p.toml", `[[inputs.generator]]
publish = "a"

[nats]
url = "nats://c:4222"
leafnode_listen = "0.0.0.0:7422"
`)
	if want := `p.toml:6: nats: key "leafnode_listen": needs the embedded server: url must be empty`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}
