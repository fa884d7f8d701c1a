package mailpittest_test

import (
	"net/smtp"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/internal/mailpittest"
)

// The harness starts a real mailpit that takes a mail over SMTP and gives
// it back, parsed, through its API.
func TestServerTakesAndShowsMail(t *testing.T) {
	s := mailpittest.New(t, mailpittest.Options{})
	msg := "From: a@example.com\r\nTo: b@example.com\r\nCc: c@example.com\r\nSubject: hello\r\n\r\nthe body\r\n"
	if err := smtp.SendMail(s.SMTP, nil, "a@example.com", []string{"b@example.com", "c@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := s.WaitMessages(t, 1, 10*time.Second)[0]
	if got.Subject != "hello" || got.From.Address != "a@example.com" || len(got.To) != 1 || got.To[0].Address != "b@example.com" ||
		len(got.Cc) != 1 || got.Cc[0].Address != "c@example.com" || got.Text != "the body\r\n" && got.Text != "the body\n" {
		t.Fatalf("got %+v", got)
	}
	if err := s.DeleteAll(); err != nil {
		t.Fatal(err)
	}
	s.WaitMessages(t, 0, 10*time.Second)
}
