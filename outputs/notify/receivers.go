package notify

import (
	"errors"
	"log/slog"
)

// The channels' configs; each channel's file defines its fields, Validate
// and its sender.
type (
	EmailConfig   struct{}
	SlackConfig   struct{}
	WebhookConfig struct{}
	TwilioConfig  struct{}
)

// newSenders returns the senders of a receiver's channels, in the order
// email, slack, webhook, twilio.
func newSenders(rc *ReceiverConfig, log *slog.Logger) ([]sender, error) {
	return nil, errors.New("receivers: not built yet")
}
