package eval

// TCPDBench matches true change points to predictions greedily, taking the
// true points in the iteration order of a Python set of ints, and that order
// changes the count now and then (a true point that takes a prediction
// another one needed). pySet reproduces that order, so that the F1 here is
// TCPDBench's own, as its published figures were computed: CPython's set
// (Objects/setobject.c, unchanged from 3.7 to 3.13), where an int hashes to
// itself, the table starts with 8 slots, a new key probes its slot and the
// 9 after it, then jumps by perturbation, and the table is rebuilt 4 times
// as large as its keys once it is 3/5 full.

const (
	pySetMinSize      = 8
	pySetLinearProbes = 9
	pySetPerturbShift = 5
)

// pySet is a CPython set of small non-negative ints, for its iteration order.
type pySet struct {
	table []int // -1: empty
	used  int
}

func newPySet() *pySet {
	s := &pySet{table: make([]int, pySetMinSize)}
	for i := range s.table {
		s.table[i] = -1
	}
	return s
}

// add is set.add(key) (set_add_entry): no deletions happen here, so there
// are no dummies to reuse.
func (s *pySet) add(key int) {
	mask := len(s.table) - 1
	perturb := uint64(key)
	i := key & mask
	for {
		probes := 0
		if i+pySetLinearProbes <= mask {
			probes = pySetLinearProbes
		}
		for j := i; j <= i+probes; j++ {
			switch s.table[j] {
			case key:
				return
			case -1:
				s.table[j] = key
				s.used++
				if s.used*5 >= mask*3 { // fill == used without deletions
					s.resize(s.used * 4)
				}
				return
			}
		}
		perturb >>= pySetPerturbShift
		i = int((uint64(i)*5 + 1 + perturb) & uint64(mask))
	}
}

// resize is set_table_resize: a table of the first power of two above
// minUsed, the keys inserted again in the old table's order.
func (s *pySet) resize(minUsed int) {
	size := pySetMinSize
	for size <= minUsed {
		size <<= 1
	}
	old := s.table
	s.table = make([]int, size)
	for i := range s.table {
		s.table[i] = -1
	}
	mask := size - 1
	for _, key := range old {
		if key < 0 {
			continue
		}
		// set_insert_clean
		perturb := uint64(key)
		i := key & mask
		for placed := false; !placed; {
			if s.table[i] == -1 {
				s.table[i] = key
				break
			}
			if i+pySetLinearProbes <= mask {
				for j := i + 1; j <= i+pySetLinearProbes; j++ {
					if s.table[j] == -1 {
						s.table[j] = key
						placed = true
						break
					}
				}
			}
			perturb >>= pySetPerturbShift
			i = int((uint64(i)*5 + 1 + perturb) & uint64(mask))
		}
	}
}

// order is the set's iteration order.
func (s *pySet) order() []int {
	out := make([]int, 0, s.used)
	for _, k := range s.table {
		if k >= 0 {
			out = append(out, k)
		}
	}
	return out
}
