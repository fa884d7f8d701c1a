package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// The kill -9 scenario: `inputs.tail` → `outputs.file`, both durable, in one
// process, while a file is written at crashRate lines/s; the process is
// killed with SIGKILL crashKills times at random points and started again on
// the same data_dir. It measures the lines the output writes twice per crash
// against what the output's duplicates counter says.

const (
	crashKey   = "kill9"
	crashRate  = 20_000 // lines/s written to the tailed file
	crashKills = 5
	// After each start the process runs until the output has grown by a
	// random number of lines in this range (0.5 s to 1.5 s of writing).
	crashMinRun, crashMaxRun = crashRate / 2, 3 * crashRate / 2
	crashWait                = 60 * time.Second           // for any one condition
	crashBatchBytes          = pipeline.DefaultBatchBytes // nats.batch_bytes: the default
	crashLineBytes           = 100                        // with its newline
)

// crashKill is one kill and the life of the process started after it.
type crashKill struct {
	inputAt  int64 // lines written to the input file when the process was killed
	outputAt int   // lines in the output then
	twice    int   // extra copies in the output since the previous kill, once the next process settled
	inDoubt  int   // lines the next process held in doubt at its start
	counted  int64 // the next process's duplicates counter, at its end
}

type crashResult struct {
	bin     string
	lines   int           // written to the input file
	kills   []crashKill   // the last one's counted is the final process's
	first   int64         // the first process's counter (no crash before it)
	twice   int           // extra copies in the output, in all
	catchUp time.Duration // from the writer's end until the output held every line
	elapsed time.Duration
}

// crashLine is line n of the input: "line 000000042 xxx…", 99 bytes.
func crashLine(buf []byte, n int) []byte {
	start := len(buf)
	buf = fmt.Appendf(buf, "line %09d ", n)
	for len(buf)-start < crashLineBytes-1 {
		buf = append(buf, 'x')
	}
	return append(buf, '\n')
}

// crashProc is one interoceptor process of the scenario.
type crashProc struct {
	cmd    *exec.Cmd
	log    *logWatch
	exited chan struct{}
}

func startCrashProc(bin, cfgPath string) (*crashProc, error) {
	p := &crashProc{log: &logWatch{running: make(chan struct{})}, exited: make(chan struct{})}
	// Started directly, not through the rusage wrapper: no RSS is measured
	// here, and SIGKILL must reach interoceptor itself.
	p.cmd = exec.Command(bin, "run", "-config", cfgPath, "-log-format", "json")
	p.cmd.Stderr = p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	return p, waitRunning(p.log, p.exited, 30*time.Second)
}

