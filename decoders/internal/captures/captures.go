// Package captures holds what the pattern decoders (regex, grok) share:
// the types and timestamp_format keys of their decoder_config, which turn
// the text a named group captured into a typed field or the timestamp, and
// the check of a decoder_config's keys.
package captures

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// GroupType is what a captured group becomes, from decoder_config's types.
type GroupType uint8

// The group types; a group without one is a string field.
const (
	TypeString GroupType = iota
	TypeInt
	TypeFloat
	TypeBool
	TypeTimestamp
)

var typeNames = map[string]GroupType{"string": TypeString, "int": TypeInt, "float": TypeFloat, "bool": TypeBool, "timestamp": TypeTimestamp}

// Types holds the types and timestamp_format keys of a decoder_config, for
// the regex and grok decoders. It is read-only once parsed.
type Types struct {
	ByGroup map[string]GroupType
	Layout  string // a Go layout, "unix", "unix_ms" or "unix_ns"
}

// ParseTypes reads the "types" and "timestamp_format" keys of table.
func ParseTypes(table map[string]any) (*Types, error) {
	t := &Types{ByGroup: map[string]GroupType{}, Layout: time.RFC3339Nano}
	if v, ok := table["types"]; ok {
		tt, ok := v.(map[string]any)
		if !ok {
			return nil, pipeline.InvalidKey("types", "expected a table such as {status = \"int\"}")
		}
		for name, v := range tt {
			s, _ := v.(string)
			k, ok := typeNames[s]
			if !ok {
				return nil, pipeline.InvalidKey("types."+name, "type %v: want one of string, int, float, bool, timestamp", v)
			}
			t.ByGroup[name] = k
		}
	}
	if v, ok := table["timestamp_format"]; ok {
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, pipeline.InvalidKey("timestamp_format", "expected a Go time layout, \"unix\", \"unix_ms\" or \"unix_ns\"")
		}
		t.Layout = s
	}
	return t, nil
}

// CheckKeys returns an error naming the first key of table not in known.
func CheckKeys(table map[string]any, known ...string) error {
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		found := false
		for _, kk := range known {
			found = found || k == kk
		}
		if !found {
			return pipeline.InvalidKey(k, "unknown key (known keys: %s)", strings.Join(known, ", "))
		}
	}
	return nil
}

// Timestamp parses s with the layout, in nanoseconds since the epoch.
func (t *Types) Timestamp(s string) (int64, error) {
	switch t.Layout {
	case "unix", "unix_ms", "unix_ns":
		scale := map[string]float64{"unix": 1e9, "unix_ms": 1e6, "unix_ns": 1}[t.Layout]
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			if x := float64(n) * scale; x > math.MaxInt64 || x < math.MinInt64 {
				return 0, fmt.Errorf("timestamp %q is out of range", s)
			}
			return n * int64(scale), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if x := f * scale; err != nil || math.IsNaN(x) || x >= math.MaxInt64 || x <= math.MinInt64 {
			return 0, fmt.Errorf("timestamp %q is not a %s time", s, t.Layout)
		}
		return int64(f * scale), nil
	}
	ts, err := time.Parse(t.Layout, s)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q does not fit the layout %q", s, t.Layout)
	}
	if y := ts.Year(); y < 1678 || y > 2261 {
		return 0, fmt.Errorf("timestamp %q is out of range", s)
	}
	return ts.UnixNano(), nil
}

// Add appends the group's value to m as its type says; a timestamp group
// sets *ts instead of adding a field. The error names the group.
func (t *Types) Add(m *pipeline.Message, name, value string, ts *int64) error {
	switch t.ByGroup[name] {
	case TypeInt:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("group %q: %q is not an int", name, value)
		}
		m.AddInt(name, n)
	case TypeFloat:
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return fmt.Errorf("group %q: %q is not a float", name, value)
		}
		m.AddFloat(name, f)
	case TypeBool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("group %q: %q is not a bool", name, value)
		}
		m.AddBool(name, b)
	case TypeTimestamp:
		n, err := t.Timestamp(value)
		if err != nil {
			return fmt.Errorf("group %q: %w", name, err)
		}
		*ts = n
	default:
		m.AddString(name, value)
	}
	return nil
}
