package notify

import (
	"context"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// Notification is one message to one receiver about one group of alerts:
// what the engine (engine.go) hands to a receiver's senders (receivers.go).
type Notification struct {
	Receiver string // the receiver's name
	// GroupKey identifies the group among all groups of this output: the
	// route and the values of its group_by labels. Stable across restarts.
	GroupKey    string
	GroupLabels map[string]string // the group_by labels and their values
	// Status is "firing" while any alert of the group fires, "resolved"
	// when all have (the all-clear).
	Status string
	// Alerts are the group's alerts: firing first, then resolved, each
	// part sorted by labels. A resolved group lists the alerts it had.
	Alerts []pipeline.Alert
	// Escalation is 0 for the route's receiver, n for the n-th escalation
	// step's receiver (the group was not acknowledged in time).
	Escalation int
	// CommonLabels and CommonAnnotations are those all Alerts share.
	CommonLabels      map[string]string
	CommonAnnotations map[string]string
	// ExternalURL is where a person can see and acknowledge the alerts
	// (the admin API's address, or the output's external_url).
	ExternalURL string
	// Sender names the process that notifies (the agent name).
	Sender string
	At     time.Time // when the engine decided to send it
}

// Firing returns the alerts of n that fire.
func (n *Notification) Firing() []pipeline.Alert {
	var out []pipeline.Alert
	for _, a := range n.Alerts {
		if a.Status == pipeline.AlertFiring {
			out = append(out, a)
		}
	}
	return out
}

// Resolved returns the alerts of n that have resolved.
func (n *Notification) Resolved() []pipeline.Alert {
	var out []pipeline.Alert
	for _, a := range n.Alerts {
		if a.Status == pipeline.AlertResolved {
			out = append(out, a)
		}
	}
	return out
}

// sender delivers notifications through one channel (an SMTP server, a
// Slack webhook...). Send returns once the channel has taken the message;
// an error means it did not, and the engine retries (a retryable error) or
// counts it. Send must honour ctx's deadline and never log a secret.
type sender interface {
	Send(ctx context.Context, n *Notification) error
	// Describe names the channel without secrets, for logs and the admin
	// API: "email to ops@example.com via smtp.example.com:587".
	Describe() string
}

// ReceiverConfig is one [[outputs.notify.receivers]] table: a name and one
// or more channels, each its own sub-table. A notification to the receiver
// goes through every channel it has.
//
//	[[outputs.notify.receivers]]
//	name = "ops"
//	  [outputs.notify.receivers.email]
//	  to = ["ops@example.com"]
//	  [outputs.notify.receivers.slack]
//	  url = "${SLACK_WEBHOOK_URL}"
type ReceiverConfig struct {
	Name    string         `toml:"name"`
	Email   *EmailConfig   `toml:"email"`
	Slack   *SlackConfig   `toml:"slack"`
	Webhook *WebhookConfig `toml:"webhook"`
	Twilio  *TwilioConfig  `toml:"twilio"`
}
