package system

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// readCPUTimes reads the cpu lines of /proc/stat, "cpu" (as "cpu-total")
// first. gopsutil's cpu package would need two more modules in go.mod for
// the same ten numbers.
func readCPUTimes() ([]cpuSample, error) {
	data, err := os.ReadFile(hostPath("HOST_PROC", "/proc", "stat"))
	if err != nil {
		return nil, err
	}
	var out []cpuSample
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(line, "cpu") {
			continue
		}
		f := strings.Fields(line)
		// The name and the seven counters Linux has had since 2.6.
		if len(f) < 8 {
			return nil, fmt.Errorf("/proc/stat: short line %q", strings.TrimSpace(line))
		}
		c := cpuSample{name: f[0]}
		if c.name == "cpu" {
			c.name = "cpu-total"
		}
		counters := []*uint64{&c.times.user, &c.times.nice, &c.times.system, &c.times.idle, &c.times.iowait,
			&c.times.irq, &c.times.softirq, &c.times.steal, &c.times.guest, &c.times.guestNice}
		for i, p := range counters {
			if i+1 >= len(f) {
				break // steal, guest and guest_nice came later
			}
			if *p, err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("/proc/stat: %s: %w", c.name, err)
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("/proc/stat: no cpu lines")
	}
	return out, nil
}

// logicalCPUs counts the cpuN lines of /proc/stat: the CPUs online.
func logicalCPUs() (int, error) {
	samples, err := readCPUTimes()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range samples {
		if c.name != "cpu-total" {
			n++
		}
	}
	return n, nil
}

// processCounts is Telegraf's processes measurement on Linux: processes by
// the state letter of /proc/[pid]/stat, and their threads.
type processCounts struct {
	running, sleeping, blocked, zombies, dead, stopped, paging, idle, parked, unknown int64
	total, threads                                                                    int64
}

// countProcesses reads /proc/[pid]/stat of every process, as Telegraf's
// processes plugin does. A process that ends while it is read is left out.
func countProcesses() (processCounts, error) {
	var c processCounts
	files, err := filepath.Glob(hostPath("HOST_PROC", "/proc", "[0-9]*", "stat"))
	if err != nil {
		return c, err
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue
		}
		if err != nil {
			return c, err
		}
		// The command, in parentheses, may hold spaces and parentheses.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 || i+2 > len(data) {
			continue
		}
		f := bytes.Fields(data[i+2:])
		if len(f) < 18 {
			return c, fmt.Errorf("%s: %d fields after the command, want at least 18", name, len(f))
		}
		switch f[0][0] {
		case 'R':
			c.running++
		case 'S':
			c.sleeping++
		case 'D':
			c.blocked++
		case 'Z':
			c.zombies++
		case 'X':
			c.dead++
		case 'T', 't':
			c.stopped++
		case 'W':
			c.paging++
		case 'I':
			c.idle++
		case 'P':
			c.parked++
		default:
			c.unknown++
		}
		c.total++
		// num_threads is the 20th field of the line, the 18th after the command.
		if n, err := strconv.ParseInt(string(f[17]), 10, 64); err == nil {
			c.threads += n
		}
	}
	return c, nil
}

// interfaceSpeed returns a network interface's speed in Mbit/s from
// /sys/class/net, -1 when the interface does not say (virtual ones, links
// that are down), as Telegraf's net plugin reports it.
func interfaceSpeed(name string) int64 {
	data, err := os.ReadFile(hostPath("HOST_SYS", "/sys", "class", "net", name, "speed"))
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// hostPath returns a path under /proc or /sys, or under the directory the
// environment variable env names (HOST_PROC, HOST_SYS), as gopsutil and
// Telegraf do for an agent in a container that mounts the host's.
func hostPath(env, dflt string, elem ...string) string {
	root := os.Getenv(env)
	if root == "" {
		root = dflt
	}
	return filepath.Join(append([]string{root}, elem...)...)
}
