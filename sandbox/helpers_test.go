package sandbox

import (
	"bytes"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	lua "github.com/yuin/gopher-lua"
)

// collector keeps copies of what a script injects (the sandbox reuses its
// message).
type collector struct{ msgs []*pipeline.Message }

func (c *collector) inject(m *pipeline.Message) error {
	c.msgs = append(c.msgs, m.Clone())
	return nil
}

// newSandbox makes a sandbox running src; opts adjust the options.
func newSandbox(t testing.TB, src string, opts ...func(*Options)) (*Sandbox, *collector) {
	t.Helper()
	c := &collector{}
	if src == "" {
		src = "-- nothing"
	}
	o := Options{Name: "test", Script: "test.lua", Source: src, Inject: c.inject,
		Log: slog.New(slog.DiscardHandler), ModulePath: []string{"testdata/modules"}}
	for _, f := range opts {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s, c
}

// eval runs "return <expr>" in s's state, under the limits, with m as the
// message read_message reads, and returns the first result.
func eval(t testing.TB, s *Sandbox, m *pipeline.Message, expr string) (lua.LValue, error) {
	t.Helper()
	fn, err := s.L.Load(strings.NewReader("return "+expr), "expr")
	if err != nil {
		t.Fatalf("compile %q: %v", expr, err)
	}
	s.setMessage(m)
	n, err := s.run(fn)
	s.setMessage(nil)
	if err != nil {
		return nil, err
	}
	defer s.L.SetTop(0)
	if n == 0 {
		return lua.LNil, nil
	}
	return s.L.Get(-n), nil
}

// show renders a Lua value as "type:value", with an ns as "ns:digits".
func show(v lua.LValue) string {
	if n, ok := isNS(v); ok {
		return "ns:" + strconv.FormatInt(n, 10)
	}
	return v.Type().String() + ":" + v.String()
}

// logBuffer collects what a sandbox logs.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// wantTerminated checks that err is a *TerminatedError for reason.
func wantTerminated(t *testing.T, err error, reason string) *TerminatedError {
	t.Helper()
	var te *TerminatedError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want a *TerminatedError (%s)", err, err, reason)
	}
	if te.Reason != reason {
		t.Fatalf("reason = %q (%v), want %q", te.Reason, te, reason)
	}
	return te
}

// within fails the test when f has not returned after d: a hang guard,
// not a measure (tests assert which limit stopped a script, never how fast).
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(max(d, hangGuard)):
		t.Fatalf("still running after %v", max(d, hangGuard))
	}
}

// hangGuard is the least time within waits: generous, so that a busy
// machine never fails a test that a stopped script would pass.
const hangGuard = time.Minute
