package grafana_test

import (
	"regexp"
	"strings"
	"testing"
)

// What Grafana (13.x, InfluxDB data source in InfluxQL mode) does to a query
// before InfluxDB sees it, as far as these dashboards use it:
//
//  1. The front end replaces template variables ($name, ${name}, [[name]])
//     through the InfluxDB plugin's interpolateQueryExpr: a value of a multi
//     variable, or one used inside a /regex/ after =~ or !~, is regex-escaped,
//     and several values (or "All") become (a|b|c); a number is left alone.
//  2. The back end replaces the macros: $timeFilter with the time range and
//     $__interval with the interval it computes from the range and width.
//
// The tests use a fixed range and interval for step 2: Grafana would write
// "time >= 1700000000000ms and time <= 1700003600000ms"; the relative form
// selects the same seeded points.
const (
	timeFilter = "time > now() - 1h"
	interval   = "10s"
)

// selection is a template variable as the panels see it: the values the user
// selected (all of them for "All").
type selection struct {
	values []string
	multi  bool // the variable allows several values: Grafana always escapes
	raw    bool // a custom "All" value (allValue): used as it is
}

// Grafana's variable syntax (templateSrv's regex).
var variableRef = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// A regex literal after =~ or !~ (the plugin's regexMatcher, less its
// look-ahead, which RE2 lacks).
var regexLiteral = regexp.MustCompile(`\s*(=|!)~\s*/((?:[^\r\n\[/\\]|\\.|\[(?:[^\r\n\]\\]|\\.)*\])+)/`)

// Leading number, as JavaScript's parseFloat accepts it.
var jsNumber = regexp.MustCompile(`^\s*[+-]?(Infinity|\d+\.?\d*|\.\d+)`)

// render returns query as InfluxDB receives it from Grafana, with vars as
// selected; a $name that is no variable of the dashboard is left as it is,
// as Grafana leaves it.
func render(query string, vars map[string]selection) string {
	out := variableRef.ReplaceAllStringFunc(query, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[4]
		sel, ok := vars[name]
		if !ok {
			return ref
		}
		return interpolateQueryExpr(sel, name, query)
	})
	out = strings.ReplaceAll(out, "$timeFilter", timeFilter)
	return strings.ReplaceAll(out, "$__interval", interval)
}

// interpolateQueryExpr follows the InfluxDB plugin's function of that name.
func interpolateQueryExpr(sel selection, name, query string) string {
	if sel.raw {
		return strings.Join(sel.values, ",")
	}
	if len(sel.values) == 1 {
		v := sel.values[0]
		if jsNumber.MatchString(v) {
			return v
		}
		if sel.multi || usedInRegex(name, query) {
			return escapeRegex(v)
		}
		return v
	}
	if sel.multi || usedInRegex(name, query) {
		escaped := make([]string, len(sel.values))
		for i, v := range sel.values {
			escaped[i] = escapeRegex(v)
		}
		return "(" + strings.Join(escaped, "|") + ")"
	}
	return strings.Join(sel.values, ",")
}

func usedInRegex(name, query string) bool {
	for _, lit := range regexLiteral.FindAllString(query, -1) {
		if strings.Contains(lit, "$"+name) {
			return true
		}
	}
	return false
}

// escapeRegex is @grafana/data's escapeRegex.
func escapeRegex(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\^$*+?.()|[]{}/`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestRenderLikeGrafana(t *testing.T) {
	q := `SELECT mean("used") FROM "disk" WHERE "host" =~ /^$host$/ AND "path" = '$path' AND $timeFilter GROUP BY time($__interval), "host"`
	for _, c := range []struct {
		name string
		vars map[string]selection
		want string
	}{
		{"one value of a multi variable is escaped",
			map[string]selection{"host": {values: []string{"edge-1.example"}, multi: true}, "path": {values: []string{"/var"}}},
			`SELECT mean("used") FROM "disk" WHERE "host" =~ /^edge-1\.example$/ AND "path" = '/var' AND time > now() - 1h GROUP BY time(10s), "host"`},
		{"All becomes an alternation",
			map[string]selection{"host": {values: []string{"a", "b/c"}, multi: true}, "path": {values: []string{"/"}}},
			`SELECT mean("used") FROM "disk" WHERE "host" =~ /^(a|b\/c)$/ AND "path" = '/' AND time > now() - 1h GROUP BY time(10s), "host"`},
		{"a single-value variable is escaped only inside a regex",
			map[string]selection{"host": {values: []string{"h.1"}}, "path": {values: []string{"/a.b"}}},
			`SELECT mean("used") FROM "disk" WHERE "host" =~ /^h\.1$/ AND "path" = '/a.b' AND time > now() - 1h GROUP BY time(10s), "host"`},
		{"a number is left alone; an unknown variable too",
			map[string]selection{"host": {values: []string{"42"}, multi: true}},
			`SELECT mean("used") FROM "disk" WHERE "host" =~ /^42$/ AND "path" = '$path' AND time > now() - 1h GROUP BY time(10s), "host"`},
		{"a custom all value is used raw",
			map[string]selection{"host": {values: []string{".*"}, multi: true, raw: true}, "path": {values: []string{"/"}}},
			`SELECT mean("used") FROM "disk" WHERE "host" =~ /^.*$/ AND "path" = '/' AND time > now() - 1h GROUP BY time(10s), "host"`},
	} {
		if got := render(q, c.vars); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	// Grafana decides per query, not per occurrence: once the variable is
	// inside a regex anywhere, every occurrence is escaped.
	if got := render(`WHERE "h" =~ /^$host$/ OR "h" = '[[host]]' OR "g" = '${host}'`, map[string]selection{"host": {values: []string{"x.y"}}}); got != `WHERE "h" =~ /^x\.y$/ OR "h" = 'x\.y' OR "g" = 'x\.y'` {
		t.Errorf("$, [[]] and ${} forms: got %s", got)
	}
}
