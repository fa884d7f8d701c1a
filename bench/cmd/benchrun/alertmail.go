package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/internal/mailpittest"
)

// The alert-mail-latency scenario (issue 12, speed): the time from a point
// that crosses a threshold to the mail in a real mailpit (target ≤
// group_wait + 1 s). One process: tcp (influx decoder) → filters.alert
// (for = 0) → outputs.notify (group_wait 2s, an email receiver to
// mailpit), and outputs.file on the alerts' subject to see when the alert
// was emitted. alertMailRepeats times, a crossing point of a new host (so a
// new group) is sent, stamped with the wall clock, and mailpit is polled
// until its mail is there.

const (
	alertMailKey       = "alert-mail-latency"
	alertMailRepeats   = 10
	alertMailGroupWait = 2 * time.Second
	alertMailFilter    = "filters.alert[rules]"
	alertMailNotify    = "outputs.notify[notify]"
	alertMailFile      = "outputs.file[alerts]"
	// alertMailPollEvery is how often mailpit's API is asked; it bounds
	// the error of "seen".
	alertMailPollEvery = 10 * time.Millisecond
	alertMailWait      = 30 * time.Second // for any one condition, before the run fails
	// targetAlertMailSlack is what the target allows beyond group_wait.
	targetAlertMailSlack = time.Second
)

// alertMailSample is one crossing point and its mail, each time from T0,
// the wall clock just before the point was written to the TCP input.
type alertMailSample struct {
	host    string
	alerted time.Duration // the alert's line in the file output (polled every pollEvery)
	created time.Duration // the mail's Created, as mailpit stamps it on receipt
	seen    time.Duration // the poll of mailpit's API that first listed it
	subject string
}

type alertMailResult struct {
	samples   []alertMailSample
	config    string // with mailpit's SMTP port as it was
	mailpit   string // mailpit's version
	elapsed   time.Duration
	user, sys time.Duration
	maxRSS    int64
	load      string // the load average (1, 5, 15 min) as the run began
}

// alertMailConfig is the pipeline's configuration. resend_interval is an
// hour so that the file output holds exactly one line per crossing point.
func alertMailConfig(dir string, port int, smtp string) string {
	return fmt.Sprintf(`# written by bench/cmd/benchrun for the alert-mail-latency scenario
[agent]
name = "bench"
data_dir = %q
admin_addr = "127.0.0.1:0"  # to see the notify output lead

[nats]
url = ""  # the embedded server (JetStream on: outputs.notify keeps its state there)

[[inputs.tcp]]
publish = %q
address = "127.0.0.1:%d"
decoder = "influx"

[[outputs.file]]
name = "alerts"
subscribe = [%q]
path = %q
format = "json"

[[outputs.notify]]
name = "notify"
subscribe = [%q]
receiver = "ops"
group_by = ["alertname", "host"]  # each host a group of its own
group_wait = %q
group_interval = "1m"
repeat_interval = "4h"
  [[outputs.notify.receivers]]
  name = "ops"
    [outputs.notify.receivers.email]
    smtp = %q  # mailpit
    from = "Interoceptor <alerts@bench.invalid>"
    to = ["ops@bench.invalid"]
    starttls = "none"

[[filters.alert]]
name = "rules"
subscribe = [%q]
publish = %q
group_by = ["host"]
ticker_interval = "1s"
resend_interval = "1h"
  [[filters.alert.rules]]
  alert = "Latency"
  expr = "lat.value > 90"
  for = "0s"
  summary = "lat at {{ .Value }} on {{ .Labels.host }}"
`, filepath.Join(dir, "var"), subject, port, alertRulesSubject, filepath.Join(dir, "alerts.jsonl"),
		alertRulesSubject, alertMailGroupWait.String(), smtp, subject, alertRulesSubject)
}

