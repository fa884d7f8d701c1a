package eval

import (
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The iteration order of pySet is CPython's, checked against python3 when
// it is there, on sets of the sizes TCPD's annotations have and larger.
func TestPySetOrderIsCPythons(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3: skipped")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var lists [][]int
	for n := range 60 {
		l := make([]int, n)
		for i := range l {
			l[i] = rng.IntN(1000)
		}
		lists = append(lists, l)
	}
	lists = append(lists, []int{169, 172, 217, 228, 287, 368, 382, 389, 409, 0}, []int{0, 8, 36, 40, 6})
	in, _ := json.Marshal(lists)
	script := `
import json, sys
out = []
for l in json.loads(sys.stdin.read()):
    s = set()
    for x in l:
        s.add(x)
    out.append(list(s))
print(json.dumps(out))`
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var want [][]int
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for i, l := range lists {
		s := newPySet()
		for _, x := range l {
			s.add(x)
		}
		if got := s.order(); !slices.Equal(got, want[i]) && !(len(got) == 0 && len(want[i]) == 0) {
			t.Errorf("set of %v: order %v, python %v", l, got, want[i])
		}
	}
}
