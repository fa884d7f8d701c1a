package pipeline

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// FuzzLineProtocolFastPath: wherever the fast paths take a line or a
// metric, they give what the line protocol library gives.
func FuzzLineProtocolFastPath(f *testing.F) {
	for _, tc := range lpCanonicalLines {
		f.Add([]byte(tc.line))
	}
	for _, tc := range lpNonCanonicalLines {
		f.Add([]byte(tc.line))
	}
	for _, line := range lpFastPathSeeds {
		f.Add([]byte(line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkFastPath(t, line)
	})
}

// lpFastPathSeeds are lines at the edges of what the fast path takes.
var lpFastPathSeeds = []string{
	lpBenchLine,
	"cpu,cpu=cpu2,host=edge-0042,region=eu-west-zzzzzzzzz user=10.5,idle=89.5,seq=42i 1700000000042000000",
	"m x=1", "m x=1 ", "m x=1  1", "m  x=1 1", "m,t=a  x=1 1", "m x=1,y=2 1\r", "m x=-1.5e-3,y=1E5,z=007,w=.5,v=5. 1",
	"m x=-,y=1 1", "m x=1e,y=1 1", "m x=1i,y=-0i,z=0u,w=-1u 1", "m x=99999999999999999999i 1", "m x=1e999 1",
	`m s="a,b c",t="" 1`, `m s="a\"b" 1`, `m s="unterminated 1`, "m b=t,c=TRUE,d=False,e=fAlse 1",
	"m,a=1,a=2 x=1 1", "m,b=1,a=2 x=1 1", "#m x=1 1", "m,t= x=1 1", "m,=v x=1 1", "m x=1 +1", "m x=1 -", "m x=1 1 2",
	"m x=1 99999999999999999999", "m,t=v\\ x=1 1", "m x=007i,y=0007u,z=-007i 0009", "m x=9223372036854775808i 1",
	"m x=-9223372036854775809i -9223372036854775809", "m x=18446744073709551616u 1", "m x=1i,y=-i,z=-u 1",
}

func checkFastPath(t *testing.T, line []byte) {
	t.Helper()
	fast := &Message{Timestamp: lpDefaultTimestamp}
	var p lpParser
	if p.parseFast(line, fast) {
		lib := &Message{Timestamp: lpDefaultTimestamp}
		if err := parseWithLibrary(line, lib, &Interner{}); err != nil {
			t.Fatalf("fast path takes %q, the library says %v", line, err)
		}
		if !fast.Equal(lib) {
			t.Fatalf("parse %q:\n fast path %s\n   library %s", line, lpDump(fast), lpDump(lib))
		}
	}
	m := &Message{Timestamp: lpDefaultTimestamp}
	err := ParseLineProtocol(line, m)
	checkTransient(t, line, m, err)
	if err != nil {
		return
	}
	name := m.Measurement()
	var tags []int
	for i := range m.Fields {
		if m.Fields[i].Role == RoleTag {
			tags = append(tags, i)
		}
	}
	slices.SortFunc(tags, func(a, b int) int { return strings.Compare(m.Fields[a].Name, m.Fields[b].Name) })
	out, ok := appendFast([]byte("x"), m, name, tags)
	if !ok {
		return
	}
	want, err := appendWithLibrary([]byte("x"), m, name, tags)
	if err != nil {
		t.Fatalf("fast path writes %s as %q, the library says %v", lpDump(m), out, err)
	}
	if string(out) != string(want) {
		t.Fatalf("write %s:\n fast path %q\n   library %q", lpDump(m), out, want)
	}
}

// checkTransient checks that ParseLineProtocolTransient parses line as
// ParseLineProtocol did (into want, or to wantErr), and that what it gives
// stays right once line is overwritten only if it copied.
func checkTransient(t *testing.T, line []byte, want *Message, wantErr error) {
	t.Helper()
	own := bytes.Clone(line)
	got := &Message{Timestamp: lpDefaultTimestamp}
	err := ParseLineProtocolTransient(own, got)
	if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Fatalf("parse %q: transient error %v, ParseLineProtocol's %v", line, err, wantErr)
	}
	if err != nil {
		if len(got.Fields) != 0 || got.Timestamp != lpDefaultTimestamp {
			t.Fatalf("parse %q failed but left %s", line, lpDump(got))
		}
		return
	}
	if !got.Equal(want) {
		t.Fatalf("parse %q:\n transient %s\n      copy %s", line, lpDump(got), lpDump(want))
	}
}

// TestLineProtocolTransientAliases checks that the transient parse of a
// plain line neither allocates nor interns: its strings are the line's
// bytes, which the caller must not change while it uses them.
func TestLineProtocolTransientAliases(t *testing.T) {
	line := []byte(`cpu,host=edge-0001,region=eu usage=12.5,note="ok" 1700000000000000000`)
	m := &Message{Fields: make([]Field, 0, 8)}
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		n++ // a new host each time: nothing to reuse
		for i, d := 0, n; i < 4; i, d = i+1, d/10 {
			line[len("cpu,host=edge-")+3-i] = byte('0' + d%10)
		}
		m.Fields = m.Fields[:0]
		if err := ParseLineProtocolTransient(line, m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations a line, want 0", allocs)
	}
	copy(line[len("cpu,host="):], "EDGE")
	if host := m.Field("host").Str; !strings.HasPrefix(host, "EDGE") {
		t.Errorf("host %q does not alias the line", host)
	}
}

// TestLineProtocolFastPath runs the fuzz seeds, and checks that the fast
// paths take the lines they are for.
func TestLineProtocolFastPath(t *testing.T) {
	for _, tc := range lpCanonicalLines {
		checkFastPath(t, []byte(tc.line))
	}
	for _, tc := range lpNonCanonicalLines {
		checkFastPath(t, []byte(tc.line))
	}
	for _, line := range lpFastPathSeeds {
		checkFastPath(t, []byte(line))
	}
	for _, line := range []string{lpBenchLine, lpFastPathSeeds[1], `k f=1.5,i=-3i,u=7u,s="x",b=true,c=false 2`} {
		var p lpParser
		m := &Message{}
		if !p.parseFast([]byte(line), m) {
			t.Errorf("the fast path does not parse %q", line)
			continue
		}
		var tags []int
		for i := range m.Fields {
			if m.Fields[i].Role == RoleTag {
				tags = append(tags, i)
			}
		}
		if _, ok := appendFast(nil, m, m.Measurement(), tags); !ok {
			t.Errorf("the fast path does not write %q", line)
		}
	}
}
