package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
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

// adminTokenEnv holds the admin API's token for the commands that call it,
// when -config does not give it.
const adminTokenEnv = "INTEROCEPTOR_ADMIN_TOKEN"

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("reload", "", stderr)
	admin := fs.String("admin", pipeline.DefaultAdminAddr, "the pipeline's admin `address` (its agent.admin_addr), or its URL (https://host:port)")
	config := fs.String("config", "", "take the admin address, credentials and TLS from this pipeline `file` instead of -admin")
	cacert := fs.String("cacert", "", "trust this CA (PEM `file`) for an https admin API")
	plugin := fs.String("plugin", "", "reload only this plugin's script and own table (its name, or e.g. filters.lua[cpu]); default: the whole config")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: interoceptor reload [flags]\n\nAsk a running pipeline to reload, through its admin API: it loads its config files again\n"+
			"and applies what changed (plugins added, removed or changed; Lua scripts), or, if the\n"+
			"new config has errors, lists them and keeps running as it was. SIGHUP does the same.\n"+
			"The token comes from -config (agent.admin_token, or admin_user and admin_password) or from $%s.\n\nFlags:\n", adminTokenEnv)
		fs.PrintDefaults()
	}
	if code, done := parse(fs, args); done {
		return code
	}
	c, err := newAdminClient(*admin, *config, *cacert)
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor reload:", err)
		return 1
	}
	path := "api/reload"
	if *plugin != "" {
		path += "?plugin=" + url.QueryEscape(*plugin)
	}
	status, body, err := c.do(http.MethodPost, path)
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor reload:", err)
		return 1
	}
	var results []pipeline.ReloadResult
	if err := json.Unmarshal(body, &results); err != nil {
		fmt.Fprintf(stderr, "interoceptor reload: %s: %s\n", status, adminErrorText(body))
		return 1
	}
	code := 0
	for _, r := range results {
		if r.OK {
			action := r.Action
			if action == "" {
				action = pipeline.ActionReloaded
			}
			fmt.Fprintf(stdout, "%s: %s\n", r.Plugin, action)
			if r.Warning != "" {
				fmt.Fprintf(stdout, "%s: not applied: %s\n", r.Plugin, r.Warning)
			}
		} else {
			fmt.Fprintf(stdout, "%s: FAILED, the previous version keeps running: %s\n", r.Plugin, r.Error)
			code = 1
		}
	}
	if len(results) == 0 {
		fmt.Fprintln(stdout, "no plugin can be reloaded")
	}
	return code
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
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set(pipeline.AdminRequestHeader, "cli")
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", nil, err
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return "", nil, fmt.Errorf("%s: %s (give -config with the pipeline's file, or set %s)", resp.Status, adminErrorText(body), adminTokenEnv)
	case http.StatusForbidden, http.StatusMisdirectedRequest:
		return "", nil, errors.New(resp.Status + ": " + adminErrorText(body))
	}
	return resp.Status, body, nil
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
