package luatest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/interoceptor/interoceptor/filters/lua"
	"github.com/interoceptor/interoceptor/pipeline"
	_ "github.com/interoceptor/interoceptor/pipeline/matcher"
)

// got builds an injected message from its JSON form.
func got(t *testing.T, line string) *event {
	t.Helper()
	m := &pipeline.Message{}
	if err := pipeline.ParseJSON([]byte(line), m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return &event{msg: m}
}

// The comparison rules: an expected line lists what matters.
func TestComparisonRules(t *testing.T) {
	metric := `{"uuid":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","timestamp":"2026-01-01T00:00:00Z","type":"anomaly",` +
		`"logger":"cd","severity":6,"hostname":"h","pid":7,"payload":"up",` +
		`"fields":[{"name":"name","role":"measurement","type":"string","value":"anomaly"},` +
		`{"name":"host","role":"tag","type":"string","value":"a"},` +
		`{"name":"after_mean","type":"float","value":20},{"name":"n","type":"int","value":3}]}`
	for _, tc := range []struct {
		name, want string
		why        string // "" when it matches, else a part of the reason
	}{
		{"absent keys are not compared", `{"type":"anomaly"}`, ""},
		{"a listed header is", `{"type":"log"}`, `type: expected "log", got "anomaly"`},
		{"timestamp as text or ns", `{"timestamp":1767225600000000000}`, ""},
		{"timestamp differs", `{"timestamp":"2026-01-01T00:00:01Z"}`, "timestamp: expected 2026-01-01T00:00:01.000000000Z"},
		{"uuid, hostname, pid when listed", `{"hostname":"h","pid":8}`, "pid: expected 8, got 7"},
		{"payload", `{"payload":"down"}`, `payload: expected "down", got "up"`},
		{"all fields, any order", `{"fields":{"n":3,"after_mean":20.0,"host":"a","name":"anomaly"}}`, ""},
		{"an unexpected field", `{"fields":{"n":3,"after_mean":20.0,"host":"a"}}`, `unexpected field "name"`},
		{"fields_subset allows others", `{"fields":{"n":3},"fields_subset":true}`, ""},
		{"a missing field", `{"fields":{"m":3},"fields_subset":true}`, `field "m": missing`},
		{"types must agree: 20 is an int", `{"fields":{"after_mean":20},"fields_subset":true}`,
			`field "after_mean": expected an int, got a float (20.0)`},
		{"floats within 1e-9 relative", `{"fields":{"after_mean":20.000000000199},"fields_subset":true}`, ""},
		{"floats beyond it", `{"fields":{"after_mean":20.0000001},"fields_subset":true}`,
			`field "after_mean": expected 20.0000001, got 20.0`},
		{"roles compared in the array form", `{"fields":[{"name":"host","type":"string","value":"a"}],"fields_subset":true}`,
			`field "host": expected role field, got tag`},
		{"roles right", `{"fields":[{"name":"host","role":"tag","type":"string","value":"a"}],"fields_subset":true}`, ""},
		{"a failure expected, a message got", `{"failed":"process_message"}`, "expected a failed process_message call, got a message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := parseExpectation([]byte(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			why := e.mismatch(got(t, metric))
			if (tc.why == "") != (why == "") || !strings.Contains(why, tc.why) {
				t.Errorf("mismatch = %q, want %q", why, tc.why)
			}
		})
	}
}

func TestRepeatedFieldsMatchByOccurrence(t *testing.T) {
	g := got(t, `{"fields":[{"name":"v","type":"int","value":1},{"name":"v","type":"int","value":2}]}`)
	for want, why := range map[string]string{
		`{"fields":[{"name":"v","type":"int","value":1},{"name":"v","type":"int","value":2}]}`: "",
		`{"fields":[{"name":"v","type":"int","value":1},{"name":"v","type":"int","value":3}]}`: `field "v"[1]: expected 3, got 2`,
		`{"fields":[{"name":"v","type":"int","value":1}]}`:                                     `unexpected field "v"`,
	} {
		e, err := parseExpectation([]byte(want))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.mismatch(g); got != why && !(why != "" && strings.Contains(got, why)) {
			t.Errorf("%s: mismatch = %q, want %q", want, got, why)
		}
	}
}

