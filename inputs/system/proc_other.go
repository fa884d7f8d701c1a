//go:build !linux

package system

import (
	"errors"
	"fmt"
	"runtime"
)

// errUnsupported is returned by the collectors this platform cannot run.
var errUnsupported = fmt.Errorf("not supported on this platform: %w", errors.ErrUnsupported)

// readCPUTimes needs Linux's /proc/stat: elsewhere cpu is disabled at its
// first round, with a log line.
func readCPUTimes() ([]cpuSample, error) { return nil, errUnsupported }

// logicalCPUs is the number of CPUs the Go runtime sees.
func logicalCPUs() (int, error) { return runtime.NumCPU(), nil }

// processCounts is Telegraf's processes measurement, on Linux only here.
type processCounts struct {
	running, sleeping, blocked, zombies, dead, stopped, paging, idle, parked, unknown int64
	total, threads                                                                    int64
}

// countProcesses needs Linux's /proc (Telegraf runs ps elsewhere).
func countProcesses() (processCounts, error) { return processCounts{}, errUnsupported }

// interfaceSpeed is not known off Linux: -1, as for a link that does not say.
func interfaceSpeed(string) int64 { return -1 }
