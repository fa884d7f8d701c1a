package system

import (
	"context"
	"errors"
	"io/fs"
	stdnet "net"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	psnet "github.com/shirou/gopsutil/v4/net"
)

// collectMem emits Telegraf's mem measurement.
func (s *System) collectMem(ctx context.Context, r *round) error {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return err
	}
	r.begin("mem")
	r.uint("total", vm.Total)
	r.uint("available", vm.Available)
	r.uint("used", vm.Used)
	r.uint("free", vm.Free)
	r.float("available_percent", percent(float64(vm.Available), float64(vm.Total)))
	r.float("used_percent", percent(float64(vm.Used), float64(vm.Total)))
	if runtime.GOOS == "linux" {
		for _, f := range []struct {
			name string
			v    uint64
		}{
			{"active", vm.Active}, {"buffered", vm.Buffers}, {"cached", vm.Cached},
			{"commit_limit", vm.CommitLimit}, {"committed_as", vm.CommittedAS}, {"dirty", vm.Dirty},
			{"high_free", vm.HighFree}, {"high_total", vm.HighTotal},
			{"huge_pages_free", vm.HugePagesFree}, {"huge_page_size", vm.HugePageSize}, {"huge_pages_total", vm.HugePagesTotal},
			{"inactive", vm.Inactive}, {"low_free", vm.LowFree}, {"low_total", vm.LowTotal},
			{"mapped", vm.Mapped}, {"page_tables", vm.PageTables}, {"shared", vm.Shared}, {"slab", vm.Slab},
			{"sreclaimable", vm.Sreclaimable}, {"sunreclaim", vm.Sunreclaim},
			{"swap_cached", vm.SwapCached}, {"swap_free", vm.SwapFree}, {"swap_total", vm.SwapTotal},
			{"vmalloc_chunk", vm.VmallocChunk}, {"vmalloc_total", vm.VmallocTotal}, {"vmalloc_used", vm.VmallocUsed},
			{"write_back", vm.WriteBack}, {"write_back_tmp", vm.WriteBackTmp},
		} {
			r.uint(f.name, f.v)
		}
	}
	return r.emit()
}

// collectSwap emits Telegraf's swap measurement (its gauges and its in/out
// counters in one point).
func (s *System) collectSwap(ctx context.Context, r *round) error {
	sw, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		return err
	}
	r.begin("swap")
	r.uint("total", sw.Total)
	r.uint("used", sw.Used)
	r.uint("free", sw.Free)
	r.float("used_percent", sw.UsedPercent)
	r.uint("in", sw.Sin)
	r.uint("out", sw.Sout)
	return r.emit()
}

// collectDisk emits Telegraf's disk measurement, one point per mounted file
// system: those in mount_points (all when empty), less the types in
// ignore_fs and those of no size (proc, sysfs, cgroup: pseudo file systems).
func (s *System) collectDisk(ctx context.Context, r *round) error {
	parts, err := disk.PartitionsWithContext(ctx, true)
	if err != nil {
		return err
	}
	// A mount point mounted over shows the last mount: keep that one.
	last := map[string]int{}
	for i, p := range parts {
		last[p.Mountpoint] = i
	}
	for i, p := range parts {
		switch {
		case last[p.Mountpoint] != i,
			len(s.MountPoints) > 0 && !slices.Contains(s.MountPoints, p.Mountpoint),
			slices.Contains(s.IgnoreFS, p.Fstype),
			p.Fstype == "autofs": // asking autofs for its usage would mount it
			continue
		}
		du, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			s.warnOnce("disk "+p.Mountpoint, "disk: mount point skipped", "path", p.Mountpoint, "err", err)
			continue
		}
		if du.Total == 0 {
			continue
		}
		r.begin("disk")
		r.tag("path", p.Mountpoint)
		r.tag("device", strings.ReplaceAll(p.Device, "/dev/", ""))
		r.tag("fstype", p.Fstype)
		r.tag("mode", mountMode(p.Opts))
		r.uint("total", du.Total)
		r.uint("free", du.Free)
		r.uint("used", du.Used)
		r.float("used_percent", percent(float64(du.Used), float64(du.Used)+float64(du.Free)))
		r.uint("inodes_total", du.InodesTotal)
		r.uint("inodes_free", du.InodesFree)
		r.uint("inodes_used", du.InodesUsed)
		r.float("inodes_used_percent", percent(float64(du.InodesUsed), float64(du.InodesTotal)))
		if err := r.emit(); err != nil {
			return err
		}
	}
	return nil
}

// mountMode is Telegraf's mode tag: rw, ro or unknown.
func mountMode(opts []string) string {
	switch {
	case slices.Contains(opts, "rw"):
		return "rw"
	case slices.Contains(opts, "ro"):
		return "ro"
	}
	return "unknown"
}

// diskIOSample is what diskio keeps of a device for the next round.
type diskIOSample struct {
	stat disk.IOCountersStat
	at   time.Time
}

