package system

import "context"

// cpuTimes are one CPU's time counters since boot, in clock ticks (only
// their ratios are used). user and nice include guest and guest_nice, as
// Linux counts them.
type cpuTimes struct {
	user, nice, system, idle, iowait, irq, softirq, steal, guest, guestNice uint64
}

// cpuSample is one line of /proc/stat: tag "cpu-total" or "cpu0", "cpu1"...
type cpuSample struct {
	name  string
	times cpuTimes
}

// collectCPU emits Telegraf's cpu measurement: the share of each state over
// the time since the previous round, in percent, per CPU and in total. The
// first round only records the counters.
func (s *System) collectCPU(_ context.Context, r *round) error {
	samples, err := readCPUTimes()
	if err != nil {
		return err
	}
	last := s.lastCPU
	s.lastCPU = make(map[string]cpuTimes, len(samples))
	for _, c := range samples {
		s.lastCPU[c.name] = c.times
		if c.name == "cpu-total" && !s.TotalCPU || c.name != "cpu-total" && !s.PerCPU {
			continue
		}
		prev, ok := last[c.name]
		if !ok {
			continue // a first round, or a CPU that just came online
		}
		u, ok := cpuUsage(prev, c.times)
		if !ok {
			continue
		}
		r.begin("cpu")
		r.tag("cpu", c.name)
		r.float("usage_user", u.user)
		r.float("usage_system", u.system)
		r.float("usage_idle", u.idle)
		r.float("usage_nice", u.nice)
		r.float("usage_iowait", u.iowait)
		r.float("usage_irq", u.irq)
		r.float("usage_softirq", u.softirq)
		r.float("usage_steal", u.steal)
		r.float("usage_guest", u.guest)
		r.float("usage_guest_nice", u.guestNice)
		if err := r.emit(); err != nil {
			return err
		}
	}
	return nil
}

// cpuPercent is each state's share of a CPU's time over an interval.
type cpuPercent struct {
	user, nice, system, idle, iowait, irq, softirq, steal, guest, guestNice float64
}

// cpuUsage computes Telegraf's usage_* fields between two samples: the
// total is user+nice+system+idle+iowait+irq+softirq+steal (guest time is
// inside user and nice), and usage_user and usage_nice leave the guest
// time out, so the ten shares add up to 100. A counter that went backwards
// (Linux's iowait can) counts as 0. ok is false when no time passed.
func cpuUsage(prev, cur cpuTimes) (p cpuPercent, ok bool) {
	d := func(a, b uint64) float64 {
		if b < a {
			return 0
		}
		return float64(b - a)
	}
	user, nice := d(prev.user, cur.user), d(prev.nice, cur.nice)
	system, idle, iowait := d(prev.system, cur.system), d(prev.idle, cur.idle), d(prev.iowait, cur.iowait)
	irq, softirq, steal := d(prev.irq, cur.irq), d(prev.softirq, cur.softirq), d(prev.steal, cur.steal)
	guest, guestNice := min(d(prev.guest, cur.guest), user), min(d(prev.guestNice, cur.guestNice), nice)
	total := user + nice + system + idle + iowait + irq + softirq + steal
	if total == 0 {
		return p, false
	}
	return cpuPercent{
		user:      percent(user-guest, total),
		nice:      percent(nice-guestNice, total),
		system:    percent(system, total),
		idle:      percent(idle, total),
		iowait:    percent(iowait, total),
		irq:       percent(irq, total),
		softirq:   percent(softirq, total),
		steal:     percent(steal, total),
		guest:     percent(guest, total),
		guestNice: percent(guestNice, total),
	}, true
}
