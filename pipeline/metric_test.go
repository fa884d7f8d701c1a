package pipeline

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
)

// Helpers that build the fields of a metric the way docs/message.md shows them.

func lpMeasurement(name string) Field {
	return Field{Name: MeasurementField, Kind: KindString, Role: RoleMeasurement, Str: name}
}
func lpTag(k, v string) Field           { return Field{Name: k, Kind: KindString, Role: RoleTag, Str: v} }
func lpFloat(k string, v float64) Field { return Field{Name: k, Kind: KindFloat, Float: v} }
func lpInt(k string, v int64) Field     { return Field{Name: k, Kind: KindInt, Int: v} }
func lpUint(k string, v uint64) Field   { return Field{Name: k, Kind: KindUint, Uint: v} }
func lpBool(k string, v bool) Field     { return Field{Name: k, Kind: KindBool, Bool: v} }
func lpStr(k, v string) Field           { return Field{Name: k, Kind: KindString, Str: v} }

func lpMetric(ts int64, fields ...Field) *Message {
	return &Message{Type: MetricType, Timestamp: ts, Fields: fields}
}

// lpDefaultTimestamp stands for the "now" a caller sets before parsing: a line
// without a timestamp must leave it alone.
const lpDefaultTimestamp = 1111

// lpCanonicalLines parse to the message and print back byte for byte.
var lpCanonicalLines = []struct {
	name string
	line string
	want *Message
}{
	{"typical", "cpu,cpu=cpu0,host=edge-1 usage_user=12.5,usage_system=3.25,usage_idle=84.25 1700000000000000000",
		lpMetric(1700000000000000000, lpMeasurement("cpu"), lpTag("cpu", "cpu0"), lpTag("host", "edge-1"),
			lpFloat("usage_user", 12.5), lpFloat("usage_system", 3.25), lpFloat("usage_idle", 84.25))},
	{"no tags", "mem used=1024i 1", lpMetric(1, lpMeasurement("mem"), lpInt("used", 1024))},
	{"every kind", `k f=1.5,i=-3i,u=7u,s="x",b=true,c=false 2`,
		lpMetric(2, lpMeasurement("k"), lpFloat("f", 1.5), lpInt("i", -3), lpUint("u", 7), lpStr("s", "x"), lpBool("b", true), lpBool("c", false))},
	{"escaped measurement", `my\ cpu\,total,host=a x=1 3`,
		lpMetric(3, lpMeasurement("my cpu,total"), lpTag("host", "a"), lpFloat("x", 1))},
	{"equals sign in measurement is not escaped", `a=b x=1 3`, lpMetric(3, lpMeasurement("a=b"), lpFloat("x", 1))},
	{"escaped tag key and value", `m,tag\ key\,a\=b=val\ ue\,x\=y x=1 4`,
		lpMetric(4, lpMeasurement("m"), lpTag("tag key,a=b", "val ue,x=y"), lpFloat("x", 1))},
	{"escaped field key", `m field\ key\,a\=b=1i 5`, lpMetric(5, lpMeasurement("m"), lpInt("field key,a=b", 1))},
	{"string with quotes, backslashes, newline, tab", `m s="say \"hi\" \\ back\nline\ttab" 6`,
		lpMetric(6, lpMeasurement("m"), lpStr("s", "say \"hi\" \\ back\nline\ttab"))},
	{"empty string", `m s="" 6`, lpMetric(6, lpMeasurement("m"), lpStr("s", ""))},
	{"a backslash that escapes nothing stays", `m,t=a\b,u=\\x s="a\\b" 6`,
		lpMetric(6, lpMeasurement("m"), lpTag("t", `a\b`), lpTag("u", `\\x`), lpStr("s", `a\b`))},
	{"extreme ints", "m min=-9223372036854775808i,max=9223372036854775807i,zero=0i 7",
		lpMetric(7, lpMeasurement("m"), lpInt("min", math.MinInt64), lpInt("max", math.MaxInt64), lpInt("zero", 0))},
	{"extreme uints", "m max=18446744073709551615u,zero=0u 8",
		lpMetric(8, lpMeasurement("m"), lpUint("max", math.MaxUint64), lpUint("zero", 0))},
	{"float formatting", "m a=-1.5,b=1e+21,c=1e-07,d=5e-324,e=1.7976931348623157e+308,f=-0,g=0,h=1.23456789e+08,i=0.1,j=1e+06,k=999999 9",
		lpMetric(9, lpMeasurement("m"), lpFloat("a", -1.5), lpFloat("b", 1e21), lpFloat("c", 1e-7), lpFloat("d", 5e-324),
			lpFloat("e", math.MaxFloat64), lpFloat("f", math.Copysign(0, -1)), lpFloat("g", 0), lpFloat("h", 123456789),
			lpFloat("i", 0.1), lpFloat("j", 1e6), lpFloat("k", 999999))},
	{"negative timestamp", "m x=1 -1", lpMetric(-1, lpMeasurement("m"), lpFloat("x", 1))},
	{"zero timestamp", "m x=1 0", lpMetric(0, lpMeasurement("m"), lpFloat("x", 1))},
	{"extreme timestamps", "m x=1 9223372036854775807", lpMetric(math.MaxInt64, lpMeasurement("m"), lpFloat("x", 1))},
	{"min timestamp", "m x=1 -9223372036854775808", lpMetric(math.MinInt64, lpMeasurement("m"), lpFloat("x", 1))},
	{"unicode", "温度,城市=東京 値=21.5 10", lpMetric(10, lpMeasurement("温度"), lpTag("城市", "東京"), lpFloat("値", 21.5))},
	{"a tag called name", "proc,name=nginx cpu=1.5 11",
		lpMetric(11, lpMeasurement("proc"), lpTag("name", "nginx"), lpFloat("cpu", 1.5))},
	{"repeated field key", "m a=1,a=2 12", lpMetric(12, lpMeasurement("m"), lpFloat("a", 1), lpFloat("a", 2))},
}

