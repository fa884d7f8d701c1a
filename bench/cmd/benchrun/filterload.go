package main

import (
	"fmt"
	"net"
	"syscall"
	"time"
)

// filterLoadRun is what a run of a filter scenario measures (anomaly,
// alert-rules): a load sent over one TCP connection, timed until the filter
// has taken every point, then the process's whole-life figures.
type filterLoadRun struct {
	points         int
	elapsed        time.Duration // the first write → the filter has taken every point
	startup, drain time.Duration
	user, sys      time.Duration // the interoceptor process, whole life
	maxRSS         int64         // ru_maxrss: whole life, the drain included
	selfCPU        time.Duration
	otherCPU       time.Duration
	filter         filterStats // once the filter had taken every point
}

func (r filterLoadRun) cpu() time.Duration { return r.user + r.sys }

func (r filterLoadRun) pointsPerSec() float64 { return float64(r.points) / r.elapsed.Seconds() }

// runFilterLoad runs the pipeline of cfgPath, writes buf to its TCP input on
// port, and waits until plugin has taken n messages. atFull, when not nil,
// runs then, before the drain, with the admin API's URL and the pid of
// interoceptor (the wrapper's child). It returns the process's log for the
// scenario's own checks.
func runFilterLoad(bin, dir, cfgPath string, port int, buf []byte, plugin string, n int,
	atFull func(admin string, pid int) error) (r filterLoadRun, log string, err error) {
	r.points = n
	selfBefore, machineBefore := selfCPU(), machineBusy()
	proc, admin, err := startRunning(bin, dir, cfgPath, 30*time.Second)
	if err != nil {
		return r, "", err
	}
	defer proc.end(&err)
	cmd, exited := proc.cmd, proc.exited
	conn, err := dialUntil(fmt.Sprintf("127.0.0.1:%d", port), exited, 30*time.Second)
	if err != nil {
		return r, "", err
	}
	defer conn.Close()

	clock := time.Now()
	writeErr := make(chan error, 1)
	go func() {
		err := writeChunks(conn, buf)
		if err == nil {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		writeErr <- err
	}()
	err = waitForFilter(admin, plugin, n, exited)
	r.elapsed = time.Since(clock)
	if err != nil {
		return r, "", err
	}
	if err := <-writeErr; err != nil {
		return r, "", fmt.Errorf("writing to the TCP input: %w", err)
	}
	// Before the drain, whose final timer_event and preserve_data would count too.
	if r.filter, err = readFilterStats(proc.log.String(), plugin, n, exited); err != nil {
		return r, "", err
	}
	if atFull != nil {
		pid, err := childPID(cmd.Process.Pid, "") // interoceptor, the wrapper's child
		if err != nil {
			return r, "", err
		}
		if err := atFull(admin, pid); err != nil {
			return r, "", err
		}
	}
	if r.drain, err = terminate(cmd, exited); err != nil {
		return r, "", err
	}
	r.selfCPU = selfCPU() - selfBefore
	busy := machineBusy() - machineBefore

	s, err := readSpawned(proc.result)
	if err != nil {
		return r, "", err
	}
	if s.ExitCode != 0 {
		return r, "", fmt.Errorf("exit code %d, want 0", s.ExitCode)
	}
	r.user, r.sys = time.Duration(s.UserNs), time.Duration(s.SysNs)
	r.maxRSS = s.MaxRSSKiB * 1024
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		// The wrapper's own CPU counts with the load generator's.
		r.selfCPU += max(time.Duration(ru.Utime.Nano()+ru.Stime.Nano())-r.cpu(), 0)
	}
	if busy > 0 {
		r.otherCPU = max(busy-r.cpu()-r.selfCPU, 0)
	}
	if at := proc.log.runningAt(); !at.IsZero() {
		r.startup = time.Duration(at.UnixNano() - s.StartedNs)
	}
	return r, proc.log.String(), nil
}
