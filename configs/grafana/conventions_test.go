package grafana_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Fields that only ever grow (counters since a start); a time series shows
// them as rates, never raw.
var cumulativeFields = []string{
	"in", "out", "dropped", "errors", "process_seconds", "lua_call_seconds", "lua_calls", // interoceptor_plugin
	"read_bytes", "write_bytes", "reads", "writes", // diskio
	"bytes_recv", "bytes_sent", "packets_recv", "packets_sent", // net
	"in_msgs", "out_msgs", "in_bytes", "out_bytes", "reconnects", "published_batches", // interoceptor_nats
	"total_alloc_bytes", "gc_count", "gc_pause_total_ns", // interoceptor_runtime
}

var (
	selectClause   = regexp.MustCompile(`(?is)^\s*SELECT\s+(.*?)\s+FROM\s`)
	quotedIdent    = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	rateOf         = regexp.MustCompile(`non_negative_derivative\(last\("((?:[^"\\]|\\.)*)"\), 1s\)`)
	aliasIdent     = regexp.MustCompile(`(?i)\bAS\s+"((?:[^"\\]|\\.)*)"`)
	aggregate      = regexp.MustCompile(`(?i)\b(mean|median|last|first|max|min|sum|count|non_negative_derivative|derivative|spread|stddev|percentile)\(`)
	regexFilter    = regexp.MustCompile(`=~\s*/([^/]*)/`)
	dollarVariable = regexp.MustCompile(`\$\{?(\w+)`)
)

// dsVariable is the data source variable every query goes through, so that
// a dashboard imported into a Grafana whose InfluxDB data source has
// another uid still works: the variable opens on the provisioned data
// source, or on the Grafana's first InfluxDB one when there is none of
// that uid.
const (
	dsVariable = "datasource"
	dsRef      = "${" + dsVariable + "}"
)

// The conventions the README promises for the shipped dashboards.
func TestDashboardConventions(t *testing.T) {
	provisioned := readDatasource(t, nil).uid
	uid := dsRef
	seenUIDs := map[string]string{}
	for _, f := range loadDashboards(t) {
		errorf := func(format string, args ...any) { t.Helper(); t.Errorf(f.name+": "+format, args...) }
		if f.UID == "" || f.Title == "" {
			errorf("uid and title are required")
		}
		if other, dup := seenUIDs[f.UID]; dup {
			errorf("uid %q is also %s's", f.UID, other)
		}
		seenUIDs[f.UID] = f.name
		if !slices.Contains(f.Tags, "interoceptor") {
			errorf("tag interoceptor missing (the dashboards link to each other by it)")
		}

		variables := map[string]bool{}
		for i, v := range f.Templating.List {
			if v.Type == "datasource" {
				// Used by every data source reference, checked below.
				if i != 0 || v.Name != dsVariable || v.queryText() != "influxdb" || !slices.Equal(currentValues(v.Current.Value), []string{provisioned}) {
					errorf("variable %s: the data source variable is the first, named %s, of type influxdb, opening on %q", v.Name, dsVariable, provisioned)
				}
				variables[v.Name] = true
				continue
			}
			variables[v.Name] = false
			if v.Datasource == nil || v.Datasource.UID != uid || v.Datasource.Type != "influxdb" {
				errorf("variable %s: data source must be influxdb %q", v.Name, uid)
			}
		}
		if len(f.Templating.List) == 0 || f.Templating.List[0].Type != "datasource" {
			errorf("no data source variable %s: an imported dashboard could not choose its InfluxDB", dsVariable)
		}

		ids := map[int]bool{}
		for _, p := range f.allPanels() {
			if ids[p.ID] {
				errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos == nil {
				errorf("panel %d %q: no gridPos", p.ID, p.Title)
			}
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				errorf("panel %d %q: no query", p.ID, p.Title)
			}
			if p.Datasource == nil || p.Datasource.UID != uid || p.Datasource.Type != "influxdb" {
				errorf("panel %d %q: data source must be influxdb %q", p.ID, p.Title, uid)
			}
			refIDs := map[string]bool{}
			for _, tg := range p.Targets {
				where := "panel " + p.Title + " target " + tg.RefID
				if refIDs[tg.RefID] {
					errorf("%s: refId twice", where)
				}
				refIDs[tg.RefID] = true
				if tg.Datasource == nil || tg.Datasource.UID != uid || tg.Datasource.Type != "influxdb" {
					errorf("%s: data source must be influxdb %q", where, uid)
				}
				if !tg.RawQuery {
					errorf("%s: rawQuery must be true (raw InfluxQL)", where)
				}
				if tg.ResultFormat != "time_series" && tg.ResultFormat != "table" {
					errorf("%s: resultFormat %q", where, tg.ResultFormat)
				}
				checkQuery(t, f.name+": "+where, tg.Query, p.Type, tg.ResultFormat, variables)
			}
		}

		for _, a := range f.Annotations.List {
			where := "annotation " + a.Name
			if a.BuiltIn == 1 {
				continue
			}
			if a.Datasource.UID != uid || a.Datasource.Type != "influxdb" {
				errorf("%s: data source must be influxdb %q", where, uid)
			}
			if !a.Enable || a.IconColor == "" {
				errorf("%s: enable and iconColor are required", where)
			}
			if a.Target == nil || !a.Target.RawQuery || !a.Target.FromAnnotations || a.Target.Query == "" {
				errorf("%s: the InfluxQL goes in target.query, with rawQuery and fromAnnotations", where)
				continue
			}
			if a.Target.TextColumn == "" {
				errorf("%s: textColumn is required when the query returns more than one field", where)
			}
			if a.Filter != nil {
				for _, id := range a.Filter.IDs {
					if !ids[id] {
						errorf("%s: filter names panel %d, which does not exist", where, id)
					}
				}
			}
			checkQuery(t, f.name+": "+where, a.Target.Query, "annotation", "annotation", variables)
		}

		for name, used := range variables {
			if !used {
				errorf("variable %s is used by no query", name)
			}
		}
	}
}

