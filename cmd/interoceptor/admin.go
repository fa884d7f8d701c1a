package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The admin API client of the commands that talk to a running pipeline
// (reload, alerts).

// adminTokenEnv holds the admin API's token for the commands that call it,
// when -config does not give it.
const adminTokenEnv = "INTEROCEPTOR_ADMIN_TOKEN"

// adminFlags are the flags that find a pipeline's admin API.
type adminFlags struct{ admin, config, cacert *string }

func addAdminFlags(fs *flag.FlagSet) adminFlags {
	return adminFlags{
		admin:  fs.String("admin", pipeline.DefaultAdminAddr, "the pipeline's admin `address` (its agent.admin_addr), or its URL (https://host:port)"),
		config: fs.String("config", "", "take the admin address, credentials and TLS from this pipeline `file` instead of -admin"),
		cacert: fs.String("cacert", "", "trust this CA (PEM `file`) for an https admin API"),
	}
}

// client is the admin API the flags name.
func (f adminFlags) client() (*adminClient, error) {
	return newAdminClient(*f.admin, *f.config, *f.cacert)
}

// adminClient calls a pipeline's admin API with its credentials.
type adminClient struct {
	base      string // "http://127.0.0.1:8377/"
	token     string
	user, pwd string
	http      *http.Client
}

// newAdminClient finds the admin API and its credentials: in the pipeline
// file when config is set, else at addr with the token from adminTokenEnv.
func newAdminClient(addr, config, cacert string) (*adminClient, error) {
	c := &adminClient{token: os.Getenv(adminTokenEnv)}
	scheme := "http"
	var roots *x509.CertPool
	if config != "" {
		a, err := pipeline.LoadAgentConfig(config)
		if err != nil {
			return nil, err
		}
		if a.AdminAddr == "" || a.AdminAddr == "off" {
			return nil, fmt.Errorf("%s: its admin API is off (agent.admin_addr)", config)
		}
		host, port, err := net.SplitHostPort(a.AdminAddr)
		if err != nil || port == "0" {
			return nil, fmt.Errorf("%s: agent.admin_addr %q names no fixed port: give the running pipeline's address with -admin", config, a.AdminAddr)
		}
		switch host {
		case "", "0.0.0.0", "::":
			host = "localhost" // listening everywhere, this host included
		}
		addr = net.JoinHostPort(host, port)
		if a.AdminToken != "" {
			c.token = a.AdminToken
		}
		c.user, c.pwd = a.AdminUser, a.AdminPassword
		if a.AdminTLSCert != "" {
			scheme = "https"
			// The server's own certificate, so that a self-signed one works.
			if roots, err = trust(roots, "agent.admin_tls_cert", a.AdminTLSCert); err != nil {
				return nil, err
			}
		}
	} else if u, err := url.Parse(addr); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		scheme, addr = u.Scheme, u.Host
	}
	if cacert != "" {
		var err error
		if roots, err = trust(roots, "-cacert", cacert); err != nil {
			return nil, err
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	c.base = scheme + "://" + addr + "/"
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	return c, nil
}

// trust adds the certificates of the PEM file at path to roots, or to the
// system's pool when roots is nil, and returns the pool; errors name what
// gave the path (key).
func trust(roots *x509.CertPool, key, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if roots == nil {
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", key, path)
	}
	return roots, nil
}

// do sends one request and returns the status line and body; a refusal
// (401, 403, 421) is an error that says why.
func (c *adminClient) do(method, path string) (string, []byte, error) {
	return c.doBody(method, path, nil)
}

// doBody is do with a JSON body (none when nil).
func (c *adminClient) doBody(method, path string, body []byte) (string, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set(pipeline.AdminRequestHeader, "cli")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.pwd)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", nil, err
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return "", nil, fmt.Errorf("%s: %s (give -config with the pipeline's file, or set %s)", resp.Status, adminErrorText(respBody), adminTokenEnv)
	case http.StatusForbidden, http.StatusMisdirectedRequest:
		return "", nil, errors.New(resp.Status + ": " + adminErrorText(respBody))
	}
	return resp.Status, respBody, nil
}

// adminErrorText is the "error" of an admin API error body, or the body.
func adminErrorText(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(body))
}
