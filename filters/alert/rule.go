package alert

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/prometheus/common/model"

	"github.com/interoceptor/interoceptor/pipeline"
)

// RuleConfig is one [[filters.alert.rules]] table.
type RuleConfig struct {
	Alert string `toml:"alert"` // the alertname label; required, unique in the filter
	// Expr is an expr-lang expression over the group's latest values
	// ("cpu.usage_user > 90 && system.load1 > 4"); for an anomaly rule,
	// over the anomaly ("anomaly.score > 0.95"), optional.
	Expr          string            `toml:"expr"`
	Anomaly       bool              `toml:"anomaly"`    // fires on messages of Type "anomaly"
	AbsentFor     pipeline.Duration `toml:"absent_for"` // fires when a group has sent nothing this long
	For           pipeline.Duration `toml:"for"`
	KeepFiringFor pipeline.Duration `toml:"keep_firing_for"`
	Severity      string            `toml:"severity"` // default "warning"
	Labels        map[string]string `toml:"labels"`
	Summary       string            `toml:"summary"`     // a template
	Description   string            `toml:"description"` // a template
	Annotations   map[string]string `toml:"annotations"` // templates
	ActiveTime    []TimeWindow      `toml:"active_time"`
	FlapThreshold int               `toml:"flap_threshold"` // state changes within flap_window that make a group flapping; 0: off
	FlapWindow    pipeline.Duration `toml:"flap_window"`    // default 30m when flap_threshold is set
}

// Defaults of a rule's keys that are not zero.
const (
	DefaultSeverity          = "warning"
	DefaultAnomalyKeepFiring = 10 * time.Minute
	DefaultFlapWindow        = 30 * time.Minute
)

type ruleKind uint8

const (
	kindThreshold ruleKind = iota
	kindAbsent
	kindAnomaly
)

// rule is a RuleConfig compiled.
type rule struct {
	index    int
	name     string
	kind     ruleKind
	prog     *vm.Program // nil: an absent rule, or an anomaly rule without expr
	refs     []ref       // the measurements' fields the expression reads, in its order
	windows  []window    // none: always active
	forDur   time.Duration
	keep     time.Duration
	absent   time.Duration
	flapN    int
	flapWin  time.Duration
	severity string
	labels   map[string]string // the rule's own, with alertname and severity
	annots   map[string]*template.Template
}

// ref is one value an expression reads: cpu.usage_user.
type ref struct {
	meas, field string
	key         string // in the evaluation env: "cpu.usage_user"
	value       string // in the alert's values: "cpu_usage_user"
	slot        int    // index of (meas, field) among all the filter reads
}

// active reports whether the rule may fire at t (its active_time).
func (r *rule) active(t time.Time) bool {
	if len(r.windows) == 0 {
		return true
	}
	for i := range r.windows {
		if r.windows[i].contains(t) {
			return true
		}
	}
	return false
}

// invalid is pipeline.InvalidKey.
func invalid(key, format string, args ...any) error { return pipeline.InvalidKey(key, format, args...) }

