package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// lineBytes is the length of every generated line, without its newline.
const lineBytes = 100

// lineData is the load of every end-to-end scenario, generated once.
type lineData struct {
	buf         []byte // n lines, each lineBytes long and ending in '\n'
	n           int
	first, last string // without the newline
}

// generateLines makes n distinct lines of InfluxDB line protocol, each exactly
// lineBytes long, such as
//
//	cpu,cpu=cpu2,host=edge-0042,region=eu-west-zzzzzzzzz user=10.5,idle=89.5,seq=42i 1700000000042000000
//
// They are in the canonical form docs/message.md defines (tags sorted by key,
// floats in their shortest %g form, the timestamp in ns), so the influx decode
// + encode scenario must write back the same bytes. The region tag value is
// padded with z to reach the length.
func generateLines(n int) lineData {
	d := lineData{buf: make([]byte, 0, n*(lineBytes+1)), n: n}
	for i := 0; i < n; i++ {
		start := len(d.buf)
		d.buf = appendLine(d.buf, i)
		if i == 0 {
			d.first = string(d.buf[start : len(d.buf)-1])
		}
		if i == n-1 {
			d.last = string(d.buf[start : len(d.buf)-1])
		}
	}
	return d
}

func appendLine(b []byte, i int) []byte {
	user := float64(i%400) / 4 // 0 .. 99.75 in steps of 0.25: exact in binary
	idle := 100 - user
	head := fmt.Sprintf("cpu,cpu=cpu%d,host=edge-%04d,region=eu-west", i%8, i%10000)
	tail := " user=" + strconv.FormatFloat(user, 'g', -1, 64) +
		",idle=" + strconv.FormatFloat(idle, 'g', -1, 64) +
		",seq=" + strconv.Itoa(i) + "i " +
		strconv.FormatInt(1_700_000_000_000_000_000+int64(i)*1_000_000, 10)
	pad := lineBytes - len(head) - len(tail)
	if pad < 0 {
		// Only a sequence number far beyond any sensible -lines gets here.
		panic(fmt.Sprintf("line %d is %d bytes before padding, over %d", i, len(head)+len(tail), lineBytes))
	}
	if pad > 0 {
		head += "-" + strings.Repeat("z", pad-1)
	}
	b = append(b, head...)
	b = append(b, tail...)
	return append(b, '\n')
}

// firstDifference returns the 1-based number of the first line where got and
// want differ, with both lines, for an error message.
func firstDifference(got, want []byte) string {
	line := 1
	for {
		gi := bytes.IndexByte(got, '\n')
		wi := bytes.IndexByte(want, '\n')
		if gi < 0 || wi < 0 {
			return fmt.Sprintf("line %d: got %q, want %q", line, clip(got), clip(want))
		}
		if !bytes.Equal(got[:gi], want[:wi]) {
			return fmt.Sprintf("line %d: got %q, want %q", line, got[:gi], want[:wi])
		}
		got, want = got[gi+1:], want[wi+1:]
		line++
	}
}

func clip(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return b
}
