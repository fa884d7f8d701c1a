package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

func TestThreadClock(t *testing.T) {
	if !haveThreadClock {
		t.Skip("no per-thread CPU clock on " + runtime.GOOS)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own, ok := ownThreadCPU()
	if !ok || own <= 0 {
		t.Fatalf("own thread CPU = %v, %v", own, ok)
	}
	byID, ok := threadCPU(currentThread())
	if !ok || byID < own {
		t.Fatalf("the thread's CPU by its id = %v, %v; its own clock said %v before", byID, ok, own)
	}
}

// workScript does a fixed amount of work per call: loops iterations.
const workScript = `
function process_message()
  local x = 0
  for i = 1, read_config("loops") do x = x + i end
  return 0
end`

// calibratedWork returns a sandbox whose calls each do about 20 ms of work
// on this machine, under a time limit of five times what a call took.
func calibratedWork(t *testing.T) *Sandbox {
	t.Helper()
	loops := 100000
	for {
		s, _ := newSandbox(t, workScript, func(o *Options) {
			o.Config = map[string]any{"loops": int64(loops)}
			o.Limits.CallTime = time.Minute
		})
		if _, err := s.ProcessMessage(&pipeline.Message{}); err != nil {
			t.Fatal(err)
		}
		took := s.Usage().CallTime
		if took >= 20*time.Millisecond || loops >= 1<<28 {
			limit := max(5*took, 50*time.Millisecond)
			t.Logf("%d loops took %v; time limit %v", loops, took, limit)
			s, _ = newSandbox(t, workScript, func(o *Options) {
				o.Config = map[string]any{"loops": int64(loops)}
				o.Limits.CallTime = limit
			})
			return s
		}
		loops *= 2
	}
}

// A healthy script is not stopped for the time the whole process was
// stopped (SIGSTOP, as a VM that loses its CPU or a debugger does): the
// limit charges the script's own running time. On the wall clock each of
// these calls ran over its limit.
func TestProcessStallsAreNotScriptTime(t *testing.T) {
	s := calibratedWork(t)
	limit := s.limits.CallTime
	const pauses = 5
	var calls, stops atomic.Int64
	var over atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range pauses {
			// One pause per call or so, each longer than the limit.
			for n := calls.Load(); calls.Load() == n && !over.Load(); {
				runtime.Gosched()
			}
			if over.Load() {
				return
			}
			stopProcessFor(t, 2*limit)
			stops.Add(1)
		}
	}()
	var err error
	for err == nil && stops.Load() < pauses {
		_, err = s.ProcessMessage(&pipeline.Message{})
		calls.Add(1)
	}
	over.Store(true)
	<-done
	if err != nil {
		t.Fatalf("call %d of a healthy script was stopped while the process was paused %d times: %v", calls.Load(), stops.Load(), err)
	}
	t.Logf("%d calls, %d pauses of %v; longest call charged %v", calls.Load(), pauses, 2*limit, s.Usage().MaxCallTime)
}

// Without a thread clock a call is charged its wall time, but not the
// stalls of the whole process, which the watchdog sees as its own ticks
// arriving late.
func TestProcessStallsOnTheWallClock(t *testing.T) {
	useThreadClock = false
	t.Cleanup(func() { useThreadClock = haveThreadClock })
	TestProcessStallsAreNotScriptTime(t)
}

// stopProcessFor stops this process with SIGSTOP; a child process sends the
// SIGCONT after d.
func stopProcessFor(t *testing.T, d time.Duration) {
	cont := exec.Command("sh", "-c", fmt.Sprintf("sleep %.3f; kill -CONT %d", d.Seconds(), os.Getpid()))
	if err := cont.Start(); err != nil {
		t.Errorf("starting the SIGCONT sender: %v", err)
		return
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGSTOP); err != nil {
		t.Errorf("SIGSTOP: %v", err)
	}
	_ = cont.Wait()
}

// A healthy script is not stopped because other goroutines keep every core
// busy: it is charged for the time it ran, not for the time it waited.
func TestStarvedScriptIsNotStopped(t *testing.T) {
	if !haveThreadClock {
		t.Skip("no per-thread CPU clock on " + runtime.GOOS)
	}
	s := calibratedWork(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hogs := 8 * runtime.GOMAXPROCS(0) // each call waits for about 8 others
	for range hogs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for {
				select {
				case <-stop:
					return
				default:
					for i := 0; i < 1e5; i++ {
						n += i
					}
				}
			}
		}()
	}
	var err error
	var wall time.Duration
	for i := 0; i < 3 && err == nil; i++ {
		t0 := time.Now()
		_, err = s.ProcessMessage(&pipeline.Message{})
		wall = max(wall, time.Since(t0))
	}
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("a healthy script beside %d busy goroutines was stopped: %v", hogs, err)
	}
	t.Logf("longest call: %v of wall time, %v charged (limit %v)", wall, s.Usage().MaxCallTime, s.limits.CallTime)
}

// A module function that runs long is charged for it, when it calls
// Check as it must, even when the call begins inside it: the first tick's
// request for the thread clock is served by Check.
func TestLongModuleCallIsCharged(t *testing.T) {
	if !haveThreadClock {
		t.Skip("no per-thread CPU clock on " + runtime.GOOS)
	}
	s, _ := newSandbox(t, `local busy = require("test_busy")
function process_message() busy.spin(2000) return 0 end`, func(o *Options) { o.Limits.CallTime = 100 * time.Millisecond })
	var err error
	within(t, time.Minute, func() { _, err = s.ProcessMessage(&pipeline.Message{}) })
	wantTerminated(t, err, ReasonTime)
}
