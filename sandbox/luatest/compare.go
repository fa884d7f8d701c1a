package luatest

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/interoceptor/interoceptor/pipeline"
)

// FloatTolerance is the relative difference under which two floats compare
// equal: |a−b| ≤ FloatTolerance·max(|a|, |b|). It absorbs the last-bit noise
// of a sum taken in another order, not a wrong result.
const FloatTolerance = 1e-9

// tally says "3 messages", or "3 messages and 1 failed call".
func tally(msgs, fails int) string {
	if fails == 0 {
		return plural(msgs, "message")
	}
	return plural(msgs, "message") + " and " + plural(fails, "failed call")
}

// mismatch says why ev does not meet e, or returns "" when it does.
func (e *expectation) mismatch(ev *event) string {
	if e.fail != nil {
		return e.failureMismatch(ev)
	}
	g, w := ev.msg, e.msg
	if g == nil {
		return fmt.Sprintf("expected a message, got a failed %s call (input line %d)", ev.fail.Call, ev.fail.Line)
	}
	switch {
	case e.has["uuid"] && g.UUID != w.UUID:
		return fmt.Sprintf("uuid: expected %s, got %s", w.UUID, g.UUID)
	case e.has["timestamp"] && g.Timestamp != w.Timestamp:
		return fmt.Sprintf("timestamp: expected %s (%d), got %s (%d)", formatTime(w.Timestamp), w.Timestamp,
			formatTime(g.Timestamp), g.Timestamp)
	case e.has["type"] && g.Type != w.Type:
		return fmt.Sprintf("type: expected %q, got %q", w.Type, g.Type)
	case e.has["logger"] && g.Logger != w.Logger:
		return fmt.Sprintf("logger: expected %q, got %q", w.Logger, g.Logger)
	case e.has["severity"] && g.Severity != w.Severity:
		return fmt.Sprintf("severity: expected %d, got %d", w.Severity, g.Severity)
	case e.has["hostname"] && g.Hostname != w.Hostname:
		return fmt.Sprintf("hostname: expected %q, got %q", w.Hostname, g.Hostname)
	case e.has["pid"] && g.Pid != w.Pid:
		return fmt.Sprintf("pid: expected %d, got %d", w.Pid, g.Pid)
	case e.has["payload"] && !bytes.Equal(g.Payload, w.Payload):
		return fmt.Sprintf("payload: expected %q, got %q", w.Payload, g.Payload)
	case !e.has["fields"]:
		return ""
	}
	seen := map[string]int{}
	for i := range w.Fields {
		wf := &w.Fields[i]
		k := seen[wf.Name]
		seen[wf.Name]++
		name := strconv.Quote(wf.Name)
		if k > 0 {
			name = fmt.Sprintf("%s[%d]", name, k)
		}
		gf := g.FieldAt(wf.Name, k)
		switch {
		case gf == nil:
			return fmt.Sprintf("field %s: missing", name)
		case gf.Kind != wf.Kind:
			return fmt.Sprintf("field %s: expected %s, got %s (%s)", name, article(wf.Kind), article(gf.Kind), valueText(gf))
		case e.form == '[' && gf.Role != wf.Role:
			return fmt.Sprintf("field %s: expected role %s, got %s", name, wf.Role, gf.Role)
		case !valuesMatch(wf, gf):
			return fmt.Sprintf("field %s: expected %s, got %s", name, valueText(wf), valueText(gf))
		}
	}
	if !e.subset && len(g.Fields) > len(w.Fields) {
		var extra []string
		n := map[string]int{}
		for i := range g.Fields {
			f := &g.Fields[i]
			if n[f.Name] >= seen[f.Name] {
				extra = append(extra, strconv.Quote(f.Name))
			}
			n[f.Name]++
		}
		return fmt.Sprintf("unexpected field %s (list it, or add \"fields_subset\": true)", strings.Join(extra, ", "))
	}
	return ""
}

