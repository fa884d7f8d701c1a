package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// AgentConfig is the [agent] table.
type AgentConfig struct {
	Name      string `toml:"name"`                 // default: the hostname
	DataDir   string `toml:"data_dir" path:"true"` // checkpoints, buffers, JetStream store
	AdminAddr string `toml:"admin_addr"`           // /healthz, /metrics, /api/...; "off" disables

	// AdminToken, or AdminUser with AdminPassword, is what the admin API
	// asks of every request but /healthz (Bearer, or basic auth).
	AdminToken    string `toml:"admin_token" secret:"true"`
	AdminUser     string `toml:"admin_user"`
	AdminPassword string `toml:"admin_password" secret:"true"`
	// AdminTLSCert and AdminTLSKey serve the admin API over HTTPS.
	AdminTLSCert string `toml:"admin_tls_cert" path:"true"`
	AdminTLSKey  string `toml:"admin_tls_key" secret:"file" path:"true"`
	// AdminAllowUnauthenticated lets admin_addr listen beyond loopback
	// without admin_token or admin_user: anyone who reaches it can reload.
	AdminAllowUnauthenticated bool `toml:"admin_allow_unauthenticated"`
	// WatchConfig reloads the pipeline when its config files change, as
	// SIGHUP does.
	WatchConfig bool `toml:"watch_config"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (debug.SetMemoryLimit), set at start; 0 leaves it off.
	MemoryLimit int64 `toml:"memory_limit"`
}

// NatsConfig is the [nats] table.
type NatsConfig struct {
	URL       string `toml:"url" secret:"url"` // empty: an embedded server
	Listen    string `toml:"listen"`           // the embedded server's client address for other processes
	JetStream *bool  `toml:"jetstream"`        // embedded server: enable JetStream (default: true, false on a leaf node agent)
	User      string `toml:"user"`
	Password  string `toml:"password" secret:"true"`
	Token     string `toml:"token" secret:"true"`
	Creds     string `toml:"creds" secret:"file" path:"true"`     // a .creds file (JWT + nkey seed)
	NKeySeed  string `toml:"nkey_seed" secret:"file" path:"true"` // a file holding an nkey seed
	TLSCA     string `toml:"tls_ca" path:"true"`
	TLSCert   string `toml:"tls_cert" path:"true"`
	TLSKey    string `toml:"tls_key" secret:"file" path:"true"`
	// TLSInsecure skips server certificate verification (tests only).
	TLSInsecure bool `toml:"tls_insecure_skip_verify"`

	// LeafnodeListen is where the embedded server accepts leaf node
	// connections from agents (the central side).
	LeafnodeListen string `toml:"leafnode_listen"`
	// LeafnodeRemotes are the central's leaf node URLs: the embedded server
	// connects out to one of them as a leaf node (the agent side).
	LeafnodeRemotes []string `toml:"leafnode_remotes" secret:"url"`
	// LeafnodeUser alone is sent as a token: Config.Redactor hides it then.
	LeafnodeUser     string `toml:"leafnode_user"`
	LeafnodePassword string `toml:"leafnode_password" secret:"true"`
	LeafnodeCreds    string `toml:"leafnode_creds" secret:"file" path:"true"` // a .creds file for the leaf connection
	LeafnodeTLSCA    string `toml:"leafnode_tls_ca" path:"true"`              // CA that signed the central's leaf node certificate
	// JetStreamDomain names the central's JetStream domain, on both sides of
	// a leaf link: the central's server runs in it, and a leaf agent's
	// durable publishers store there. Default: DefaultJetStreamDomain when
	// leafnode_listen or leafnode_remotes is set.
	JetStreamDomain string `toml:"jetstream_domain"`

	// BatchBytes is the size at which a publisher sends its batch of messages.
	BatchBytes int `toml:"batch_bytes"`
	// BatchLinger is the longest a message waits in a publisher's batch.
	BatchLinger Duration `toml:"batch_linger"`
	// MaxPendingBytes is how far a local subscriber may fall behind before
	// publishers in this process wait for it (backpressure, not loss).
	MaxPendingBytes int64 `toml:"max_pending_bytes"`

	// StreamMaxAge, StreamMaxBytes and StreamReplicas shape the JetStream
	// stream of each durable publisher; zero means the default.
	StreamMaxAge   Duration `toml:"stream_max_age"`
	StreamMaxBytes int64    `toml:"stream_max_bytes"`
	StreamReplicas int      `toml:"stream_replicas"`
	// DurableCompression is how durable publishers encode a batch before
	// storing it: "s2" (the default) or "none".
	DurableCompression string `toml:"durable_compression"`

	// AllowUnauthenticated lets the embedded server listen (listen,
	// leafnode_listen) beyond loopback without user/password or token;
	// without it that is a config error, since whoever reaches the port
	// could inject messages and read every subject.
	AllowUnauthenticated bool `toml:"allow_unauthenticated"`
}

// Defaults for [agent] and [nats].
const (
	DefaultDataDir   = "./var"
	DefaultAdminAddr = "127.0.0.1:8377"
	// DefaultBatchBytes leaves room under 64 KiB, the most nats-server
	// reads from a connection at once, for the PUB line and the message
	// that crosses the mark: a batch that arrives in one read is parsed in
	// place, a larger one is first copied whole into a buffer of its own
	// (one more allocation of its size per batch, and a heap that grows
	// with them).
	DefaultBatchBytes         = 60 << 10
	DefaultBatchLinger        = Duration(2 * time.Millisecond)
	DefaultMaxPendingBytes    = 8 << 20
	DefaultTickerInterval     = 10 * time.Second
	DefaultStreamMaxAge       = Duration(24 * time.Hour)
	DefaultStreamMaxBytes     = 1 << 30
	DefaultStreamReplicas     = 1
	DefaultDurableCompression = "s2"
	DefaultJetStreamDomain    = "interoceptor"
	// MaxBatchBytes is the largest nats.batch_bytes, and so the largest
	// line an input takes: well below the embedded server's max payload.
	MaxBatchBytes = 8 << 20
)

// The ranges of the [nats] keys that size or time something.
var (
	batchBytesRange      = ByteRange{Min: 1, Max: MaxBatchBytes}
	batchLingerRange     = DurationRange{Min: 100 * time.Microsecond, Max: 10 * time.Second} // a latency budget: no timer runs while idle
	maxPendingBytesRange = ByteRange{Min: 1 << 20, Max: 512 << 20}                           // below the subscriptions' 1 GiB pending limit, where NATS would drop
	streamMaxAgeRange    = DurationRange{Min: time.Minute, Max: 8760 * time.Hour}
	streamMaxBytesRange  = ByteRange{Min: 1 << 20, Max: 16 << 40} // on disk; JetStream refuses what its store cannot hold
	streamReplicasRange  = CountRange{Min: 1, Max: 5}             // JetStream's most
	memoryLimitRange     = ByteRange{Min: 16 << 20, Max: 1 << 40} // below 16 MiB the GC would run without pause
)

// Duration is a TOML duration written as a string ("10s", "1m30s").
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (write it as \"10s\", \"500ms\", \"1m\")", b)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Config is a whole pipeline: what one `interoceptor run` runs.
type Config struct {
	Agent   AgentConfig
	Nats    NatsConfig
	Plugins []*PluginConfig // in file order, then line order
	Files   []string        // the files it was loaded from
	Path    string          // what LoadConfig was given (a file or a directory); "" for ParseConfig

	// set is where each [agent] and [nats] key was last set, by
	// "nats.batch_bytes", for the errors found once every file is loaded.
	set map[string]keyPos

	redactOnce sync.Once
	redactor   *Redactor // see Redactor
}

// keyPos is a file and a line.
type keyPos struct {
	file string
	line int
}

// PluginConfig is one plugin instance: the shared keys, decoded by the
// runtime, and the plugin itself, decoded from the same table.
type PluginConfig struct {
	Kind           Kind
	Type           string
	Name           string
	Publish        string
	Subscribe      []string
	External       bool           // subscribe subjects may be published by another process
	Matcher        MessageMatcher // nil: every message
	Queue          string
	TickerInterval time.Duration
	Decoder        string
	DecoderConfig  map[string]any // the decoder_config table, nil when not set
	DeadLetter     string
	Durable        bool // JetStream: a stream for what it publishes, a durable consumer for what it subscribes
	Plugin         any  // what the registration's New returned, decoded

	File string // where it was defined, for errors
	Line int

	tableID string
	lines   *keyLines
	// own and shared are the table's keys as read (${VAR} expanded), the
	// plugin's own and the runtime's: a reload compares them to tell what
	// changed.
	own, shared map[string]any
}

// lineOf returns the line of one of the instance's keys, or of its header.
func (p *PluginConfig) lineOf(key string) int {
	if p.lines == nil {
		return p.Line
	}
	return p.lines.line(p.tableID, []string{key})
}

// ID names the instance as errors and metrics do: "inputs.tcp[nginx]".
func (p *PluginConfig) ID() string { return fmt.Sprintf("%s.%s[%s]", p.Kind, p.Type, p.Name) }

// MessageMatcher is a compiled message_matcher expression (Heka's grammar,
// implemented in package pipeline/matcher).
type MessageMatcher interface {
	Match(m *Message) bool
	String() string
}

// matcherCompiler is set by package pipeline/matcher, which needs Message
// and so cannot be imported from here (as image formats register with
// package image).
var matcherCompiler func(expr string) (MessageMatcher, error)

// RegisterMatcherCompiler is called once, by package pipeline/matcher.
func RegisterMatcherCompiler(compile func(expr string) (MessageMatcher, error)) {
	matcherCompiler = compile
}

func compileMatcher(expr string) (MessageMatcher, error) {
	if matcherCompiler == nil {
		return nil, errors.New("no matcher compiler: the program must import github.com/interoceptor/interoceptor/pipeline/matcher")
	}
	return matcherCompiler(expr)
}

// ConfigError is one problem in a config file, located by file, line and key.
type ConfigError struct {
	File   string
	Line   int
	Plugin string // "inputs.tcp[nginx]", or empty
	Key    string
	Msg    string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Plugin != "" {
		b.WriteString(e.Plugin + ": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// sharedKeys are the keys the runtime decodes, per kind; any other key
// belongs to the plugin.
var sharedKeys = map[Kind]map[string]bool{
	KindInput:  {"name": true, "publish": true, "decoder": true, "decoder_config": true, "dead_letter": true, "durable": true},
	KindFilter: {"name": true, "publish": true, "subscribe": true, "external": true, "matcher": true, "queue": true, "ticker_interval": true, "durable": true, "dead_letter": true},
	KindOutput: {"name": true, "subscribe": true, "external": true, "matcher": true, "queue": true, "durable": true},
}

// sharedTable is decoded from every plugin table with decodeTable and the
// kind's sharedKeys as the allowed set.
type sharedTable struct {
	Name           string         `toml:"name"`
	Publish        string         `toml:"publish"`
	Subscribe      []string       `toml:"subscribe"`
	External       bool           `toml:"external"`
	Matcher        string         `toml:"matcher"`
	Queue          string         `toml:"queue"`
	TickerInterval Duration       `toml:"ticker_interval"`
	Decoder        string         `toml:"decoder"`
	DecoderConfig  map[string]any `toml:"decoder_config"`
	DeadLetter     string         `toml:"dead_letter"`
	Durable        bool           `toml:"durable"`
}

// LoadConfig reads a pipeline from a file, or from every *.toml file of a
// directory merged in name order. It returns every problem it finds, each a
// *ConfigError, joined.
func LoadConfig(path string) (*Config, error) {
	files, err := configFiles(path)
	if err != nil {
		return nil, err
	}
	cfg := newConfig(files)
	cfg.Path = path
	var errs []error
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		errs = append(errs, cfg.loadFile(f, string(src))...)
	}
	errs = append(errs, cfg.validate()...)
	if len(errs) > 0 {
		redactErrors(cfg.Redactor(), errs)
		sortConfigErrors(errs)
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// ParseConfig loads a pipeline from TOML text, named file in errors.
func ParseConfig(file, src string) (*Config, error) {
	cfg := newConfig([]string{file})
	errs := cfg.loadFile(file, src)
	errs = append(errs, cfg.validate()...)
	if len(errs) > 0 {
		redactErrors(cfg.Redactor(), errs)
		sortConfigErrors(errs)
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// newConfig returns a Config holding the defaults of [agent] and [nats].
func newConfig(files []string) *Config {
	hostname, _ := os.Hostname()
	return &Config{
		Agent: AgentConfig{Name: hostname, DataDir: DefaultDataDir, AdminAddr: DefaultAdminAddr},
		Nats: NatsConfig{BatchBytes: DefaultBatchBytes, BatchLinger: DefaultBatchLinger, MaxPendingBytes: DefaultMaxPendingBytes,
			StreamMaxAge: DefaultStreamMaxAge, StreamMaxBytes: DefaultStreamMaxBytes, StreamReplicas: DefaultStreamReplicas,
			DurableCompression: DefaultDurableCompression},
		Files: files,
		set:   map[string]keyPos{},
	}
}

func configFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	files, err := filepath.Glob(filepath.Join(path, "*.toml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("config: no *.toml files in directory %s", path)
	}
	sort.Strings(files)
	return files, nil
}

func sortConfigErrors(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool {
		a, aok := errs[i].(*ConfigError)
		b, bok := errs[j].(*ConfigError)
		if !aok || !bok {
			return aok && !bok
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
}

var tomlLineRE = regexp.MustCompile(`^toml: line (\d+)(?: \(last key "[^"]*"\))?: `)

// parseFile expands the ${VAR}s of one file's text and decodes its TOML:
// the document, and where each key is set (and which came from ${VAR}s).
func parseFile(file, src string) (map[string]any, *keyLines, []error) {
	src, envVars, errs := expandEnv(file, src)
	if len(errs) > 0 {
		return nil, nil, errs
	}
	var doc map[string]any
	if _, err := toml.Decode(src, &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, nil, []error{&ConfigError{File: file, Line: pe.Position.Line, Msg: "TOML syntax: " + pe.Message}}
		}
		return nil, nil, []error{&ConfigError{File: file, Msg: tomlLineRE.ReplaceAllString(err.Error(), "")}}
	}
	lines := indexKeyLines(src)
	lines.env = envVars
	return doc, lines, nil
}

// loadFile adds one file's tables to cfg.
func (cfg *Config) loadFile(file, src string) []error {
	doc, lines, errs := parseFile(file, src)
	if len(errs) > 0 {
		return errs
	}
	at := func(id string, key ...string) int { return lines.line(id, key) }

	for _, top := range sortedKeys(doc) {
		switch top {
		case "agent":
			errs = append(errs, cfg.decodeSection(file, doc, top, &cfg.Agent, lines)...)
		case "nats":
			errs = append(errs, cfg.decodeSection(file, doc, top, &cfg.Nats, lines)...)
		case "inputs", "filters", "outputs":
			kinds, ok := doc[top].(map[string]any)
			if !ok {
				errs = append(errs, &ConfigError{File: file, Line: at(tableID(top, 0)), Key: top,
					Msg: fmt.Sprintf("expected tables of plugins, such as [[%s.NAME]]", top)})
				continue
			}
			for _, typ := range sortedKeys(kinds) {
				errs = append(errs, cfg.loadPlugins(file, Kind(top), typ, kinds[typ], lines)...)
			}
		default:
			errs = append(errs, &ConfigError{File: file, Line: at(tableID(top, 0), top), Key: top,
				Msg: "unknown key (known top-level tables: agent, nats, inputs, filters, outputs)"})
		}
	}
	sort.SliceStable(cfg.Plugins, func(i, j int) bool {
		a, b := cfg.Plugins[i], cfg.Plugins[j]
		if a.File != b.File {
			return fileOrder(cfg.Files, a.File) < fileOrder(cfg.Files, b.File)
		}
		return a.Line < b.Line
	})
	return errs
}

func fileOrder(files []string, f string) int {
	for i, g := range files {
		if g == f {
			return i
		}
	}
	return len(files)
}

// decodeSection decodes [agent] or [nats]; keys set in a later file override.
func (cfg *Config) decodeSection(file string, doc map[string]any, name string, dst any, lines *keyLines) []error {
	id := tableID(name, 0)
	table, ok := doc[name].(map[string]any)
	if !ok {
		return []error{&ConfigError{File: file, Line: lines.line(id, []string{name}), Key: name, Msg: "expected a table: write [" + name + "]"}}
	}
	for k := range table {
		cfg.set[name+"."+k] = keyPos{file, lines.line(id, []string{k})}
	}
	var errs []error
	fromEnv := func(path []string) []string { return lines.fromEnv(id, path) }
	for _, p := range decodeTable(table, dst, nil, fromEnv) {
		errs = append(errs, &ConfigError{File: file, Line: lines.line(id, p.path), Plugin: name, Key: strings.Join(p.path, "."), Msg: p.msg})
	}
	resolveSetPaths(filepath.Dir(file), table, reflect.ValueOf(dst))
	return errs
}

// knownTypes lists the registered types of a kind, for error messages.
func knownTypes(kind Kind) string {
	var names []string
	for _, r := range Plugins() {
		if r.Kind == kind {
			names = append(names, r.Type)
		}
	}
	return strings.Join(names, ", ")
}

func (cfg *Config) loadPlugins(file string, kind Kind, typ string, value any, lines *keyLines) []error {
	path := string(kind) + "." + typ
	tables, ok := value.([]map[string]any)
	if !ok {
		return []error{&ConfigError{File: file, Line: lines.line(tableID(path, 0), nil), Plugin: path,
			Msg: fmt.Sprintf("must be an array of tables: write [[%s]], not [%s]", path, path)}}
	}
	reg, ok := Lookup(kind, typ)
	if !ok {
		return []error{&ConfigError{File: file, Line: lines.line(tableID(path, 0), nil), Plugin: path,
			Msg: fmt.Sprintf("unknown %s type %q (known: %s)", strings.TrimSuffix(string(kind), "s"), typ, knownTypes(kind))}}
	}
	var errs []error
	for i, table := range tables {
		id := tableID(path, i)
		pc := &PluginConfig{Kind: kind, Type: typ, Name: typ, File: file, Line: lines.headers[id], tableID: id, lines: lines}
		fail := func(key []string, msg string) {
			errs = append(errs, &ConfigError{File: file, Line: lines.line(id, key), Plugin: pc.ID(), Key: strings.Join(key, "."), Msg: msg})
		}
		// failAll reports each error err joins (a Validate that found
		// several), a KeyError at its key's line, under the keys prefix.
		failAll := func(err error, prefix ...string) {
			for _, e := range leafErrors(err) {
				var ke *KeyError
				var se *DecoderScriptError
				switch {
				case errors.As(e, &se):
					fail([]string{"decoder"}, se.Error())
				case errors.As(e, &ke):
					msg := ke.Msg
					if ke.Missing {
						msg = "missing required key"
					}
					fail(append(append([]string(nil), prefix...), strings.Split(ke.Key, ".")...), msg)
				case len(prefix) > 0:
					fail(prefix, e.Error())
				default:
					fail(nil, e.Error())
				}
			}
		}
		fromEnv := func(path []string) []string { return lines.fromEnv(id, path) }
		var shared sharedTable
		sharedOnly := map[string]any{}
		pluginOnly := map[string]any{}
		for k, v := range table {
			if sharedKeys[kind][k] {
				sharedOnly[k] = v
			} else {
				pluginOnly[k] = v
			}
		}
		pc.own, pc.shared = pluginOnly, sharedOnly
		sharedProblems := decodeTable(sharedOnly, &shared, nil, fromEnv)
		if shared.Name != "" {
			pc.Name = shared.Name
		}
		for _, p := range sharedProblems {
			fail(p.path, p.msg)
		}
		if msg := checkName(pc.Name); msg != "" {
			fail([]string{"name"}, msg)
		}
		pc.Publish, pc.Subscribe, pc.External = shared.Publish, shared.Subscribe, shared.External
		pc.Queue, pc.Decoder, pc.DeadLetter = shared.Queue, shared.Decoder, shared.DeadLetter
		pc.Decoder, pc.DecoderConfig = resolveDecoderPaths(filepath.Dir(file), pc.Decoder, shared.DecoderConfig)
		pc.Durable = shared.Durable
		pc.TickerInterval = time.Duration(shared.TickerInterval)
		if _, ok := sharedOnly["ticker_interval"]; ok {
			failAll(TickerIntervalRange.Check("ticker_interval", pc.TickerInterval))
		}

		pc.Plugin = reg.New()
		skip := map[string]bool{}
		for k := range sharedKeys[kind] {
			skip[k] = true
		}
		for _, p := range decodeTable(pluginOnly, pc.Plugin, skip, fromEnv) {
			fail(p.path, p.msg)
		}
		resolveSetPaths(filepath.Dir(file), pluginOnly, reflect.ValueOf(pc.Plugin))

		switch kind {
		case KindInput:
			if pc.Publish == "" {
				fail([]string{"publish"}, "missing required key: the subject this input's messages go to")
			}
		case KindFilter, KindOutput:
			if len(pc.Subscribe) == 0 {
				fail([]string{"subscribe"}, "missing required key: the subjects this plugin receives from")
			}
		}
		if pc.Publish != "" {
			if msg := checkSubject(pc.Publish, false); msg != "" {
				fail([]string{"publish"}, msg)
			}
		}
		if pc.DeadLetter != "" {
			if msg := checkSubject(pc.DeadLetter, false); msg != "" {
				fail([]string{"dead_letter"}, msg)
			}
		}
		for _, s := range pc.Subscribe {
			if msg := checkSubject(s, true); msg != "" {
				fail([]string{"subscribe"}, msg)
			}
		}
		if shared.Matcher != "" {
			m, err := compileMatcher(shared.Matcher)
			if err != nil {
				fail([]string{"matcher"}, err.Error())
			}
			pc.Matcher = m
		}
		if reg.OwnMessages {
			for _, kv := range [][2]string{{"decoder", pc.Decoder}, {"dead_letter", pc.DeadLetter}} {
				if kv[1] != "" {
					fail([]string{kv[0]}, fmt.Sprintf("%s.%s builds its own messages from what it reads: it has no %s", kind, typ, kv[0]))
				}
			}
		}
		if pc.Decoder != "" {
			if dreg, ok := LookupDecoder(pc.Decoder); !ok {
				var names []string
				for _, d := range Decoders() {
					names = append(names, d.Name)
				}
				fail([]string{"decoder"}, fmt.Sprintf("unknown decoder %q (known: %s)", pc.Decoder, strings.Join(names, ", ")))
			} else if cd, ok := dreg.New().(ConfigurableDecoder); ok {
				failAll(cd.Configure(pc.DecoderConfig), "decoder_config")
			} else if pc.DecoderConfig != nil {
				fail([]string{"decoder_config"}, fmt.Sprintf("decoder %q takes no options", pc.Decoder))
			}
		} else if pc.DecoderConfig != nil {
			fail([]string{"decoder_config"}, "set without a decoder")
		}
		if _, ticks := pc.Plugin.(Ticker); ticks && pc.TickerInterval == 0 {
			pc.TickerInterval = DefaultTickerInterval
		}
		if v, ok := pc.Plugin.(Validator); ok {
			failAll(v.Validate())
		}
		cfg.Plugins = append(cfg.Plugins, pc)
	}
	return errs
}

// leafErrors returns the errors err joins (errors.Join, recursively), or
// err alone; nil for nil.
func leafErrors(err error) []error {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, leafErrors(e)...)
	}
	return out
}

