package pipeline_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/interoceptor/interoceptor/decoders/all"
	_ "github.com/interoceptor/interoceptor/filters/all"
	_ "github.com/interoceptor/interoceptor/inputs/all"
	_ "github.com/interoceptor/interoceptor/outputs/all"
	"github.com/interoceptor/interoceptor/pipeline"
	_ "github.com/interoceptor/interoceptor/pipeline/matcher"
)

const okPipeline = `
[agent]
name = "edge-1"

[[inputs.tcp]]
name = "nginx"
publish = "logs.nginx"
address = "127.0.0.1:0"
decoder = "json"

[[filters.counter]]
subscribe = ["logs.>"]
matcher = "Type == 'log' && Fields[status] >= 500"
publish = "counts"
ticker_interval = "30s"

[[outputs.file]]
subscribe = ["counts"]
path = "/tmp/counts.log"
format = "json"
`

func TestParseConfigReadsEveryKey(t *testing.T) {
	cfg, err := pipeline.ParseConfig("p.toml", okPipeline)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.Name != "edge-1" || cfg.Agent.DataDir != pipeline.DefaultDataDir || cfg.Agent.AdminAddr != pipeline.DefaultAdminAddr {
		t.Errorf("agent = %+v", cfg.Agent)
	}
	if len(cfg.Plugins) != 3 {
		t.Fatalf("%d plugins, want 3", len(cfg.Plugins))
	}
	in, f, out := cfg.Plugins[0], cfg.Plugins[1], cfg.Plugins[2]
	if in.ID() != "inputs.tcp[nginx]" || in.Publish != "logs.nginx" || in.Decoder != "json" || in.Line != 5 {
		t.Errorf("input = %+v", in)
	}
	if f.ID() != "filters.counter[counter]" || f.TickerInterval != 30*time.Second || f.Matcher == nil || f.Subscribe[0] != "logs.>" {
		t.Errorf("filter = %+v", f)
	}
	if out.ID() != "outputs.file[file]" || out.Line != 17 {
		t.Errorf("output = %+v", out)
	}
}

