package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine describes where the figures were taken.
type machine struct {
	cpuModel   string
	nproc      string
	memTotal   string
	kernel     string
	goVersion  string
	binVersion string
	binPGO     string // the profile the binary was optimized with, "" for none
	gitRev     string
	tempDir    string  // where each run's files go, with its file system
	loadBefore string  // /proc/loadavg before any work
	loadAfter  string  // and at the end
	idleBefore float64 // % of all CPUs idle in the second before any work
}

func describeMachine(bin string) machine {
	m := machine{
		cpuModel:   procField("/proc/cpuinfo", "model name"),
		nproc:      command("nproc"),
		kernel:     command("uname", "-srm"),
		goVersion:  command("go", "version"),
		binVersion: command(bin, "version"),
		binPGO:     binaryPGO(bin),
		gitRev:     command("git", "describe", "--always", "--dirty"),
		tempDir:    os.TempDir() + " (" + fsType(os.TempDir()) + ")",
	}
	if m.nproc == "?" {
		m.nproc = strconv.Itoa(runtime.NumCPU())
	}
	if kb, err := strconv.ParseFloat(strings.Fields(procField("/proc/meminfo", "MemTotal") + " x")[0], 64); err == nil {
		m.memTotal = strconv.FormatFloat(kb/(1<<20), 'f', 1, 64) + " GiB"
	} else {
		m.memTotal = "?"
	}
	m.loadBefore = readLoadavg()
	busy0, total0 := cpuTicks()
	time.Sleep(time.Second)
	busy1, total1 := cpuTicks()
	if total1 > total0 {
		m.idleBefore = 100 * (1 - float64(busy1-busy0)/float64(total1-total0))
	}
	return m
}

// binaryPGO is the "pgo" of `bin version -json`: the CPU profile the binary
// was optimized with, "" when none, "?" when the binary does not say.
func binaryPGO(bin string) string {
	out, err := exec.Command(bin, "version", "-json").Output()
	var v struct {
		PGO *string `json:"pgo"`
		Go  string  `json:"go"`
	}
	if err != nil || json.Unmarshal(out, &v) != nil || v.Go == "" {
		return "?"
	}
	if v.PGO == nil {
		return ""
	}
	return *v.PGO
}

// command runs a command and returns its first line of output, or "?".
func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func readLoadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// userHZ is the unit of /proc/stat on Linux (USER_HZ, 100 on every common
// architecture).
const userHZ = 100

// cpuTicks returns the busy and total ticks of all CPUs from /proc/stat.
func cpuTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	// user nice system idle iowait irq softirq steal (guest is inside user)
	for i, s := range f[1:9] {
		v, _ := strconv.ParseInt(s, 10, 64)
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total
}

// machineBusy is the CPU time all CPUs have spent busy since boot.
func machineBusy() time.Duration {
	busy, _ := cpuTicks()
	return time.Duration(busy) * time.Second / userHZ
}

// selfCPU is the CPU time benchrun itself has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fsType(path string) string {
	var st syscall.Statfs_t
	if syscall.Statfs(path, &st) != nil {
		return "?"
	}
	switch int64(st.Type) {
	case 0xEF53:
		return "ext4"
	case 0x01021994:
		return "tmpfs"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794C7630:
		return "overlayfs"
	}
	return "fs type 0x" + strconv.FormatInt(int64(st.Type), 16)
}
