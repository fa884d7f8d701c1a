package pipeline

// Interner returns the same string for the same bytes, so that names that
// repeat from line to line (keys, measurements, tag values) cost no
// allocation after the first time. It is bounded: a stream of ever-new
// strings (a tag value that is a request id, say) empties it now and then
// instead of growing it, and a string longer than 128 bytes is not kept.
// The zero value is ready to use. It is not safe for concurrent use: a
// decoder keeps one per pooled state.
type Interner struct {
	// Max is how many strings it holds before it empties; 1024 when zero.
	Max int

	m map[string]string
}

// Limits of an Interner.
const (
	defaultInternMax = 1024
	maxInternedLen   = 128
)

// String returns b as a string: while the Interner holds it, the same string
// for the same bytes, without allocating.
func (in *Interner) String(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(s) > maxInternedLen {
		return s
	}
	max := in.Max
	if max <= 0 {
		max = defaultInternMax
	}
	if in.m == nil {
		in.m = make(map[string]string)
	} else if len(in.m) >= max {
		clear(in.m)
	}
	in.m[s] = s
	return s
}
