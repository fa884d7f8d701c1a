package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The lua scenario: tcp (influx decoder) → filters.lua → file (influx).

const (
	luaPlugin  = "filters.lua[lua]"
	luaSubject = "bench.lua" // where the filter publishes
	luaEvery   = 100         // the script injects one message per luaEvery it receives
)

// luaScript is a filter of the usual shape, as in sandbox/bench_test.go: it
// reads two fields of each message (a float value and a tag), keeps a sum and
// injects one metric per 100 messages. count makes every output line distinct,
// so the check below sees a message lost, repeated or out of order.
const luaScript = `-- written by bench/cmd/benchrun for the lua scenario
local n, sum = 0, 0
function process_message()
  local user = read_message("Fields[user]")
  local host = read_message("Fields[host]")
  n = n + 1
  sum = sum + user
  if n % 100 == 0 then
    inject_message{Type = "metric", Tags = {host = host},
      Fields = {name = "cpu_user_avg", user = sum / 100, count = {value = n, type = "int"}}}
    sum = 0
  end
  return 0
end
`

// writeLuaFilter writes the script into dir and returns the filter's TOML.
func writeLuaFilter(dir string) (string, error) {
	script := filepath.Join(dir, "filter.lua")
	if err := os.WriteFile(script, []byte(luaScript), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf(`
[[filters.lua]]
subscribe = [%q]
publish = %q
script = %q
module_path = []
`, subject, luaSubject, script), nil
}

// luaLine is the line the script writes for the block of 100 messages that
// ends with message last (0-based), without its timestamp, which is the time
// of the inject.
func luaLine(last int) string {
	sum := 0.0
	for i := last + 1 - luaEvery; i <= last; i++ {
		sum += float64(i%400) / 4 // the user field of line i: see appendLine
	}
	return fmt.Sprintf("cpu_user_avg,host=edge-%04d count=%di,user=%s", last%10000, last+1,
		strconv.FormatFloat(sum/luaEvery, 'g', -1, 64))
}

// filterStats is the Lua filter's entry in /api/plugins.
type filterStats struct {
	In             uint64  `json:"in"`
	Out            uint64  `json:"out"`
	Dropped        uint64  `json:"dropped"`
	Errors         uint64  `json:"errors"`
	ProcessSeconds float64 `json:"process_seconds"`
}

// msgsPerSec is the filter's own rate: messages in per second spent in it.
func (f filterStats) msgsPerSec() float64 {
	if f.ProcessSeconds <= 0 {
		return 0
	}
	return float64(f.In) / f.ProcessSeconds
}

// readFilterStats reads a filter's counters from /api/plugins once it has
// taken all n messages. The runtime adds a batch's time after the batch, so
// the figures are read until two reads agree.
func readFilterStats(log, plugin string, n int, exited <-chan struct{}) (filterStats, error) {
	url, err := adminURL(log)
	if err != nil {
		return filterStats{}, err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections() // so that the drain does not wait for them
	deadline := time.Now().Add(30 * time.Second)
	var last filterStats
	for {
		p, err := fetchPlugin(client, url, plugin)
		st := p.Counters
		if err != nil {
			return st, err
		}
		switch {
		case st.In > uint64(n):
			return st, fmt.Errorf("/api/plugins: %s took %d messages, more than the %d sent", plugin, st.In, n)
		case st.In == uint64(n) && st == last:
			return st, nil
		case time.Now().After(deadline):
			return st, fmt.Errorf("/api/plugins: %s took %d of %d messages, or its counters kept moving", plugin, st.In, n)
		}
		last = st
		select {
		case <-exited:
			return st, errors.New("the process exited while its filter's counters were read")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pluginEntry is one plugin's entry in /api/plugins, as far as benchrun reads it.
type pluginEntry struct {
	Kind, Type, Name string
	Counters         filterStats
	Gauges           map[string]float64
}

// fetchPlugin reads one plugin's entry ("filters.lua[lua]") from /api/plugins.
func fetchPlugin(client *http.Client, url, plugin string) (pluginEntry, error) {
	resp, err := client.Get(url + "api/plugins")
	if err != nil {
		return pluginEntry{}, err
	}
	defer resp.Body.Close()
	var plugins []pluginEntry
	if err := json.NewDecoder(resp.Body).Decode(&plugins); err != nil {
		return pluginEntry{}, fmt.Errorf("/api/plugins: %w", err)
	}
	for _, p := range plugins {
		if p.Kind+"."+p.Type+"["+p.Name+"]" == plugin {
			return p, nil
		}
	}
	return pluginEntry{}, fmt.Errorf("/api/plugins has no %s", plugin)
}

// adminURL finds the admin API's address in the "admin API listening" record.
func adminURL(log string) (string, error) {
	for _, line := range strings.Split(log, "\n") {
		var rec struct{ Msg, URL string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "admin API listening" && rec.URL != "" {
			return strings.TrimSuffix(rec.URL, "/") + "/", nil
		}
	}
	return "", errors.New("no \"admin API listening\" record in the log")
}

// verifyLua checks the filter's output line by line (all but the timestamps,
// which are the times of the injects) and every plugin's "stopped" record.
func verifyLua(r *runResult, log, outPath string, data lineData) error {
	out, err := os.ReadFile(outPath)
	if err != nil {
		return err
	}
	want := data.n / luaEvery
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(out) == 0 {
		lines = nil
	}
	if len(lines) != want || !bytes.HasSuffix(out, []byte{'\n'}) && want > 0 {
		return fmt.Errorf("the output has %d lines, want exactly %d (one per %d messages)", len(lines), want, luaEvery)
	}
	for k, line := range lines {
		i := strings.LastIndexByte(line, ' ')
		head, ts := line[:max(i, 0)], line[i+1:]
		expect := luaLine((k+1)*luaEvery - 1)
		if _, err := strconv.ParseInt(ts, 10, 64); err != nil || head != expect {
			return fmt.Errorf("output line %d is %q, want %q and a timestamp", k+1, line, expect)
		}
	}

	in, err := stoppedRecord(log, fmt.Sprintf(inputPlugin, "tcp", "tcp"))
	if err != nil {
		return err
	}
	filter, err := stoppedRecord(log, luaPlugin)
	if err != nil {
		return err
	}
	outRec, err := stoppedRecord(log, outputPlugin)
	if err != nil {
		return err
	}
	for _, c := range []counters{in, filter, outRec} {
		if c.Dropped != 0 || c.Errors != 0 {
			return fmt.Errorf("counters: input %+v, filter %+v, output %+v; want dropped=0 errors=0", in, filter, outRec)
		}
	}
	if in.In != int64(data.n) || filter.In != int64(data.n) || filter.Out != int64(want) || outRec.Out != int64(want) {
		return fmt.Errorf("counters: input in=%d, filter in=%d out=%d, output out=%d; want %d, %d, %d, %d",
			in.In, filter.In, filter.Out, outRec.Out, data.n, data.n, want, want)
	}
	r.inputIn, r.outputOut = in.In, outRec.Out
	return nil
}
