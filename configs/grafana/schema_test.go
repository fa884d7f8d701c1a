package grafana_test

import (
	"bytes"
	"encoding/json"
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