// runAlertMail runs the alert-mail-latency scenario once, in a fresh
// temporary directory.
func runAlertMail(bin string) (res alertMailResult, err error) {
	res.load = readLoadavg()
	dir, keep, err := runDir()
	if err != nil {
		return res, err
	}
	defer keep(&err)
	mpDir := filepath.Join(dir, "mailpit")
	if err := os.Mkdir(mpDir, 0o755); err != nil {
		return res, err
	}
	mp, err := mailpittest.Start(mpDir, mailpittest.Options{})
	if err != nil {
		return res, fmt.Errorf("mailpit %s (make tools installs it): %w", mailpittest.Version, err)
	}
	defer func() {
		mp.Stop()
		if err != nil {
			err = fmt.Errorf("%w\nlast lines of mailpit's log:\n%s", err, lastLines(mp.Log(), 10))
		}
	}()
	res.mailpit = mailpittest.Version
	port, err := freePort()
	if err != nil {
		return res, err
	}
	res.config = alertMailConfig(dir, port, mp.SMTP)
	cfgPath := filepath.Join(dir, "pipeline.toml")
	if err := os.WriteFile(cfgPath, []byte(res.config), 0o644); err != nil {
		return res, err
	}
	began := time.Now()
	proc, admin, err := startRunning(bin, dir, cfgPath, alertMailWait)
	if err != nil {
		return res, err
	}
	defer proc.end(&err)
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections() // so that the drain does not wait for them
	// The output notifies only once it holds the lease: the clock must not
	// include taking it.
	if err := waitLeader(client, admin, proc.exited); err != nil {
		return res, err
	}
	conn, err := dialUntil(fmt.Sprintf("127.0.0.1:%d", port), proc.exited, alertMailWait)
	if err != nil {
		return res, err
	}
	defer conn.Close()

	alertsPath := filepath.Join(dir, "alerts.jsonl")
	for i := 1; i <= alertMailRepeats; i++ {
		s := alertMailSample{host: fmt.Sprintf("lat-%02d", i)}
		t0 := time.Now()
		line := fmt.Sprintf("lat,host=%s value=95 %d\n", s.host, t0.UnixNano())
		if _, err := conn.Write([]byte(line)); err != nil {
			return res, fmt.Errorf("writing to the TCP input: %w", err)
		}
		type seenLine struct {
			after time.Duration
			err   error
		}
		alerted := make(chan seenLine, 1)
		go func() {
			err := waitForLines(alertsPath, i, proc.exited)
			alerted <- seenLine{time.Since(t0), err}
		}()
		m, seen, err := waitMail(client, mp.URL, i, proc.exited)
		if err != nil {
			return res, fmt.Errorf("point %d (%s): %w", i, s.host, err)
		}
		s.seen = seen.Sub(t0)
		a := <-alerted
		if a.err != nil {
			return res, fmt.Errorf("point %d (%s): the alert in the file output: %w", i, s.host, a.err)
		}
		s.alerted = a.after
		s.created, s.subject = m.Created.Sub(t0), m.Subject
		if !strings.Contains(m.Subject, "FIRING") || !strings.Contains(m.Subject, s.host) {
			return res, fmt.Errorf("point %d: the mail's subject is %q, want FIRING and %s", i, m.Subject, s.host)
		}
		res.samples = append(res.samples, s)
		progress("%-18s %s: alert emitted after %s, mail created after %s, seen after %s; %q", alertMailKey, s.host,
			s.alerted.Round(time.Millisecond), s.created.Round(time.Millisecond), s.seen.Round(time.Millisecond), s.subject)
	}

	if _, err := terminate(proc.cmd, proc.exited); err != nil {
		return res, err
	}
	res.elapsed = time.Since(began)
	sp, err := readSpawned(proc.result)
	if err != nil {
		return res, err
	}
	if sp.ExitCode != 0 {
		return res, fmt.Errorf("exit code %d, want 0", sp.ExitCode)
	}
	res.user, res.sys, res.maxRSS = time.Duration(sp.UserNs), time.Duration(sp.SysNs), sp.MaxRSSKiB*1024
	return res, verifyAlertMail(client, mp.URL, proc.log.String())
}

// waitLeader waits until the notify output says it holds the lease.
func waitLeader(client *http.Client, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(alertMailWait)
	for {
		p, err := fetchPlugin(client, url, alertMailNotify)
		if err != nil {
			return err
		}
		if p.Gauges["notify_leader"] == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not lead within %s", alertMailNotify, alertMailWait)
		}
		select {
		case <-exited:
			return errors.New("the process exited before the notify output led")
		case <-time.After(alertMailPollEvery):
		}
	}
}

// mailpitMessage is a message as mailpit's list shows it.
type mailpitMessage struct {
	ID      string
	Subject string
	Created time.Time
}

// waitMail polls mailpit's API until it holds n mails, and returns the
// newest and when the poll saw it.
func waitMail(client *http.Client, url string, n int, exited <-chan struct{}) (mailpitMessage, time.Time, error) {
	deadline := time.Now().Add(alertMailWait)
	for {
		list, err := listMail(client, url)
		seen := time.Now()
		if err != nil {
			return mailpitMessage{}, seen, err
		}
		switch {
		case list.Total > n:
			return mailpitMessage{}, seen, fmt.Errorf("mailpit holds %d mails, want %d", list.Total, n)
		case list.Total == n && len(list.Messages) > 0:
			return list.Messages[0], seen, nil
		case seen.After(deadline):
			return mailpitMessage{}, seen, fmt.Errorf("mailpit holds %d mails after %s, want %d", list.Total, alertMailWait, n)
		}
		select {
		case <-exited:
			return mailpitMessage{}, seen, errors.New("the process exited before the mail came")
		case <-time.After(alertMailPollEvery):
		}
	}
}

type mailList struct {
	Total    int              `json:"total"`
	Messages []mailpitMessage `json:"messages"`
}

// listMail reads the newest mail and the count (the list is newest first).
func listMail(client *http.Client, url string) (mailList, error) {
	var l mailList
	resp, err := client.Get(url + "/api/v1/messages?limit=1")
	if err != nil {
		return l, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return l, fmt.Errorf("GET /api/v1/messages: %s", resp.Status)
	}
	return l, json.NewDecoder(resp.Body).Decode(&l)
}

// verifyAlertMail checks, once the process has exited, that mailpit holds
// one mail per crossing point and no more, and the plugins' "stopped"
// records: every point taken, one alert each, nothing dropped or failed.
func verifyAlertMail(client *http.Client, url, log string) error {
	list, err := listMail(client, url)
	if err != nil {
		return err
	}
	if list.Total != alertMailRepeats {
		return fmt.Errorf("mailpit holds %d mails, want %d", list.Total, alertMailRepeats)
	}
	var errs []error
	for _, c := range []struct {
		plugin  string
		in, out int64
	}{
		{fmt.Sprintf(inputPlugin, "tcp", "tcp"), alertMailRepeats, -1},
		{alertMailFilter, alertMailRepeats, alertMailRepeats},
		{alertMailFile, alertMailRepeats, alertMailRepeats},
		{alertMailNotify, alertMailRepeats, -1},
	} {
		rec, err := stoppedRecord(log, c.plugin)
		if err != nil {
			return err
		}
		if rec.In != c.in || (c.out >= 0 && rec.Out != c.out) || rec.Dropped != 0 || rec.Errors != 0 {
			want := fmt.Sprintf("in=%d", c.in)
			if c.out >= 0 {
				want += fmt.Sprintf(" out=%d", c.out)
			}
			errs = append(errs, fmt.Errorf("%s: %+v, want %s dropped=0 errors=0", c.plugin, rec, want))
		}
	}
	return errors.Join(errs...)
}
