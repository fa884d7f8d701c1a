package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// cmdAlerts lists, acknowledges and silences the alerts of a running
// pipeline's outputs.notify, through its admin API (/api/alerts,
// /api/silences).
func cmdAlerts(args []string, stdout, stderr io.Writer) int {
	sub := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "list", "ack", "silence", "silences", "unsilence":
	case "help":
		alertsUsage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "interoceptor alerts: unknown subcommand %q\n\n", sub)
		alertsUsage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("alerts "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := addAdminFlags(fs)
	plugin := fs.String("plugin", "", "the outputs.notify to ask (its name), when the pipeline runs several")
	asJSON := fs.Bool("json", false, "print the admin API's JSON answer, for scripts")
	var (
		by, comment, forD, start, end *string
		matchers                      multiFlag
	)
	switch sub {
	case "ack", "silence":
		by = fs.String("by", os.Getenv("USER"), "who acknowledges or silences")
		comment = fs.String("comment", "", "why (required for silence)")
		forD = fs.String("for", "", "how long it holds (\"2h\"); an ack without it holds until the alerts resolve")
	}
	if sub == "silence" {
		fs.Var(&matchers, "matchers", "label matchers, Alertmanager's syntax: 'host=\"web-1\"', 'alertname=~\"disk.*\"' (repeat the flag, or separate by commas)")
		start = fs.String("start", "", "when the silence starts (RFC 3339: 2025-03-01T22:00:00Z): a maintenance window; default now")
		end = fs.String("end", "", "when it ends (RFC 3339), instead of -for")
	}
	fs.Usage = func() {
		alertsUsage(fs.Output())
		fmt.Fprintf(fs.Output(), "\nFlags of alerts %s:\n", sub)
		fs.PrintDefaults()
	}
	pos, code, done := parseInterleaved(fs, args)
	if done {
		return code
	}
	want := map[string]int{"list": 0, "silences": 0, "silence": 0, "ack": 1, "unsilence": 1}[sub]
	if len(pos) != want {
		fmt.Fprintf(stderr, "interoceptor alerts %s: want %d argument(s), got %d\n", sub, want, len(pos))
		fs.Usage()
		return 2
	}
	c, err := admin.client()
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor alerts:", err)
		return 1
	}
	call := func(method, path string, body any) ([]byte, error) {
		if *plugin != "" {
			path += "?plugin=" + url.QueryEscape(*plugin)
		}
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		status, resp, err := c.doBody(method, path, b)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(status, "2") {
			return nil, fmt.Errorf("%s: %s", status, adminErrorText(resp))
		}
		return resp, nil
	}
	var out []byte
	switch sub {
	case "list":
		out, err = call(http.MethodGet, "api/alerts", nil)
		if err == nil && !*asJSON {
			err = printAlerts(stdout, out)
		}
	case "silences":
		out, err = call(http.MethodGet, "api/silences", nil)
		if err == nil && !*asJSON {
			err = printSilences(stdout, out)
		}
	case "ack":
		req := map[string]string{"by": *by, "comment": *comment, "for": *forD}
		if fingerprintRE.MatchString(pos[0]) {
			req["fingerprint"] = pos[0]
		} else {
			req["group"] = pos[0]
		}
		out, err = call(http.MethodPost, "api/alerts/ack", req)
		if err == nil && !*asJSON {
			fmt.Fprintf(stdout, "acknowledged %s\n", pos[0])
		}
	case "silence":
		req, rerr := silenceRequest(matchers, *start, *end, *forD, *by, *comment)
		if rerr != nil {
			fmt.Fprintln(stderr, "interoceptor alerts silence:", rerr)
			return 2
		}
		out, err = call(http.MethodPost, "api/silences", req)
		if err == nil && !*asJSON {
			var s silenceView
			if err = json.Unmarshal(out, &s); err == nil {
				fmt.Fprintf(stdout, "silence %s (%s) until %s\n", s.ID, s.State, s.EndsAt.Local().Format(time.DateTime))
			}
		}
	case "unsilence":
		out, err = call(http.MethodDelete, "api/silences/"+url.PathEscape(pos[0]), nil)
		if err == nil && !*asJSON {
			fmt.Fprintf(stdout, "silence %s expired\n", pos[0])
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "interoceptor alerts %s: %v\n", sub, err)
		return 1
	}
	if *asJSON {
		stdout.Write(out)
	}
	return 0
}

func alertsUsage(w io.Writer) {
	fmt.Fprintf(w, `Usage:
  interoceptor alerts [list] [flags]                 the alerts and their groups
  interoceptor alerts ack GROUP|FINGERPRINT [flags]  acknowledge a group (its id or key) or one alert:
                                                     no repeats, no escalation until it resolves or
                                                     a new alert joins it (-for: until then at most)
  interoceptor alerts silence -matchers M -comment C [-for 2h | -start T -end T]
                                                     mute the alerts M matches; -start later: a
                                                     maintenance window
  interoceptor alerts silences [flags]               the silences (expired ones for a day)
  interoceptor alerts unsilence ID                   expire a silence (cancel a window to come)

Talks to a running pipeline's outputs.notify through its admin API, found as
'interoceptor reload' finds it (-admin, or -config; the token from -config or $%s).
`, adminTokenEnv)
}

