package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/interoceptor/interoceptor/pipeline"
)

// sampleAgent is the [agent] and [nats] part of what `config` prints.
//
//go:embed sample_agent.toml
var sampleAgent string

// defaultPipeline is what `config` prints without arguments: host metrics,
// a Lua change-point filter over them, and InfluxDB, as `telegraf config`
// enables the system inputs and outputs.influxdb.
var defaultPipeline = []string{"inputs.system", "filters.lua", "outputs.influxdb"}

// defaultInput feeds the filters and outputs of a `config` that names no
// input, so that what it prints is a pipeline `check` takes.
const defaultInput = "inputs.system"

func cmdConfig(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("config", "[KIND.TYPE...]", stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	names := fs.Args()
	if len(names) == 0 {
		names = defaultPipeline
	}
	text, err := samplePipeline(names)
	if err != nil {
		fmt.Fprintf(stderr, "interoceptor config: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, text)
	return 0
}

// pluginSample is one plugin's sample in a pipeline `config` prints.
type pluginSample struct {
	name  string        // KIND.TYPE as asked: inputs.tcp, decoders.grok
	text  string        // the sample, edited by connect
	kind  pipeline.Kind // of its table: an input for a decoder's sample
	table string        // "inputs.tail"
	id    string        // the instance's name
	pub   []string      // publish and dead_letter
	sub   []string
	note  string // why connect or the renaming changed the sample, for its heading
}

// samplePipeline returns the [agent] and [nats] sample followed by the
// sample of each named plugin, wired into a pipeline that `check` takes:
//
//   - a name given twice is printed once; a second instance of a kind with
//     the same name (two decoders' samples both read the input "app") gets
//     "_2", "_3" appended to its name;
//   - when filters or outputs are named but no input, inputs.system is
//     added to feed them;
//   - a filter's subscription that nothing printed publishes to is left
//     out, and a filter left with none subscribes to what the inputs
//     publish;
//   - likewise for an output, which also takes every subject that nothing
//     else printed subscribes to (as every output of Telegraf gets every
//     metric).
//
// Every edit is said in a comment on the edited line.
func samplePipeline(names []string) (string, error) {
	var samples []*pluginSample
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		s, err := loadSample(name)
		if err != nil {
			return "", err
		}
		samples = append(samples, s)
	}
	hasInput := slices.ContainsFunc(samples, func(s *pluginSample) bool { return s.kind == pipeline.KindInput })
	if !hasInput && len(samples) > 0 {
		s, err := loadSample(defaultInput)
		if err != nil {
			return "", err
		}
		s.note = "No input was named: this one feeds the plugins below."
		samples = append([]*pluginSample{s}, samples...)
	}
	if err := uniqueNames(samples); err != nil {
		return "", err
	}
	if err := connect(samples); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(sampleAgent)
	for _, s := range samples {
		fmt.Fprintf(&b, "\n\n###############################################################################\n# %s\n", s.name)
		if s.note != "" {
			fmt.Fprintf(&b, "# %s\n", s.note)
		}
		b.WriteString("###############################################################################\n")
		b.WriteString(strings.TrimRight(s.text, "\n"))
		b.WriteString("\n")
	}
	return b.String(), nil
}

// loadSample looks up a sample and reads its one plugin table's subjects.
func loadSample(name string) (*pluginSample, error) {
	text, ok := lookupSample(name)
	if !ok {
		return nil, unknownPlugin(name)
	}
	var doc map[string]map[string][]map[string]any
	if _, err := toml.Decode(text, &doc); err != nil {
		return nil, fmt.Errorf("%s: the sample does not parse: %v", name, err)
	}
	s := &pluginSample{name: name, text: text}
	n := 0
	for kind, byType := range doc {
		for typ, tables := range byType {
			n += len(tables)
			if len(tables) == 0 {
				continue
			}
			t := tables[0]
			s.kind, s.table = pipeline.Kind(kind), kind+"."+typ
			s.id, _ = t["name"].(string)
			for _, k := range []string{"publish", "dead_letter"} {
				if v, _ := t[k].(string); v != "" {
					s.pub = append(s.pub, v)
				}
			}
			subs, _ := t["subscribe"].([]any)
			for _, v := range subs {
				if v, ok := v.(string); ok {
					s.sub = append(s.sub, v)
				}
			}
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%s: the sample has %d plugin tables, want 1", name, n)
	}
	return s, nil
}

// uniqueNames renames the second and later instances of a kind that share
// a name.
func uniqueNames(samples []*pluginSample) error {
	taken := map[string]bool{}
	for _, s := range samples {
		name := s.id
		for i := 2; taken[string(s.kind)+"/"+name]; i++ {
			name = s.id + "_" + strconv.Itoa(i)
		}
		if name != s.id {
			why := fmt.Sprintf("renamed by `interoceptor config`: another of the %s above is %q", s.kind, s.id)
			if err := s.setKey("name", strconv.Quote(name), why); err != nil {
				return err
			}
			s.id = name
		}
		taken[string(s.kind)+"/"+name] = true
	}
	return nil
}

// connect edits the filters' and outputs' subscriptions (see samplePipeline).
func connect(samples []*pluginSample) error {
	published := func(kinds ...pipeline.Kind) []string {
		var out []string
		for _, s := range samples {
			if slices.Contains(kinds, s.kind) {
				for _, p := range s.pub {
					if !slices.Contains(out, p) {
						out = append(out, p)
					}
				}
			}
		}
		return out
	}
	all := published(pipeline.KindInput, pipeline.KindFilter)
	kept := func(s *pluginSample) []string {
		var out []string
		for _, sub := range s.sub {
			if slices.ContainsFunc(all, func(p string) bool { return !slices.Contains(s.pub, p) && pipeline.SubjectMatches(sub, p) }) {
				out = append(out, sub)
			}
		}
		return out
	}
	for _, s := range samples {
		if s.kind != pipeline.KindFilter {
			continue
		}
		subs := kept(s)
		if len(subs) == 0 {
			subs = published(pipeline.KindInput)
		}
		if err := s.subscribe(subs); err != nil {
			return err
		}
	}
	wanted := map[*pluginSample][]string{}
	for _, s := range samples {
		if s.kind == pipeline.KindOutput {
			wanted[s] = kept(s)
		}
	}
	var unread []string
	for _, p := range all {
		read := slices.ContainsFunc(samples, func(s *pluginSample) bool {
			subs := s.sub
			if w, ok := wanted[s]; ok {
				subs = w
			}
			return slices.ContainsFunc(subs, func(sub string) bool { return pipeline.SubjectMatches(sub, p) })
		})
		if !read {
			unread = append(unread, p)
		}
	}
	for _, s := range samples {
		if s.kind != pipeline.KindOutput {
			continue
		}
		subs := append(wanted[s], unread...)
		if len(subs) == 0 {
			subs = all
		}
		if err := s.subscribe(subs); err != nil {
			return err
		}
	}
	return nil
}

// subscribe sets the sample's subscribe key to subs, if they differ.
func (s *pluginSample) subscribe(subs []string) error {
	if slices.Equal(subs, s.sub) {
		return nil
	}
	quoted := make([]string, len(subs))
	for i, v := range subs {
		quoted[i] = strconv.Quote(v)
	}
	why := "wired by `interoceptor config` to what the plugins here publish"
	if len(s.sub) > 0 {
		why += fmt.Sprintf(" (the sample's: %s)", strings.Join(s.sub, ", "))
	}
	if err := s.setKey("subscribe", "["+strings.Join(quoted, ", ")+"]", why); err != nil {
		return err
	}
	s.sub = subs
	return nil
}

// keyLine matches a key's line: indentation, key, and a one-line value
// (a string, or an array closed on the line), then an optional comment.
var keyLine = regexp.MustCompile(`^(\s*)([a-z_]+)\s*=\s*("[^"]*"|\[[^\]]*\])\s*(#.*)?$`)

// setKey replaces the value of key in the sample's plugin table (before
// its first sub-table), with why as the line's comment.
func (s *pluginSample) setKey(key, value, why string) error {
	lines := strings.Split(s.text, "\n")
	in := false
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "[") {
			if in {
				break // a sub-table: the plugin's own keys are over
			}
			in = trimmed == "[["+s.table+"]]"
			continue
		}
		m := keyLine.FindStringSubmatch(line)
		if !in || m == nil || m[2] != key {
			continue
		}
		lines[i] = fmt.Sprintf("%s%s = %s  # %s", m[1], key, value, why)
		s.text = strings.Join(lines, "\n")
		return nil
	}
	return fmt.Errorf("%s: the sample has no one-line %s key in [[%s]] to edit", s.name, key, s.table)
}
