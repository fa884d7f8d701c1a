package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/interoceptor/interoceptor/internal/influxtest"
)

// The tcp-influxdb scenario: tcp (influx decoder) → outputs.influxdb → a real
// InfluxDB 1.8 (internal/influxtest) on this machine, started for each run in
// the run's directory and stopped at its end.

const (
	influxDB           = "bench" // the database, and the output's bucket
	influxOutputPlugin = "outputs.influxdb[influxdb]"
	// influxPollEvery is how often /api/plugins is read for the output's
	// gauges; it bounds the error of the clock's stop (a run lasts seconds).
	influxPollEvery = 10 * time.Millisecond
)

// influxOutputConfig is the output's TOML: the defaults but for where to
// write (batch_size 5000, gzip, 16 MiB of memory and then the disk buffer).
func influxOutputConfig(url string) string {
	return fmt.Sprintf("[[outputs.influxdb]]\nsubscribe = [%q]\nurl = %q\nbucket = %q\n", subject, url, influxDB)
}

// influxStats is what one run measured and read back on InfluxDB's side.
type influxStats struct {
	cpu          time.Duration // influxd's user + sys CPU, its whole life (getrusage)
	cpuRun       time.Duration // influxd's CPU from its start until interoceptor exited (/proc), before the check queries
	cpuAtClock   time.Duration // influxd's CPU when the clock started: its startup
	maxBuffered  float64       // the most points the output held waiting (memory + disk), as polled
	maxDiskBytes float64       // the most bytes its disk buffer held, as polled
	written      float64       // influxdb_written_points when the clock stopped
	// Read back after the run, for verify: count, sum, min and max of seq, and
	// the first and last points as line protocol.
	count, sum, minSeq, maxSeq int64
	first, last                string
}

// influxRun is the InfluxDB of one run.
type influxRun struct {
	srv      *influxtest.Server
	pid      int           // influxd's, to read its CPU before the check queries
	children time.Duration // benchrun's RUSAGE_CHILDREN CPU before influxd started
	stopped  bool
}

// checkInfluxd makes sure influxd is installed before the first run, so that
// installing it (`go install`, minutes) is never inside a measurement.
func checkInfluxd() error {
	if _, err := influxtest.Binary(); err != nil {
		return fmt.Errorf("the tcp-influxdb scenario needs influxd %s (`make influxd` installs it): %w", influxtest.Version, err)
	}
	return nil
}

// startInflux starts InfluxDB with its files in dir and creates the database.
func startInflux(dir string) (*influxRun, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	run := &influxRun{children: childrenCPU()}
	srv, err := influxtest.Start(dir)
	if err != nil {
		return nil, fmt.Errorf("starting InfluxDB: %w", err)
	}
	run.srv = srv
	if run.pid, err = childPID(os.Getpid(), "influxd"); err != nil {
		run.stop()
		return nil, err
	}
	if err := srv.CreateDB(influxDB); err != nil {
		run.stop()
		return nil, fmt.Errorf("creating the database: %w\n%s", err, lastLines(srv.Log(), 15))
	}
	return run, nil
}

// stop stops influxd, once; its log can be read after.
func (run *influxRun) stop() {
	if !run.stopped {
		run.srv.Stop()
		run.stopped = true
	}
}

// finish runs once interoceptor has exited: it notes influxd's CPU so far,
// reads back what InfluxDB holds, stops it, and returns its CPU over its
// whole life as benchrun's children's CPU since the start (the caller takes
// the wrapper's, interoceptor's included, out of it).
func (run *influxRun) finish(st *influxStats, data lineData) (children time.Duration, err error) {
	if st.cpuRun, err = procCPU(run.pid); err != nil {
		return 0, err
	}
	if err := run.readBack(st, data); err != nil {
		return 0, err
	}
	run.stop()
	return childrenCPU() - run.children, nil
}