func TestLineProtocolCanonical(t *testing.T) {
	for _, tc := range lpCanonicalLines {
		t.Run(tc.name, func(t *testing.T) {
			m := &Message{Timestamp: lpDefaultTimestamp}
			if err := ParseLineProtocol([]byte(tc.line), m); err != nil {
				t.Fatalf("parse %q: %v", tc.line, err)
			}
			if !m.Equal(tc.want) {
				t.Fatalf("parse %q:\n got %s\nwant %s", tc.line, lpDump(m), lpDump(tc.want))
			}
			out, err := AppendLineProtocol(nil, m)
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			if string(out) != tc.line+"\n" {
				t.Fatalf("append:\n got %q\nwant %q", out, tc.line+"\n")
			}
		})
	}
}

// lpNonCanonicalLines parse to the message and print as the canonical line.
var lpNonCanonicalLines = []struct {
	name, line, canonical string
	want                  *Message
}{
	{"unsorted tags", "cpu,host=a,cpu=0 x=1 5", "cpu,cpu=0,host=a x=1 5",
		lpMetric(5, lpMeasurement("cpu"), lpTag("cpu", "0"), lpTag("host", "a"), lpFloat("x", 1))},
	{"booleans in every spelling", "m a=t,b=T,c=True,d=TRUE,e=f,f=F,g=False,h=FALSE 1",
		"m a=true,b=true,c=true,d=true,e=false,f=false,g=false,h=false 1",
		lpMetric(1, lpMeasurement("m"), lpBool("a", true), lpBool("b", true), lpBool("c", true), lpBool("d", true),
			lpBool("e", false), lpBool("f", false), lpBool("g", false), lpBool("h", false))},
	{"floats written otherwise", "m a=1.0,b=.5,c=1e3,d=01,e=-0.0 1", "m a=1,b=0.5,c=1000,d=1,e=-0 1",
		lpMetric(1, lpMeasurement("m"), lpFloat("a", 1), lpFloat("b", 0.5), lpFloat("c", 1000), lpFloat("d", 1), lpFloat("e", math.Copysign(0, -1)))},
	{"no timestamp keeps the caller's", "m x=1", "m x=1 1111", lpMetric(lpDefaultTimestamp, lpMeasurement("m"), lpFloat("x", 1))},
	{"trailing newline", "m x=1 5\n", "m x=1 5", lpMetric(5, lpMeasurement("m"), lpFloat("x", 1))},
	{"CRLF", "m x=1 5\r\n", "m x=1 5", lpMetric(5, lpMeasurement("m"), lpFloat("x", 1))},
	{"extra spaces", "  m  x=1   5  ", "m x=1 5", lpMetric(5, lpMeasurement("m"), lpFloat("x", 1))},
	{"raw newline in a string", "m s=\"a\nb\" 5", `m s="a\nb" 5`, lpMetric(5, lpMeasurement("m"), lpStr("s", "a\nb"))},
	{"a lone backslash in a string is written escaped", `m s="a\b" 5`, `m s="a\\b" 5`, lpMetric(5, lpMeasurement("m"), lpStr("s", `a\b`))},
	{"docs/message.md's example", `cpu,host=edge-1,cpu=cpu0 usage_user=12.5,usage_system=3i,busy=true,state="ok" 1700000000000000000`,
		`cpu,cpu=cpu0,host=edge-1 usage_user=12.5,usage_system=3i,busy=true,state="ok" 1700000000000000000`,
		lpMetric(1700000000000000000, lpMeasurement("cpu"), lpTag("cpu", "cpu0"), lpTag("host", "edge-1"),
			lpFloat("usage_user", 12.5), lpInt("usage_system", 3), lpBool("busy", true), lpStr("state", "ok"))},
	{"comment line after the point", "m x=1 5\n# done", "m x=1 5", lpMetric(5, lpMeasurement("m"), lpFloat("x", 1))},
}

