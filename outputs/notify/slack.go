package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"text/template"

	"github.com/interoceptor/interoceptor/pipeline"
)

// SlackConfig is a receiver's [outputs.notify.receivers.slack] table: a
// message per notification through a Slack incoming webhook.
type SlackConfig struct {
	URL       string `toml:"url" secret:"true"` // the incoming webhook's URL: a secret, write "${SLACK_WEBHOOK_URL}"
	Channel   string `toml:"channel"`           // "#ops"; empty: the webhook's own channel
	Username  string `toml:"username"`
	IconEmoji string `toml:"icon_emoji"` // ":rotating_light:"
	// Title and Text are templates of the attachment's title and text
	// (Slack mrkdwn); empty: the defaults slack.title and slack.text.
	Title   string            `toml:"title"`
	Text    string            `toml:"text"`
	Timeout pipeline.Duration `toml:"timeout"`

	title, text *template.Template
}

func (c *SlackConfig) validate() error {
	var errs []error
	errs = append(errs, checkURL("url", c.URL, true))
	var err error
	if c.title, err = textTemplate("slack.title", c.Title); err != nil {
		errs = append(errs, pipeline.InvalidKey("title", "template: %v", err))
	}
	if c.text, err = textTemplate("slack.text", c.Text); err != nil {
		errs = append(errs, pipeline.InvalidKey("text", "template: %v", err))
	}
	return errors.Join(errs...)
}

// SlackMessage is what an incoming webhook takes: one legacy attachment
// (colored by status and severity) that holds the notification, and its
// title again as the fallback text of notifications on phones.
type SlackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	IconEmoji   string            `json:"icon_emoji,omitempty"`
	Text        string            `json:"text,omitempty"`
	Attachments []SlackAttachment `json:"attachments"`
}

// SlackAttachment is the message's one attachment.
type SlackAttachment struct {
	Color     string   `json:"color"` // "danger", "warning", "good" or "#439FE0"
	Fallback  string   `json:"fallback"`
	Title     string   `json:"title"`
	TitleLink string   `json:"title_link,omitempty"` // the ExternalURL
	Text      string   `json:"text"`
	Footer    string   `json:"footer,omitempty"`
	Ts        int64    `json:"ts,omitempty"`
	MrkdwnIn  []string `json:"mrkdwn_in"`
}

// slackColor is "good" for an all-clear, "danger" when a critical or
// error alert fires, "warning" for a warning, and Slack's blue otherwise.
func slackColor(n *Notification) string {
	if n.Status != pipeline.AlertFiring {
		return "good"
	}
	worst := int32(7)
	for _, a := range n.Firing() {
		worst = min(worst, pipeline.AlertSeverity(a.Labels["severity"]))
	}
	switch {
	case worst <= 3:
		return "danger"
	case worst == 4:
		return "warning"
	}
	return "#439FE0"
}

type slackSender struct {
	c      *SlackConfig
	client *http.Client
	log    *slog.Logger
}

var _ sender = (*slackSender)(nil)

func newSlackSender(c *SlackConfig, log *slog.Logger) *slackSender {
	return &slackSender{c: c, client: newHTTPClient(c.Timeout), log: log}
}

func (s *slackSender) Describe() string {
	d := "slack webhook at " + urlHost(s.c.URL)
	if s.c.Channel != "" {
		d += " to " + s.c.Channel
	}
	return d
}

func (s *slackSender) message(n *Notification) (*SlackMessage, error) {
	title, err := execute(s.c.title, n)
	if err != nil {
		return nil, fmt.Errorf("slack title template: %w", err)
	}
	text, err := execute(s.c.text, n)
	if err != nil {
		return nil, fmt.Errorf("slack text template: %w", err)
	}
	title = strings.Join(strings.Fields(title), " ")
	att := SlackAttachment{Color: slackColor(n), Fallback: title, Title: title, TitleLink: n.ExternalURL,
		Text: strings.TrimSpace(text), MrkdwnIn: []string{"text"}}
	if n.Sender != "" {
		att.Footer = n.Sender
	}
	if !n.At.IsZero() {
		att.Ts = n.At.Unix()
	}
	return &SlackMessage{Channel: s.c.Channel, Username: s.c.Username, IconEmoji: s.c.IconEmoji, Attachments: []SlackAttachment{att}}, nil
}

func (s *slackSender) Send(ctx context.Context, n *Notification) error {
	m, err := s.message(n)
	if err != nil {
		return err
	}
	body, err := marshalJSON(m)
	if err != nil {
		return fmt.Errorf("slack payload: %w", err)
	}
	_, err = httpPost(ctx, s.client, s.c.URL, "application/json", body, nil)
	return err
}