// readBack reads what the verification needs. Every generated line is its own
// point: the timestamps are all different (one ms apart), so none overwrites
// another, and count(seq) must be N.
func (run *influxRun) readBack(st *influxStats, data lineData) error {
	series, err := run.srv.Query(influxDB, "SELECT count(seq), sum(seq), min(seq), max(seq) FROM cpu")
	if err != nil {
		return err
	}
	if len(series) != 1 || len(series[0].Values) != 1 || len(series[0].Values[0]) != 5 {
		return fmt.Errorf("SELECT count(seq), ... FROM cpu: unexpected result %+v", series)
	}
	v := series[0].Values[0]
	for i, dst := range []*int64{&st.count, &st.sum, &st.minSeq, &st.maxSeq} {
		n, ok := v[i+1].(json.Number)
		if !ok {
			return fmt.Errorf("SELECT count(seq), ... FROM cpu: column %s is %v", series[0].Columns[i+1], v[i+1])
		}
		if *dst, err = n.Int64(); err != nil {
			return err
		}
	}
	if st.first, err = run.point(data.first); err != nil {
		return err
	}
	st.last, err = run.point(data.last)
	return err
}

// point reads back, as line protocol in the generated lines' form (tags
// sorted, the fields user, idle, seq), the point of the host and time of a
// line sent. The host narrows the query to a few series of the 30,000.
func (run *influxRun) point(line string) (string, error) {
	_, host, _ := strings.Cut(line, ",host=")
	host, _, _ = strings.Cut(host, ",")
	ts := line[strings.LastIndexByte(line, ' ')+1:]
	q := fmt.Sprintf(`SELECT "user", "idle", "seq", "cpu"::tag, "host"::tag, "region"::tag FROM "cpu" WHERE "host" = '%s' AND time = %s`, host, ts)
	series, err := run.srv.Query(influxDB, q)
	if err != nil {
		return "", err
	}
	if len(series) != 1 || len(series[0].Values) != 1 || len(series[0].Values[0]) != 7 {
		return "", fmt.Errorf("%s: %+v, want one point", q, series)
	}
	v := series[0].Values[0]
	float := func(x any) string {
		f, err := strconv.ParseFloat(fmt.Sprint(x), 64)
		if err != nil {
			return fmt.Sprint(x)
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprintf("cpu,cpu=%v,host=%v,region=%v user=%s,idle=%s,seq=%vi %v", v[4], v[5], v[6], float(v[1]), float(v[2]), v[3], v[0]), nil
}

// outputGauges is the InfluxDB output's entry in /api/plugins.
type outputGauges struct {
	Written, Rejected, Dropped, Buffered, DiskBytes float64
	In                                              uint64
}

// waitForPoints polls the output's gauges until InfluxDB has taken all n
// points, and notes how many points waited in its buffer at most.
func waitForPoints(adminURL string, n int, exited <-chan struct{}, st *influxStats) error {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections() // so that the drain does not wait for them
	var last float64
	lastChange := time.Now()
	for {
		g, err := fetchOutputGauges(client, adminURL)
		if err != nil {
			return err
		}
		st.maxBuffered = max(st.maxBuffered, g.Buffered)
		st.maxDiskBytes = max(st.maxDiskBytes, g.DiskBytes)
		st.written = g.Written
		switch {
		case g.Rejected != 0 || g.Dropped != 0:
			return fmt.Errorf("%s: InfluxDB rejected %.0f points, %.0f were dropped (%.0f written)", influxOutputPlugin, g.Rejected, g.Dropped, g.Written)
		case g.Written == float64(n):
			return nil
		case g.Written > float64(n):
			return fmt.Errorf("%s: influxdb_written_points is %.0f, more than the %d sent", influxOutputPlugin, g.Written, n)
		}
		if g.Written != last {
			last, lastChange = g.Written, time.Now()
		} else if time.Since(lastChange) > stallAfter {
			return fmt.Errorf("InfluxDB's written points stalled at %.0f of %d for %s (the output took %d messages)", g.Written, n, stallAfter, g.In)
		}
		select {
		case <-exited:
			return errors.New("the process exited before InfluxDB had every point")
		case <-time.After(influxPollEvery):
		}
	}
}

func fetchOutputGauges(client *http.Client, url string) (outputGauges, error) {
	resp, err := client.Get(url + "api/plugins")
	if err != nil {
		return outputGauges{}, err
	}
	defer resp.Body.Close()
	var plugins []struct {
		Kind, Type, Name string
		Gauges           map[string]float64
		Counters         struct{ In uint64 }
	}
	if err := json.NewDecoder(resp.Body).Decode(&plugins); err != nil {
		return outputGauges{}, fmt.Errorf("/api/plugins: %w", err)
	}
	for _, p := range plugins {
		if p.Kind+"."+p.Type+"["+p.Name+"]" == influxOutputPlugin {
			g := p.Gauges
			return outputGauges{Written: g["influxdb_written_points"], Rejected: g["influxdb_rejected_points"],
				Dropped: g["influxdb_dropped_points"], Buffered: g["influxdb_buffered_points"],
				DiskBytes: g["influxdb_disk_bytes"], In: p.Counters.In}, nil
		}
	}
	return outputGauges{}, fmt.Errorf("/api/plugins has no %s", influxOutputPlugin)
}

// verifyInfluxDB checks what InfluxDB holds against what was sent, and the
// input's and the output's "stopped" records.
func verifyInfluxDB(r *runResult, log string, data lineData) error {
	st := r.influxdb
	n := int64(data.n)
	if st.count != n || st.sum != n*(n-1)/2 || st.minSeq != 0 || st.maxSeq != n-1 {
		return fmt.Errorf("InfluxDB holds count(seq)=%d sum=%d min=%d max=%d; want %d, %d, 0, %d",
			st.count, st.sum, st.minSeq, st.maxSeq, n, n*(n-1)/2, n-1)
	}
	if st.first != data.first || st.last != data.last {
		return fmt.Errorf("read back from InfluxDB:\nfirst point %q\n       want %q\nlast point  %q\n       want %q",
			st.first, data.first, st.last, data.last)
	}
	in, err := stoppedRecord(log, fmt.Sprintf(inputPlugin, "tcp", "tcp"))
	if err != nil {
		return err
	}
	out, err := stoppedRecord(log, influxOutputPlugin)
	if err != nil {
		return err
	}
	if out.Dropped != 0 || out.Errors != 0 || in.Dropped != 0 || in.Errors != 0 {
		return fmt.Errorf("counters: input %+v, output %+v; want dropped=0 errors=0", in, out)
	}
	if in.In != n || out.In != n || out.Out != n {
		return fmt.Errorf("counters: input in=%d, output in=%d out=%d; want %d", in.In, out.In, out.Out, n)
	}
	r.inputIn, r.outputOut = in.In, out.Out
	return nil
}

// childrenCPU is the CPU of benchrun's children that have exited and been
// waited for, their own waited-for children included.
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childPID finds a child process of parent with that command name (any
// name when comm is empty).
func childPID(parent int, comm string) (int, error) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		name, ppid, _, err := procStat(pid)
		if err == nil && ppid == parent && (comm == "" || name == comm) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no child process %q of process %d in /proc", comm, parent)
}

// procCPU is a process's user + sys CPU so far, from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	_, _, cpu, err := procStat(pid)
	return cpu, err
}

// procStat reads a process's command name, parent and CPU (utime + stime, in
// USER_HZ ticks) from /proc/PID/stat.
func procStat(pid int) (comm string, ppid int, cpu time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0, err
	}
	// pid (comm) state ppid ... utime stime are fields 14 and 15; comm may
	// hold spaces and parentheses, so split after its last ')'.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return "", 0, 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return s[open+1 : end], ppid, time.Duration(utime+stime) * time.Second / userHZ, nil
}
