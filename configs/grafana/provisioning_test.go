package grafana_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readYAML reads a provisioning file into flat paths such as
// "datasources[0].jsonData.dbName". The module has no YAML parser of its
// own, so this reads the block-style subset the files are written in:
// mappings, lists of mappings (the dash indented under its key), plain or
// quoted one-line scalars, and comments. Anything else (flow style, anchors,
// multi-line scalars, tabs) is an error, so a file that outgrows the subset
// fails here rather than being half-read.
func readYAML(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := flatYAML(string(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func flatYAML(text string) (map[string]string, error) {
	type open struct {
		col   int    // column of its key (of its dash, for a list item)
		path  string // e.g. datasources[0].jsonData
		items int    // list items under it so far
	}
	stack := []open{{col: -1}}
	out := map[string]string{}
	join := func(parent, key string) string {
		if parent == "" {
			return key
		}
		return parent + "." + key
	}
	for n, line := range strings.Split(text, "\n") {
		n++
		if strings.Contains(line, "\t") {
			return nil, fmt.Errorf("line %d: a tab", n)
		}
		content := stripComment(line)
		if strings.TrimSpace(content) == "" {
			continue
		}
		col := len(content) - len(strings.TrimLeft(content, " "))
		content = strings.TrimSpace(content)
		if content == "-" || strings.HasPrefix(content, "- ") {
			for stack[len(stack)-1].col >= col {
				stack = stack[:len(stack)-1]
			}
			parent := &stack[len(stack)-1]
			if parent.col < 0 {
				return nil, fmt.Errorf("line %d: a list item with no key above it", n)
			}
			item := open{col: col, path: fmt.Sprintf("%s[%d]", parent.path, parent.items)}
			parent.items++
			stack = append(stack, item)
			content = strings.TrimSpace(strings.TrimPrefix(content, "-"))
			col += 2
			if content == "" {
				continue
			}
		}
		for stack[len(stack)-1].col >= col {
			stack = stack[:len(stack)-1]
		}
		key, value, ok := strings.Cut(content, ":")
		if !ok || (value != "" && value[0] != ' ') || strings.ContainsAny(key, `"'{}[]&*!|>`) {
			return nil, fmt.Errorf("line %d: %q is not a key: value line of the supported subset", n, content)
		}
		path := join(stack[len(stack)-1].path, strings.TrimSpace(key))
		value = strings.TrimSpace(value)
		switch {
		case value == "":
			stack = append(stack, open{col: col, path: path})
		case strings.ContainsAny(value[:1], "{[&*!|>"):
			return nil, fmt.Errorf("line %d: %q: flow style, anchors and block scalars are not supported", n, value)
		case value[0] == '"':
			s, err := strconv.Unquote(value)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			out[path] = s
		case value[0] == '\'':
			if len(value) < 2 || value[len(value)-1] != '\'' {
				return nil, fmt.Errorf("line %d: unterminated quote", n)
			}
			out[path] = strings.ReplaceAll(value[1:len(value)-1], "''", "'")
		default:
			out[path] = value
		}
	}
	return out, nil
}

// stripComment removes a comment: a # at the start or after a space, outside
// quotes.
func stripComment(line string) string {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' '):
			return line[:i]
		}
	}
	return line
}

func TestFlatYAML(t *testing.T) {
	m, err := flatYAML("a: 1\nb:\n  - name: x # c\n    o:\n      p: \"q#r\"\n  - name: 'it''s'\nc: ${V}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1", "b[0].name": "x", "b[0].o.p": "q#r", "b[1].name": "it's", "c": "${V}"}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", m, want)
	}
	for _, bad := range []string{"a: {b: 1}", "a:\n\tb: 1", "a: |\n  x", "- a: 1", "just text"} {
		if _, err := flatYAML(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// grafanaExpand replaces $VAR and ${VAR} with env's values, as Grafana does
// in provisioning files (an unset variable becomes empty).
func grafanaExpand(s string, env map[string]string) string {
	return os.Expand(s, func(name string) string { return env[name] })
}

// The provisioned data source, with its values expanded by env.
type provisionedDatasource struct {
	uid, typ, access, url, db, version string
}

func readDatasource(t *testing.T, env map[string]string) provisionedDatasource {
	t.Helper()
	m := readYAML(t, datasourceFile)
	if _, more := m["datasources[1].name"]; more {
		t.Errorf("%s: one data source expected", datasourceFile)
	}
	x := func(k string) string { return grafanaExpand(m["datasources[0]."+k], env) }
	return provisionedDatasource{uid: x("uid"), typ: x("type"), access: x("access"), url: x("url"),
		db: x("jsonData.dbName"), version: x("jsonData.version")}
}

func TestDatasourceProvisioning(t *testing.T) {
	m := readYAML(t, datasourceFile)
	for k, want := range map[string]string{
		"apiVersion":                      "1",
		"datasources[0].uid":              "interoceptor-influxdb",
		"datasources[0].type":             "influxdb",
		"datasources[0].access":           "proxy",
		"datasources[0].url":              "${INFLUX_URL}",
		"datasources[0].jsonData.dbName":  "${INFLUX_DB}",
		"datasources[0].jsonData.version": "InfluxQL",
	} {
		if m[k] != want {
			t.Errorf("%s: %s is %q, want %q", datasourceFile, k, m[k], want)
		}
	}
	ds := readDatasource(t, map[string]string{"INFLUX_URL": "http://127.0.0.1:8086", "INFLUX_DB": "interoceptor"})
	if ds.url != "http://127.0.0.1:8086" || ds.db != "interoceptor" {
		t.Errorf("expanded: url %q, db %q", ds.url, ds.db)
	}
	checkVariablesDocumented(t, datasourceFile)
}

func TestDashboardProvider(t *testing.T) {
	m := readYAML(t, providerFile)
	for k, want := range map[string]string{
		"apiVersion":                  "1",
		"providers[0].type":           "file",
		"providers[0].folder":         "Interoceptor",
		"providers[0].options.path":   "${INTEROCEPTOR_DASHBOARDS}",
		"providers[0].allowUiUpdates": "false",
	} {
		if m[k] != want {
			t.Errorf("%s: %s is %q, want %q", providerFile, k, m[k], want)
		}
	}
	// Expanded as the README says to set it, the path holds the dashboards.
	abs, err := filepath.Abs(dashboardsDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := grafanaExpand(m["providers[0].options.path"], map[string]string{"INTEROCEPTOR_DASHBOARDS": abs})
	found, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(found) == 0 {
		t.Fatalf("%s: path %q holds no dashboards (%v)", providerFile, dir, err)
	}
	var names []string
	for _, f := range loadDashboards(t) {
		names = append(names, f.name)
	}
	for _, f := range found {
		if !slices.Contains(names, filepath.Base(f)) {
			t.Errorf("%s: %s is not one of the tested dashboards", providerFile, f)
		}
	}
	checkVariablesDocumented(t, providerFile)
}

var envRef = regexp.MustCompile(`\$\{?(\w+)\}?`)

// checkVariablesDocumented: every environment variable a provisioning file
// uses is explained in configs/grafana/README.md.
func checkVariablesDocumented(t *testing.T, path string) {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range readYAML(t, path) {
		for _, m := range envRef.FindAllStringSubmatch(v, -1) {
			if !strings.Contains(string(readme), m[1]) {
				t.Errorf("%s uses $%s, which README.md does not explain", path, m[1])
			}
		}
	}
}