// checkSubject returns what is wrong with a NATS subject, or "".
func checkSubject(s string, wildcards bool) string {
	if s == "" {
		return "empty subject"
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return fmt.Sprintf("subject %q contains white space", s)
	}
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return fmt.Sprintf("subject %q has an empty token (two dots, or a dot at an end)", s)
		case (t == "*" || t == ">") && !wildcards:
			return fmt.Sprintf("subject %q: wildcards are only allowed in subscribe", s)
		case t == ">" && i != len(tokens)-1:
			return fmt.Sprintf("subject %q: '>' must be the last token", s)
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return fmt.Sprintf("subject %q: wildcards must be whole tokens", s)
		}
	}
	return ""
}

// SubjectMatches reports whether a NATS subscription pattern (with * and >)
// matches a literal subject.
func SubjectMatches(pattern, subject string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		st, srest, smore := strings.Cut(subject, ".")
		switch {
		case pt == ">":
			return true
		case pt != "*" && pt != st:
			return false
		case !pmore || !smore:
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}

// rangeErrors checks the [nats] keys that size or time something.
func (nc NatsConfig) rangeErrors() []error {
	var errs []error
	for _, err := range []error{
		batchBytesRange.Check("batch_bytes", int64(nc.BatchBytes)),
		batchLingerRange.Check("batch_linger", time.Duration(nc.BatchLinger)),
		maxPendingBytesRange.Check("max_pending_bytes", nc.MaxPendingBytes),
		streamMaxAgeRange.Check("stream_max_age", time.Duration(nc.StreamMaxAge)),
		streamMaxBytesRange.Check("stream_max_bytes", nc.StreamMaxBytes),
		streamReplicasRange.Check("stream_replicas", int64(nc.StreamReplicas)),
	} {
		var ke *KeyError
		if errors.As(err, &ke) {
			errs = append(errs, &ConfigError{Plugin: "nats", Key: ke.Key, Msg: ke.Msg})
		}
	}
	if len(errs) == 0 && nc.MaxPendingBytes < int64(nc.BatchBytes) {
		errs = append(errs, &ConfigError{Plugin: "nats", Key: "max_pending_bytes",
			Msg: fmt.Sprintf("must be at least batch_bytes (%d), or a publisher waits after every batch; got %d", nc.BatchBytes, nc.MaxPendingBytes)})
	}
	return errs
}

// validate checks what spans plugins: unique names, subjects that someone
// publishes. It runs once every file has been loaded.
func (cfg *Config) validate() []error {
	var errs []error
	if strings.TrimSpace(cfg.Agent.Name) == "" {
		errs = append(errs, &ConfigError{Plugin: "agent", Key: "name", Msg: "empty, and the hostname is unknown: set agent.name"})
	}
	if ml := cfg.Agent.MemoryLimit; ml != 0 && memoryLimitRange.Check("memory_limit", ml) != nil {
		errs = append(errs, &ConfigError{Plugin: "agent", Key: "memory_limit", Msg: fmt.Sprintf("must be 0 (off) or %s; got %d", memoryLimitRange, ml)})
	}
	errs = append(errs, cfg.Nats.rangeErrors()...)
	if c := cfg.Nats.DurableCompression; c != "s2" && c != "none" {
		errs = append(errs, &ConfigError{Plugin: "nats", Key: "durable_compression", Msg: fmt.Sprintf(`must be "s2" or "none"; got %q`, c)})
	}
	errs = append(errs, cfg.Nats.leafnodeErrors()...)
	errs = append(errs, cfg.Nats.openListenErrors()...)
	errs = append(errs, cfg.adminErrors()...)
	for _, e := range errs {
		// [agent] and [nats] are checked once merged: locate each key
		// where it was last set.
		if ce, ok := e.(*ConfigError); ok && ce.File == "" {
			if at, ok := cfg.set[ce.Plugin+"."+ce.Key]; ok {
				ce.File, ce.Line = at.file, at.line
			}
		}
	}
	seen := map[string]*PluginConfig{}
	published := map[string]bool{}
	for _, p := range cfg.Plugins {
		key := string(p.Kind) + "/" + p.Name
		if first, dup := seen[key]; dup {
			errs = append(errs, &ConfigError{File: p.File, Line: p.lineOf("name"), Plugin: p.ID(), Key: "name",
				Msg: fmt.Sprintf("duplicate name %q among %s (first defined at %s:%d); give each a unique name", p.Name, p.Kind, first.File, first.Line)})
			continue
		}
		seen[key] = p
		if p.Publish != "" {
			published[p.Publish] = true
		}
		if p.DeadLetter != "" {
			published[p.DeadLetter] = true
		}
	}
	for _, p := range cfg.Plugins {
		if p.External {
			continue
		}
		for _, s := range p.Subscribe {
			found := false
			for pub := range published {
				if SubjectMatches(s, pub) {
					found = true
					break
				}
			}
			if !found && checkSubject(s, true) == "" {
				errs = append(errs, &ConfigError{File: p.File, Line: p.lineOf("subscribe"), Plugin: p.ID(), Key: "subscribe",
					Msg: fmt.Sprintf("no plugin publishes to %q (set external = true if another process does)", s)})
			}
		}
	}
	return errs
}