// compileRule checks rc (index i) and compiles it; groupBy are the
// filter's group tags. Every problem is returned, joined.
func compileRule(i int, rc RuleConfig, groupBy []string) (*rule, error) {
	key := func(k string) string { return fmt.Sprintf("rules.[%d].%s", i, k) }
	var errs []error
	r := &rule{index: i, name: rc.Alert, forDur: time.Duration(rc.For), keep: time.Duration(rc.KeepFiringFor),
		absent: time.Duration(rc.AbsentFor), flapN: rc.FlapThreshold, flapWin: time.Duration(rc.FlapWindow), severity: rc.Severity}
	if r.severity == "" {
		r.severity = DefaultSeverity
	}
	switch {
	case rc.Alert == "":
		errs = append(errs, pipeline.MissingKey(key("alert")))
	case !model.LabelValue(rc.Alert).IsValid():
		errs = append(errs, invalid(key("alert"), "%q is not valid UTF-8", rc.Alert))
	}
	switch {
	case rc.Anomaly && rc.AbsentFor > 0:
		errs = append(errs, invalid(key("absent_for"), "an anomaly rule fires on anomalies, not on silence: leave absent_for out or anomaly false"))
	case rc.Anomaly:
		r.kind = kindAnomaly
		if rc.For > 0 {
			errs = append(errs, invalid(key("for"), "an anomaly fires at once: leave for out of an anomaly rule"))
		}
		if r.keep == 0 {
			r.keep = DefaultAnomalyKeepFiring
		}
	case rc.AbsentFor > 0:
		r.kind = kindAbsent
		if rc.Expr != "" {
			errs = append(errs, invalid(key("expr"), "an absent_for rule fires when a group sends nothing: leave expr out"))
		}
	case rc.Expr == "":
		errs = append(errs, invalid(key("expr"), "missing: a rule needs expr, absent_for or anomaly = true"))
	}
	if rc.Expr != "" && r.kind != kindAbsent {
		if err := r.compileExpr(rc.Expr, groupBy); err != nil {
			errs = append(errs, invalid(key("expr"), "%v", err))
		}
	}
	if rc.FlapThreshold < 0 {
		errs = append(errs, invalid(key("flap_threshold"), "must not be negative"))
	}
	if r.flapN > 0 && r.flapWin == 0 {
		r.flapWin = DefaultFlapWindow
	}
	if r.flapN == 0 && rc.FlapWindow > 0 {
		errs = append(errs, invalid(key("flap_window"), "set without flap_threshold"))
	}
	r.labels = map[string]string{"alertname": rc.Alert, "severity": r.severity}
	for _, k := range slices.Sorted(maps.Keys(rc.Labels)) {
		v := rc.Labels[k]
		if msg := checkLabel(k, v, groupBy); msg != "" {
			errs = append(errs, invalid(key("labels."+k), "%s", msg))
			continue
		}
		r.labels[k] = v
	}
	annots := maps.Clone(rc.Annotations)
	if annots == nil {
		annots = map[string]string{}
	}
	for k, v := range map[string]string{"summary": rc.Summary, "description": rc.Description} {
		if _, dup := annots[k]; dup && v != "" {
			errs = append(errs, invalid(key("annotations."+k), "set twice: as %s and in annotations", k))
		}
		if v != "" {
			annots[k] = v
		}
	}
	r.annots = map[string]*template.Template{}
	for _, k := range slices.Sorted(maps.Keys(annots)) {
		where := key("annotations." + k)
		if k == "summary" && rc.Summary != "" || k == "description" && rc.Description != "" {
			where = key(k)
		}
		if !model.LegacyValidation.IsValidLabelName(k) {
			errs = append(errs, invalid(where, "%q is not a valid annotation name (letters, digits, _)", k))
			continue
		}
		t, err := template.New(k).Funcs(templateFuncs).Option("missingkey=zero").Parse(annots[k])
		if err != nil {
			errs = append(errs, invalid(where, "template: %s", strings.TrimPrefix(err.Error(), "template: ")))
			continue
		}
		r.annots[k] = t
	}
	for j, tw := range rc.ActiveTime {
		w, err := compileWindow(tw, key(fmt.Sprintf("active_time.[%d]", j)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.windows = append(r.windows, w)
	}
	return r, errors.Join(errs...)
}

// checkLabel says what is wrong with a rule's label, or "".
func checkLabel(k, v string, groupBy []string) string {
	switch {
	case k == "status":
		return `"status" is not a label: an alert's status is firing or resolved`
	case k == "alertname" || k == "severity":
		return fmt.Sprintf("%q is set by the rule's own key, not in labels", k)
	case slices.Contains(groupBy, k):
		return fmt.Sprintf("%q is a group_by tag: its value comes from the data", k)
	case !model.LegacyValidation.IsValidLabelName(k):
		return fmt.Sprintf("%q is not a valid label name (letters, digits, _, not starting with a digit)", k)
	case v == "":
		return "empty value: a label has a value (leave it out instead)"
	case !model.LabelValue(v).IsValid():
		return "not valid UTF-8"
	}
	return ""
}

// compileExpr compiles the rule's expression once: every member access
// with a constant name (cpu.usage_user, tags.host, anomaly.score) becomes
// one variable of a flat environment (map[string]any, expr's fast path),
// and the accesses to measurements are collected as refs.
func (r *rule) compileExpr(src string, groupBy []string) error {
	p := &flattener{anomaly: r.kind == kindAnomaly, groupBy: groupBy}
	prog, err := expr.Compile(src, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.AsBool(), expr.Patch(p))
	if err != nil {
		return err
	}
	if p.err != nil {
		return p.err
	}
	if r.kind == kindThreshold && len(p.refs) == 0 {
		return errors.New("reads no measurement: write measurement.field, e.g. cpu.usage_user > 90")
	}
	r.prog, r.refs = prog, p.refs
	return nil
}

// flattener is the expr patch of compileExpr.
type flattener struct {
	anomaly bool
	groupBy []string
	refs    []ref
	err     error
}

func (p *flattener) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || p.err != nil {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok {
		return
	}
	if id.Value == "$env" {
		return
	}
	prop, ok := m.Property.(*ast.StringNode)
	switch {
	case !ok:
		p.err = fmt.Errorf("%s[...]: name the field (%s.field or %s[\"field\"])", id.Value, id.Value, id.Value)
		return
	case strings.Contains(id.Value, "."):
		p.err = fmt.Errorf("%s.%s: a measurement has fields, and a field has no members", id.Value, prop.Value)
		return
	}
	name := id.Value + "." + prop.Value
	switch id.Value {
	case "tags", "labels":
		if !slices.Contains(p.groupBy, prop.Value) {
			p.err = fmt.Errorf("%s: only the group_by tags (%s) are known for a group", name, strings.Join(p.groupBy, ", "))
			return
		}
	case "anomaly":
		if !p.anomaly {
			p.err = fmt.Errorf("%s: only an anomaly rule (anomaly = true) reads an anomaly", name)
			return
		}
	default:
		if p.anomaly {
			p.err = fmt.Errorf("%s: an anomaly rule reads the anomaly (anomaly.score, anomaly.kind...) and tags, not measurements", name)
			return
		}
		if !slices.ContainsFunc(p.refs, func(r ref) bool { return r.key == name }) {
			p.refs = append(p.refs, ref{meas: id.Value, field: prop.Value, key: name, value: id.Value + "_" + prop.Value})
		}
	}
	ast.Patch(node, &ast.IdentifierNode{Value: name})
}

// templateFuncs are the functions annotation templates may call, besides
// text/template's own (printf, urlquery...).
var templateFuncs = template.FuncMap{
	// humanize writes a number with 4 significant digits and an SI
	// prefix, as Prometheus's templates do: 1234567 -> "1.235M".
	"humanize": func(v float64) string {
		if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprintf("%.4g", v)
		}
		prefixes := []string{"", "k", "M", "G", "T", "P", "E"}
		i := 0
		for math.Abs(v) >= 1000 && i < len(prefixes)-1 {
			v /= 1000
			i++
		}
		return fmt.Sprintf("%.4g%s", v, prefixes[i])
	},
	// humanizePercentage writes a ratio as a percentage: 0.1234 -> "12.34%".
	"humanizePercentage": func(v float64) string { return fmt.Sprintf("%.4g%%", v*100) },
}