func TestLineProtocolNonCanonical(t *testing.T) {
	for _, tc := range lpNonCanonicalLines {
		t.Run(tc.name, func(t *testing.T) {
			m := &Message{Timestamp: lpDefaultTimestamp}
			if err := ParseLineProtocol([]byte(tc.line), m); err != nil {
				t.Fatalf("parse %q: %v", tc.line, err)
			}
			if !m.Equal(tc.want) {
				t.Fatalf("parse %q:\n got %s\nwant %s", tc.line, lpDump(m), lpDump(tc.want))
			}
			out, err := AppendLineProtocol(nil, m)
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			if string(out) != tc.canonical+"\n" {
				t.Fatalf("append:\n got %q\nwant %q", out, tc.canonical+"\n")
			}
		})
	}
}

func TestLineProtocolParseErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"", "holds no point"},
		{"   ", "holds no point"},
		{"# a comment", "holds no point"},
		{"cpu", "column 4"},
		{"cpu ", "column 5: expected field key"},
		{"cpu x", `column 6: want '=' after field key "x"`},
		{"cpu x=", "expected field value"},
		{"cpu x=abc", "column 7: field value has unrecognized type (numbers start"},
		{"cpu x=NaN", "unrecognized type"},
		{"cpu x=-Inf", "cannot be represented"},
		{"cpu x=1i2", `column 7: cannot parse value for field key "x": invalid float`},
		{"cpu x=1.5i", "invalid integer value syntax"},
		{"cpu x=-1u", "invalid unsigned integer"},
		{"cpu x=9223372036854775808i", "out of range"},
		{"cpu x=tru", "invalid bool"},
		{`cpu x="open`, "column 7: expected closing quote"},
		{"cpu,a x=1", `column 5: expected '=' after tag key "a"`},
		{"cpu,a= x=1", `expected tag value after tag key "a"`},
		{"cpu, x=1", "column 5: expected tag key after comma"},
		{",a=1 x=1", "column 1: invalid character ',' found at start of measurement"},
		{"cpu,a=1,a=2 x=1", `tag "a" appears twice`},
		{"cpu,b=1,a=2,b=3 x=1", `tag "b" appears twice`},
		{"cpu x=1 abc", "column 9: invalid timestamp"},
		{"cpu x=1 12a", "invalid timestamp"},
		{"cpu x=1 -", `column 9: invalid timestamp "-"`},
		{"cpu x=1 99999999999999999999", "column 9: timestamp 99999999999999999999 is out of range"},
		{"cpu x=1 1 2", "unexpected text after timestamp"},
		{"cpu x=1 1\ncpu x=2 2", "more than one point"},
		{"cpu x=1,", "expected field key"},
		{"cpu x=1 1\x00", `column 9: invalid timestamp ("1\x00")`},
		{"cpu s=\"\xff\"", "invalid utf-8"},
	} {
		m := &Message{Type: "log", Timestamp: lpDefaultTimestamp, Fields: []Field{lpStr("keep", "me")}}
		err := ParseLineProtocol([]byte(tc.line), m)
		if err == nil {
			t.Errorf("parse %q: no error, got %s", tc.line, lpDump(m))
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "line protocol: ") {
			t.Errorf("parse %q:\n got error %q\nwant it to contain %q", tc.line, err, tc.want)
		}
		if want := (&Message{Type: "log", Timestamp: lpDefaultTimestamp, Fields: []Field{lpStr("keep", "me")}}); !m.Equal(want) {
			t.Errorf("parse %q: a failed parse changed the message: %s", tc.line, lpDump(m))
		}
	}
}

