package tcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/interoceptor/interoceptor/pipeline"
)

func TestTCPEmitsTheLinesOfAConnectionInOrder(t *testing.T) {
	cases := []struct {
		name      string
		send      string
		maxLine   int
		want      []string
		truncated uint64
	}{
		{name: "newline terminated", send: "one\ntwo\n", want: []string{"one", "two"}},
		{name: "CRLF and a last line without newline", send: "one\r\ntwo\nthree", want: []string{"one", "two", "three"}},
		{name: "empty lines are kept", send: "a\n\nb\n", want: []string{"a", "", "b"}},
		{name: "over-long line truncated and counted", send: strings.Repeat("x", 100) + "\nnext\n", maxLine: 16,
			want: []string{strings.Repeat("x", 16), "next"}, truncated: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newDefault()
			if tc.maxLine > 0 {
				in.MaxLineBytes = tc.maxLine
			}
			env, out, _ := start(t, in)
			send(t, in.Addr(), tc.send)
			waitFor(t, func() bool { return len(out.Lines()) >= len(tc.want) })
			if got := out.Lines(); !slices.Equal(got, tc.want) {
				t.Errorf("emitted %q, want %q", got, tc.want)
			}
			if got := env.Stats.Errors.Load(); got != tc.truncated {
				t.Errorf("Errors = %d, want %d", got, tc.truncated)
			}
		})
	}
}

func TestTCPServesManyConnectionsAtOnce(t *testing.T) {
	const conns, lines = 50, 200
	in := newDefault()
	_, out, _ := start(t, in)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			var b strings.Builder
			for i := range lines {
				fmt.Fprintf(&b, "conn=%d line=%d\n", c, i)
			}
			send(t, in.Addr(), b.String())
		})
	}
	wg.Wait()
	waitFor(t, func() bool { return len(out.Lines()) == conns*lines })
	// Connections interleave; each one's lines stay in order.
	next := make([]int, conns)
	for _, l := range out.Lines() {
		var c, i int
		if _, err := fmt.Sscanf(l, "conn=%d line=%d", &c, &i); err != nil {
			t.Fatalf("unexpected line %q", l)
		}
		if i != next[c] {
			t.Fatalf("connection %d: got line %d, want %d", c, i, next[c])
		}
		next[c]++
	}
}

func TestTCPRefusesConnectionsBeyondMax(t *testing.T) {
	in := newDefault()
	in.MaxConnections = 1
	env, out, _ := start(t, in)

	first, err := net.Dial("tcp", in.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	io.WriteString(first, "first\n")
	waitFor(t, func() bool { return len(out.Lines()) == 1 }) // the first is being served

	second, err := net.Dial("tcp", in.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("second connection: read returned %v, want EOF (closed by the input)", err)
	}
	if got := env.Stats.Errors.Load(); got != 1 {
		t.Errorf("Errors = %d, want 1 refused connection", got)
	}

	// Once the first is gone, a new connection is served.
	first.Close()
	waitFor(t, func() bool {
		if c, err := net.Dial("tcp", in.Addr().String()); err == nil {
			io.WriteString(c, "again\n") // refused while the first is still being closed
			c.Close()
		}
		return slices.Contains(out.Lines(), "again")
	})
}

func TestTCPShutdownEmitsWhatWasRead(t *testing.T) {
	in := newDefault()
	env, out, stop := start(t, in)
	c, err := net.Dial("tcp", in.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One write: by the time "a" and "b" are out, "partial" is in the
	// connection's buffer.
	if _, err := io.WriteString(c, "a\nb\npartial"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(out.Lines()) == 2 })

	if err := stop(); err != nil { // the connection is still open
		t.Fatalf("Run: %v", err)
	}
	// A line cut by the shutdown is incomplete: dropped, and counted.
	if got, want := out.Lines(), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("emitted %q, want %q", got, want)
	}
	if got := env.Stats.Dropped.Load(); got != 1 {
		t.Errorf("Dropped = %d, want 1 incomplete line", got)
	}
	if _, err := net.Dial("tcp", in.Addr().String()); err == nil {
		t.Error("still accepting connections after Run returned")
	}
}

