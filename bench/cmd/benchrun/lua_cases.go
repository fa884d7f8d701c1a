package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The one-for-one Lua scenarios (issue 13): every line in gives one record
// out, changed by a script, as Fluent Bit's Lua filter runs in its
// comparison. Each names its script and what every output line must hold.
type luaCase struct {
	script  string
	decoder bool   // the script is the tcp input's decoder; no filter
	format  string // outputs.file's format
	want    string // every output line contains it
	about   string // for the report
}

var luaCases = map[string]*luaCase{
	"lua-raw": {format: "json", want: `"env"`,
		about:  "raw lines (no decoder) → a Lua filter that adds a field to each and passes it on → file (`format = \"json\"`, so the field is written)",
		script: "function process_message()\n  write_message(\"Fields[env]\", \"prod\")\n  inject_message()\nend\n"},
	"lua-metric": {format: "influx", want: ",load=",
		about: "line protocol parsed (influx decoder) → a Lua filter that reads two values and adds one tag, passing the metric on → file (influx)",
		script: `function process_message()
  local user, idle = read_message("Fields[user]", "Fields[idle]")
  if user > idle then write_message("Tags[load]", "high") else write_message("Tags[load]", "low") end
  inject_message()
end
`},
	"lua-metric-table": {format: "influx", want: ",load=",
		about: "the same change written the old way: a new message built from a table and injected",
		script: `function process_message()
  local user = read_message("Fields[user]")
  local idle = read_message("Fields[idle]")
  local load = "low"
  if user > idle then load = "high" end
  inject_message{Type = "metric", Timestamp = read_message("Timestamp"),
    Tags = {cpu = read_message("Fields[cpu]"), host = read_message("Fields[host]"),
      region = read_message("Fields[region]"), load = load},
    Fields = {name = read_message("Fields[name]"), user = user, idle = idle,
      seq = {value = read_message("Fields[seq]"), type = "int"}}}
end
`},
	"lua-decoder": {decoder: true, format: "json", want: `"host"`,
		about: "raw lines through a Lua decoder script (`decoder = \"decoder.lua\"`) that takes the measurement and the host out of each line → file (`format = \"json\"`)",
		script: `function process_message()
  local m, host = string.match(read_message("Payload"), "^(%w+),cpu=%w+,host=([%w-]+)")
  if not m then return -1, "not a cpu line" end
  write_message("Type", "cpu")
  write_message("Fields[measurement]", m)
  write_message("Fields[host]", host)
  inject_message()
end
`},
}

// luaCaseConfig writes the case's script into dir and returns what goes into
// the input's table and the filter's, and the subject the output reads.
func luaCaseConfig(c *luaCase, dir string) (inputExtra, filter, outSubject string, err error) {
	name := "filter.lua"
	if c.decoder {
		name = "decoder.lua"
	}
	script := filepath.Join(dir, name)
	if err := os.WriteFile(script, []byte(c.script), 0o644); err != nil {
		return "", "", "", err
	}
	if c.decoder {
		return fmt.Sprintf("decoder = %q\n", script), "", subject, nil
	}
	filter = fmt.Sprintf(`
[[filters.lua]]
subscribe = [%q]
publish = %q
script = %q
module_path = []
`, subject, luaSubject, script)
	return "", filter, luaSubject, nil
}

// verifyLuaCase checks that the output has one line per line sent, each
// with the change, and every plugin's counters.
func verifyLuaCase(c *luaCase, r *runResult, log, outPath string, data lineData) error {
	f, err := os.Open(outPath)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines := 0
	for sc.Scan() {
		if !strings.Contains(sc.Text(), c.want) {
			return fmt.Errorf("output line %d is %q; want it to contain %q", lines+1, sc.Text(), c.want)
		}
		lines++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if lines != data.n {
		return fmt.Errorf("the output has %d lines, want exactly %d", lines, data.n)
	}
	plugins := []string{fmt.Sprintf(inputPlugin, "tcp", "tcp"), outputPlugin}
	if !c.decoder {
		plugins = append(plugins, luaPlugin)
	}
	for _, p := range plugins {
		rec, err := stoppedRecord(log, p)
		if err != nil {
			return err
		}
		if rec.Dropped != 0 || rec.Errors != 0 || rec.Out != int64(data.n) && p != plugins[0] {
			return fmt.Errorf("%s counters %+v; want out=%d, dropped=0, errors=0", p, rec, data.n)
		}
		if p == plugins[0] {
			r.inputIn = rec.In
		}
		if p == outputPlugin {
			r.outputOut = rec.Out
		}
	}
	return nil
}