func (e *expectation) failureMismatch(ev *event) string {
	w, g := e.fail, ev.fail
	if g == nil {
		return fmt.Sprintf("expected a failed %s call, got a message", w.Call)
	}
	switch {
	case g.Call != w.Call:
		return fmt.Sprintf("expected a failed %s call, got a failed %s call", w.Call, g.Call)
	case e.has["line"] && g.Line != w.Line:
		return fmt.Sprintf("line: expected input line %d, got %d", w.Line, g.Line)
	case e.has["status"] && g.Status != w.Status:
		return fmt.Sprintf("status: expected %d, got %d", w.Status, g.Status)
	case e.has["terminated"] && g.Terminated != w.Terminated:
		return fmt.Sprintf("terminated: expected %q, got %q", w.Terminated, g.Terminated)
	case e.has["error"] && !strings.Contains(g.Error, w.Error):
		return fmt.Sprintf("error: expected it to contain %q, got %q", w.Error, g.Error)
	}
	return ""
}

// valuesMatch compares two fields of the same kind; floats within
// FloatTolerance, NaN equal to NaN.
func valuesMatch(w, g *pipeline.Field) bool {
	if w.Kind != pipeline.KindFloat {
		return w.Equal(&pipeline.Field{Name: w.Name, Kind: g.Kind, Role: w.Role, Str: g.Str, Bytes: g.Bytes,
			Int: g.Int, Uint: g.Uint, Bool: g.Bool})
	}
	a, b := w.Float, g.Float
	switch {
	case a == b:
		return true
	case math.IsNaN(a) || math.IsNaN(b):
		return math.IsNaN(a) && math.IsNaN(b)
	case math.IsInf(a, 0) || math.IsInf(b, 0):
		return false
	}
	return math.Abs(a-b) <= FloatTolerance*math.Max(math.Abs(a), math.Abs(b))
}

// valueText shows a value in a note; a whole float keeps its ".0".
func valueText(f *pipeline.Field) string {
	return string(appendValue(nil, f, '{'))
}

// article is "a" or "an" before a kind's name.
func article(k pipeline.FieldKind) string {
	if strings.ContainsRune("aeiou", rune(k.String()[0])) {
		return "an " + k.String()
	}
	return "a " + k.String()
}

// compare matches what the script did against the expectations and, when
// they differ, returns a report: a summary, a unified-style diff (one JSON
// line per message) and why each changed message differs.
func compare(c *Case, want []*expectation, got []*event) (string, bool) {
	ops := align(want, got)
	ok := len(want) == len(got)
	for _, o := range ops {
		if o.kind != ' ' {
			ok = false
		}
	}
	if ok {
		return "", true
	}
	var b strings.Builder
	if c.Description != "" {
		fmt.Fprintf(&b, "%s\n", c.Description)
	}
	wantFails := 0
	for _, e := range want {
		if e.fail != nil {
			wantFails++
		}
	}
	gotFails := 0
	for _, ev := range got {
		if ev.fail != nil {
			gotFails++
		}
	}
	fmt.Fprintf(&b, "expected %s, got %s\n", tally(len(want)-wantFails, wantFails), tally(len(got)-gotFails, gotFails))
	fmt.Fprintf(&b, "--- %s\n+++ injected by %s\n", c.Expect, c.Script)

	// Render every op; a '+' paired with a '-' of the same change block is
	// shown in the shape of that expectation, so that equal parts line up.
	type line struct {
		op   op
		text string
		why  string
	}
	var lines []line
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			lines = append(lines, line{op: ops[i], text: renderExpectation(want[ops[i].e])})
			i++
			continue
		}
		j := i
		var dels, ins []op
		for ; j < len(ops) && ops[j].kind != ' '; j++ {
			if ops[j].kind == '-' {
				dels = append(dels, ops[j])
			} else {
				ins = append(ins, ops[j])
			}
		}
		for k, d := range dels {
			l := line{op: d, text: renderExpectation(want[d.e])}
			if k < len(ins) {
				l.why = want[d.e].mismatch(got[ins[k].g])
			} else {
				l.why = "not injected"
			}
			lines = append(lines, l)
		}
		for k, a := range ins {
			l := line{op: a}
			if k < len(dels) {
				l.text = renderEvent(got[a.g], want[dels[k].e])
			} else {
				l.text = renderEvent(got[a.g], nearestShape(want, a.e, got[a.g]))
				l.why = "not expected"
			}
			lines = append(lines, l)
		}
		i = j
	}
	// Hunks with three lines of context, numbered by message (1-based).
	const context = 3
	var notes []string
	for i := 0; i < len(lines); {
		if lines[i].op.kind == ' ' {
			i++
			continue
		}
		start := max(0, i-context)
		end := i
		for end < len(lines) {
			if lines[end].op.kind != ' ' {
				end++
				continue
			}
			k := end
			for k < len(lines) && lines[k].op.kind == ' ' && k-end < 2*context {
				k++
			}
			if k < len(lines) && lines[k].op.kind != ' ' {
				end = k
				continue
			}
			end = min(len(lines), end+context)
			break
		}
		var eFrom, eN, gFrom, gN int
		eFrom, gFrom = -1, -1
		for _, l := range lines[start:end] {
			if l.op.kind != '+' {
				if eFrom < 0 {
					eFrom = l.op.e
				}
				eN++
			}
			if l.op.kind != '-' {
				if gFrom < 0 {
					gFrom = l.op.g
				}
				gN++
			}
		}
		fmt.Fprintf(&b, "@@ -%s +%s @@\n", hunkRange(eFrom, eN, lines[start].op.e), hunkRange(gFrom, gN, lines[start].op.g))
		for _, l := range lines[start:end] {
			fmt.Fprintf(&b, "%c%s\n", l.op.kind, l.text)
			switch {
			case l.why == "":
			case l.op.kind == '-':
				notes = append(notes, fmt.Sprintf("expected message %d (%s line %d): %s", l.op.e+1,
					filepath.Base(c.Expect), want[l.op.e].line, l.why))
			default:
				notes = append(notes, fmt.Sprintf("got message %d: %s", l.op.g+1, l.why))
			}
		}
		i = end
	}
	for _, n := range notes {
		b.WriteString(n + "\n")
	}
	return b.String(), false
}