func TestTCPAddressInUseStopsStartup(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	in := newDefault()
	in.Address = taken.Addr().String()
	err = in.Init(testEnv())
	if err == nil || !strings.Contains(err.Error(), in.Address) {
		t.Fatalf("Init = %v, want an error naming %s", err, in.Address)
	}
	if err := in.Close(); err != nil {
		t.Errorf("Close after a failed Init: %v", err)
	}
}

func TestTCPValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*TCP)
		wantKey string
	}{
		{name: "defaults", edit: func(*TCP) {}},
		{name: "any interface", edit: func(in *TCP) { in.Address = ":5170" }},
		{name: "no address", edit: func(in *TCP) { in.Address = "" }, wantKey: "address"},
		{name: "address without port", edit: func(in *TCP) { in.Address = "localhost" }, wantKey: "address"},
		{name: "zero max_line_bytes", edit: func(in *TCP) { in.MaxLineBytes = 0 }, wantKey: "max_line_bytes"},
		{name: "zero max_connections", edit: func(in *TCP) { in.MaxConnections = 0 }, wantKey: "max_connections"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newDefault()
			tc.edit(in)
			err := in.Validate()
			var ke *pipeline.KeyError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantKey != "" && (!errors.As(err, &ke) || ke.Key != tc.wantKey):
				t.Errorf("Validate = %v, want an error on key %q", err, tc.wantKey)
			}
		})
	}
}

// TestSampleSetsEveryKeyToItsDefault keeps sample.toml and the code in step.
func TestSampleSetsEveryKeyToItsDefault(t *testing.T) {
	reg, ok := pipeline.Lookup(pipeline.KindInput, "tcp")
	if !ok {
		t.Fatal("inputs.tcp is not registered")
	}
	var doc map[string]map[string][]map[string]any
	if _, err := toml.Decode(reg.Sample, &doc); err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	tables := doc["inputs"]["tcp"]
	if len(tables) != 1 {
		t.Fatalf("sample.toml has %d [[inputs.tcp]] tables, want 1", len(tables))
	}
	keys := tables[0]
	for _, k := range []string{"name", "publish"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("sample.toml lacks the shared key %q", k)
		}
	}
	for _, k := range []string{"name", "publish", "decoder", "dead_letter"} {
		delete(keys, k)
	}
	var src bytes.Buffer
	if err := toml.NewEncoder(&src).Encode(keys); err != nil {
		t.Fatal(err)
	}
	got := new(TCP)
	md, err := toml.Decode(src.String(), got)
	if err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("sample.toml has keys the plugin does not know: %v", u)
	}
	if want := reg.New(); !reflect.DeepEqual(got, want) {
		t.Errorf("sample.toml decodes to %+v, want the defaults %+v", got, want)
	}
	typ := reflect.TypeFor[TCP]()
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("toml"); key != "" {
			if _, ok := keys[key]; !ok {
				t.Errorf("sample.toml lacks key %q", key)
			}
		}
	}
}

func newDefault() *TCP {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "tcp")
	in := reg.New().(*TCP)
	in.Address = "127.0.0.1:0"
	return in
}

func testEnv() *pipeline.Env {
	return &pipeline.Env{Kind: pipeline.KindInput, Type: "tcp", Name: "tcp",
		Log: slog.New(slog.DiscardHandler), Stats: new(pipeline.PluginStats)}
}

// start initialises and runs the input as the runtime does; stop ends it and
// returns what Run returned. The test's cleanup stops it too.
func start(t *testing.T, in *TCP) (env *pipeline.Env, out *collector, stop func() error) {
	t.Helper()
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	env = testEnv()
	if err := in.Init(env); err != nil {
		t.Fatal(err)
	}
	out = new(collector)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, out) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(5 * time.Second):
				runErr = errors.New("Run did not return within 5s of the context ending")
			}
			if err := in.Close(); err != nil && runErr == nil {
				runErr = err
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return env, out, stop
}

// send writes s on a new connection and closes it.
func send(t *testing.T, addr net.Addr, s string) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	if _, err := io.WriteString(c, s); err != nil {
		t.Error(err)
	}
}

// collector is a LineEmitter that keeps a copy of every line (a line is only
// valid during EmitLine).
type collector struct {
	mu    sync.Mutex
	lines []string
}

func (c *collector) EmitLine(line []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, string(line))
	return nil
}

func (c *collector) Emit(*pipeline.Message) error {
	return errors.New("tcp emits lines, not messages")
}

func (c *collector) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
