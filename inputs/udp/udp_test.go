package udp

import (
	"bytes"
	"context"
	"errors"
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

func TestUDPEmitsEveryNonEmptyLine(t *testing.T) {
	cases := []struct {
		name        string
		datagrams   []string
		maxDatagram int
		want        []string
		truncated   uint64
	}{
		{name: "one line per datagram", datagrams: []string{"one", "two\n"}, want: []string{"one", "two"}},
		{name: "several lines in a datagram", datagrams: []string{"a\nb\r\nc"}, want: []string{"a", "b", "c"}},
		{name: "empty lines and datagrams are skipped", datagrams: []string{"\n\na\n\r\n", "", "b"}, want: []string{"a", "b"}},
		{name: "datagram of exactly the limit", datagrams: []string{"01234567"}, maxDatagram: 8, want: []string{"01234567"}},
		{name: "longer datagram cut and counted", datagrams: []string{"abc\n0123456789"}, maxDatagram: 8,
			want: []string{"abc", "0123"}, truncated: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newDefault()
			if tc.maxDatagram > 0 {
				in.MaxDatagramBytes = tc.maxDatagram
			}
			env, out, _ := start(t, in)
			c, err := net.Dial("udp", in.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, d := range append(tc.datagrams, "end") {
				if _, err := c.Write([]byte(d)); err != nil {
					t.Fatal(err)
				}
			}
			// Loopback keeps datagrams in order: "end" comes last.
			waitFor(t, func() bool { return slices.Contains(out.Lines(), "end") })
			if got := out.Lines(); !slices.Equal(got, append(tc.want, "end")) {
				t.Errorf("emitted %q, want %q", got, append(tc.want, "end"))
			}
			if got := env.Stats.Errors.Load(); got != tc.truncated {
				t.Errorf("Errors = %d, want %d", got, tc.truncated)
			}
		})
	}
}

func TestUDPStopsWhenThePipelineStops(t *testing.T) {
	in := newDefault()
	_, _, stop := start(t, in)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestUDPAddressInUseStopsStartup(t *testing.T) {
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	in := newDefault()
	in.Address = taken.LocalAddr().String()
	err = in.Init(testEnv())
	if err == nil || !strings.Contains(err.Error(), in.Address) {
		t.Fatalf("Init = %v, want an error naming %s", err, in.Address)
	}
	if err := in.Close(); err != nil {
		t.Errorf("Close after a failed Init: %v", err)
	}
}

func TestUDPValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*UDP)
		wantKey string
	}{
		{name: "defaults", edit: func(*UDP) {}},
		{name: "any interface", edit: func(in *UDP) { in.Address = ":5171" }},
		{name: "no address", edit: func(in *UDP) { in.Address = "" }, wantKey: "address"},
		{name: "address without port", edit: func(in *UDP) { in.Address = "localhost" }, wantKey: "address"},
		{name: "zero max_datagram_bytes", edit: func(in *UDP) { in.MaxDatagramBytes = 0 }, wantKey: "max_datagram_bytes"},
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
	reg, ok := pipeline.Lookup(pipeline.KindInput, "udp")
	if !ok {
		t.Fatal("inputs.udp is not registered")
	}
	var doc map[string]map[string][]map[string]any
	if _, err := toml.Decode(reg.Sample, &doc); err != nil {
		t.Fatalf("sample.toml: %v", err)
	}
	tables := doc["inputs"]["udp"]
	if len(tables) != 1 {
		t.Fatalf("sample.toml has %d [[inputs.udp]] tables, want 1", len(tables))
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
	got := new(UDP)
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
	typ := reflect.TypeFor[UDP]()
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("toml"); key != "" {
			if _, ok := keys[key]; !ok {
				t.Errorf("sample.toml lacks key %q", key)
			}
		}
	}
}

func newDefault() *UDP {
	reg, _ := pipeline.Lookup(pipeline.KindInput, "udp")
	in := reg.New().(*UDP)
	in.Address = "127.0.0.1:0"
	return in
}

func testEnv() *pipeline.Env {
	return &pipeline.Env{Kind: pipeline.KindInput, Type: "udp", Name: "udp",
		Log: slog.New(slog.DiscardHandler), Stats: new(pipeline.PluginStats)}
}

// start initialises and runs the input as the runtime does; stop ends it and
// returns what Run returned. The test's cleanup stops it too.
func start(t *testing.T, in *UDP) (env *pipeline.Env, out *collector, stop func() error) {
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
	return errors.New("udp emits lines, not messages")
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