// Every config error names the file, the line and the key, in these words.
func TestConfigErrors(t *testing.T) {
	t.Setenv("INTEROCEPTOR_TEST_SET", "from-env")
	os.Unsetenv("INTEROCEPTOR_TEST_UNSET")
	cases := []struct {
		name, src, want string
	}{
		{"unknown key", `
[[inputs.tcp]]
publish = "a"
adress = "127.0.0.1:1"
[[outputs.stdout]]
subscribe = ["a"]
`, `p.toml:4: inputs.tcp[tcp]: key "adress": unknown key (known keys: address, dead_letter, decoder, decoder_config, durable, frame_timeout, idle_timeout, max_buffer_bytes, max_connections, max_line_bytes, name, publish)`},
		{"wrong type", `
[[inputs.tcp]]
publish = "a"
address = 5170
[[outputs.stdout]]
subscribe = ["a"]
`, `p.toml:4: inputs.tcp[tcp]: key "address": expected a string, got an integer (5170)`},
		{"wrong type of a shared key", `
[[inputs.stdin]]
publish = ["a"]
`, `p.toml:3: inputs.stdin[stdin]: key "publish": expected a string, got an array`},
		{"missing publish", `
[[inputs.stdin]]
name = "in"
`, `p.toml:2: inputs.stdin[in]: key "publish": missing required key: the subject this input's messages go to`},
		{"missing subscribe", `
[[inputs.stdin]]
publish = "a"
[[outputs.stdout]]
name = "out"
`, `p.toml:4: outputs.stdout[out]: key "subscribe": missing required key: the subjects this plugin receives from`},
		{"missing plugin key", `
[[inputs.file]]
publish = "a"
[[outputs.stdout]]
subscribe = ["a"]
`, `p.toml:2: inputs.file[file]: key "path": missing required key`},
		{"bad plugin value", `
[[inputs.stdin]]
publish = "a"
[[outputs.stdout]]
subscribe = ["a"]
format = "xml"
`, `p.toml:6: outputs.stdout[stdout]: key "format": must be one of payload, json, influx; got "xml"`},
		{"duplicate name", `
[[inputs.stdin]]
publish = "a"
[[inputs.tcp]]
name = "stdin"
publish = "b"
[[outputs.stdout]]
subscribe = ["a", "b"]
`, `p.toml:5: inputs.tcp[stdin]: key "name": duplicate name "stdin" among inputs (first defined at p.toml:2); give each a unique name`},
		{"subject nobody publishes", `
[[inputs.stdin]]
publish = "logs.app"
[[outputs.stdout]]
subscribe = ["logs.app", "metrics.>"]
`, `p.toml:5: outputs.stdout[stdout]: key "subscribe": no plugin publishes to "metrics.>" (set external = true if another process does)`},
		{"unset variable", `
[[inputs.stdin]]
publish = "a"
[[outputs.file]]
subscribe = ["a"]
path = "${INTEROCEPTOR_TEST_UNSET}"
`, `p.toml:6: environment variable INTEROCEPTOR_TEST_UNSET is not set (write ${INTEROCEPTOR_TEST_UNSET:-default} to give a default)`},
		{"matcher syntax", `
[[inputs.stdin]]
publish = "a"
[[outputs.stdout]]
subscribe = ["a"]
matcher = "Type == 'log' && && Severity < 4"
`, `p.toml:6: outputs.stdout[stdout]: key "matcher": column 18: expected a comparison (e.g. Type == 'log'), TRUE, FALSE or "(", found "&&"`},
		{"unknown plugin type", `
[[inputs.tpc]]
publish = "a"
`, `p.toml:2: inputs.tpc: unknown input type "tpc" (known: file, generator, internal, stdin, syslog, system, tail, tcp, udp)`},
		{"table instead of array", `
[inputs.stdin]
publish = "a"
`, `p.toml:2: inputs.stdin: must be an array of tables: write [[inputs.stdin]], not [inputs.stdin]`},
		{"toml syntax", `
[[inputs.stdin]]
publish = "a
`, `p.toml:3: TOML syntax: `},
		{"bad duration", `
[[inputs.stdin]]
publish = "a"
[[filters.counter]]
subscribe = ["a"]
ticker_interval = "10 seconds"
`, `p.toml:6: filters.counter[counter]: key "ticker_interval": invalid duration "10 seconds" (write it as "10s", "500ms", "1m")`},
		{"wildcard in publish", `
[[inputs.stdin]]
publish = "logs.*"
`, `p.toml:3: inputs.stdin[stdin]: key "publish": subject "logs.*": wildcards are only allowed in subscribe`},
		{"unknown decoder", `
[[inputs.stdin]]
publish = "a"
decoder = "yaml"
`, `p.toml:4: inputs.stdin[stdin]: key "decoder": unknown decoder "yaml" (known: combined, common, grok, influx, json, logfmt, regex, syslog)`},
		{"decoder on an input that builds its own messages", `
[[inputs.generator]]
publish = "a"
decoder = "json"
`, `p.toml:4: inputs.generator[generator]: key "decoder": inputs.generator builds its own messages from what it reads: it has no decoder`},
		{"decoder_config: missing pattern", `
[[inputs.stdin]]
publish = "a"
decoder = "regex"
decoder_config = {types = {status = "int"}}
`, `p.toml:5: inputs.stdin[stdin]: key "decoder_config.pattern": missing required key`},
		{"decoder_config: bad pattern", `
[[inputs.stdin]]
publish = "a"
decoder = "regex"

[inputs.stdin.decoder_config]
pattern = "(?P<status>\\d+"
`, `p.toml:7: inputs.stdin[stdin]: key "decoder_config.pattern": error parsing regexp: missing closing ): `},
		{"decoder_config: decoder without options", `
[[inputs.stdin]]
publish = "a"
decoder = "json"
decoder_config = {pattern = "x"}
`, `p.toml:5: inputs.stdin[stdin]: key "decoder_config": decoder "json" takes no options`},
		{"decoder_config without a decoder", `
[[inputs.stdin]]
publish = "a"
decoder_config = {pattern = "x"}
`, `p.toml:4: inputs.stdin[stdin]: key "decoder_config": set without a decoder`},
		{"decoder_config not a table", `
[[inputs.stdin]]
publish = "a"
decoder = "syslog"
decoder_config = "5424"
`, `p.toml:5: inputs.stdin[stdin]: key "decoder_config": expected a table, got a string ("5424")`},
		{"key of another kind", `
[[outputs.stdout]]
subscribe = ["a"]
external = true
publish = "b"
`, `p.toml:5: outputs.stdout[stdout]: key "publish": unknown key`},
		{"unknown top-level table", `
[agnet]
name = "x"
`, `p.toml:2: key "agnet": unknown key (known top-level tables: agent, nats, inputs, filters, outputs)`},
		{"unknown agent key", `
[agent]
nmae = "x"
`, `p.toml:3: agent: key "nmae": unknown key (known keys: admin_addr, admin_allow_unauthenticated, admin_password, admin_tls_cert, admin_tls_key, admin_token, admin_user, data_dir, memory_limit, name, watch_config)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := pipeline.ParseConfig("p.toml", c.src)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error:\n  %s\nwant it to start with:\n  %s", err, c.want)
			}
		})
	}
}

func TestConfigReportsEveryErrorAtOnce(t *testing.T) {
	_, err := pipeline.ParseConfig("p.toml", `
[[inputs.stdin]]
publish = "a"
colour = "red"
[[outputs.stdout]]
subscribe = ["a"]
format = 3
`)
	want := `p.toml:4: inputs.stdin[stdin]: key "colour": unknown key (known keys: dead_letter, decoder, decoder_config, durable, max_line_bytes, name, publish)
p.toml:7: outputs.stdout[stdout]: key "format": expected a string, got an integer (3)`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestEnvironmentVariables(t *testing.T) {
	t.Setenv("INTEROCEPTOR_OUT", `/tmp/a "quoted" \path.log`)
	os.Unsetenv("INTEROCEPTOR_NAME")
	cfg, err := pipeline.ParseConfig("p.toml", `
# a comment may mention ${NOT_SET_ANYWHERE} without an error
[agent]
name = "${INTEROCEPTOR_NAME:-fallback}"
[[inputs.stdin]]
publish = "a"
[[outputs.file]]
subscribe = ["a"]
path = "${INTEROCEPTOR_OUT}"
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.Name != "fallback" {
		t.Errorf("agent.name = %q, want the default", cfg.Agent.Name)
	}
	path := reflect.ValueOf(cfg.Plugins[1].Plugin).Elem().FieldByName("Path").String()
	if path != `/tmp/a "quoted" \path.log` {
		t.Errorf("outputs.file path = %q: quotes and backslashes in a variable must survive", path)
	}
}

func TestExternalSubscribeNeedsNoPublisher(t *testing.T) {
	_, err := pipeline.ParseConfig("p.toml", `
[[outputs.stdout]]
subscribe = ["from.elsewhere.>"]
external = true
`)
	if err != nil {
		t.Fatal(err)
	}
}

func TestDirectoryMergesFilesInNameOrder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("10-agent.toml", "[agent]\nname = \"first\"\ndata_dir = \"/tmp/d\"\n")
	write("20-in.toml", "[[inputs.stdin]]\npublish = \"a\"\n")
	write("30-out.toml", "[agent]\nname = \"second\"\n[[outputs.stdout]]\nsubscribe = [\"a\"]\nformt = 1\n")
	write("notes.txt", "ignored")
	_, err := pipeline.LoadConfig(dir)
	want := filepath.Join(dir, "30-out.toml") + `:5: outputs.stdout[stdout]: key "formt": unknown key`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %v, want one starting with %s", err, want)
	}
	write("30-out.toml", "[agent]\nname = \"second\"\n[[outputs.stdout]]\nsubscribe = [\"a\"]\n")
	cfg, err := pipeline.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.Name != "second" || cfg.Agent.DataDir != "/tmp/d" {
		t.Errorf("agent = %+v: later files override only the keys they set", cfg.Agent)
	}
	if len(cfg.Plugins) != 2 || cfg.Plugins[0].Kind != pipeline.KindInput || len(cfg.Files) != 3 {
		t.Errorf("plugins %v files %v", cfg.Plugins, cfg.Files)
	}
}

