package notify

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/prometheus/alertmanager/pkg/labels"
)

// parseMatchers parses matchers in Alertmanager's syntax, name op "value"
// with op one of = != =~ !~ (a regexp matches the whole value); one string
// may hold several, separated by commas, in braces or not.
func parseMatchers(ss []string) (labels.Matchers, error) {
	var out labels.Matchers
	for _, s := range ss {
		ms, err := labels.ParseMatchers(s)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: %w", s, err)
		}
		if len(ms) == 0 {
			return nil, fmt.Errorf("matcher %q: empty", s)
		}
		out = append(out, ms...)
	}
	return out, nil
}

// newID is a silence's id: a random UUID, as Alertmanager's.
func newID() string { return uuid.NewString() }