// collectDiskIO emits Telegraf's diskio measurement, one point per block
// device, with io_await, io_svctm and io_util from the second round on.
func (s *System) collectDiskIO(ctx context.Context, r *round) error {
	stats, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(stats))
	for name := range stats {
		names = append(names, name)
	}
	slices.Sort(names)
	last := s.lastDiskIO
	s.lastDiskIO = make(map[string]diskIOSample, len(stats))
	for _, name := range names {
		io := stats[name]
		s.lastDiskIO[name] = diskIOSample{stat: io, at: r.now}
		r.begin("diskio")
		r.tag("name", name)
		r.uint("reads", io.ReadCount)
		r.uint("writes", io.WriteCount)
		r.uint("read_bytes", io.ReadBytes)
		r.uint("write_bytes", io.WriteBytes)
		r.uint("read_time", io.ReadTime)
		r.uint("write_time", io.WriteTime)
		r.uint("io_time", io.IoTime)
		r.uint("weighted_io_time", io.WeightedIO)
		r.uint("iops_in_progress", io.IopsInProgress)
		r.uint("merged_reads", io.MergedReadCount)
		r.uint("merged_writes", io.MergedWriteCount)
		if prev, ok := last[name]; ok {
			p := prev.stat
			wrapped := io.ReadCount < p.ReadCount || io.WriteCount < p.WriteCount ||
				io.ReadTime < p.ReadTime || io.WriteTime < p.WriteTime || io.IoTime < p.IoTime
			if !wrapped {
				ops := float64(io.ReadCount-p.ReadCount) + float64(io.WriteCount-p.WriteCount)
				busy := float64(io.IoTime - p.IoTime)
				if ops > 0 {
					r.float("io_await", (float64(io.ReadTime-p.ReadTime)+float64(io.WriteTime-p.WriteTime))/ops)
					r.float("io_svctm", busy/ops)
				}
				if ms := float64(r.now.Sub(prev.at).Milliseconds()); ms > 0 {
					r.float("io_util", 100*busy/ms)
				}
			}
		}
		if err := r.emit(); err != nil {
			return err
		}
	}
	return nil
}

// collectNet emits Telegraf's net measurement, one point per interface:
// those matching interfaces (glob patterns), or when it is empty every
// interface that is up, except loopback.
func (s *System) collectNet(ctx context.Context, r *round) error {
	counters, err := psnet.IOCountersWithContext(ctx, true)
	if err != nil {
		return err
	}
	var up map[string]stdnet.Flags
	if len(s.Interfaces) == 0 {
		ifaces, err := stdnet.Interfaces()
		if err != nil {
			return err
		}
		up = make(map[string]stdnet.Flags, len(ifaces))
		for _, i := range ifaces {
			up[i.Name] = i.Flags
		}
	}
	for _, io := range counters {
		if len(s.Interfaces) > 0 {
			if !s.interfaceWanted(io.Name) {
				continue
			}
		} else if f, ok := up[io.Name]; !ok || f&stdnet.FlagLoopback != 0 || f&stdnet.FlagUp == 0 {
			continue
		}
		r.begin("net")
		r.tag("interface", io.Name)
		r.uint("bytes_sent", io.BytesSent)
		r.uint("bytes_recv", io.BytesRecv)
		r.uint("packets_sent", io.PacketsSent)
		r.uint("packets_recv", io.PacketsRecv)
		r.uint("err_in", io.Errin)
		r.uint("err_out", io.Errout)
		r.uint("drop_in", io.Dropin)
		r.uint("drop_out", io.Dropout)
		r.int("speed", interfaceSpeed(io.Name))
		if err := r.emit(); err != nil {
			return err
		}
	}
	return nil
}

// interfaceWanted reports whether an interface matches one of the patterns
// of interfaces (checked by Validate).
func (s *System) interfaceWanted(name string) bool {
	for _, p := range s.Interfaces {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// collectSystem emits Telegraf's system measurement: load averages, CPUs,
// logged-in users (when utmp can be read) and uptime.
func (s *System) collectSystem(ctx context.Context, r *round) error {
	avg, err := load.AvgWithContext(ctx)
	if err != nil && !strings.Contains(err.Error(), "not implemented") {
		return err
	}
	if avg == nil {
		avg = &load.AvgStat{}
	}
	ncpu, err := logicalCPUs()
	if err != nil {
		return err
	}
	uptime, err := host.UptimeWithContext(ctx)
	if err != nil {
		return err
	}
	r.begin("system")
	r.float("load1", avg.Load1)
	r.float("load5", avg.Load5)
	r.float("load15", avg.Load15)
	r.int("n_cpus", int64(ncpu))
	if users, err := host.UsersWithContext(ctx); err == nil {
		unique := map[string]bool{}
		for _, u := range users {
			unique[u.User] = true
		}
		r.int("n_users", int64(len(users)))
		r.int("n_unique_users", int64(len(unique)))
	} else if !s.warned["system users"] {
		// No utmp (most containers) or not readable: Telegraf leaves the
		// user counts out too, without an error.
		s.warned["system users"] = true
		logf := s.env.Log.Warn
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			logf = s.env.Log.Debug
		}
		logf("system: n_users and n_unique_users left out", "err", err)
	}
	r.uint("uptime", uptime)
	return r.emit()
}

// collectProcesses emits Telegraf's processes measurement (Linux fields).
func (s *System) collectProcesses(_ context.Context, r *round) error {
	c, err := countProcesses()
	if err != nil {
		return err
	}
	r.begin("processes")
	r.int("blocked", c.blocked)
	r.int("zombies", c.zombies)
	r.int("stopped", c.stopped)
	r.int("running", c.running)
	r.int("sleeping", c.sleeping)
	r.int("total", c.total)
	r.int("unknown", c.unknown)
	r.int("dead", c.dead)
	r.int("paging", c.paging)
	r.int("total_threads", c.threads)
	r.int("idle", c.idle)
	r.int("parked", c.parked)
	return r.emit()
}
