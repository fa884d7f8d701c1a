package sandbox

import (
	"time"

	"golang.org/x/sys/unix"
)

// The CPU time of one thread, so that a call is charged for the time its
// thread ran and not for the time the process or the thread was stopped,
// starved or descheduled. Linux names a thread's CPU clock after its id
// (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) in the kernel's posix-timers.h):
// any thread of the process can read another's.

const haveThreadClock = true

// currentThread returns the calling thread's id; the caller has locked its
// goroutine to the thread.
func currentThread() int { return unix.Gettid() }

// threadCPU returns the CPU time thread tid has used.
func threadCPU(tid int) (time.Duration, bool) {
	clock := int32(^uint32(tid)<<3 | 6) // CPUCLOCK_PERTHREAD_MASK | CPUCLOCK_SCHED
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// ownThreadCPU returns the CPU time of the calling thread.
func ownThreadCPU() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