// checkQuery: $timeFilter always; GROUP BY time($__interval) for an
// aggregate drawn over time; cumulative fields only as rates in time series;
// variables exist, and are matched as whole values (/^$var$/).
func checkQuery(t *testing.T, where, q, panelType, format string, variables map[string]bool) {
	t.Helper()
	if !strings.Contains(q, "$timeFilter") {
		t.Errorf("%s: no $timeFilter:\n  %s", where, q)
	}
	sel := selectClause.FindStringSubmatch(q)
	if sel == nil {
		t.Errorf("%s: not a SELECT ... FROM:\n  %s", where, q)
		return
	}
	if panelType == "timeseries" && aggregate.MatchString(sel[1]) && !strings.Contains(q, "GROUP BY time($__interval)") {
		t.Errorf("%s: an aggregate over time needs GROUP BY time($__interval):\n  %s", where, q)
	}
	if strings.Contains(q, "GROUP BY time(") && !strings.Contains(q, "GROUP BY time($__interval)") {
		t.Errorf("%s: a fixed GROUP BY time; use $__interval:\n  %s", where, q)
	}
	if format == "time_series" {
		rest := rateOf.ReplaceAllString(sel[1], "")
		rest = aliasIdent.ReplaceAllString(rest, "")
		for _, m := range quotedIdent.FindAllStringSubmatch(rest, -1) {
			if slices.Contains(cumulativeFields, m[1]) {
				t.Errorf("%s: %q is cumulative: show it as non_negative_derivative(last(%q), 1s):\n  %s", where, m[1], m[1], q)
			}
		}
	}
	for _, m := range dollarVariable.FindAllStringSubmatch(q, -1) {
		switch name := m[1]; {
		case name == "timeFilter" || name == "__interval":
		default:
			if _, ok := variables[name]; !ok {
				t.Errorf("%s: $%s is no variable of the dashboard:\n  %s", where, name, q)
			}
			variables[name] = true
		}
	}
	for _, m := range regexFilter.FindAllStringSubmatch(q, -1) {
		if strings.Contains(m[1], "$") && !regexp.MustCompile(`^\^\$\w+\$$`).MatchString(m[1]) {
			t.Errorf("%s: match a variable whole, as /^$name$/, not /%s/", where, m[1])
		}
	}
}

// Alerts show as annotations on the Hosts, Anomalies and Alerts dashboards:
// the firing alerts (measurement alerts, status firing), titled with the
// rule's name and telling its summary; on Hosts only the selected hosts'.
func TestAlertAnnotations(t *testing.T) {
	filters := map[string]string{"hosts.json": `"host" =~ /^$host$/`, "anomalies.json": "", "alerts.json": ""}
	for _, f := range loadDashboards(t) {
		filter, ok := filters[f.name]
		if !ok {
			continue
		}
		found := false
		for _, a := range f.Annotations.List {
			if a.Target == nil || !strings.Contains(a.Target.Query, `FROM "alerts"`) || !strings.Contains(a.Target.Query, `"status" = 'firing'`) {
				continue
			}
			found = true
			where := f.name + ": annotation " + a.Name
			if !strings.Contains(a.Target.Query, filter) {
				t.Errorf("%s: the query must have %s:\n  %s", where, filter, a.Target.Query)
			}
			// Grafana takes the first column that is neither text nor a tag
			// as the title (its backend names columns "alerts.alertname",
			// which titleColumn, compared whole, never matches).
			if !strings.HasPrefix(a.Target.Query, `SELECT "alertname", `) || a.Target.TitleColumn != "alertname" {
				t.Errorf("%s: the title is the alertname, the query's first column", where)
			}
			if a.Target.TextColumn != "annotation_summary" {
				t.Errorf("%s: textColumn %q, want annotation_summary", where, a.Target.TextColumn)
			}
		}
		if !found {
			t.Errorf("%s: no annotation of the firing alerts", f.name)
		}
	}
}
