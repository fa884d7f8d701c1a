// Package mailpittest runs a real mailpit for tests: an SMTP server that
// keeps what it receives and shows it through its HTTP API. It is started
// on free loopback ports with its database in a temporary directory, and
// installed with `go install github.com/axllent/mailpit@v1.33.1` (as `make
// tools` does) when it is not there yet.
//
// A test that needs mailpit says so loudly: when it cannot be installed or
// started the test is skipped with the reason, except under CI (CI set in
// the environment), where it fails.
package mailpittest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/internal/testtool"
)

// Version is the mailpit release the tests run (the Makefile's).
const Version = "v1.33.1"

// Tool is mailpit, found or installed by testtool.
var Tool = &testtool.Tool{Name: "mailpit", Package: "github.com/axllent/mailpit", Version: Version, Env: "MAILPIT"}

// Options change how mailpit takes mail. The zero value takes any mail
// without TLS or authentication.
type Options struct {
	// TLSCert and TLSKey are PEM files: mailpit offers STARTTLS.
	TLSCert, TLSKey string
	// RequireSTARTTLS refuses mail from a client that did not start TLS.
	RequireSTARTTLS bool
	// Users, if not empty, are the only accepted logins (user → password);
	// a client must authenticate.
	Users map[string]string
	// AuthAcceptAny accepts any login, and none.
	AuthAcceptAny bool
	// AuthAllowInsecure allows PLAIN and LOGIN without TLS.
	AuthAllowInsecure bool
}

// Server is a running mailpit.
type Server struct {
	SMTP string // 127.0.0.1:PORT
	URL  string // http://127.0.0.1:PORT, the web UI and API

	proc *testtool.Process
}

// Start starts mailpit with its database in dir and waits until its API
// answers.
func Start(dir string, opts Options) (*Server, error) {
	bin, err := Tool.Path()
	if err != nil {
		return nil, err
	}
	smtpPort, err := testtool.FreePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := testtool.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{SMTP: "127.0.0.1:" + strconv.Itoa(smtpPort), URL: "http://127.0.0.1:" + strconv.Itoa(httpPort)}
	args := []string{"--database", filepath.Join(dir, "mailpit.db"), "--smtp", s.SMTP, "--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--disable-version-check", "--smtp-disable-rdns"}
	if opts.TLSCert != "" {
		args = append(args, "--smtp-tls-cert", opts.TLSCert, "--smtp-tls-key", opts.TLSKey)
	}
	if opts.RequireSTARTTLS {
		args = append(args, "--smtp-require-starttls")
	}
	if len(opts.Users) > 0 {
		var b bytes.Buffer
		for u, p := range opts.Users {
			fmt.Fprintf(&b, "%s:%s\n", u, p)
		}
		file := filepath.Join(dir, "smtp-users")
		if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--smtp-auth-file", file)
	}
	if opts.AuthAcceptAny {
		args = append(args, "--smtp-auth-accept-any")
	}
	if opts.AuthAllowInsecure {
		args = append(args, "--smtp-auth-allow-insecure")
	}
	s.proc, err = testtool.StartProcess(bin, args, s.URL+"/readyz", http.StatusOK)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Log returns what mailpit printed.
func (s *Server) Log() string { return s.proc.Log() }

// Stop stops mailpit.
func (s *Server) Stop() { s.proc.Stop() }

// New starts a mailpit for a test and stops it when the test ends.
// Without mailpit it skips the test, loudly; under CI it fails it.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(t.TempDir(), opts)
	if err != nil {
		testtool.Unavailable(t, "mailpit "+Version, err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("mailpit log:\n%s", testtool.LastLines(s.Log(), 30))
		}
	})
	return s
}

// Address is a mailbox as mailpit shows it.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Message is one received mail: its envelope and headers as mailpit
// parsed them, and its bodies.
type Message struct {
	ID      string    `json:"ID"`
	From    Address   `json:"From"`
	To      []Address `json:"To"`
	Cc      []Address `json:"Cc"`
	Bcc     []Address `json:"Bcc"`
	Subject string    `json:"Subject"`
	Date    time.Time `json:"Date"`
	Text    string    `json:"Text"`
	HTML    string    `json:"HTML"`
}

// Messages returns every mail received, oldest first, each read whole.
func (s *Server) Messages() ([]Message, error) {
	var list struct {
		Messages []struct {
			ID string `json:"ID"`
		} `json:"messages"`
	}
	if err := s.get("/api/v1/messages?limit=1000", &list); err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(list.Messages))
	// The list is newest first.
	for i := len(list.Messages) - 1; i >= 0; i-- {
		var m Message
		if err := s.get("/api/v1/message/"+list.Messages[i].ID, &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// WaitMessages waits until mailpit holds n mails, and returns them oldest
// first; it fails the test if that takes longer than timeout or more come.
func (s *Server) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs, err := s.Messages()
		switch {
		case err == nil && len(msgs) > n:
			t.Fatalf("mailpit holds %d mails, want %d", len(msgs), n)
		case err == nil && len(msgs) == n:
			return msgs
		case time.Now().After(deadline):
			t.Fatalf("timed out after %v waiting for %d mails in mailpit: got %d (%v)", timeout, n, len(msgs), err)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// DeleteAll deletes every mail received so far.
func (s *Server) DeleteAll() error {
	req, err := http.NewRequest(http.MethodDelete, s.URL+"/api/v1/messages", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("DELETE /api/v1/messages: %s", resp.Status)
	}
	return nil
}

func (s *Server) get(path string, v any) error {
	resp, err := http.Get(s.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}
