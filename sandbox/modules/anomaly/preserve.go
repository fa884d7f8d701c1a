package anomaly

import (
	"bytes"
	"encoding/gob"
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// Preservation (Heka's preserve_data): a detector or a set is saved with
// everything it learned and restored as it was. The form is gob of the
// structures below, behind a version byte.

const preserveVersion = 1

type detectorState struct {
	Cfg                                  Config
	N                                    int
	Lo, Hi, PrevLo, PrevHi               float64
	HasPrevEpoch                         bool
	EpochStart                           int
	Moves, PrevMoves, Shifts, PrevShifts uint64
	PrevBin                              int
	Prev, Step, Level                    float64
	Sum, SumSq, PrevSum, PrevSumSq       float64
	Count, PrevCount                     float64
	FlatRun, LongestFlat                 int
	SinceEvent                           int
	RestScore                            float64
	JumpVals                             []float64
	JumpTS                               []int64
	JumpN, JumpLast                      int
}

type seriesState struct {
	Measurement, Key string
	Tags             []Tag
	Detector         detectorState
	LastTS           int64
	LastV            float64
	HasLast          bool
}

// A set is saved as its setState, then each series' seriesState, one gob
// value after another: no slice of every series is built (a set may hold
// 100,000).
type setState struct {
	Cfg       Config
	Field     string
	TagNames  []string
	MaxSeries int
	Counter   bool
	Ignored   uint64
	Series    int // how many seriesState follow
}

func (d *Detector) state() detectorState {
	return detectorState{Cfg: d.cfg, N: d.n, Lo: d.lo, Hi: d.hi, PrevLo: d.prevLo, PrevHi: d.prevHi,
		HasPrevEpoch: d.hasPrevEpoch, EpochStart: d.epochStart, Moves: d.moves, PrevMoves: d.prevMoves,
		Shifts: d.shifts, PrevShifts: d.prevShifts, PrevBin: d.prevBin, Prev: d.prev, Step: d.step, Level: d.level,
		Sum: d.sum, SumSq: d.sumSq, PrevSum: d.prevSum, PrevSumSq: d.prevSumSq, Count: d.count, PrevCount: d.prevCount,
		FlatRun: d.flatRun, LongestFlat: d.longestFlat, SinceEvent: d.sinceEvent, RestScore: d.restScore,
		JumpVals: d.jump.vals, JumpTS: d.jump.ts, JumpN: d.jump.n, JumpLast: d.jump.last}
}

func fromState(s detectorState) (*Detector, error) {
	if err := s.Cfg.Validate(); err != nil {
		return nil, err
	}
	d := New(s.Cfg)
	if len(s.JumpVals) != len(d.jump.vals) || len(s.JumpTS) != len(d.jump.ts) {
		return nil, fmt.Errorf("anomaly: preserved jump buffer of %d points, want %d", len(s.JumpVals), len(d.jump.vals))
	}
	d.n, d.lo, d.hi, d.prevLo, d.prevHi = s.N, s.Lo, s.Hi, s.PrevLo, s.PrevHi
	d.hasPrevEpoch, d.epochStart = s.HasPrevEpoch, s.EpochStart
	d.moves, d.prevMoves, d.shifts, d.prevShifts, d.prevBin = s.Moves, s.PrevMoves, s.Shifts, s.PrevShifts, s.PrevBin
	d.prev, d.step, d.level = s.Prev, s.Step, s.Level
	d.sum, d.sumSq, d.prevSum, d.prevSumSq, d.count, d.prevCount = s.Sum, s.SumSq, s.PrevSum, s.PrevSumSq, s.Count, s.PrevCount
	d.flatRun, d.longestFlat, d.sinceEvent, d.restScore = s.FlatRun, s.LongestFlat, s.SinceEvent, s.RestScore
	copy(d.jump.vals, s.JumpVals)
	copy(d.jump.ts, s.JumpTS)
	d.jump.n, d.jump.last = s.JumpN, s.JumpLast
	return d, nil
}

func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte(preserveVersion)
	if err := gob.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func decoder(data []byte) (*gob.Decoder, error) {
	if len(data) == 0 || data[0] != preserveVersion {
		return nil, fmt.Errorf("anomaly: preserved data of an unknown version")
	}
	return gob.NewDecoder(bytes.NewReader(data[1:])), nil
}

func decode(data []byte, v any) error {
	dec, err := decoder(data)
	if err != nil {
		return err
	}
	return dec.Decode(v)
}

// Preserve saves the detector (sandbox.Preserver).
func (d *Detector) Preserve() ([]byte, error) { return encode(d.state()) }

// Preserve saves the set and every series' detector (sandbox.Preserver).
func (set *Set) Preserve() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(set.series) * 1200)
	b.WriteByte(preserveVersion)
	enc := gob.NewEncoder(&b)
	if err := enc.Encode(setState{Cfg: set.cfg, Field: set.field, TagNames: set.tagNames, MaxSeries: set.maxSeries,
		Counter: set.counter, Ignored: set.ignored, Series: len(set.series)}); err != nil {
		return nil, err
	}
	for _, s := range set.series {
		if err := enc.Encode(seriesState{Measurement: s.Measurement, Key: s.Key, Tags: s.Tags, Detector: s.Detector.state(),
			LastTS: s.lastTS, LastV: s.lastV, HasLast: s.hasLast}); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// RestoreDetector rebuilds a preserved detector as a Lua value of L.
func RestoreDetector(L *lua.LState, data []byte) (lua.LValue, error) {
	var st detectorState
	if err := decode(data, &st); err != nil {
		return lua.LNil, err
	}
	d, err := fromState(st)
	if err != nil {
		return lua.LNil, err
	}
	return wrap(L, d, detectorMetatable(L)), nil
}

// RestoreSet rebuilds a preserved set as a Lua value of L.
func RestoreSet(L *lua.LState, data []byte) (lua.LValue, error) {
	dec, err := decoder(data)
	if err != nil {
		return lua.LNil, err
	}
	var st setState
	if err := dec.Decode(&st); err != nil {
		return lua.LNil, err
	}
	set, err := NewSet(SetConfig{Field: st.Field, Tags: st.TagNames, MaxSeries: st.MaxSeries, Counter: st.Counter, Detector: st.Cfg})
	if err != nil {
		return lua.LNil, err
	}
	set.ignored = st.Ignored
	for range st.Series {
		var ss seriesState
		if err := dec.Decode(&ss); err != nil {
			return lua.LNil, err
		}
		d, err := fromState(ss.Detector)
		if err != nil {
			return lua.LNil, err
		}
		s := &Series{Measurement: ss.Measurement, Key: ss.Key, Tags: ss.Tags, Detector: d,
			lastTS: ss.LastTS, lastV: ss.LastV, hasLast: ss.HasLast}
		set.series[s.Key] = s
		set.bytes += s.sizeBytes()
	}
	return wrap(L, set, setMetatable(L)), nil
}