// parseInterleaved parses flags that may come before, between and after
// the positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) (pos []string, code int, done bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, true
			}
			return nil, 2, true
		}
		if fs.NArg() == 0 {
			return pos, 0, false
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// multiFlag is a flag that may be given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// fingerprintRE is an alert's fingerprint; a group's id has 12 digits.
var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func silenceRequest(matchers []string, start, end, forD, by, comment string) (map[string]any, error) {
	if len(matchers) == 0 {
		return nil, errors.New("-matchers is required: which alerts to silence ('host=\"web-1\"')")
	}
	if comment == "" {
		return nil, errors.New("-comment is required: say why, for the others")
	}
	req := map[string]any{"matchers": matchers, "created_by": by, "comment": comment}
	if start != "" {
		t, err := time.Parse(time.RFC3339, start)
		if err != nil {
			return nil, fmt.Errorf("-start %q: want RFC 3339 (2025-03-01T22:00:00Z)", start)
		}
		req["starts_at"] = t
	}
	switch {
	case end != "" && forD != "":
		return nil, errors.New("give -for or -end, not both")
	case end != "":
		t, err := time.Parse(time.RFC3339, end)
		if err != nil {
			return nil, fmt.Errorf("-end %q: want RFC 3339 (2025-03-01T23:00:00Z)", end)
		}
		req["ends_at"] = t
	case forD != "":
		req["duration"] = forD
	default:
		return nil, errors.New("give -for (\"2h\") or -end: a silence ends")
	}
	return req, nil
}

// The admin API's answers, as far as the tables show them.
type (
	alertsView struct {
		Output string `json:"output"`
		Leader bool   `json:"leader"`
		Holder string `json:"holder"`
		Alerts []struct {
			Fingerprint string            `json:"fingerprint"`
			Status      string            `json:"status"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
			StartsAt    time.Time         `json:"starts_at"`
			SilencedBy  []string          `json:"silenced_by"`
			Acked       *struct {
				By string `json:"by"`
			} `json:"acked"`
			Groups []string `json:"groups"`
		} `json:"alerts"`
		Groups []struct {
			ID        string `json:"id"`
			Key       string `json:"key"`
			Status    string `json:"status"`
			Acked     bool   `json:"acked"`
			Alerts    []string
			Receivers []struct {
				Receiver  string    `json:"receiver"`
				LastSent  time.Time `json:"last_sent"`
				Failures  int       `json:"failures"`
				LastError string    `json:"last_error"`
			} `json:"receivers"`
		} `json:"groups"`
	}
	silenceView struct {
		ID        string    `json:"id"`
		Matchers  []string  `json:"matchers"`
		StartsAt  time.Time `json:"starts_at"`
		EndsAt    time.Time `json:"ends_at"`
		CreatedBy string    `json:"created_by"`
		Comment   string    `json:"comment"`
		State     string    `json:"state"`
	}
)

func printAlerts(w io.Writer, body []byte) error {
	var v alertsView
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	lead := "this process notifies"
	if !v.Leader {
		lead = "notifying: " + v.Holder
	}
	fmt.Fprintf(w, "outputs.notify[%s]: %d alerts in %d groups; %s\n\n", v.Output, len(v.Alerts), len(v.Groups), lead)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATUS\tACKED\tALERTS\tLAST SENT\tKEY")
	for _, g := range v.Groups {
		var sent []string
		for _, r := range g.Receivers {
			switch {
			case r.Failures > 0:
				sent = append(sent, fmt.Sprintf("%s: failing (%d)", r.Receiver, r.Failures))
			case !r.LastSent.IsZero():
				sent = append(sent, r.Receiver+" "+r.LastSent.Local().Format(time.TimeOnly))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", g.ID, g.Status, yesNo(g.Acked), len(g.Alerts), orDash(strings.Join(sent, ", ")), g.Key)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FINGERPRINT\tSTATUS\tSINCE\tSILENCED\tACKED BY\tALERT")
	for _, a := range v.Alerts {
		ack := ""
		if a.Acked != nil {
			ack = a.Acked.By
			if ack == "" {
				ack = "yes"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Fingerprint, a.Status, a.StartsAt.Local().Format(time.DateTime),
			orDash(strings.Join(a.SilencedBy, ",")), orDash(ack), alertLine(a.Labels, a.Annotations["summary"]))
	}
	return tw.Flush()
}

// alertLine is an alert's name and labels, and its summary.
func alertLine(labels map[string]string, summary string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "alertname" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(labels["alertname"])
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, labels[k])
	}
	if summary != "" {
		b.WriteString(": " + summary)
	}
	return b.String()
}

func printSilences(w io.Writer, body []byte) error {
	var ss []silenceView
	if err := json.Unmarshal(body, &ss); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTARTS\tENDS\tBY\tMATCHERS\tCOMMENT")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.State, s.StartsAt.Local().Format(time.DateTime),
			s.EndsAt.Local().Format(time.DateTime), orDash(s.CreatedBy), strings.Join(s.Matchers, ", "), s.Comment)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
