package grafana_test

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/internal/influxtest"
)

// Every panel and annotation query of every dashboard, rendered as Grafana
// renders it with the variables at the values Grafana would give them when
// the dashboard opens (each query variable run against the server, "All"
// where the dashboard says so), returns at least one series, with a value in
// each of its columns, from a real InfluxDB holding what a short demo run
// writes.
//
// seed stands in for the demo run: replace it with a run of the pipeline
// that writes to s, and nothing else changes.
func TestQueriesReturnData(t *testing.T) {
	s := influxtest.New(t, database)
	seed(t, s)
	checkQueries(t, s.URL)
}

// checkQueries runs every dashboard's queries against the InfluxDB at url,
// whose database is the one named by the const database. It goes through the
// provisioned data source: its url and dbName, expanded from the environment
// as Grafana expands them.
func checkQueries(t *testing.T, url string) {
	ds := readDatasource(t, map[string]string{"INFLUX_URL": url, "INFLUX_DB": database})
	if resp, err := http.Get(ds.url + "/ping"); err != nil {
		t.Fatalf("provisioned url %s: %v", ds.url, err)
	} else {
		resp.Body.Close()
	}
	influx := &influxtest.Server{URL: ds.url}

	for _, f := range loadDashboards(t) {
		t.Run(f.UID, func(t *testing.T) {
			options, selected := resolveVariables(t, influx, ds.db, f.dashboard)
			for _, q := range f.queries() {
				rendered := render(q.text, selected)
				series, err := influx.Query(ds.db, rendered)
				switch empty := emptyColumns(series); {
				case err != nil:
					t.Errorf("%s: %v", q.where, err)
				case len(series) == 0:
					t.Errorf("%s returns no series:\n  %s", q.where, rendered)
				case len(empty) > 0:
					// A misspelt field among good ones still makes a series.
					t.Errorf("%s: column %s has no value in any series:\n  %s", q.where, strings.Join(empty, ", "), rendered)
				case q.format == "annotation" && rowsWithAGap(series) > 0:
					// Grafana's InfluxDB data source (its response parser's
					// getTableRows) drops an annotation row that has a null
					// column: a tag or field not every point has.
					t.Errorf("%s: %d rows have a null column, which Grafana does not draw:\n  %s", q.where, rowsWithAGap(series), rendered)
				default:
					t.Logf("%s: %d series\n  %s", q.where, len(series), rendered)
				}
				if q.format == "annotation" && strings.Contains(q.text, `FROM "anomaly"`) {
					checkAnomalyText(t, q, series)
				}
			}
			// Each single value of each variable (the others as they open)
			// makes valid InfluxQL; a panel may show nothing for it (a
			// plugin without Lua has no Lua time).
			for name, values := range options {
				for _, v := range values {
					sel := maps.Clone(selected)
					sel[name] = selection{values: []string{v}, multi: sel[name].multi}
					for _, q := range f.queries() {
						if !strings.Contains(q.text, "$"+name) {
							continue
						}
						if _, err := influx.Query(ds.db, render(q.text, sel)); err != nil {
							t.Errorf("%s with %s = %q: %v", q.where, name, v, err)
						}
					}
				}
			}
		})
	}
}

var (
	// What an anomaly annotation says: the series (measurement, field, then
	// its tags), the kind of change, before → after (with the change in
	// percent when before is not 0), and the score, as anomaly.lua writes its
	// summary: "cpu usage_user cpu=cpu-total host=web-1: level shift up,
	// 12.3 → 85 (+591.1%) (score 0.97)".
	anomalyText = regexp.MustCompile(`^(\S+) \S+((?: [^ =]+=\S+)*): [a-z ]+ (?:up|down), (\S+) → (\S+)(?: \([+-][0-9.]+%\))? \(score [01]\.\d\d\)$`)
	// The measurements an annotation query of anomalies is about.
	seriesFilter = regexp.MustCompile(`"series" = '([^']*)'`)
)

