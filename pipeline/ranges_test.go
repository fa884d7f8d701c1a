package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

// rangeCase is one key set out of its range in an otherwise valid table.
type rangeCase struct {
	plugin string // "inputs.tail", or "nats"
	key    string // as the error names it
	line   string // the TOML line that sets it
	want   string // the message after `key "...": `
}

// validTables are the keys each plugin needs to pass check, the key under
// test aside. A stdin input publishing "a" comes before, for subscribers.
func validTables(t *testing.T) map[string]string {
	dir := t.TempDir()
	script := filepath.Join(dir, "f.lua")
	if err := os.WriteFile(script, []byte("function process_message() return 0 end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"inputs.stdin":      `publish = "b"`,
		"inputs.file":       `publish = "b"` + "\npath = \"/dev/null\"",
		"inputs.tcp":        `publish = "b"`,
		"inputs.udp":        `publish = "b"`,
		"inputs.syslog":     `publish = "b"`,
		"inputs.generator":  `publish = "b"`,
		"inputs.internal":   `publish = "b"`,
		"inputs.system":     `publish = "b"`,
		"inputs.tail":       `publish = "b"` + "\nfiles = [\"/var/log/*.log\"]",
		"filters.counter":   `subscribe = ["a"]`,
		"filters.lua":       `subscribe = ["a"]` + fmt.Sprintf("\nscript = %q", script),
		"outputs.file":      `subscribe = ["a"]` + "\npath = \"/tmp/x.log\"",
		"outputs.influxdb":  `subscribe = ["a"]` + "\nurl = \"http://127.0.0.1:8086\"\nbucket = \"db\"",
		"inputs.stdin(lua)": `publish = "b"` + fmt.Sprintf("\ndecoder = %q", script),
	}
}

// rangeSource is a pipeline with c's key as the last line of its table; it
// returns the source and the line of the key.
func rangeSource(t *testing.T, tables map[string]string, c rangeCase) (string, int) {
	var src string
	if c.plugin == "nats" || c.plugin == "agent" {
		src = "[[inputs.stdin]]\npublish = \"a\"\n[" + c.plugin + "]\n" + c.line + "\n"
	} else {
		base, ok := tables[c.plugin]
		if !ok {
			t.Fatalf("no valid table for %s", c.plugin)
		}
		header := strings.TrimSuffix(c.plugin, "(lua)")
		src = "[[inputs.stdin]]\npublish = \"a\"\n[[" + header + "]]\nname = \"t\"\n" + base + "\n" + c.line + "\n"
	}
	return src, strings.Count(src, "\n")
}

// Every key that sizes a buffer, counts what allocates or sets an interval
// refuses values out of its documented range, below and above, with the
// file, the line, the key and the range.
func TestEverySizeAndIntervalKeyHasARange(t *testing.T) {
	tables := validTables(t)
	cases := []rangeCase{
		{"nats", "batch_bytes", `batch_bytes = 0`, `must be between 1 and 8388608 (8 MiB) bytes; got 0`},
		{"nats", "batch_bytes", `batch_bytes = 8388609`, `must be between 1 and 8388608 (8 MiB) bytes; got 8388609`},
		{"nats", "batch_linger", `batch_linger = "1ns"`, `must be between 100µs and 10s; got 1ns`},
		{"nats", "batch_linger", `batch_linger = "1m"`, `must be between 100µs and 10s; got 1m`},
		{"nats", "max_pending_bytes", `max_pending_bytes = 1024`, `must be between 1048576 (1 MiB) and 536870912 (512 MiB) bytes; got 1024`},
		{"nats", "max_pending_bytes", `max_pending_bytes = 1073741824`, `must be between 1048576 (1 MiB) and 536870912 (512 MiB) bytes; got 1073741824`},
		{"nats", "stream_max_age", `stream_max_age = "1s"`, `must be between 1m and 8760h; got 1s`},
		{"nats", "stream_max_age", `stream_max_age = "9000h"`, `must be between 1m and 8760h; got 9000h`},
		{"nats", "stream_max_bytes", `stream_max_bytes = 1000`, `must be between 1048576 (1 MiB) and 17592186044416 (16 TiB) bytes; got 1000`},
		{"nats", "stream_max_bytes", `stream_max_bytes = 9223372036854775807`, `must be between 1048576 (1 MiB) and 17592186044416 (16 TiB) bytes; got 9223372036854775807`},
		{"nats", "stream_replicas", `stream_replicas = 0`, `must be between 1 and 5; got 0`},
		{"nats", "stream_replicas", `stream_replicas = 7`, `must be between 1 and 5; got 7`},
		{"nats", "max_pending_bytes", "batch_bytes = 8388608\nmax_pending_bytes = 1048576", `must be at least batch_bytes (8388608), or a publisher waits after every batch; got 1048576`},
		{"nats", "durable_compression", `durable_compression = "gzip"`, `must be "s2" or "none"; got "gzip"`},
		{"agent", "memory_limit", `memory_limit = 1048576`, `must be 0 (off) or between 16777216 (16 MiB) and 1099511627776 (1 TiB) bytes; got 1048576`},
		{"agent", "memory_limit", `memory_limit = -1`, `must be 0 (off) or between 16777216 (16 MiB) and 1099511627776 (1 TiB) bytes; got -1`},

		{"filters.counter", "ticker_interval", `ticker_interval = "1ns"`, `must be between 10ms and 24h; got 1ns`},
		{"filters.counter", "ticker_interval", `ticker_interval = "48h"`, `must be between 10ms and 24h; got 48h`},

		{"inputs.stdin", "max_line_bytes", `max_line_bytes = 0`, `must be between 1 and 8388608 (8 MiB) bytes; got 0`},
		{"inputs.stdin", "max_line_bytes", `max_line_bytes = 9223372036854775807`, `must be between 1 and 8388608 (8 MiB) bytes; got 9223372036854775807`},
		{"inputs.file", "max_line_bytes", `max_line_bytes = 100000000000`, `must be between 1 and 8388608 (8 MiB) bytes; got 100000000000`},
		{"inputs.tcp", "max_line_bytes", `max_line_bytes = 100000000000`, `must be between 1 and 8388608 (8 MiB) bytes; got 100000000000`},
		{"inputs.tcp", "max_connections", `max_connections = 0`, `must be between 1 and 65536; got 0`},
		{"inputs.tcp", "max_connections", `max_connections = 10000000`, `must be between 1 and 65536; got 10000000`},
		{"inputs.udp", "max_datagram_bytes", `max_datagram_bytes = 0`, `must be between 1 and 65536 (64 KiB) bytes; got 0`},
		{"inputs.udp", "max_datagram_bytes", `max_datagram_bytes = 9223372036854775807`, `must be between 1 and 65536 (64 KiB) bytes; got 9223372036854775807`},
		{"inputs.syslog", "max_message_bytes", `max_message_bytes = 9223372036854775807`, `must be between 1 and 8388608 (8 MiB) bytes; got 9223372036854775807`},
		{"inputs.syslog", "max_connections", `max_connections = 10000000`, `must be between 1 and 65536; got 10000000`},
		{"inputs.generator", "size", `size = 2000000000`, `must be between 0 and 1048576 (1 MiB) bytes; got 2000000000`},
		{"inputs.generator", "size", `size = -1`, `must be between 0 and 1048576 (1 MiB) bytes; got -1`},
		{"inputs.generator", "rate", `rate = 1e12`, `must be 0 (as fast as possible) or between 0.001 and 1e+07 messages a second; got 1e+12`},
		{"inputs.generator", "rate", `rate = 1e-9`, `must be 0 (as fast as possible) or between 0.001 and 1e+07 messages a second; got 1e-09`},
		{"inputs.internal", "interval", `interval = "1ns"`, `must be between 10ms and 24h; got 1ns`},
		{"inputs.internal", "interval", `interval = "100000h"`, `must be between 10ms and 24h; got 100000h`},
		{"inputs.system", "interval", `interval = "1ms"`, `must be between 100ms and 24h; got 1ms`},
		{"inputs.system", "interval", `interval = "720h"`, `must be between 100ms and 24h; got 720h`},
		{"inputs.tail", "poll_interval", `poll_interval = "1ns"`, `must be between 10ms and 1m; got 1ns`},
		{"inputs.tail", "poll_interval", `poll_interval = "1h"`, `must be between 10ms and 1m; got 1h`},
		{"inputs.tail", "max_line_bytes", `max_line_bytes = 9223372036854775807`, `must be between 1 and 8388608 (8 MiB) bytes; got 9223372036854775807`},
		{"inputs.tail", "multiline_timeout", `multiline_timeout = "1ns"`, `must be between 10ms and 1h; got 1ns`},
		{"inputs.tail", "checkpoint_interval", `checkpoint_interval = "1ns"`, `must be between 10ms and 1h; got 1ns`},
		{"inputs.tail", "checkpoint_interval", `checkpoint_interval = "2h"`, `must be between 10ms and 1h; got 2h`},

		{"filters.lua", "memory_limit", `memory_limit = 1024`, `must be between 65536 (64 KiB) and 1073741824 (1 GiB) bytes; got 1024`},
		{"filters.lua", "memory_limit", `memory_limit = 9223372036854775807`, `must be between 65536 (64 KiB) and 1073741824 (1 GiB) bytes; got 9223372036854775807`},
		{"filters.lua", "time_limit", `time_limit = "1ns"`, `must be between 1ms and 1m; got 1ns`},
		{"filters.lua", "time_limit", `time_limit = "1h"`, `must be between 1ms and 1m; got 1h`},
		{"filters.lua", "output_limit", `output_limit = 10`, `must be between 1024 (1 KiB) and 8388608 (8 MiB) bytes; got 10`},
		{"filters.lua", "output_limit", `output_limit = 100000000000`, `must be between 1024 (1 KiB) and 8388608 (8 MiB) bytes; got 100000000000`},
		{"filters.lua", "inject_limit", `inject_limit = 0`, `must be between 1 and 1000000; got 0`},
		{"filters.lua", "inject_limit", `inject_limit = 100000000000`, `must be between 1 and 1000000; got 100000000000`},
		{"filters.lua", "restart_backoff", `restart_backoff = "1ns"`, `must be between 10ms and 1h; got 1ns`},
		{"inputs.stdin(lua)", "decoder_config.memory_limit", `decoder_config = {memory_limit = 100000000000}`, `must be between 65536 (64 KiB) and 1073741824 (1 GiB) bytes; got 100000000000`},
		{"inputs.stdin(lua)", "decoder_config.time_limit", `decoder_config = {time_limit = "1ns"}`, `must be between 1ms and 1m; got 1ns`},
		{"inputs.stdin(lua)", "decoder_config.output_limit", `decoder_config = {output_limit = 9223372036854775807}`, `must be between 1024 (1 KiB) and 8388608 (8 MiB) bytes; got 9223372036854775807`},

		{"outputs.file", "buffer_bytes", `buffer_bytes = 0`, `must be between 1 and 67108864 (64 MiB) bytes; got 0`},
		{"outputs.file", "buffer_bytes", `buffer_bytes = 9223372036854775807`, `must be between 1 and 67108864 (64 MiB) bytes; got 9223372036854775807`},
		{"outputs.file", "buffer_bytes", `buffer_bytes = 100000000000`, `must be between 1 and 67108864 (64 MiB) bytes; got 100000000000`},
		{"outputs.influxdb", "batch_size", `batch_size = 0`, `must be between 1 and 1000000; got 0`},
		{"outputs.influxdb", "batch_size", `batch_size = 100000000000`, `must be between 1 and 1000000; got 100000000000`},
		{"outputs.influxdb", "flush_interval", `flush_interval = "1ns"`, `must be between 10ms and 1h; got 1ns`},
		{"outputs.influxdb", "timeout", `timeout = "1ns"`, `must be between 100ms and 10m; got 1ns`},
		{"outputs.influxdb", "timeout", `timeout = "1h"`, `must be between 100ms and 10m; got 1h`},
		{"outputs.influxdb", "max_retry_interval", `max_retry_interval = "1ns"`, `must be between 100ms and 1h; got 1ns`},
		{"outputs.influxdb", "buffer_bytes", `buffer_bytes = 100000000000`, `must be between 1024 (1 KiB) and 1073741824 (1 GiB) bytes; got 100000000000`},
		{"outputs.influxdb", "buffer_bytes", `buffer_bytes = 9223372036854775807`, `must be between 1024 (1 KiB) and 1073741824 (1 GiB) bytes; got 9223372036854775807`},
		{"outputs.influxdb", "disk_buffer_bytes", `disk_buffer_bytes = 1000`, `must be 0 (no disk buffer) or between 65536 (64 KiB) and 1099511627776 (1 TiB) bytes; got 1000`},
		{"outputs.influxdb", "disk_buffer_bytes", `disk_buffer_bytes = 9223372036854775807`, `must be 0 (no disk buffer) or between 65536 (64 KiB) and 1099511627776 (1 TiB) bytes; got 9223372036854775807`},
	}
	for _, c := range cases {
		t.Run(c.plugin+"/"+c.line, func(t *testing.T) {
			src, line := rangeSource(t, tables, c)
			id := c.plugin
			if c.plugin != "nats" && c.plugin != "agent" {
				id = strings.TrimSuffix(c.plugin, "(lua)") + "[t]"
			}
			want := fmt.Sprintf("p.toml:%d: %s: key %q: %s", line, id, c.key, c.want)
			_, err := pipeline.ParseConfig("p.toml", src)
			if err == nil || err.Error() != want {
				t.Fatalf("error:\n  %v\nwant exactly:\n  %s\nconfig:\n%s", err, want, src)
			}
		})
	}
	// And the same tables without the key pass: the errors above are the
	// keys', nothing else's.
	for plugin := range tables {
		src, _ := rangeSource(t, tables, rangeCase{plugin: plugin})
		if _, err := pipeline.ParseConfig("p.toml", src); err != nil {
			t.Errorf("%s without the key: %v", plugin, err)
		}
	}
}

// The values of the issue that passed check and then broke run (a panic in
// makeslice, an out-of-memory, 2 GB for a generator, a core spinning on
// 1ns timers) are refused by check, each with its file, line and key.
func TestHostileValuesFailCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hostile.toml")
	src := `[nats]
batch_linger = "1ns"
[[inputs.generator]]
name = "gen"
publish = "a"
size = 2000000000
[[inputs.generator]]
name = "gen2e9"
publish = "a"
size = 2e9
[[inputs.system]]
publish = "a"
interval = "1ns"
[[inputs.internal]]
publish = "a"
interval = "1ns"
[[inputs.tail]]
publish = "a"
files = ["/var/log/*.log"]
poll_interval = "1ns"
[[filters.counter]]
subscribe = ["a"]
ticker_interval = "1ns"
[[outputs.file]]
name = "max"
subscribe = ["a"]
path = "/tmp/x"
buffer_bytes = 9223372036854775807
[[outputs.file]]
name = "huge"
subscribe = ["a"]
path = "/tmp/y"
buffer_bytes = 100000000000
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := pipeline.LoadConfig(path)
	if err == nil {
		t.Fatal("check accepted the hostile config")
	}
	for _, want := range []string{
		`:2: nats: key "batch_linger": must be between 100µs and 10s; got 1ns`,
		`:6: inputs.generator[gen]: key "size": must be between 0 and 1048576 (1 MiB) bytes; got 2000000000`,
		`:10: inputs.generator[gen2e9]: key "size": expected an integer, got a float (2e+09)`,
		`:13: inputs.system[system]: key "interval": must be between 100ms and 24h; got 1ns`,
		`:16: inputs.internal[internal]: key "interval": must be between 10ms and 24h; got 1ns`,
		`:20: inputs.tail[tail]: key "poll_interval": must be between 10ms and 1m; got 1ns`,
		`:23: filters.counter[counter]: key "ticker_interval": must be between 10ms and 24h; got 1ns`,
		`:28: outputs.file[max]: key "buffer_bytes": must be between 1 and 67108864 (64 MiB) bytes; got 9223372036854775807`,
		`:33: outputs.file[huge]: key "buffer_bytes": must be between 1 and 67108864 (64 MiB) bytes; got 100000000000`,
	} {
		if !strings.Contains(err.Error(), path+want+"\n") && !strings.HasSuffix(err.Error(), path+want) {
			t.Errorf("no error\n  %s%s\nin:\n%v", path, want, err)
		}
	}
}

// A plugin with several bad keys gets an error for each, each at its line,
// not only the first.
func TestCheckReportsEveryErrorOfAPlugin(t *testing.T) {
	_, err := pipeline.ParseConfig("p.toml", `[[inputs.tail]]
publish = "a"
files = ["/var/log/*.log"]
poll_interval = "1ns"
max_line_bytes = 0
checkpoint_interval = "2h"
`)
	want := `p.toml:4: inputs.tail[tail]: key "poll_interval": must be between 10ms and 1m; got 1ns
p.toml:5: inputs.tail[tail]: key "max_line_bytes": must be between 1 and 8388608 (8 MiB) bytes; got 0
p.toml:6: inputs.tail[tail]: key "checkpoint_interval": must be between 10ms and 1h; got 2h`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}

	// The same for a decoder's options, and for [nats].
	_, err = pipeline.ParseConfig("p.toml", `[nats]
batch_bytes = 0
stream_replicas = 9
[[inputs.stdin]]
publish = "a"
decoder = "regex"
decoder_config = {pattern = "(?P<x>.)", types = {y = "int"}}
[[outputs.influxdb]]
subscribe = ["a"]
bucket = "db"
batch_size = 0
timeout = "0s"
`)
	want = `p.toml:2: nats: key "batch_bytes": must be between 1 and 8388608 (8 MiB) bytes; got 0
p.toml:3: nats: key "stream_replicas": must be between 1 and 5; got 9
p.toml:7: inputs.stdin[stdin]: key "decoder_config.types.y": the pattern has no group named "y"
p.toml:8: outputs.influxdb[influxdb]: key "url": missing required key
p.toml:11: outputs.influxdb[influxdb]: key "batch_size": must be between 1 and 1000000; got 0
p.toml:12: outputs.influxdb[influxdb]: key "timeout": must be between 100ms and 10m; got 0s`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}
