package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/interoceptor/interoceptor/pipeline"
)

// EmailConfig is a receiver's [outputs.notify.receivers.email] table: one
// mail per notification, through an SMTP server.
type EmailConfig struct {
	SMTP     string   `toml:"smtp"` // host:port; default "localhost:25"
	From     string   `toml:"from"`
	To       []string `toml:"to"`
	Cc       []string `toml:"cc"`
	Username string   `toml:"username"`
	Password string   `toml:"password" secret:"true"`
	// STARTTLS is "opportunistic" (the default: when the server offers
	// it), "mandatory" (fail without it) or "none".
	STARTTLS string `toml:"starttls"`
	// TLS speaks TLS from the first byte (SMTPS, port 465) instead of
	// STARTTLS.
	TLS                bool              `toml:"tls"`
	InsecureSkipVerify bool              `toml:"insecure_skip_verify"`
	Hello              string            `toml:"hello"` // the EHLO name; default the host's name
	Timeout            pipeline.Duration `toml:"timeout"`
	// Subject, Text and HTML are templates (text/template, html/template
	// for HTML) of the notification; empty: the defaults email.subject,
	// email.text and email.html.
	Subject string `toml:"subject"`
	Text    string `toml:"text"`
	HTML    string `toml:"html"`

	host          string
	port          int
	subject, text *template.Template
	html          *htmltemplate.Template
}

// defaultSMTP is the local mail server, the usual relay of a host.
const defaultSMTP = "localhost:25"

var starttlsPolicies = map[string]mail.TLSPolicy{
	"opportunistic": mail.TLSOpportunistic,
	"mandatory":     mail.TLSMandatory,
	"none":          mail.NoTLS,
}

func (c *EmailConfig) validate() error {
	var errs []error
	if c.SMTP == "" {
		c.SMTP = defaultSMTP
	}
	host, port, err := net.SplitHostPort(c.SMTP)
	p, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
		errs = append(errs, pipeline.InvalidKey("smtp", "must be host:port, as \"smtp.example.com:587\"; got %q", c.SMTP))
	}
	c.host, c.port = host, p
	if c.From == "" {
		errs = append(errs, pipeline.MissingKey("from"))
	} else if _, err := netmail.ParseAddress(c.From); err != nil {
		errs = append(errs, pipeline.InvalidKey("from", "not a mail address: %q (%v)", c.From, err))
	}
	if len(c.To) == 0 {
		errs = append(errs, pipeline.MissingKey("to"))
	}
	for key, list := range map[string][]string{"to": c.To, "cc": c.Cc} {
		for _, a := range list {
			if _, err := netmail.ParseAddress(a); err != nil {
				errs = append(errs, pipeline.InvalidKey(key, "not a mail address: %q (%v)", a, err))
			}
		}
	}
	if c.STARTTLS == "" {
		c.STARTTLS = "opportunistic"
	}
	if _, ok := starttlsPolicies[c.STARTTLS]; !ok {
		errs = append(errs, pipeline.InvalidKey("starttls", "must be \"opportunistic\", \"mandatory\" or \"none\"; got %q", c.STARTTLS))
	}
	if c.TLS && c.STARTTLS == "none" {
		errs = append(errs, pipeline.InvalidKey("starttls", "is \"none\" but tls = true: implicit TLS needs no STARTTLS, leave starttls out"))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, pipeline.MissingKey("username"))
	}
	if c.Username != "" && c.Password == "" {
		errs = append(errs, pipeline.MissingKey("password"))
	}
	if c.subject, err = textTemplate("email.subject", c.Subject); err != nil {
		errs = append(errs, pipeline.InvalidKey("subject", "template: %v", err))
	}
	if c.text, err = textTemplate("email.text", c.Text); err != nil {
		errs = append(errs, pipeline.InvalidKey("text", "template: %v", err))
	}
	if c.html, err = htmlTemplate("email.html", c.HTML); err != nil {
		errs = append(errs, pipeline.InvalidKey("html", "template: %v", err))
	}
	return errors.Join(errs...)
}

// emailSender sends one mail per notification, with a plain text body and
// its HTML alternative. Each Send opens its own connection.
type emailSender struct {
	c   *EmailConfig
	log *slog.Logger
}

var _ sender = (*emailSender)(nil)

func newEmailSender(c *EmailConfig, log *slog.Logger) *emailSender {
	return &emailSender{c: c, log: log}
}

func (s *emailSender) Describe() string {
	return fmt.Sprintf("email to %s via %s", strings.Join(s.c.To, ", "), s.c.SMTP)
}

func (s *emailSender) Send(ctx context.Context, n *Notification) error {
	msg, err := s.message(n)
	if err != nil {
		return err
	}
	client, err := mail.NewClient(s.c.host, s.options()...)
	if err != nil {
		return fmt.Errorf("email via %s: %w", s.c.SMTP, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		err = fmt.Errorf("email via %s: %w", s.c.SMTP, err)
		if smtpRetryable(err) {
			return pipeline.Retryable(err)
		}
		return err
	}
	return nil
}

func (s *emailSender) options() []mail.Option {
	c := s.c
	timeout := time.Duration(c.Timeout)
	if timeout == 0 {
		timeout = defaultTimeout
	}
	opts := []mail.Option{
		mail.WithPort(c.port),
		mail.WithTimeout(timeout),
		mail.WithTLSConfig(&tls.Config{ServerName: c.host, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}), //nolint:gosec // the user's choice, for a test server
	}
	if c.TLS {
		opts = append(opts, mail.WithSSL())
	} else {
		opts = append(opts, mail.WithTLSPolicy(starttlsPolicies[c.STARTTLS]))
	}
	if c.Hello != "" {
		opts = append(opts, mail.WithHELO(c.Hello))
	}
	if c.Username != "" {
		// The strongest mechanism the server offers; PLAIN and LOGIN only
		// over TLS (or to localhost).
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(c.Username), mail.WithPassword(c.Password))
	}
	return opts
}

// message renders the mail of n.
func (s *emailSender) message(n *Notification) (*mail.Msg, error) {
	subject, err := execute(s.c.subject, n)
	if err != nil {
		return nil, fmt.Errorf("email subject template: %w", err)
	}
	text, err := execute(s.c.text, n)
	if err != nil {
		return nil, fmt.Errorf("email text template: %w", err)
	}
	html, err := execute(s.c.html, n)
	if err != nil {
		return nil, fmt.Errorf("email html template: %w", err)
	}
	m := mail.NewMsg()
	if err := m.From(s.c.From); err != nil {
		return nil, fmt.Errorf("email from: %w", err)
	}
	if err := m.To(s.c.To...); err != nil {
		return nil, fmt.Errorf("email to: %w", err)
	}
	if len(s.c.Cc) > 0 {
		if err := m.Cc(s.c.Cc...); err != nil {
			return nil, fmt.Errorf("email cc: %w", err)
		}
	}
	// A subject is one line: a template's newlines would end the header.
	m.Subject(strings.Join(strings.Fields(subject), " "))
	if n.At.IsZero() {
		m.SetDate()
	} else {
		m.SetDateWithValue(n.At)
	}
	m.SetMessageID()
	m.SetUserAgent("interoceptor")
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	return m, nil
}

// smtpRetryable tells a passing trouble (the network, a timeout, a 4xx
// reply) from a refusal that will not change by trying again (a 5xx reply:
// wrong password, unknown recipient; a certificate that does not verify).
func smtpRetryable(err error) bool {
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.IsTemp()
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code < 500
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return false
	}
	return true
}