func TestFailureLines(t *testing.T) {
	f := &event{fail: &failure{Call: "process_message", Line: 7, Status: -1, Error: "script.lua:3: field x is not a number"}}
	for want, why := range map[string]string{
		`{"failed":"process_message"}`:                                   "",
		`{"failed":"process_message","line":7,"status":-1}`:              "",
		`{"failed":"process_message","error":"field x is not a number"}`: "",
		`{"failed":"process_message","line":8}`:                          "line: expected input line 8, got 7",
		`{"failed":"timer_event"}`:                                       "expected a failed timer_event call, got a failed process_message call",
		`{"failed":"process_message","error":"not a string"}`:            `error: expected it to contain "not a string"`,
		`{"type":"anomaly"}`:                                             "expected a message, got a failed process_message call (input line 7)",
	} {
		e, err := parseExpectation([]byte(want))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.mismatch(f); (got == "") != (why == "") || !strings.Contains(got, why) {
			t.Errorf("%s: mismatch = %q, want %q", want, got, why)
		}
	}
	if _, err := parseExpectation([]byte(`{"failed":"process_message","code":1}`)); err == nil ||
		!strings.Contains(err.Error(), `unknown key "code"`) {
		t.Errorf("unknown key in a failure line: err = %v", err)
	}
}

// What -update writes reads back as an expectation that the same message meets.
func TestUpdateFormReadsBack(t *testing.T) {
	m := &pipeline.Message{Timestamp: 1767225600123456789, Type: "anomaly", Logger: "x", Severity: 4,
		Hostname: "varies", Pid: 99, Payload: []byte("a \"quoted\" <sentence>\n")}
	m.Fields = append(m.Fields, pipeline.Field{Name: "name", Role: pipeline.RoleMeasurement, Kind: pipeline.KindString, Str: "anomaly"})
	m.AddFloat("whole", 3)
	m.AddFloat("tiny", 1e-300)
	m.AddInt("big", -1<<63)
	m.AddUint("ubig", 1<<63)
	m.AddBool("ok", true)
	m.AddBytes("raw", []byte{0, 1, 2})
	m.AddString("bad_utf8", "\xff")
	line := renderEvent(&event{msg: m}, nil)
	if strings.Contains(line, "varies") || strings.Contains(line, "uuid") || strings.Contains(line, `"pid"`) ||
		strings.Contains(line, "logger") {
		t.Errorf("-update wrote what differs between runs: %s", line)
	}
	e, err := parseExpectation([]byte(line))
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if why := e.mismatch(&event{msg: m}); why != "" {
		t.Errorf("%s: %s", line, why)
	}
	if renderExpectation(e) != line {
		t.Errorf("expected side renders\n%s\nnot\n%s", renderExpectation(e), line)
	}
}

// One missing message shows as one line of the diff, not as every later line.
func TestAlignKeepsWhatMatches(t *testing.T) {
	var want []*expectation
	var evs []*event
	for _, p := range []string{"a", "b", "c", "d"} {
		e, _ := parseExpectation([]byte(`{"payload":"` + p + `"}`))
		want = append(want, e)
		if p != "b" {
			evs = append(evs, got(t, `{"payload":"`+p+`"}`))
		}
	}
	evs = append(evs, got(t, `{"payload":"e"}`))
	var kinds []byte
	for _, o := range align(want, evs) {
		kinds = append(kinds, o.kind)
	}
	if string(kinds) != " -  +" {
		t.Errorf("ops %q, want %q", kinds, " -  +")
	}
}

