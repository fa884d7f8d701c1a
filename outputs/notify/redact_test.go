package notify

import (
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The runtime's redactor finds the channels' secrets inside the plugin's
// list of receivers: the SMTP password, the Slack and webhook URLs, the
// webhook's header values, the Twilio token.
func TestRedactorFindsReceiverSecrets(t *testing.T) {
	plugin := &struct {
		Receivers []ReceiverConfig `toml:"receivers"`
	}{Receivers: []ReceiverConfig{{Name: "ops",
		Email:   &EmailConfig{Password: "smtp-s3cret"},
		Slack:   &SlackConfig{URL: "https://hooks.slack.com/services/T0/B0/slack-s3cret"},
		Webhook: &WebhookConfig{URL: "https://example.com/hook?token=hook-s3cret", Headers: map[string]string{"Authorization": "Bearer header-s3cret"}},
		Twilio:  &TwilioConfig{AuthToken: "twilio-s3cret", URL: "https://u:url-s3cret@api.twilio.com"},
	}}}
	cfg := &pipeline.Config{Plugins: []*pipeline.PluginConfig{{Plugin: plugin}}}
	text := "smtp-s3cret https://hooks.slack.com/services/T0/B0/slack-s3cret https://example.com/hook?token=hook-s3cret Bearer header-s3cret twilio-s3cret url-s3cret"
	if got := cfg.Redactor().String(text); strings.Contains(got, "s3cret") {
		t.Errorf("redacted: %s", got)
	}
}
