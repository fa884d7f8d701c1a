package pipeline_test

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/interoceptor/interoceptor/pipeline"
)

func TestInternerReturnsTheSameStringWithoutAllocating(t *testing.T) {
	var in pipeline.Interner
	first := in.String([]byte("host"))
	again := in.String([]byte("host"))
	if first != "host" || unsafe.StringData(first) != unsafe.StringData(again) {
		t.Errorf("String returned %q and %q, want the same string twice", first, again)
	}
	key := []byte("host")
	if allocs := testing.AllocsPerRun(100, func() { in.String(key) }); allocs != 0 {
		t.Errorf("%.0f allocations for a name already held, want 0", allocs)
	}
}

func TestInternerIsBounded(t *testing.T) {
	in := pipeline.Interner{Max: 2}
	a := in.String([]byte("alpha"))
	in.String([]byte("beta"))
	in.String([]byte("gamma")) // full: emptied, then holds gamma
	if again := in.String([]byte("alpha")); unsafe.StringData(again) == unsafe.StringData(a) {
		t.Error("alpha was still held after the table filled up")
	}
	long := []byte(strings.Repeat("x", 129))
	if s1, s2 := in.String(long), in.String(long); s1 != string(long) || unsafe.StringData(s1) == unsafe.StringData(s2) {
		t.Error("a string longer than 128 bytes was kept")
	}
}
