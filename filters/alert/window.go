package alert

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on a host without /usr/share/zoneinfo
)

// TimeWindow is one element of a rule's active_time: the weekdays and the
// time of day, on the wall clock of a time zone, when the rule may fire, as
// Alertmanager's time_intervals say it.
type TimeWindow struct {
	// Days: "mon", "monday", ranges "mon-fri" or "monday:friday" (a range
	// may wrap: "fri-mon"); empty: every day.
	Days []string `toml:"days"`
	// From and To: "08:00" and "20:00", From included, To excluded;
	// defaults "00:00" and "24:00". From must be before To: write a
	// night as two windows.
	From string `toml:"from"`
	To   string `toml:"to"`
	// TimeZone: an IANA name ("Europe/Berlin"); default "UTC".
	TimeZone string `toml:"time_zone"`
}

// window is a TimeWindow checked and ready to use.
type window struct {
	days     [7]bool // by time.Weekday
	from, to int     // minutes since midnight, to up to 1440
	loc      *time.Location
}

// contains reports whether t falls in the window, on the zone's wall clock:
// on a day of daylight saving time change, 08:00 is still 08:00 there.
func (w *window) contains(t time.Time) bool {
	lt := t.In(w.loc)
	if !w.days[lt.Weekday()] {
		return false
	}
	m := lt.Hour()*60 + lt.Minute()
	return m >= w.from && m < w.to
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "sunday": time.Sunday, "mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tuesday": time.Tuesday, "wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thursday": time.Thursday, "fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
}

// compileWindow checks tw; the error names the key under prefix
// ("rules.[0].active_time.[1]").
func compileWindow(tw TimeWindow, prefix string) (window, error) {
	var w window
	if len(tw.Days) == 0 {
		w.days = [7]bool{true, true, true, true, true, true, true}
	}
	for _, d := range tw.Days {
		lo, hi, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(d)), "-")
		if !isRange {
			lo, hi, isRange = strings.Cut(lo, ":")
		}
		if !isRange {
			hi = lo
		}
		a, ok1 := weekdays[strings.TrimSpace(lo)]
		b, ok2 := weekdays[strings.TrimSpace(hi)]
		if !ok1 || !ok2 {
			return w, invalid(prefix+".days", "%q: want a weekday (mon, monday) or a range (mon-fri)", d)
		}
		for day := a; ; day = (day + 1) % 7 {
			w.days[day] = true
			if day == b {
				break
			}
		}
	}
	var err error
	if w.from, err = clockMinutes(tw.From, 0); err != nil {
		return w, invalid(prefix+".from", "%v", err)
	}
	if w.to, err = clockMinutes(tw.To, 24*60); err != nil {
		return w, invalid(prefix+".to", "%v", err)
	}
	if w.from >= w.to {
		return w, invalid(prefix+".to", "%q is not after from %q: a window ends the day it starts (write a night as two windows)", tw.To, tw.From)
	}
	zone := tw.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	if w.loc, err = time.LoadLocation(zone); err != nil {
		return w, invalid(prefix+".time_zone", "unknown time zone %q (want an IANA name such as \"Europe/Berlin\")", zone)
	}
	return w, nil
}

// clockMinutes parses "08:00" (or "24:00") into minutes since midnight.
func clockMinutes(s string, empty int) (int, error) {
	if s == "" {
		return empty, nil
	}
	hs, ms, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if !ok || err1 != nil || err2 != nil || len(ms) != 2 || h < 0 || m < 0 || m > 59 || h > 24 || h == 24 && m != 0 {
		return 0, fmt.Errorf("%q: want a time of day as \"08:00\" (00:00 to 24:00)", s)
	}
	return h*60 + m, nil
}
