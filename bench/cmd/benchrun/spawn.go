package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Why a wrapper process: on Linux, os/exec starts a child with vfork
// (CLONE_VM), so at execve the kernel carries the parent's high-water RSS
// into the child's maxrss. benchrun holds the generated lines (~100 MB), so
// the rusage of a child it starts directly reports benchrun's peak, not the
// child's. The wrapper is benchrun re-executed in a small fresh address space;
// it starts interoceptor, forwards signals, waits, and hands back the rusage
// of interoceptor alone.

// spawnFlag, as the first argument, runs benchrun as that wrapper:
//
//	benchrun -spawn RESULT_FILE BINARY ARGS...
const spawnFlag = "-spawn"

// spawned is what the wrapper reports about the process it ran.
type spawned struct {
	StartedNs int64 // wall clock, Unix ns, just before the start
	ExitedNs  int64 // wall clock, Unix ns, just after the exit was seen
	UserNs    int64
	SysNs     int64
	MaxRSSKiB int64 // Linux reports ru_maxrss in KiB
	ExitCode  int
}

// spawnMain is the wrapper's main.
func spawnMain(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "benchrun -spawn RESULT_FILE BINARY ARGS...")
		return 2
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// If benchrun kills the wrapper, the pipeline must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var s spawned
	s.StartedNs = time.Now().UnixNano()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun -spawn:", err)
		return 127
	}
	go func() {
		for sig := range sigs {
			_ = cmd.Process.Signal(sig)
		}
	}()
	_ = cmd.Wait()
	s.ExitedNs = time.Now().UnixNano()
	s.ExitCode = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.UserNs, s.SysNs, s.MaxRSSKiB = ru.Utime.Nano(), ru.Stime.Nano(), ru.Maxrss
	}
	b, _ := json.Marshal(s)
	if err := os.WriteFile(args[0], b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun -spawn:", err)
		return 1
	}
	if s.ExitCode < 0 {
		return 1 // killed by a signal
	}
	return s.ExitCode
}

// spawnCommand returns the command that runs bin with args under the
// wrapper, which writes its report to resultFile.
func spawnCommand(resultFile, bin string, args ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(self, append([]string{spawnFlag, resultFile, bin}, args...)...), nil
}

func readSpawned(path string) (spawned, error) {
	var s spawned
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("the wrapper left no report: %w", err)
	}
	return s, json.Unmarshal(b, &s)
}

// pipelineProc is the binary running a pipeline under the rusage wrapper
// (spawnCommand), its log (JSON, on stderr) watched.
type pipelineProc struct {
	cmd    *exec.Cmd
	log    *logWatch
	exited chan struct{} // closed once the wrapper has exited
	result string        // the wrapper's report (readSpawned)
	dir    string
}

// startPipeline starts `bin run -config cfgPath -log-format json extraArgs...` in the
// wrapper, its report written in dir; with stdin, it also returns a pipe to
// the pipeline's standard input. The caller defers end.
func startPipeline(bin, dir, cfgPath string, stdin bool, extraArgs ...string) (*pipelineProc, io.WriteCloser, error) {
	p := &pipelineProc{log: &logWatch{running: make(chan struct{})}, exited: make(chan struct{}),
		result: filepath.Join(dir, "rusage.json"), dir: dir}
	cmd, err := spawnCommand(p.result, bin, append([]string{"run", "-config", cfgPath, "-log-format", "json"}, extraArgs...)...)
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = p.log
	var in io.WriteCloser
	if stdin {
		if in, err = cmd.StdinPipe(); err != nil {
			return nil, nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	p.cmd = cmd
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, in, nil
}

// end kills the pipeline if it still runs and waits for it; when *err is
// set, it adds where the run's files were kept and the log's last lines.
func (p *pipelineProc) end(err *error) {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill() // the pipeline dies with the wrapper (Pdeathsig)
		<-p.exited
	}
	if *err != nil {
		*err = fmt.Errorf("%w\nkept %s; last lines of the log:\n%s", *err, p.dir, lastLines(p.log.String(), 15))
	}
}

// startRunning starts the pipeline of cfgPath, waits up to wait until it
// logs that it runs, and reads its admin API's URL from the log. On an
// error the process is already ended, and the error carries its log.
func startRunning(bin, dir, cfgPath string, wait time.Duration) (p *pipelineProc, admin string, err error) {
	p, _, err = startPipeline(bin, dir, cfgPath, false)
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if err != nil {
			p.end(&err)
			p = nil
		}
	}()
	if err := waitRunning(p.log, p.exited, wait); err != nil {
		return p, "", err
	}
	admin, err = adminURL(p.log.String())
	return p, admin, err
}
