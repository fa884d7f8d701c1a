//go:build !linux

package sandbox

import "time"

// Without a readable per-thread CPU clock a call is charged its wall time,
// less the stalls of the whole process the watchdog sees (see limits.go).

const haveThreadClock = false

func currentThread() int                  { return 0 }
func threadCPU(int) (time.Duration, bool) { return 0, false }
func ownThreadCPU() (time.Duration, bool) { return 0, false }