// records returns the JSON log records of p with message msg.
func (p *crashProc) records(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.log.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// settle waits until p has written again the lines it held in doubt at its
// start (it logs both), and returns how many there were. A binary without
// origins journals logs neither: nothing in doubt.
func (p *crashProc) settle() (inDoubt int, err error) {
	err = waitFor("the lines in doubt written again", p.exited, func() (bool, error) {
		rewritten := 0
		inDoubt = 0
		for _, rec := range p.records("durable: origins restored") {
			n, _ := rec["in_doubt_lines"].(float64)
			inDoubt += int(n)
		}
		for _, rec := range p.records("durable: wrote lines in doubt since a crash (perhaps written before it); counted as duplicates") {
			n, _ := rec["lines"].(float64)
			rewritten += int(n)
		}
		return rewritten >= inDoubt, nil
	})
	return inDoubt, err
}

// duplicates reads the output's duplicates counter from the admin API.
func (p *crashProc) duplicates() (int64, error) {
	admin, err := adminURL(p.log.String())
	if err != nil {
		return 0, err
	}
	resp, err := http.Get(admin + "api/plugins")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var plugins []struct {
		Kind, Name string
		Counters   struct{ Duplicates int64 }
	}
	if err := json.NewDecoder(resp.Body).Decode(&plugins); err != nil {
		return 0, err
	}
	for _, pl := range plugins {
		if pl.Kind == "outputs" && pl.Name == "file" {
			return pl.Counters.Duplicates, nil
		}
	}
	return 0, errors.New("no outputs.file[file] in /api/plugins")
}

func (p *crashProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// crashOutput counts the copies of each line in the output, reading only
// what was appended since it last looked.
type crashOutput struct {
	path  string
	off   int64 // bytes read: up to the end of the last complete line
	seen  []int // copies of each line number
	lines int   // lines read
	extra int   // copies beyond the first
	buf   []byte
}

// update reads the lines appended since the last call. A line that is none
// of the input's is an error.
func (o *crashOutput) update() error {
	f, err := os.Open(o.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if n := fi.Size() - o.off; n > 0 {
		o.buf = slices.Grow(o.buf[:0], int(n))[:n]
		if _, err := f.ReadAt(o.buf, o.off); err != nil {
			return err
		}
		complete := o.buf[:bytes.LastIndexByte(o.buf, '\n')+1]
		o.off += int64(len(complete))
		for len(complete) > 0 {
			i := bytes.IndexByte(complete, '\n')
			line := complete[:i]
			complete = complete[i+1:]
			f := bytes.Fields(line)
			k := -1
			if len(line) == crashLineBytes-1 && len(f) == 3 && string(f[0]) == "line" {
				k, _ = strconv.Atoi(string(f[1]))
			}
			if k < 0 {
				return fmt.Errorf("the output has a line that is none of the input's: %q", line)
			}
			for k >= len(o.seen) {
				o.seen = append(o.seen, 0)
			}
			if o.seen[k]++; o.seen[k] > 1 {
				o.extra++
			}
			o.lines++
		}
	}
	return nil
}

// missing counts the lines among 0…n-1 not in the output.
func (o *crashOutput) missing(n int) int {
	m := max(n-len(o.seen), 0)
	for _, c := range o.seen[:min(n, len(o.seen))] {
		if c == 0 {
			m++
		}
	}
	return m
}

// crashPoll is how often the scenario looks at the output and the log.
const crashPoll = 20 * time.Millisecond

// waitFor polls cond until it holds, the process exits or crashWait passes.
func waitFor(what string, exited <-chan struct{}, cond func() (bool, error)) error {
	deadline := time.Now().Add(crashWait)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s", what, crashWait)
		}
		select {
		case <-exited:
			return fmt.Errorf("%s: the process exited", what)
		case <-time.After(crashPoll):
		}
	}
}

// runCrash runs the kill -9 scenario once, in a fresh temporary directory.
func runCrash(bin string) (res crashResult, err error) {
	res.bin = bin
	dir, keep, err := runDir()
	if err != nil {
		return res, err
	}
	defer keep(&err)
	in, outPath := filepath.Join(dir, tailFile), filepath.Join(dir, "out.log")
	if err := os.WriteFile(in, nil, 0o644); err != nil {
		return res, err
	}
	cfg := fmt.Sprintf(`# written by bench/cmd/benchrun for the %s scenario
[agent]
name = "bench"
data_dir = %q
admin_addr = "127.0.0.1:0"

[nats]
url = ""  # the embedded server
batch_bytes = %d

[[inputs.tail]]
publish = %q
files = [%q]
from_beginning = true
durable = true

[[outputs.file]]
subscribe = [%q]
path = %q
durable = true
`, crashKey, filepath.Join(dir, "var"), crashBatchBytes, subject, in, subject, outPath)
	cfgPath := filepath.Join(dir, "pipeline.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return res, err
	}

	began := time.Now()
	var written atomic.Int64
	stop, writerDone := make(chan struct{}), make(chan error, 1)
	go func() { writerDone <- writeSteadily(in, &written, stop) }()
	stopWriter := sync.OnceValue(func() error {
		close(stop)
		return <-writerDone
	})
	var p *crashProc
	defer func() {
		if p != nil {
			p.kill()
			if err != nil {
				err = fmt.Errorf("%w\nkept %s; last lines of the log:\n%s", err, dir, lastLines(p.log.String(), 15))
			}
		}
		if werr := stopWriter(); err == nil && werr != nil {
			err = fmt.Errorf("writing the input: %w", werr)
		}
	}()

	out := &crashOutput{path: outPath}
	prevExtra := 0
	for k := 0; k <= crashKills; k++ {
		if p, err = startCrashProc(bin, cfgPath); err != nil {
			return res, err
		}
		if k > 0 {
			// The copies of the last crash come first: wait until the output
			// holds every line the input had then, and the lines in doubt
			// have been written again.
			kl := &res.kills[k-1]
			if err := waitOutput(out, int(kl.inputAt), p.exited); err != nil {
				return res, err
			}
			if kl.inDoubt, err = p.settle(); err != nil {
				return res, err
			}
			if err := out.update(); err != nil {
				return res, err
			}
			kl.twice, prevExtra = out.extra-prevExtra, out.extra
		}
		if k == crashKills {
			break
		}
		// A random point: some way into this start.
		target := out.lines + crashMinRun + rand.IntN(crashMaxRun-crashMinRun)
		err := waitFor("the output to grow", p.exited, func() (bool, error) {
			err := out.update()
			return out.lines >= target, err
		})
		if err != nil {
			return res, err
		}
		counted, err := p.duplicates()
		if err != nil {
			return res, err
		}
		if k == 0 {
			res.first = counted
		} else {
			res.kills[k-1].counted = counted
		}
		p.kill()
		kl := crashKill{inputAt: written.Load()}
		if err := out.update(); err != nil {
			return res, err
		}
		kl.outputAt = out.lines
		res.kills = append(res.kills, kl)
		progress("%-10s kill %d/%d: after %s lines written, %s in the output", crashKey, k+1, crashKills,
			group(float64(kl.inputAt), 0), group(float64(kl.outputAt), 0))
	}
	if err := stopWriter(); err != nil {
		return res, fmt.Errorf("writing the input: %w", err)
	}
	stopped := time.Now()
	res.lines = int(written.Load())
	if err := waitOutput(out, res.lines, p.exited); err != nil {
		return res, err
	}
	res.catchUp = time.Since(stopped)
	if _, err := p.settle(); err != nil {
		return res, err
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return res, err
	}
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		return res, errors.New("no exit within 1m of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return res, fmt.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	rec, err := stoppedRecord(p.log.String(), outputPlugin)
	if err != nil {
		return res, err
	}
	last := &res.kills[crashKills-1]
	last.counted = rec.Duplicates
	if err := out.update(); err != nil {
		return res, err
	}
	if m := out.missing(res.lines); m > 0 {
		return res, fmt.Errorf("%d of the %d lines written never reached the output", m, res.lines)
	}
	if out.lines != res.lines+out.extra {
		return res, fmt.Errorf("the output has %d lines: %d written and %d copies, and %d that were never written",
			out.lines, res.lines, out.extra, out.lines-res.lines-out.extra)
	}
	last.twice += out.extra - prevExtra
	res.twice = out.extra
	res.elapsed = time.Since(began)
	p = nil
	return res, nil
}

// writeSteadily appends numbered lines to path at crashRate lines/s, in a
// write every 5 ms, until stop is closed.
func writeSteadily(path string, written *atomic.Int64, stop <-chan struct{}) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	begin := time.Now()
	var buf []byte
	for n := 0; ; {
		select {
		case <-stop:
			return nil
		case <-time.After(5 * time.Millisecond):
		}
		due := int(time.Since(begin).Seconds() * crashRate)
		buf = buf[:0]
		for ; n < due; n++ {
			buf = crashLine(buf, n)
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
		written.Store(int64(n))
	}
}

// waitOutput waits until the output holds each of lines 0…n-1.
func waitOutput(out *crashOutput, n int, exited <-chan struct{}) error {
	return waitFor(fmt.Sprintf("each of the first %d lines in the output", n), exited, func() (bool, error) {
		err := out.update()
		return out.missing(n) == 0, err
	})
}