func TestPassingCase(t *testing.T) {
	var out bytes.Buffer
	if code := RunPaths(&out, []string{"testdata/pass"}, Options{}); code != 0 {
		t.Fatalf("exit %d:\n%s", code, &out)
	}
	if want := "PASS testdata/pass/echo (3 messages)\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

// A failing case prints a unified-style diff of the messages, each changed
// one explained, and exits 1.
func TestFailingCaseDiff(t *testing.T) {
	var out bytes.Buffer
	if code := RunPaths(&out, []string{"testdata/fail/wrong.test.toml"}, Options{}); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := `FAIL testdata/fail/wrong
    expected 4 messages, got 4 messages
    --- testdata/fail/wrong.expected.jsonl
    +++ injected by testdata/echo.lua
    @@ -1,4 +1,4 @@
     {"type":"echo","payload":"a","fields":{"n":1.5,"label":"one"}}
    +{"type":"echo","payload":"b","fields":{"n":2.5,"label":"two"}}
     {"type":"echo","payload":"c","fields":{"n":3.5,"label":"three"}}
    -{"type":"echo","payload":"d","fields":{"n":4.0,"label":"four"}}
    -{"type":"echo","payload":"e"}
    +{"type":"echo","payload":"d","fields":{"n":4.5,"label":"four"}}
    got message 2: not expected
    expected message 3 (wrong.expected.jsonl line 3): field "n": expected 4.0, got 4.5
    expected message 4 (wrong.expected.jsonl line 4): not injected
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", &out, want)
	}
}

func TestConfigErrorsExit2(t *testing.T) {
	for path, want := range map[string]string{
		"testdata/errors/unknown_key.test.toml": `unknown key "scirpt"`,
		"testdata/nowhere":                      "no such file or directory",
		"testdata/pass/echo.input.jsonl":        "", // not a case file: TOML that does not parse
	} {
		var out bytes.Buffer
		if code := RunPaths(&out, []string{path}, Options{}); code != 2 {
			t.Errorf("%s: exit %d, want 2:\n%s", path, code, &out)
		}
		if !strings.HasPrefix(out.String(), "ERROR ") || !strings.Contains(out.String(), want) {
			t.Errorf("%s: output %q, want an ERROR line with %q", path, &out, want)
		}
	}
}

func TestBadInputLineNamesItsLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "s.lua", "function process_message() return 0 end\n")
	writeFile(t, dir, "c.test.toml", "script = \"s.lua\"\n")
	writeFile(t, dir, "c.input.jsonl", "# fine\n{\"type\":\"log\"}\n{\"type\":\"log\",\"flieds\":{}}\n")
	writeFile(t, dir, "c.expected.jsonl", "")
	r := RunFile(filepath.Join(dir, "c.test.toml"), Options{})
	if r.Status != Error || !strings.Contains(r.Report, "c.input.jsonl:3: ") || !strings.Contains(r.Report, `"flieds"`) {
		t.Errorf("status %v, report %q", r.Status, r.Report)
	}
}

// -update writes the expected file (keeping its leading comments); the case
// then passes.
func TestUpdate(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/echo.lua")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "echo.lua", string(src))
	writeFile(t, dir, "c.test.toml", "script = \"echo.lua\"\n")
	writeFile(t, dir, "c.input.jsonl", "{\"payload\":\"a\",\"fields\":{\"n\":1}}\n{\"payload\":\"fail\"}\n{\"timer_event\":60000000000}\n")
	writeFile(t, dir, "c.expected.jsonl", "# Reviewed: echo and tick.\n{\"type\":\"wrong\"}\n")
	var out bytes.Buffer
	if code := RunPaths(&out, []string{dir}, Options{Update: true}); code != 0 {
		t.Fatalf("update: exit %d\n%s", code, &out)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "c.expected.jsonl"))
	if !strings.HasPrefix(string(data), "# Reviewed: echo and tick.\n{") || strings.Count(string(data), "\n") != 4 {
		t.Errorf("expected file after -update:\n%s", data)
	}
	out.Reset()
	if code := RunPaths(&out, []string{dir}, Options{}); code != 0 {
		t.Errorf("after -update: exit %d\n%s\n%s", code, &out, data)
	}
}

func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every case shipped with the Lua plugins passes, so that go test covers them.
func TestShippedPlugins(t *testing.T) {
	files, err := Find([]string{"../../plugins"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel("../../plugins", f)
		t.Run(strings.TrimSuffix(rel, CaseSuffix), func(t *testing.T) {
			t.Parallel()
			r := RunFile(f, Options{})
			if r.Status != Pass {
				t.Errorf("%s %s\n%s", r.Status, r.Name, r.Report)
			}
		})
	}
}

// Every sample config of a shipped plugin loads as `interoceptor check`
// loads it, from the repository's root (its paths are relative to it).
func TestShippedPluginConfigs(t *testing.T) {
	samples, _ := filepath.Glob("../../plugins/filters/*.toml")
	if len(samples) == 0 {
		t.Fatal("no plugins/filters/*.toml")
	}
	t.Chdir("../..")
	for _, s := range samples {
		path, _ := filepath.Rel("../..", s)
		if _, err := pipeline.LoadConfig(path); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
