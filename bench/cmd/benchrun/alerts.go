package main

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The alert-rules scenario (issue 12, speed): tcp (influx decoder) →
// filters.alert with 1,000 threshold rules, one per measurement, over
// 100,000 series (100 hosts × 1,000 measurements, group_by host) → file
// (json) for the alerts. Points/s from the first write until the filter
// has taken every point, CPU and RSS of the process (target ≥ 300,000
// points/s).

const (
	alertRulesKey     = "alert-rules"
	alertRulesPlugin  = "filters.alert[rules]"
	alertRulesOutput  = "outputs.file[alerts]"
	alertRulesSubject = "bench.alerts" // where the filter publishes
	alertHosts        = 100
	alertMeasurements = 1000
	alertSeries       = alertHosts * alertMeasurements
	alertThreshold    = 90 // every rule: mK.value > 90
	alertBaseValue    = 50 // what every point says, but the planted ones
	alertPlantValue   = 95
	alertStart        = 1_700_000_000_000_000_000 // the first round's timestamp (ns)
	alertPeriod       = 10 * time.Second          // between two rounds
	// alertPointsPerLine is the points of the scenario per -lines: twice,
	// so that the default is 2,000,000 points, 20 of each series.
	alertPointsPerLine = 2

	targetAlertPointsPerSec = 300_000
)

// alertLoad is the load of the alert-rules scenario, generated once.
type alertLoad struct {
	buf   []byte // n lines of line protocol, each ending in '\n'
	n     int
	first string // the first line, without its newline
	// alerts is what the filter must emit, in order: a firing alert on
	// each planted point and a resolved one on the next point of its
	// series.
	alerts []expectedAlert
}

// expectedAlert is one alert message the filter must emit.
type expectedAlert struct {
	status, rule, host string
}

func alertHost(h int) string { return fmt.Sprintf("host-%03d", h) }

// alertPlanted returns the measurement whose point of host h crosses the
// threshold in round r: one per host and round, a different one each
// round, so that the next round's point of that series resolves it.
func alertPlanted(h, r int) int { return (h*7 + r*13) % alertMeasurements }

// generateAlertLoad makes n points, round after round; in a round every
// host sends its 1,000 measurements (m0 … m999), all at the round's
// timestamp, such as
//
//	m17,host=host-042 value=50 1700000000000000000
//
// Every value is 50 except one point per host and round, 95, planted only
// where the series has a point in the next round (so that every alert that
// fires also resolves within the load, and none is left firing at the end).
func generateAlertLoad(n int) alertLoad {
	l := alertLoad{n: n, buf: make([]byte, 0, n*48)}
	for i := range n {
		r, j := i/alertSeries, i%alertSeries
		h, k := j/alertMeasurements, j%alertMeasurements
		v := alertBaseValue
		if k == alertPlanted(h, r) && i+alertSeries < n {
			v = alertPlantValue
			l.alerts = append(l.alerts, expectedAlert{pipeline.AlertFiring, "R" + strconv.Itoa(k), alertHost(h)})
		}
		if r > 0 && k == alertPlanted(h, r-1) {
			l.alerts = append(l.alerts, expectedAlert{pipeline.AlertResolved, "R" + strconv.Itoa(k), alertHost(h)})
		}
		start := len(l.buf)
		l.buf = fmt.Appendf(l.buf, "m%d,host=%s value=%d %d\n", k, alertHost(h), v, alertStart+int64(r)*int64(alertPeriod))
		if i == 0 {
			l.first = string(l.buf[start : len(l.buf)-1])
		}
	}
	return l
}

// alertRulesRun is what one run of the alert-rules scenario measured.
type alertRulesRun struct {
	filterLoadRun
	firing   int // alert messages in the output, by status
	resolved int
	load     string // the load average (1, 5, 15 min) as the run began
}

// alertRulesResult is every run of the alert-rules scenario.
type alertRulesResult struct {
	runs   []alertRulesRun
	first  string // the load's first line
	config string // the config of the last run, for the report
	rules  int    // rules that fire in the load (distinct alertnames)
}

// median is the median run by throughput (for an even count, the slower of
// the two middle runs).
func (res alertRulesResult) median() alertRulesRun {
	runs := slices.SortedFunc(slices.Values(res.runs), func(a, b alertRulesRun) int { return cmp.Compare(b.elapsed, a.elapsed) })
	return runs[(len(runs)-1)/2]
}

