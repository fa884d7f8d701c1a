package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/interoceptor/interoceptor/sandbox/modules/anomaly"
)

// The load of the anomaly scenarios: metrics of many hosts, interleaved (each
// round, every host sends one point), with a few anomalies planted in them.

const (
	anomalyField  = "usage_user"              // the field the filter watches
	anomalyStart  = 1_700_000_000_000_000_000 // the first round's timestamp (ns)
	anomalyPeriod = 10 * time.Second          // between two points of a series

	// The planted anomalies: a spike or a dip of anomalySpikeSigmas at round
	// anomalySpikeRound, a lasting shift of anomalyShiftSigmas from round
	// anomalyShiftRound, and a flat line of anomalyFlatRounds points from
	// round anomalyFlatRound, each in one host of every anomalyEvery.
	anomalyEvery       = 100
	anomalySpikeRound  = 500
	anomalySpikeSigmas = 15
	anomalyShiftRound  = 600
	anomalyShiftSigmas = 10
	anomalyFlatRound   = 700
	anomalyFlatRounds  = 30
)

// anomalyLoad is the load of one anomaly run, generated once.
type anomalyLoad struct {
	buf     []byte // n lines of line protocol, each ending in '\n'
	n       int    // points
	series  int    // hosts: one series each
	first   string // the first line, without its newline
	planted int    // anomalies planted within the n points (with the points that show them)
	found   int    // of those, how many the events below report
	// quiet: the events of the hosts with nothing planted, and their points.
	quietEvents, quietPoints int
	// events is what a detector per series, with the filter's defaults,
	// reports on these points, in the order the points come: what the filter
	// must inject.
	events []expectedEvent
}

// expectedEvent is an event of one host's series.
type expectedEvent struct {
	host string
	anomaly.Event
}

// anomalyHost names host h; five digits so that 100,000 hosts sort as they
// are numbered.
func anomalyHost(h int) string { return fmt.Sprintf("host-%05d", h) }

// generateAnomalyLoad makes n points of series hosts, round after round
// (host 0, 1, …, hosts−1, then host 0 again), such as
//
//	cpu,cpu=cpu-total,host=host-00042 usage_user=57.31,usage_system=14.33 1700000000000000000
//
// Host h's usage_user is a level of its own (50 to 89) with Gaussian noise
// of its own (σ 1 to 2.5), rounded to hundredths; in one host of every 100
// a spike (or a dip), a level shift or a flat line is planted (see the
// constants). The points of a round share its timestamp; rounds are 10 s
// apart. The events are those of a detector per host fed the same values,
// so the load's cost in benchrun's memory is a detector per series, held
// only while it is made.
func generateAnomalyLoad(n, hosts int) anomalyLoad {
	l := anomalyLoad{n: n, series: hosts, buf: make([]byte, 0, n*90)}
	r := rand.New(rand.NewPCG(10, 6))
	names := make([]string, hosts)
	dets := make([]*anomaly.Detector, hosts)
	found := make([]bool, hosts)
	for h := range hosts {
		names[h] = anomalyHost(h)
		dets[h] = anomaly.New(anomaly.Config{}) // the filter's defaults
	}
	for i := range n {
		round, h := i/hosts, i%hosts
		level := 50 + float64(h%40)
		sigma := 1 + float64(h%4)/2
		v := level + sigma*r.NormFloat64()
		switch kind := h % anomalyEvery; {
		case kind == 7 && round == anomalySpikeRound:
			v += anomalySpikeSigmas * sigma
		case kind == 27 && round == anomalySpikeRound:
			v -= anomalySpikeSigmas * sigma
		case kind == 47 && round >= anomalyShiftRound:
			v += anomalyShiftSigmas * sigma
		case kind == 67 && round >= anomalyFlatRound && round < anomalyFlatRound+anomalyFlatRounds:
			v = level
		}
		v = math.Round(v*100) / 100 // what the line says: reading it back gives these very bits
		ts := anomalyStart + int64(round)*int64(anomalyPeriod)
		start := len(l.buf)
		l.buf = append(l.buf, "cpu,cpu=cpu-total,host="...)
		l.buf = append(l.buf, names[h]...)
		l.buf = append(l.buf, " "+anomalyField+"="...)
		l.buf = strconv.AppendFloat(l.buf, v, 'g', -1, 64)
		l.buf = append(l.buf, ",usage_system="...)
		l.buf = strconv.AppendFloat(l.buf, math.Round(v*25)/100, 'g', -1, 64)
		l.buf = append(l.buf, ' ')
		l.buf = strconv.AppendInt(l.buf, ts, 10)
		if i == 0 {
			l.first = string(l.buf[start:])
		}
		l.buf = append(l.buf, '\n')
		if _, ev := dets[h].Add(ts, v); ev != nil {
			l.events = append(l.events, expectedEvent{host: names[h], Event: *ev})
			if plantedAt(h, ev) && !found[h] {
				found[h] = true
				l.found++
			}
			if _, planted := plantedIndex(h, hosts); !planted {
				l.quietEvents++
			}
		}
		if _, planted := plantedIndex(h, hosts); !planted {
			l.quietPoints++
		}
	}
	for h := range hosts {
		if i, ok := plantedIndex(h, hosts); ok && i < n {
			l.planted++
		}
	}
	return l
}

// plantedIndex is the index of the point from which host h's planted
// anomaly can be found: the spike or dip itself, the 16th point after a
// shift (the detector's jump_after_long), the flat line's flat_run-th point.
func plantedIndex(h, hosts int) (int, bool) {
	round := 0
	switch h % anomalyEvery {
	case 7, 27:
		round = anomalySpikeRound
	case 47:
		round = anomalyShiftRound + anomaly.DefaultJumpAfterLong - 1
	case 67:
		round = anomalyFlatRound + anomaly.DefaultFlatRun - 1
	default:
		return 0, false
	}
	return round*hosts + h, true
}

// plantedAt reports whether ev is host h's planted anomaly: the spike or dip
// at its point, the shift dated within two points of where it began, the
// flat line within its rounds.
func plantedAt(h int, ev *anomaly.Event) bool {
	at := func(round int) int64 { return anomalyStart + int64(round)*int64(anomalyPeriod) }
	switch h % anomalyEvery {
	case 7:
		return ev.Kind == "new_high" && ev.Time == at(anomalySpikeRound)
	case 27:
		return ev.Kind == "new_low" && ev.Time == at(anomalySpikeRound)
	case 47:
		return ev.Kind == "level_shift" && ev.ChangeTime >= at(anomalyShiftRound-2) && ev.ChangeTime <= at(anomalyShiftRound+2)
	case 67:
		return ev.Kind == "flatline" && ev.Time >= at(anomalyFlatRound) && ev.Time < at(anomalyFlatRound+anomalyFlatRounds)
	}
	return false
}
