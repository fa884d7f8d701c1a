package grafana_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileSchema compiles schema/dashboard.schema.json, the JSON Schema that
// schema/generate.sh makes from the Dashboard type of @grafana/schema.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	return sch
}

func decodeJSON(t *testing.T, raw []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDashboardsMatchGrafanaSchema(t *testing.T) {
	sch := compileSchema(t)
	for _, f := range loadDashboards(t) {
		if err := sch.Validate(decodeJSON(t, f.raw)); err != nil {
			t.Errorf("%s does not match %s:\n%v", f.name, schemaFile, err)
		}
	}
}

// The schemaVersion the dashboards declare is the one of the @grafana/schema
// release the schema was generated from (its defaultDashboard), which
// generate.sh records in the schema.
func TestDashboardsDeclareTheSchemasVersion(t *testing.T) {
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Release       string `json:"x-grafana-schema-version"`
		SchemaVersion int    `json:"x-default-schemaVersion"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.SchemaVersion == 0 {
		t.Fatalf("%s has no x-default-schemaVersion: regenerate it with schema/generate.sh", schemaFile)
	}
	for _, f := range loadDashboards(t) {
		if f.SchemaVersion != meta.SchemaVersion {
			t.Errorf("%s: schemaVersion %d, @grafana/schema %s has %d", f.name, f.SchemaVersion, meta.Release, meta.SchemaVersion)
		}
	}
}

// The validator bites: copies of a real dashboard, each broken in one way
// Grafana's types forbid, must fail.
func TestSchemaRejectsBrokenDashboards(t *testing.T) {
	sch := compileSchema(t)
	raw, err := os.ReadFile(filepath.Join(dashboardsDir, "anomalies.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(decodeJSON(t, raw)); err != nil {
		t.Fatalf("the unbroken dashboard must pass first: %v", err)
	}
	obj := func(v any) map[string]any { return v.(map[string]any) }
	firstPanel := func(d map[string]any) map[string]any { return obj(d["panels"].([]any)[0]) }
	firstAnnotation := func(d map[string]any) map[string]any {
		return obj(obj(d["annotations"])["list"].([]any)[0])
	}
	firstVariable := func(d map[string]any) map[string]any {
		return obj(obj(d["templating"])["list"].([]any)[0])
	}
	breaks := []struct {
		name  string
		apply func(d map[string]any)
	}{
		{"schemaVersion missing", func(d map[string]any) { delete(d, "schemaVersion") }},
		{"schemaVersion a string", func(d map[string]any) { d["schemaVersion"] = "42" }},
		{"unknown top-level key", func(d map[string]any) { d["templatng"] = d["templating"] }},
		{"graphTooltip out of range", func(d map[string]any) { d["graphTooltip"] = json.Number("5") }},
		{"panel without type", func(d map[string]any) { delete(firstPanel(d), "type") }},
		{"panel key misspelt", func(d map[string]any) {
			p := firstPanel(d)
			p["gridpos"] = p["gridPos"]
			delete(p, "gridPos")
		}},
		{"gridPos without h", func(d map[string]any) { delete(obj(firstPanel(d)["gridPos"]), "h") }},
		{"targets not a list", func(d map[string]any) { firstPanel(d)["targets"] = "SELECT 1" }},
		{"annotation without iconColor", func(d map[string]any) { delete(firstAnnotation(d), "iconColor") }},
		{"annotation enable a string", func(d map[string]any) { firstAnnotation(d)["enable"] = "true" }},
		{"annotation target without limit", func(d map[string]any) { delete(obj(firstAnnotation(d)["target"]), "limit") }},
		{"variable of unknown type", func(d map[string]any) { firstVariable(d)["type"] = "sql" }},
		{"variable hide out of range", func(d map[string]any) { firstVariable(d)["hide"] = json.Number("7") }},
		{"time without to", func(d map[string]any) { delete(obj(d["time"]), "to") }},
	}
	for _, b := range breaks {
		d := obj(decodeJSON(t, raw)) // a fresh copy each time
		b.apply(d)
		if err := sch.Validate(d); err == nil {
			t.Errorf("%s: the schema accepted it", b.name)
		}
	}
}

// The oldest Grafana release the dashboards are made for, as the README
// (section "Grafana versions") states it.
const oldestGrafana = "12.2"

// newestSchemaVersion is the dashboard schemaVersion each Grafana release
// knows at most: the defaultDashboard.schemaVersion of @grafana/schema (npm),
// which is built from that release (dist/esm/raw/dashboard/x/
// dashboard_types.gen.mjs): 41 in 12.1.1, 42 in 12.2.0 (published
// 2025-09-24; the migration V42, grafana/grafana pull request 110517, in
// apps/dashboard/pkg/migration/schemaversion/v42.go), and still 42 in
// 13.2.3, whose Dashboard type schema/dashboard.schema.json is made from.
var newestSchemaVersion = map[string]int{"12.1": 41, "12.2": 42, "13.2": 42}

// panelSince is the first Grafana release with each panel type the
// dashboards use, from Grafana's documentation of that release:
//   - row: rows became panels with the grid layout of 5.0 (dashboard
//     schemaVersion 16; apps/dashboard/pkg/migration/schemaversion/v16.go,
//     "rows to panels")
//   - stat: grafana.com/docs/grafana/v7.0/panels/visualizations/stat-panel/
//     (it replaced singlestat, deprecated in 7.0)
//   - table (the React table), timeseries, state-timeline: listed in
//     grafana.com/docs/grafana/v8.1/visualizations/ ("Time series is the
//     default and main Graph visualization", "State timeline for state
//     changes over time", "Table is the main and only table visualization")
//
// All four exist as panel schemas in @grafana/schema 12.2.0
// (dist/esm/raw/composable/{stat,table,timeseries,statetimeline}). A panel
// type not in this table fails the test: add it with its source.
var panelSince = map[string]string{
	"row":            "5.0",
	"stat":           "7.0",
	"table":          "8.1",
	"timeseries":     "8.1",
	"state-timeline": "8.1",
}

// Every dashboard loads in the oldest Grafana the README names: its
// schemaVersion is one that release knows, and newer than the release
// before it knows (else the README undersells the dashboards), and each of
// its panel types exists there.
func TestDashboardsLoadInTheOldestGrafana(t *testing.T) {
	newest, ok := newestSchemaVersion[oldestGrafana]
	if !ok {
		t.Fatalf("no schemaVersion recorded for Grafana %s", oldestGrafana)
	}
	previous := newestSchemaVersion["12.1"]
	for _, f := range loadDashboards(t) {
		if f.SchemaVersion > newest {
			t.Errorf("%s: schemaVersion %d, but Grafana %s knows %d at most: state a newer oldest Grafana in the README", f.name, f.SchemaVersion, oldestGrafana, newest)
		}
		if f.SchemaVersion <= previous {
			t.Errorf("%s: schemaVersion %d, which Grafana 12.1 loads too: the README's oldest Grafana (%s) is too new", f.name, f.SchemaVersion, oldestGrafana)
		}
		for _, p := range f.allPanels() {
			since, known := panelSince[p.Type]
			switch {
			case !known:
				t.Errorf("%s: panel %d %q of type %q: since which Grafana? Add it to panelSince with its source", f.name, p.ID, p.Title, p.Type)
			case versionAfter(since, oldestGrafana):
				t.Errorf("%s: panel %d %q of type %q needs Grafana %s, newer than %s", f.name, p.ID, p.Title, p.Type, since, oldestGrafana)
			}
		}
	}
}

// versionAfter reports whether release a ("major.minor") is newer than b.
func versionAfter(a, b string) bool {
	var amaj, amin, bmaj, bmin int
	if _, err := fmt.Sscanf(a, "%d.%d", &amaj, &amin); err != nil {
		panic(err)
	}
	if _, err := fmt.Sscanf(b, "%d.%d", &bmaj, &bmin); err != nil {
		panic(err)
	}
	return amaj > bmaj || amaj == bmaj && amin > bmin
}