// runAlertRules runs the alert-rules scenario runs times on n points.
func runAlertRules(bin string, runs, n int) (alertRulesResult, error) {
	load := generateAlertLoad(n)
	res := alertRulesResult{first: load.first}
	names := map[string]bool{}
	for _, a := range load.alerts {
		names[a.rule] = true
	}
	res.rules = len(names)
	progress("%-11s generated %d points of %d series, %d bytes; %d alerts expected", alertRulesKey, n,
		min(n, alertSeries), len(load.buf), len(load.alerts))
	for i := 1; i <= runs; i++ {
		r, cfg, err := runAlertRulesOnce(bin, load)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", i, err)
		}
		res.config = cfg
		progress("%-11s run %d/%d: %8.0f points/s, %.2fs, CPU %.2fs (%.0f points per CPU-second), RSS %.1f MiB; the filter spent %.2fs: %.0f points/s",
			alertRulesKey, i, runs, r.pointsPerSec(), r.elapsed.Seconds(), r.cpu().Seconds(),
			float64(r.points)/r.cpu().Seconds(), float64(r.maxRSS)/(1<<20), r.filter.ProcessSeconds, r.filter.msgsPerSec())
		res.runs = append(res.runs, r)
	}
	return res, nil
}

// alertRulesConfig is the pipeline's configuration. ticker_interval is an
// hour so that no tick falls within a run: every alert is said by a point,
// and the count is exact.
func alertRulesConfig(dir string, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# written by bench/cmd/benchrun for the alert-rules scenario
[agent]
name = "bench"
data_dir = %q
admin_addr = "127.0.0.1:0"  # to read the filter's counters

[nats]
url = ""  # the embedded server

[[inputs.tcp]]
publish = %q
address = "127.0.0.1:%d"
decoder = "influx"

[[outputs.file]]
name = "alerts"
subscribe = [%q]
path = %q
format = "json"

[[filters.alert]]
name = "rules"
subscribe = [%q]
publish = %q
group_by = ["host"]
ticker_interval = "1h"
resend_interval = "1h"
`, filepath.Join(dir, "var"), subject, port, alertRulesSubject, filepath.Join(dir, "alerts.jsonl"), subject, alertRulesSubject)
	for k := range alertMeasurements {
		fmt.Fprintf(&b, "\n[[filters.alert.rules]]\nalert = \"R%d\"\nexpr = \"m%d.value > %d\"\n", k, k, alertThreshold)
	}
	return b.String()
}

// runAlertRulesOnce runs the pipeline once on load, in a fresh temporary
// directory; it also returns the config.
func runAlertRulesOnce(bin string, load alertLoad) (r alertRulesRun, cfg string, err error) {
	r.load = readLoadavg()
	dir, keep, err := runDir()
	if err != nil {
		return r, "", err
	}
	defer keep(&err)
	port, err := freePort()
	if err != nil {
		return r, "", err
	}
	cfg = alertRulesConfig(dir, port)
	cfgPath := filepath.Join(dir, "pipeline.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return r, cfg, err
	}
	var log string
	r.filterLoadRun, log, err = runFilterLoad(bin, dir, cfgPath, port, load.buf, alertRulesPlugin, load.n, nil)
	if err != nil {
		return r, cfg, err
	}
	return r, cfg, verifyAlertRules(&r, log, filepath.Join(dir, "alerts.jsonl"), load)
}

// verifyAlertRules checks the plugins' "stopped" records (every point
// taken, nothing dropped or failed) and that the output holds, in order,
// exactly the alerts the load must give.
func verifyAlertRules(r *alertRulesRun, log, outPath string, load alertLoad) error {
	n, want := int64(load.n), int64(len(load.alerts))
	if err := checkChainCounters(log, alertRulesPlugin, alertRulesOutput, n, want); err != nil {
		return err
	}
	f, err := os.Open(outPath)
	if err != nil {
		if os.IsNotExist(err) && want == 0 {
			return nil
		}
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var m pipeline.Message
	k := 0
	for sc.Scan() {
		if k >= len(load.alerts) {
			return fmt.Errorf("the output has more than the %d alerts expected", len(load.alerts))
		}
		if err := pipeline.ParseJSON(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("output line %d: %w", k+1, err)
		}
		a, err := pipeline.AlertFromMessage(&m)
		if err != nil {
			return fmt.Errorf("output line %d: %w", k+1, err)
		}
		exp := load.alerts[k]
		if a.Status != exp.status || a.Labels["alertname"] != exp.rule || a.Labels["host"] != exp.host {
			return fmt.Errorf("output line %d: %s %s host=%s, want %s %s host=%s", k+1,
				a.Status, a.Labels["alertname"], a.Labels["host"], exp.status, exp.rule, exp.host)
		}
		if a.Status == pipeline.AlertFiring {
			r.firing++
			if a.Values["m"+strings.TrimPrefix(exp.rule, "R")+"_value"] != alertPlantValue {
				return fmt.Errorf("output line %d: values %v, want the planted %d", k+1, a.Values, alertPlantValue)
			}
		} else {
			r.resolved++
		}
		k++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if k != len(load.alerts) {
		return fmt.Errorf("the output has %d alerts, want %d", k, len(load.alerts))
	}
	return nil
}
