package pipeline

import "testing"

func TestParseSeverity(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int32
		ok   bool
	}{
		{"emerg", 0, true}, {"EMERGENCY", 0, true}, {"panic", 0, true}, {"0", 0, true},
		{"alert", 1, true}, {"1", 1, true},
		{"crit", 2, true}, {"Critical", 2, true}, {"FATAL", 2, true},
		{"err", 3, true}, {"error", 3, true}, {"ERROR", 3, true},
		{"warn", 4, true}, {"Warning", 4, true},
		{"notice", 5, true},
		{"info", 6, true}, {"INFO", 6, true}, {"information", 6, true}, {"informational", 6, true}, {"6", 6, true},
		{"debug", 7, true}, {"trace", 7, true}, {"7", 7, true},
		{"", 0, false}, {"8", 0, false}, {"30", 0, false}, {"-1", 0, false}, {"verbose", 0, false},
		{"informationally", 0, false}, {" info", 0, false}, {"infó", 0, false},
	} {
		got, ok := ParseSeverity(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseSeverity(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSeverityFromFields(t *testing.T) {
	str := func(name, v string) Field { return Field{Name: name, Kind: KindString, Str: v} }
	for _, tt := range []struct {
		fields []Field
		want   int32
		found  bool
	}{
		{nil, DefaultSeverity, false},
		{[]Field{str("msg", "x"), str("level", "warn")}, 4, true},
		{[]Field{str("severity", "emerg")}, 0, true},
		{[]Field{str("lvl", "debug")}, 7, true},
		{[]Field{str("log.level", "ERROR")}, 3, true},
		{[]Field{str("loglevel", "3")}, 3, true},
		{[]Field{{Name: "level", Kind: KindInt, Int: 2}}, 2, true},
		{[]Field{{Name: "level", Kind: KindUint, Uint: 5}}, 5, true},
		{[]Field{{Name: "level", Kind: KindInt, Int: 30}}, DefaultSeverity, false},
		{[]Field{{Name: "level", Kind: KindBool, Bool: true}}, DefaultSeverity, false},
		{[]Field{str("level", "verbose"), str("severity", "crit")}, 2, true}, // the first one understood
		{[]Field{str("Level", "error")}, DefaultSeverity, false},             // names are exact
	} {
		m := &Message{Severity: DefaultSeverity}
		found := SeverityFromFields(m, tt.fields)
		if m.Severity != tt.want || found != tt.found {
			t.Errorf("%v: severity %d, found %v; want %d, %v", tt.fields, m.Severity, found, tt.want, tt.found)
		}
	}
}

// A JSON-form message without "severity" is info, as any message whose
// source gives none; an explicit 0 stays 0; a level name is read.
func TestParseJSONSeverity(t *testing.T) {
	for in, want := range map[string]int32{
		`{"type":"log"}`:                   DefaultSeverity,
		`{"type":"log","severity":null}`:   DefaultSeverity,
		`{"type":"log","severity":0}`:      0,
		`{"type":"log","severity":3}`:      3,
		`{"type":"log","severity":"warn"}`: 4,
		`{"type":"log","severity":"7"}`:    7,
	} {
		var m Message
		m.Severity = 1 // ParseJSON resets m
		if err := ParseJSON([]byte(in), &m); err != nil {
			t.Errorf("%s: %v", in, err)
		} else if m.Severity != want {
			t.Errorf("%s: severity %d, want %d", in, m.Severity, want)
		}
	}
	if err := ParseJSON([]byte(`{"severity":"loud"}`), new(Message)); err == nil {
		t.Error(`"severity":"loud" parsed`)
	}
}

func TestAlertSeverity(t *testing.T) {
	for in, want := range map[string]int32{"critical": 2, "page": 2, "error": 3, "major": 3,
		"warning": 4, "info": 6, "none": 6, "debug": 7, "whatever": 4, "": 4} {
		if got := AlertSeverity(in); got != want {
			t.Errorf("AlertSeverity(%q) = %d, want %d", in, got, want)
		}
	}
}