// checkAnomalyText: every anomaly an annotation query returns has a text
// column that tells what changed, about a series the query selects.
func checkAnomalyText(t *testing.T, q query, series []influxtest.Series) {
	t.Helper()
	var watched []string
	for _, m := range seriesFilter.FindAllStringSubmatch(q.text, -1) {
		watched = append(watched, m[1])
	}
	rows := 0
	for _, s := range series {
		col := slices.Index(s.Columns, q.textColumn)
		if col < 0 {
			t.Errorf("%s: no column %q (its textColumn) in %v", q.where, q.textColumn, s.Columns)
			return
		}
		for _, row := range s.Values {
			text, _ := row[col].(string)
			rows++
			m := anomalyText.FindStringSubmatch(text)
			switch {
			case m == nil:
				t.Errorf("%s: annotation text %q does not say series: kind, before → after (score)", q.where, text)
			case len(watched) > 0 && !slices.Contains(watched, m[1]):
				t.Errorf("%s: annotation text %q names series %q, the query selects %v", q.where, text, m[1], watched)
			}
		}
	}
	if rows == 0 {
		t.Errorf("%s: no anomaly to check the text of", q.where)
	}
}

// resolveVariables runs each query variable in order (a later one may use an
// earlier one, as Grafana chains them) and returns each variable's options
// and its selection when the dashboard opens: every option for "All", else
// the saved value if it is still an option, else the first option.
func resolveVariables(t *testing.T, influx *influxtest.Server, db string, d dashboard) (map[string][]string, map[string]selection) {
	t.Helper()
	options := map[string][]string{}
	selected := map[string]selection{}
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			continue // opens on the provisioned data source, which ds is
		}
		if v.Type != "query" {
			t.Errorf("variable %s: type %q is not handled by this test", v.Name, v.Type)
			continue
		}
		q := render(v.queryText(), selected)
		series, err := influx.Query(db, q)
		if err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
			continue
		}
		values := tagValues(series)
		if len(values) == 0 {
			t.Errorf("variable %s has no values:\n  %s", v.Name, q)
			continue
		}
		if v.Sort != 0 && v.Sort != 1 {
			t.Errorf("variable %s: sort %d is not handled by this test", v.Name, v.Sort)
		}
		if v.Sort == 1 {
			sort.Strings(values)
		}
		options[v.Name] = values
		t.Logf("variable %s = %v", v.Name, values)

		sel := selection{multi: v.Multi}
		current := currentValues(v.Current.Value)
		switch {
		case v.IncludeAll && slices.Equal(current, []string{"$__all"}) && v.AllValue != "":
			sel.values, sel.raw = []string{v.AllValue}, true
		case v.IncludeAll && slices.Equal(current, []string{"$__all"}):
			sel.values = values
		default:
			for _, c := range current {
				if slices.Contains(values, c) {
					sel.values = append(sel.values, c)
				}
			}
			if len(sel.values) == 0 {
				sel.values = values[:1]
			}
		}
		selected[v.Name] = sel
	}
	return options, selected
}

// emptyColumns returns the columns (but time) that are null in every row of
// every series.
func emptyColumns(series []influxtest.Series) []string {
	filled := map[string]bool{}
	var order []string
	for _, s := range series {
		for i, c := range s.Columns {
			if c == "time" {
				continue
			}
			if _, seen := filled[c]; !seen {
				order = append(order, c)
				filled[c] = false
			}
			for _, row := range s.Values {
				if i < len(row) && row[i] != nil {
					filled[c] = true
					break
				}
			}
		}
	}
	var empty []string
	for _, c := range order {
		if !filled[c] {
			empty = append(empty, c)
		}
	}
	return empty
}

// rowsWithAGap counts the rows that have a null column.
func rowsWithAGap(series []influxtest.Series) int {
	n := 0
	for _, s := range series {
		for _, row := range s.Values {
			if slices.Contains(row, nil) {
				n++
			}
		}
	}
	return n
}

// tagValues returns the "value" column of SHOW TAG VALUES (or the first
// column of another query), without repeats.
func tagValues(series []influxtest.Series) []string {
	var out []string
	for _, s := range series {
		col := slices.Index(s.Columns, "value")
		if col < 0 {
			col = 0
		}
		for _, row := range s.Values {
			if v, ok := row[col].(string); ok && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

func currentValues(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
