package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"text/template"

	"github.com/interoceptor/interoceptor/pipeline"
)

// TwilioConfig is a receiver's [outputs.notify.receivers.twilio] table: an
// SMS per notification and recipient, through Twilio's Messages API (or a
// service that speaks it).
type TwilioConfig struct {
	AccountSID string   `toml:"account_sid"`
	AuthToken  string   `toml:"auth_token" secret:"true"`
	From       string   `toml:"from"` // a number of the account, "+15005550006"
	To         []string `toml:"to"`   // E.164 numbers
	// URL is the API's base; default "https://api.twilio.com".
	URL string `toml:"url" secret:"url"`
	// Body is a template of the text; empty: the default sms.body. It is
	// cut to 1,600 characters, Twilio's most.
	Body    string            `toml:"body"`
	Timeout pipeline.Duration `toml:"timeout"`

	body *template.Template
}

const (
	defaultTwilioURL = "https://api.twilio.com"
	maxSMSChars      = 1600
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

func (c *TwilioConfig) validate() error {
	var errs []error
	if c.AccountSID == "" {
		errs = append(errs, pipeline.MissingKey("account_sid"))
	}
	if c.AuthToken == "" {
		errs = append(errs, pipeline.MissingKey("auth_token"))
	}
	if c.From == "" {
		errs = append(errs, pipeline.MissingKey("from"))
	}
	if len(c.To) == 0 {
		errs = append(errs, pipeline.MissingKey("to"))
	}
	for _, to := range c.To {
		if !e164.MatchString(to) {
			errs = append(errs, pipeline.InvalidKey("to", "%q is not a phone number in E.164 form (\"+4915112345678\")", to))
		}
	}
	if c.URL == "" {
		c.URL = defaultTwilioURL
	}
	errs = append(errs, checkURL("url", c.URL, true))
	var err error
	if c.body, err = textTemplate("sms.body", c.Body); err != nil {
		errs = append(errs, pipeline.InvalidKey("body", "template: %v", err))
	}
	return errors.Join(errs...)
}

type twilioSender struct {
	c        *TwilioConfig
	client   *http.Client
	log      *slog.Logger
	endpoint string
}

var _ sender = (*twilioSender)(nil)

func newTwilioSender(c *TwilioConfig, log *slog.Logger) *twilioSender {
	return &twilioSender{c: c, client: newHTTPClient(c.Timeout), log: log,
		endpoint: strings.TrimRight(c.URL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(c.AccountSID) + "/Messages.json"}
}

func (s *twilioSender) Describe() string {
	return fmt.Sprintf("sms to %s via %s", strings.Join(s.c.To, ", "), urlHost(s.c.URL))
}

// twilioError is the body of Twilio's error responses.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
}

// Send sends the text to each number in turn. A failure for one number
// does not keep the others from theirs; a retry sends to all again.
func (s *twilioSender) Send(ctx context.Context, n *Notification) error {
	body, err := execute(s.c.body, n)
	if err != nil {
		return fmt.Errorf("sms body template: %w", err)
	}
	body = truncate(maxSMSChars, strings.TrimSpace(body))
	var errs []error
	retry := false
	for _, to := range s.c.To {
		form := url.Values{"To": {to}, "From": {s.c.From}, "Body": {body}}
		_, err := httpPost(ctx, s.client, s.endpoint, "application/x-www-form-urlencoded", []byte(form.Encode()), func(r *http.Request) {
			r.SetBasicAuth(s.c.AccountSID, s.c.AuthToken)
			r.Header.Set("Accept", "application/json")
		})
		if err == nil {
			continue
		}
		retry = retry || pipeline.IsRetryable(err)
		var he *httpStatusError
		var te twilioError
		if errors.As(err, &he) && json.Unmarshal([]byte(he.Body), &te) == nil && te.Message != "" {
			err = fmt.Errorf("sms to %s: Twilio error %d: %s (%s)", to, te.Code, te.Message, he.Status)
		} else {
			err = fmt.Errorf("sms to %s: %w", to, err)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		if retry {
			return pipeline.Retryable(err)
		}
		return err
	}
	return nil
}