func TestLineProtocolParseAppendsToMessage(t *testing.T) {
	m := &Message{Hostname: "edge-1", Logger: "in", Timestamp: 5, Payload: []byte("x")}
	if err := ParseLineProtocol([]byte("cpu x=1i"), m); err != nil {
		t.Fatal(err)
	}
	want := &Message{Type: MetricType, Hostname: "edge-1", Logger: "in", Timestamp: 5, Payload: []byte("x"),
		Fields: []Field{lpMeasurement("cpu"), lpInt("x", 1)}}
	if !m.Equal(want) {
		t.Fatalf("got %s\nwant %s", lpDump(m), lpDump(want))
	}
}

func TestLineProtocolAppendSortsTags(t *testing.T) {
	m := lpMetric(7, lpMeasurement("m"), lpTag("zone", "z"), lpFloat("v", 1), lpTag("app", "a"), lpTag("host", "h"))
	out, err := AppendLineProtocol([]byte("prefix\n"), m)
	if err != nil {
		t.Fatal(err)
	}
	if want := "prefix\nm,app=a,host=h,zone=z v=1 7\n"; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	if m.Fields[1].Name != "zone" {
		t.Fatal("AppendLineProtocol reordered the message's fields")
	}
}

func TestLineProtocolAppendManyTags(t *testing.T) {
	// More tags than the stack array holds, in reverse order.
	m := lpMetric(1, lpMeasurement("m"))
	var want strings.Builder
	want.WriteString("m")
	for i := 0; i < maxStackTags+8; i++ {
		k := string(rune('A'+i/26)) + string(rune('a'+i%26))
		want.WriteString("," + k + "=v")
	}
	for i := maxStackTags + 7; i >= 0; i-- {
		k := string(rune('A'+i/26)) + string(rune('a'+i%26))
		m.Fields = append(m.Fields, lpTag(k, "v"))
	}
	m.Fields = append(m.Fields, lpInt("x", 1))
	want.WriteString(" x=1i 1\n")
	out, err := AppendLineProtocol(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want.String() {
		t.Fatalf("got  %q\nwant %q", out, want.String())
	}
}

func TestLineProtocolAppendErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Message
		want string
	}{
		{"a log message", &Message{Type: "log", Payload: []byte("hello")}, `message of type "log" is not a metric`},
		{"no measurement", lpMetric(1, lpFloat("x", 1)), "metric has no measurement"},
		{"measurement is not a string", lpMetric(1, Field{Name: "name", Kind: KindInt, Role: RoleMeasurement}, lpFloat("x", 1)), `field "name" has role measurement`},
		{"two measurements", lpMetric(1, lpMeasurement("a"), lpMeasurement("b"), lpFloat("x", 1)), `two measurements ("a" and "b")`},
		{"no values", lpMetric(1, lpMeasurement("cpu"), lpTag("host", "a")), `metric "cpu" has no value fields`},
		{"bytes field", lpMetric(1, lpMeasurement("cpu"), Field{Name: "raw", Kind: KindBytes, Bytes: []byte{1}}), `field "raw" is bytes, which has no line protocol type`},
		{"NaN", lpMetric(1, lpMeasurement("cpu"), lpFloat("x", math.NaN())), `field "x" is NaN`},
		{"Inf", lpMetric(1, lpMeasurement("cpu"), lpFloat("x", math.Inf(-1))), `field "x" is -Inf`},
		{"int tag", lpMetric(1, lpMeasurement("cpu"), Field{Name: "core", Kind: KindInt, Role: RoleTag, Int: 1}, lpFloat("x", 1)), `tag "core" is a int; tags are strings`},
		{"duplicate tag", lpMetric(1, lpMeasurement("cpu"), lpTag("a", "1"), lpTag("b", "2"), lpTag("a", "3"), lpFloat("x", 1)), `tag "a" appears twice`},
		{"empty tag value", lpMetric(1, lpMeasurement("cpu"), lpTag("a", ""), lpFloat("x", 1)), `invalid tag value a=""`},
		{"empty measurement", lpMetric(1, lpMeasurement(""), lpFloat("x", 1)), `invalid measurement ""`},
		{"measurement that reads as a comment", lpMetric(1, lpMeasurement("#cpu"), lpFloat("x", 1)), "reads as a comment"},
		{"empty field key", lpMetric(1, lpMeasurement("cpu"), lpFloat("", 1)), `invalid field key ""`},
		{"control character in a key", lpMetric(1, lpMeasurement("cpu"), lpFloat("a\nb", 1)), `invalid field key "a\nb"`},
		{"trailing backslash in a key", lpMetric(1, lpMeasurement("cpu"), lpFloat(`a\`, 1)), "invalid field key"},
		{"invalid UTF-8 string", lpMetric(1, lpMeasurement("cpu"), lpStr("s", "\xff")), "not valid UTF-8"},
		{"unknown role", lpMetric(1, lpMeasurement("cpu"), Field{Name: "x", Kind: KindFloat, Role: 9}), "unknown role"},
		{"unknown kind", lpMetric(1, lpMeasurement("cpu"), Field{Name: "x", Kind: 42}), "unknown kind"},
	} {
		out, err := AppendLineProtocol([]byte("keep"), tc.m)
		if err == nil {
			t.Errorf("%s: no error, wrote %q", tc.name, out)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got error %q\nwant it to contain %q", tc.name, err, tc.want)
		}
		if string(out) != "keep" {
			t.Errorf("%s: buffer changed on error: %q", tc.name, out)
		}
	}
}

func TestMetricAccessors(t *testing.T) {
	m := lpMetric(1, lpMeasurement("cpu"), lpFloat("x", 1))
	if !m.IsMetric() || m.Measurement() != "cpu" {
		t.Fatalf("IsMetric %v, Measurement %q", m.IsMetric(), m.Measurement())
	}
	log := &Message{Type: "log", Fields: []Field{lpStr("name", "cpu")}}
	if log.IsMetric() || log.Measurement() != "" {
		t.Fatalf("log: IsMetric %v, Measurement %q", log.IsMetric(), log.Measurement())
	}
	noName := lpMetric(1, lpFloat("x", 1))
	if noName.IsMetric() {
		t.Fatal("a metric without measurement field is not a metric")
	}
	// A filter's point (a change detector's anomaly) is a metric whatever its Type.
	anomaly := &Message{Type: "anomaly", Fields: []Field{lpMeasurement("anomaly"), lpFloat("difference", 3)}}
	if !anomaly.IsMetric() || anomaly.Measurement() != "anomaly" {
		t.Fatalf("type anomaly: IsMetric %v, Measurement %q", anomaly.IsMetric(), anomaly.Measurement())
	}
	// The matcher's Fields[name] finds the measurement first, even with a tag called name.
	var p Message
	if err := ParseLineProtocol([]byte("proc,name=nginx cpu=1"), &p); err != nil {
		t.Fatal(err)
	}
	if f := p.Field("name"); f.Str != "proc" || f.Role != RoleMeasurement {
		t.Fatalf("Fields[name] = %+v", f)
	}
	if f := p.FieldAt("name", 1); f.Str != "nginx" || f.Role != RoleTag {
		t.Fatalf("Fields[name][1] = %+v", f)
	}
}

func TestLineProtocolParseAllocations(t *testing.T) {
	if poolIsLossy() {
		t.Skip("sync.Pool drops items (race detector): allocations are not representative")
	}
	line := []byte(lpBenchLine)
	m := &Message{Fields: make([]Field, 0, 16)}
	allocs := testing.AllocsPerRun(100, func() {
		m.Fields = m.Fields[:0]
		if err := ParseLineProtocol(line, m); err != nil {
			t.Fatal(err)
		}
	})
	// The fast path takes the line; the strings are interned.
	if allocs > 0 {
		t.Errorf("ParseLineProtocol: %v allocations, want 0", allocs)
	}
	buf := make([]byte, 0, 256)
	allocs = testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = AppendLineProtocol(buf[:0], m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("AppendLineProtocol: %v allocations, want 0", allocs)
	}
}

// poolIsLossy reports whether sync.Pool drops what it is given, as it does
// on purpose under the race detector.
func poolIsLossy() bool {
	var p sync.Pool
	for range 100 {
		p.Put(new(int))
		if p.Get() == nil {
			return true
		}
	}
	return false
}

// FuzzLineProtocolRoundTrip: any line that parses prints to a line that parses
// to an equal message, and printing is stable.
func FuzzLineProtocolRoundTrip(f *testing.F) {
	for _, tc := range lpCanonicalLines {
		f.Add([]byte(tc.line))
	}
	for _, tc := range lpNonCanonicalLines {
		f.Add([]byte(tc.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m1 := &Message{Timestamp: lpDefaultTimestamp}
		if err := ParseLineProtocol(line, m1); err != nil {
			return
		}
		if !m1.IsMetric() {
			t.Fatalf("parse %q: not a metric: %s", line, lpDump(m1))
		}
		out, err := AppendLineProtocol(nil, m1)
		if err != nil {
			t.Fatalf("parse %q gave %s, which does not print: %v", line, lpDump(m1), err)
		}
		m2 := &Message{}
		if err := ParseLineProtocol(out, m2); err != nil {
			t.Fatalf("printed %q (from %q) does not parse: %v", out, line, err)
		}
		if !m1.Equal(m2) {
			t.Fatalf("round trip of %q via %q:\n got %s\nwant %s", line, out, lpDump(m2), lpDump(m1))
		}
		out2, err := AppendLineProtocol(nil, m2)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("printing is not stable: %q then %q (%v)", out, out2, err)
		}
	})
}

const lpBenchLine = "cpu,host=edge-1,cpu=cpu0 usage_user=12.5,usage_system=3.25,usage_idle=84.25 1700000000000000000"

func BenchmarkParseLineProtocol(b *testing.B) {
	line := []byte(lpBenchLine)
	m := &Message{Fields: make([]Field, 0, 16)}
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		m.Fields = m.Fields[:0]
		if err := ParseLineProtocol(line, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendLineProtocol(b *testing.B) {
	m := &Message{}
	if err := ParseLineProtocol([]byte(lpBenchLine), m); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(lpBenchLine) + 1))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendLineProtocol(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}

// dump shows a message's type, time and fields for failure output.
func lpDump(m *Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{type=%q ts=%d", m.Type, m.Timestamp)
	for _, f := range m.Fields {
		fmt.Fprintf(&b, " %s:%q(%s)=%#v", f.Role, f.Name, f.Kind, f.Value())
	}
	b.WriteString("}")
	return b.String()
}
