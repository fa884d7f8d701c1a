package pipeline

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendJSONExample(t *testing.T) {
	ts, _ := time.Parse(time.RFC3339Nano, "2026-11-21T02:04:12.123456789Z")
	u, _ := ParseUUID("0190a1b2-c3d4-7ef0-8192-a3b4c5d6e7f8")
	m := &Message{
		UUID: u, Timestamp: ts.UnixNano(), Type: "metric", Logger: "cpu", Severity: 6,
		Hostname: "edge-1", Pid: 123, Payload: []byte("text"),
		Fields: []Field{
			{Name: "name", Role: RoleMeasurement, Kind: KindString, Str: "cpu"},
			{Name: "host", Role: RoleTag, Kind: KindString, Str: "a"},
			{Name: "usage", Kind: KindFloat, Float: 1.5},
		},
	}
	want := `{"uuid":"0190a1b2-c3d4-7ef0-8192-a3b4c5d6e7f8","timestamp":"2026-11-21T02:04:12.123456789Z",` +
		`"type":"metric","logger":"cpu","severity":6,"hostname":"edge-1","pid":123,"payload":"text",` +
		`"fields":[{"name":"name","role":"measurement","type":"string","value":"cpu"},` +
		`{"name":"host","role":"tag","type":"string","value":"a"},{"name":"usage","type":"float","value":1.5}]}`
	if got := string(AppendJSON(nil, m)); got != want {
		t.Errorf("AppendJSON\n got %s\nwant %s", got, want)
	}
}

