package change

import (
	"encoding/json"
	"fmt"
	"math"
)

// preserveVersion is bumped whenever the preserved form changes; Restore
// refuses versions it does not know.
const preserveVersion = 1

// preserved is the detector's state on disk. JSON keeps it readable, and
// Go's float formatting round-trips every finite value exactly (the window
// holds only finite values).
type preserved struct {
	Version    int       `json:"v"`
	Window     int       `json:"window"`
	MinSamples int       `json:"min_samples"`
	Confidence float64   `json:"confidence"`
	Seen       int64     `json:"seen"`
	Times      []int64   `json:"times"`
	Kinds      []uint8   `json:"kinds"` // the caller passed 0: a number, 1: an ns, 2: a decimal string
	Values     []float64 `json:"values"`
}

// Preserve returns the detector's settings and window, for Restore.
func (d *Detector) Preserve() ([]byte, error) {
	w := d.buf[d.start:]
	p := preserved{
		Version:    preserveVersion,
		Window:     d.cfg.Window,
		MinSamples: d.cfg.MinSamples,
		Confidence: d.cfg.Confidence,
		Seen:       d.seen,
		Times:      make([]int64, len(w)),
		Kinds:      make([]uint8, len(w)),
		Values:     make([]float64, len(w)),
	}
	for i, pt := range w {
		p.Times[i], p.Kinds[i], p.Values[i] = pt.ts, uint8(pt.kind), pt.v
	}
	return json.Marshal(p)
}

// unmarshal rebuilds a detector from Preserve's output.
func unmarshal(data []byte) (*Detector, error) {
	var p preserved
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("change: restore: %w", err)
	}
	if p.Version != preserveVersion {
		return nil, fmt.Errorf("change: restore: unknown version %d", p.Version)
	}
	d, err := New(Config{Window: p.Window, MinSamples: p.MinSamples, Confidence: p.Confidence})
	if err != nil {
		return nil, fmt.Errorf("change: restore: %w", err)
	}
	n := len(p.Values)
	if len(p.Times) != n || len(p.Kinds) != n || n > p.Window || p.Seen < int64(n) {
		return nil, fmt.Errorf("change: restore: inconsistent window (%d values, %d times, %d kinds, window %d, seen %d)",
			n, len(p.Times), len(p.Kinds), p.Window, p.Seen)
	}
	for i, v := range p.Values {
		k := tsKind(p.Kinds[i])
		if k > tsString {
			return nil, fmt.Errorf("change: restore: unknown timestamp kind %d", k)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("change: restore: value %d: %w", i+1, ErrNotFinite)
		}
		// push, not add: the preserved window was searched when it was built.
		d.push(point{ts: p.Times[i], v: v, kind: k})
	}
	d.seen = p.Seen
	return d, nil
}
