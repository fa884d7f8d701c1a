// Package grafana_test proves the Grafana files of configs/grafana without a
// Grafana: each dashboard validates against the JSON Schema generated from
// the Dashboard type of @grafana/schema (schema_test.go), keeps the
// conventions the README promises (conventions_test.go), the provisioning
// files are well formed and point at what exists (provisioning_test.go), and
// every panel and annotation query, rendered the way Grafana renders it
// (render_test.go), returns data from a real InfluxDB 1.8 (queries_test.go,
// fed by seed_test.go).
package grafana_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const (
	dashboardsDir  = "dashboards"
	schemaFile     = "schema/dashboard.schema.json"
	datasourceFile = "provisioning/datasources/interoceptor.yaml"
	providerFile   = "provisioning/dashboards/interoceptor.yaml"
)

// The parts of Grafana's dashboard JSON model that the tests look at; the
// schema test reads the files whole.
type dashboard struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	Tags          []string `json:"tags"`
	SchemaVersion int      `json:"schemaVersion"`
	Panels        []panel  `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []annotation `json:"list"`
	} `json:"annotations"`
}

type dataSourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *dataSourceRef `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // a row's panels when it is collapsed
}

// target is an InfluxDB (InfluxQL) query in raw mode.
type target struct {
	RefID        string         `json:"refId"`
	Datasource   *dataSourceRef `json:"datasource"`
	Query        string         `json:"query"`
	RawQuery     bool           `json:"rawQuery"`
	ResultFormat string         `json:"resultFormat"`
	Hide         bool           `json:"hide"`
}

type variable struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Datasource *dataSourceRef `json:"datasource"`
	Query      any            `json:"query"` // a string, or {"query": "..."}
	Multi      bool           `json:"multi"`
	IncludeAll bool           `json:"includeAll"`
	AllValue   string         `json:"allValue"`
	Regex      string         `json:"regex"`
	Sort       int            `json:"sort"`
	Current    struct {
		Value any `json:"value"` // a string or a list of strings
	} `json:"current"`
}

// queryText is the variable's InfluxQL, in either of the shapes Grafana saves.
func (v variable) queryText() string {
	switch q := v.Query.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

type annotation struct {
	Name       string        `json:"name"`
	BuiltIn    int           `json:"builtIn"`
	Datasource dataSourceRef `json:"datasource"`
	Enable     bool          `json:"enable"`
	IconColor  string        `json:"iconColor"`
	Filter     *struct {
		Exclude bool  `json:"exclude"`
		IDs     []int `json:"ids"`
	} `json:"filter"`
	// Where Grafana 9+ keeps an InfluxDB annotation's query (the InfluxDB
	// plugin's prepareAnnotation moves a legacy top-level "query" here).
	Target *struct {
		Query           string `json:"query"`
		RawQuery        bool   `json:"rawQuery"`
		FromAnnotations bool   `json:"fromAnnotations"`
		TitleColumn     string `json:"titleColumn"`
		TextColumn      string `json:"textColumn"`
		TagsColumn      string `json:"tagsColumn"`
	} `json:"target"`
}

// dashboardFile is one file of dashboards/, raw and decoded.
type dashboardFile struct {
	name string // e.g. hosts.json
	raw  []byte
	dashboard
}

// loadDashboards reads dashboards/*.json; there are at least the four the
// README names.
func loadDashboards(t *testing.T) []dashboardFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var files []dashboardFile
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f := dashboardFile{name: filepath.Base(p), raw: raw}
		if err := json.Unmarshal(raw, &f.dashboard); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		files = append(files, f)
	}
	for _, want := range []string{"hosts.json", "pipeline.json", "anomalies.json", "alerts.json"} {
		if !slices.ContainsFunc(files, func(f dashboardFile) bool { return f.name == want }) {
			t.Errorf("%s/%s is missing", dashboardsDir, want)
		}
	}
	return files
}

// allPanels returns the panels, rows and the panels inside rows.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// query is one InfluxQL query that Grafana would send for the dashboard.
type query struct {
	where      string // e.g. `panel 3 "Load average" target A`
	text       string
	format     string // time_series or table; "annotation" for annotations
	textColumn string // an annotation's textColumn: the column Grafana shows as its text
}

// queries returns every panel target and annotation query, in order.
func (d dashboard) queries() []query {
	var out []query
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			if tg.Hide {
				continue
			}
			out = append(out, query{
				where:  fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID),
				text:   tg.Query,
				format: tg.ResultFormat,
			})
		}
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 1 || a.Target == nil {
			continue
		}
		out = append(out, query{where: fmt.Sprintf("annotation %q", a.Name), text: a.Target.Query, format: "annotation", textColumn: a.Target.TextColumn})
	}
	return out
}