func TestAppendJSONSpecialValues(t *testing.T) {
	m := &Message{
		Payload: []byte("\xff\x00"),
		Logger:  "tab\tquote\"nl\n\x01",
		Fields: []Field{
			{Name: "nan", Kind: KindFloat, Float: math.NaN()},
			{Name: "inf", Kind: KindFloat, Float: math.Inf(1)},
			{Name: "-inf", Kind: KindFloat, Float: math.Inf(-1)},
			{Name: "whole", Kind: KindFloat, Float: 3},
			{Name: "b", Kind: KindBytes, Bytes: []byte{0xff, 0}},
			{Name: "s", Kind: KindString, Str: "\xc3\x28"},
			{Name: "u", Kind: KindUint, Uint: math.MaxUint64},
		},
	}
	got := string(AppendJSON(nil, m))
	for _, want := range []string{
		`"timestamp":"1970-01-01T00:00:00.000000000Z"`,
		`"logger":"tab\tquote\"nl\n\u0001"`,
		`"payload_base64":"/wA="`,
		`{"name":"nan","type":"float","value":"NaN"}`,
		`{"name":"inf","type":"float","value":"+Inf"}`,
		`{"name":"-inf","type":"float","value":"-Inf"}`,
		`{"name":"whole","type":"float","value":3}`,
		`{"name":"b","type":"bytes","value":"/wA="}`,
		`{"name":"s","type":"string","value_base64":"wyg="}`,
		`{"name":"u","type":"uint","value":18446744073709551615}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
	if !json.Valid([]byte(got)) {
		t.Errorf("not valid JSON: %s", got)
	}
}

// checkJSONRoundTrip is the property every message must have: one valid JSON
// line that parses back to an equal message.
func checkJSONRoundTrip(t *testing.T, m *Message) {
	t.Helper()
	line := AppendJSON(nil, m)
	if !json.Valid(line) || bytes.ContainsAny(line, "\n\r") {
		t.Fatalf("not one line of valid JSON: %s", line)
	}
	var got Message
	if err := ParseJSON(line, &got); err != nil {
		t.Fatalf("%v\nin %s", err, line)
	}
	if !got.Equal(m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\njson %s", &got, m, line)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, m := range oddMessages() {
		checkJSONRoundTrip(t, m)
	}
}

// TestParseJSONReuse checks that parsing into a used message leaves nothing
// of the old one behind.
func TestParseJSONReuse(t *testing.T) {
	m := metricMessage()
	if err := ParseJSON(AppendJSON(nil, logMessage()), m); err != nil {
		t.Fatal(err)
	}
	if !m.Equal(logMessage()) {
		t.Errorf("got %+v", m)
	}
}

// TestParseJSONByHand covers what people type into interoceptor inject.
func TestParseJSONByHand(t *testing.T) {
	tests := []struct {
		name, in string
		want     *Message
	}{
		{"empty", `{}`, &Message{}},
		{"nulls", `{"type":null,"payload":null,"fields":null}`, &Message{}},
		{"ns timestamp", ` { "timestamp" : 1795140252123456789 , "type" : "x" } `,
			&Message{Timestamp: 1795140252123456789, Type: "x"}},
		{"offset timestamp", `{"timestamp":"2026-11-20T03:04:12.5+01:00"}`,
			&Message{Timestamp: 1795140252500000000}},
		{"plain fields", `{"payload":"hello\u00e9\ud83d\ude00\/","fields":{"usage":1.5,"host":"a","n":3,"ok":true,"e":1e3,"neg":-7,"big":18446744073709551615}}`,
			&Message{Payload: []byte("helloé😀/"), Fields: []Field{
				{Name: "usage", Kind: KindFloat, Float: 1.5},
				{Name: "host", Kind: KindString, Str: "a"},
				{Name: "n", Kind: KindInt, Int: 3},
				{Name: "ok", Kind: KindBool, Bool: true},
				{Name: "e", Kind: KindFloat, Float: 1000},
				{Name: "neg", Kind: KindInt, Int: -7},
				{Name: "big", Kind: KindUint, Uint: math.MaxUint64},
			}}},
		{"untyped field", `{"fields":[{"value":2,"name":"n","role":"tag"},{"name":"f","value":2.0},{"name":"inf","type":"float","value":"Inf"}]}`,
			&Message{Fields: []Field{
				{Name: "n", Kind: KindInt, Role: RoleTag, Int: 2},
				{Name: "f", Kind: KindFloat, Float: 2},
				{Name: "inf", Kind: KindFloat, Float: math.Inf(1)},
			}}},
		{"uuid without dashes", `{"uuid":"0190A1B2C3D47EF08192A3B4C5D6E7F8"}`,
			&Message{UUID: UUID{0x01, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0x7e, 0xf0, 0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			if err := ParseJSON([]byte(tt.in), &m); err != nil {
				t.Fatal(err)
			}
			tt.want.Severity = DefaultSeverity // none of these has "severity"
			if !m.Equal(tt.want) {
				t.Errorf("got  %+v\nwant %+v", &m, tt.want)
			}
		})
	}
}

func TestParseJSONErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `expected '{', found end of input`},
		{`[]`, `expected '{', found '['`},
		{`{"typ":"x"}`, `unknown key "typ"`},
		{`{"type":"x","type_base64":"eA=="}`, `key "type_base64" repeated`},
		{`{"type":1}`, `key "type": expected a string, found a number`},
		{`{"severity":"loud"}`, `key "severity": "loud" is not a severity: want an integer or a level name`},
		{`{"severity":true}`, `key "severity": expected an integer, found`},
		{`{"severity":1.5}`, `key "severity": 1.5 is not a 32-bit integer`},
		{`{"pid":4294967296}`, `key "pid": 4294967296 is not a 32-bit integer`},
		{`{"uuid":"xyz"}`, `key "uuid": bad UUID "xyz"`},
		{`{"timestamp":"yesterday"}`, `key "timestamp": not RFC 3339: "yesterday"`},
		{`{"timestamp":"3000-01-01T00:00:00Z"}`, `outside the range of nanosecond timestamps`},
		{`{"timestamp":1.5}`, `1.5 is not an integer number of nanoseconds`},
		{`{"payload_base64":"!!"}`, `key "payload_base64": bad base64`},
		{`{"fields":3}`, `key "fields": expected an array or an object, found '3'`},
		{`{"fields":[{"name":"usage","type":"float","value":"high"}]}`, `field 0 "usage": type float: string "high" is not "NaN", "+Inf" or "-Inf"`},
		{`{"fields":[{"name":"a","value":1},{"name":"n","type":"int","value":1.5}]}`, `field 1 "n": type int: expected an integer, found a number`},
		{`{"fields":[{"name":"n","type":"int","value":99999999999999999999}]}`, `field 0 "n": type int: 99999999999999999999 does not fit 64 bits`},
		{`{"fields":[{"name":"n","type":"uint","value":-1}]}`, `field 0 "n": type uint: -1 is negative`},
		{`{"fields":[{"name":"n","type":"decimal","value":1}]}`, `field 0 "n": unknown type "decimal"`},
		{`{"fields":[{"name":"n","role":"label","value":1}]}`, `field 0 "n": unknown role "label"`},
		{`{"fields":[{"name":"n","value":1,"unit":"s"}]}`, `field 0 "n": unknown key "unit"`},
		{`{"fields":[{"name":"n"}]}`, `field 0 "n": no value`},
		{`{"fields":[{"value":1}]}`, `field 0: no name`},
		{`{"fields":[{"name":"b","type":"bytes","value":"%%"}]}`, `field 0 "b": type bytes: bad base64`},
		{`{"fields":[{"name":"b","type":"bool","value":"yes"}]}`, `field 0 "b": type bool: expected true or false, found a string`},
		{`{"fields":[{"name":"n","type":"int","value_base64":"MQ=="}]}`, `value_base64 is for string values only`},
		{`{"fields":{"a":1,"b":null}}`, `field 1 "b": value is null`},
		{`{"fields":{"a":[1]}}`, `expected a string, number, boolean or null, found '['`},
		{`{"fields":{"f":1e999}}`, `field 0 "f": type float: 1e999 is out of range`},
		{`{"type":"x"} {"type":"y"}`, `unexpected '{' after the message`},
		{`{"type":"x",}`, `expected a key, found '}'`},
		{`{"type":"x" "logger":"y"}`, `expected ',' or '}', found '"'`},
		{`{"type":"a` + "\n" + `"}`, `control character 0x0a in string`},
		{`{"type":"a\q"}`, `bad escape \q in string`},
		{`{"type":"a\u12"}`, `bad \u escape`},
		{`{"type":"abc`, `unterminated string`},
		{`{"severity":-}`, `bad number`},
		{`{"severity":01}`, `expected ',' or '}', found '1'`},
		{`{"severity":1.}`, `no digits after '.'`},
		{`{"severity":1e}`, `no digits in exponent`},
		{`{"severity":tru}`, `unexpected 't'`},
	}
	for _, tt := range tests {
		var m Message
		err := ParseJSON([]byte(tt.in), &m)
		if err == nil {
			t.Errorf("%s: no error, want %q", tt.in, tt.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "json: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n error %q\n want  %q", tt.in, err, tt.want)
		}
	}
}

func FuzzJSONRoundTrip(f *testing.F) {
	f.Add([]byte("a log line"), "nginx.access", "host", int64(1795140252123456789), 1.5, true, []byte{0, 1, 2})
	f.Add([]byte{}, "", "", int64(0), 0.0, false, []byte(nil))
	f.Add([]byte("\xff\xfe"), "\x00\"\\", "\xc3\x28", int64(math.MinInt64), math.NaN(), false, []byte("\xff"))
	f.Add([]byte("line\nbreak\u2028"), "metric", "☃", int64(math.MaxInt64), math.Inf(-1), true, bytes.Repeat([]byte{7}, 40))
	f.Fuzz(func(t *testing.T, payload []byte, typ, s string, i int64, fl float64, b bool, by []byte) {
		checkJSONRoundTrip(t, fuzzMessage(payload, typ, s, i, fl, b, by))
	})
}

// FuzzParseJSON feeds arbitrary text to ParseJSON: it must not panic, and
// what it accepts must survive AppendJSON and ParseJSON again.
func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(`{"timestamp":1,"fields":{"usage":1.5,"host":"a","n":3,"ok":true}}`))
	f.Add(AppendJSON(nil, metricMessage()))
	for _, m := range oddMessages()[:6] {
		f.Add(AppendJSON(nil, m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Message
		if ParseJSON(data, &m) != nil {
			return
		}
		checkJSONRoundTrip(t, &m)
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	for _, c := range []struct {
		name string
		m    *Message
	}{{"log", logMessage()}, {"metric", metricMessage()}} {
		b.Run(c.name, func(b *testing.B) {
			buf := AppendJSON(nil, c.m)
			b.ReportMetric(float64(len(buf)), "B/msg")
			b.ReportAllocs()
			for range b.N {
				buf = AppendJSON(buf[:0], c.m)
			}
		})
	}
}

func BenchmarkParseJSON(b *testing.B) {
	for _, c := range []struct {
		name string
		m    *Message
	}{{"log", logMessage()}, {"metric", metricMessage()}} {
		b.Run(c.name, func(b *testing.B) {
			data := AppendJSON(nil, c.m)
			var m Message
			b.ReportAllocs()
			for range b.N {
				if err := ParseJSON(data, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestAppendJSONEscape(t *testing.T) {
	cases := []struct {
		src  string
		want string // "" when the escape is not valid
		n    int
	}{
		{src: `\n rest`, want: "\n", n: 2},
		{src: `\/`, want: "/", n: 2},
		{src: `\u00e9!`, want: "é", n: 6},
		{src: `\ud83d\ude00!`, want: "😀", n: 12},    // a surrogate pair is one rune
		{src: `\ud83d!`, want: "\uFFFD", n: 6},      // a lone half
		{src: `\ud83d\u0041`, want: "\uFFFD", n: 6}, // a half and a rune that is no half: left for the next call
		{src: `\ude00\ud83d`, want: "\uFFFD", n: 6}, // halves in the wrong order
		{src: `\ud83d\uzzzz`, want: "\uFFFD", n: 6}, // the next escape is bad: the next call says so
		{src: `\x`}, {src: `\u12`}, {src: `\u12g4`}, {src: `\`}, {src: `n`},
	}
	for _, tc := range cases {
		out, n, ok := AppendJSONEscape([]byte("a"), []byte(tc.src))
		switch {
		case tc.want == "" && (ok || string(out) != "a"):
			t.Errorf("%s: = %q, %d, %v; want it refused, dst unchanged", tc.src, out, n, ok)
		case tc.want != "" && (!ok || string(out) != "a"+tc.want || n != tc.n):
			t.Errorf("%s: = %q, %d, %v; want %q, %d", tc.src, out, n, ok, "a"+tc.want, tc.n)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{"q\"b\\", `"q\"b\\"`},
		{"nl\n cr\r tab\t", `"nl\n cr\r tab\t"`},
		{"\x00\x08\x0c\x1f\x7f", `"\u0000\u0008\u000c\u001f` + "\x7f\""},
		{"é 😀 <&>", `"é 😀 <&>"`},                 // readable: only what JSON needs
		{"a\u2028b\u2029c", `"a\u2028b\u2029c"`}, // line ends in JavaScript
		{"\xffok\xc3\x28", `"\ufffdok\ufffd("`},  // each byte that is not UTF-8
		{"\xe2\x80", `"\ufffd\ufffd"`},           // a rune cut short
	} {
		got := string(AppendJSONString([]byte("x="), tc.in))
		if got != "x="+tc.want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", tc.in, got[2:], tc.want)
		}
		if b := string(AppendJSONString(nil, []byte(tc.in))); b != tc.want {
			t.Errorf("AppendJSONString([]byte(%q)) = %s, want %s", tc.in, b, tc.want)
		}
		var back string
		if err := json.Unmarshal([]byte(tc.want), &back); err != nil || utf8.ValidString(tc.in) && back != tc.in {
			t.Errorf("%s reads back as %q, %v; want %q", tc.want, back, err, tc.in)
		}
	}
}