func TestSubjectMatches(t *testing.T) {
	cases := []struct {
		pattern, subject string
		want             bool
	}{
		{"a.b", "a.b", true},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{"*.b", "a.b", true},
		{">", "x", true},
		{"a.b", "a.b.c", false},
		{"a.b.c", "a.b", false},
	}
	for _, c := range cases {
		if got := pipeline.SubjectMatches(c.pattern, c.subject); got != c.want {
			t.Errorf("SubjectMatches(%q, %q) = %v", c.pattern, c.subject, got)
		}
	}
}

// [agent] and [nats] paths a file sets are relative to its folder (a
// directory of files too); an absolute one and a
// default (data_dir ./var) stay as they are.
func TestConfigPathsRelativeToTheirFile(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"a.toml": "[agent]\ndata_dir = \"state\"\n[nats]\ntls_ca = \"/etc/ca.pem\"\n",
		"sub/b.toml": "[nats]\ncreds = \"agent.creds\"\n" +
			"[[inputs.stdin]]\npublish = \"in\"\n[[outputs.file]]\nsubscribe = [\"in\"]\npath = \"../out.log\"\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := pipeline.LoadConfig(filepath.Join(dir, "a.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.DataDir != filepath.Join(dir, "state") || cfg.Nats.TLSCA != "/etc/ca.pem" {
		t.Errorf("data_dir %q, tls_ca %q: want %q and /etc/ca.pem", cfg.Agent.DataDir, cfg.Nats.TLSCA, filepath.Join(dir, "state"))
	}

	sub := filepath.Join(dir, "sub")
	cfg, err = pipeline.LoadConfig(sub)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.DataDir != pipeline.DefaultDataDir || cfg.Nats.Creds != filepath.Join(sub, "agent.creds") {
		t.Errorf("data_dir %q, creds %q: want the default and %q", cfg.Agent.DataDir, cfg.Nats.Creds, filepath.Join(sub, "agent.creds"))
	}
	out := reflect.Indirect(reflect.ValueOf(cfg.Plugins[1].Plugin)).FieldByName("Path").String()
	if out != filepath.Join(dir, "out.log") {
		t.Errorf("outputs.file path %q, want %q", out, filepath.Join(dir, "out.log"))
	}
}