// nearestShape returns the expectation nearest to position i (before it,
// then after) of the same kind as ev, to show an unexpected event in the
// shape of its neighbours; nil when there is none.
func nearestShape(want []*expectation, i int, ev *event) *expectation {
	same := func(e *expectation) bool { return (e.fail != nil) == (ev.fail != nil) }
	for k := min(i, len(want)) - 1; k >= 0; k-- {
		if same(want[k]) {
			return want[k]
		}
	}
	for k := i; k < len(want); k++ {
		if same(want[k]) {
			return want[k]
		}
	}
	return nil
}

func hunkRange(from, n, fallback int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", fallback)
	}
	return fmt.Sprintf("%d,%d", from+1, n)
}

// op is one step of an alignment: ' ' e and g match, '-' e was not met,
// '+' g was not expected.
type op struct {
	kind byte
	e, g int
}

// maxAlignCells bounds the longest-common-subsequence table; longer outputs
// are aligned message by message.
const maxAlignCells = 4 << 20

// align matches expectations to events in order, keeping as many matches as
// possible (a longest common subsequence), so that one missing message shows
// as one line of the diff rather than as every later line.
func align(want []*expectation, got []*event) []op {
	n, m := len(want), len(got)
	var ops []op
	if n*m > maxAlignCells {
		for i := 0; i < max(n, m); i++ {
			switch {
			case i < n && i < m && want[i].mismatch(got[i]) == "":
				ops = append(ops, op{' ', i, i})
			default:
				if i < n {
					ops = append(ops, op{'-', i, min(i, m)})
				}
				if i < m {
					ops = append(ops, op{'+', min(i, n), i})
				}
			}
		}
		return ops
	}
	match := make([]bool, n*m)
	for i := range n {
		for j := range m {
			match[i*m+j] = want[i].mismatch(got[j]) == ""
		}
	}
	// lcs[i][j]: the longest common subsequence of want[i:] and got[j:].
	lcs := make([]int32, (n+1)*(m+1))
	at := func(i, j int) *int32 { return &lcs[i*(m+1)+j] }
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			switch {
			case match[i*m+j]:
				*at(i, j) = *at(i+1, j+1) + 1
			default:
				*at(i, j) = max(*at(i+1, j), *at(i, j+1))
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && match[i*m+j]:
			ops = append(ops, op{' ', i, j})
			i++
			j++
		case j < m && (i == n || *at(i, j+1) > *at(i+1, j)):
			ops = append(ops, op{'+', i, j})
			j++
		default:
			ops = append(ops, op{'-', i, j})
			i++
		}
	}
	return ops
}
