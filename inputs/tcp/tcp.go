// Package tcp is the inputs.tcp plugin: it accepts TCP connections and reads
// newline-delimited lines from each.
package tcp

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindInput,
		Type:        "tcp",
		Description: "Accepts TCP connections and reads newline-delimited lines",
		Sample:      sample,
		New: func() any {
			return &TCP{Address: "127.0.0.1:5170", MaxLineBytes: wire.DefaultMaxLineBytes,
				MaxConnections: wire.DefaultMaxConnections, IdleTimeout: pipeline.Duration(wire.DefaultIdleTimeout),
				FrameTimeout: pipeline.Duration(wire.DefaultFrameTimeout), MaxBufferBytes: wire.DefaultMaxBufferBytes}
		},
	})
}

// TCP listens on Address and emits every line of every connection, each
// connection read by its own goroutine. Lines of one connection keep their
// order; lines of different connections interleave. What connections may
// hold is bounded as wire.TCPLimits says.
type TCP struct {
	Address        string            `toml:"address"`
	MaxLineBytes   int               `toml:"max_line_bytes"`
	MaxConnections int               `toml:"max_connections"`
	IdleTimeout    pipeline.Duration `toml:"idle_timeout"`
	FrameTimeout   pipeline.Duration `toml:"frame_timeout"`
	MaxBufferBytes int               `toml:"max_buffer_bytes"`

	env *pipeline.Env
	ln  net.Listener
	srv *wire.TCPServer
}

var (
	_ pipeline.Input           = (*TCP)(nil)
	_ pipeline.GaugeReporter   = (*TCP)(nil)
	_ pipeline.CounterReporter = (*TCP)(nil)
)

func (t *TCP) limits() wire.TCPLimits {
	return wire.TCPLimits{MaxConnections: t.MaxConnections, IdleTimeout: time.Duration(t.IdleTimeout),
		FrameTimeout: time.Duration(t.FrameTimeout), MaxBufferBytes: t.MaxBufferBytes}
}

// Validate checks the decoded keys.
func (t *TCP) Validate() error {
	var errs []error
	if t.Address == "" {
		errs = append(errs, pipeline.MissingKey("address"))
	} else if _, _, err := net.SplitHostPort(t.Address); err != nil {
		errs = append(errs, pipeline.InvalidKey("address", "want host:port, such as \"127.0.0.1:5170\" or \":5170\": %v", err))
	}
	return errors.Join(append(errs,
		pipeline.LineBytesRange.Check("max_line_bytes", int64(t.MaxLineBytes)),
		t.limits().Validate("max_line_bytes", t.MaxLineBytes))...)
}

// Init binds the listening socket, so that an address in use stops the
// pipeline from starting; wire.Listen lets the instance that replaces this
// one at a reload bind it too before this one closes.
func (t *TCP) Init(env *pipeline.Env) error {
	t.env = env
	ln, err := wire.Listen("tcp", t.Address)
	if err != nil {
		return fmt.Errorf("address %q: %w", t.Address, err)
	}
	t.ln = ln
	t.srv = wire.NewTCPServer(t.limits(), env)
	env.Log.Info("listening", "address", ln.Addr().String())
	return nil
}

// Addr returns the address the input listens on (with the port chosen by the
// system when address ends in ":0"), or nil before Init.
func (t *TCP) Addr() net.Addr {
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Run accepts connections until ctx is done. Then it stops accepting, stops
// every connection's reader, waits for them to emit the complete lines
// already read, and returns nil.
func (t *TCP) Run(ctx context.Context, out pipeline.LineEmitter) error {
	return t.srv.Serve(ctx, t.ln, func(c *wire.TCPConn) error {
		return c.ReadLines(c, t.MaxLineBytes, out)
	})
}

// Gauges reports the connections' figures (wire.TCPServer.Gauges).
func (t *TCP) Gauges() map[string]float64 {
	if t.srv == nil {
		return nil
	}
	return t.srv.Gauges()
}

// IsCounter is the TCP server's (pipeline.CounterReporter).
func (t *TCP) IsCounter(key string) bool { return t.srv != nil && t.srv.IsCounter(key) }

// Close closes the listening socket if Run has not.
func (t *TCP) Close() error {
	if t.ln == nil {
		return nil
	}
	err := t.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
