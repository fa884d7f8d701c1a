// Package tcp is the inputs.tcp plugin: it accepts TCP connections and reads
// newline-delimited lines from each.
package tcp

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/interoceptor/interoceptor/pipeline"
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
			return &TCP{Address: "127.0.0.1:5170", MaxLineBytes: pipeline.DefaultMaxLineBytes, MaxConnections: 1024}
		},
	})
}

// TCP listens on Address and emits every line of every connection, each
// connection read by its own goroutine. Lines of one connection keep their
// order; lines of different connections interleave.
type TCP struct {
	Address        string `toml:"address"`
	MaxLineBytes   int    `toml:"max_line_bytes"`
	MaxConnections int    `toml:"max_connections"`

	env *pipeline.Env
	ln  net.Listener
}

var _ pipeline.Input = (*TCP)(nil)

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
		pipeline.ConnectionsRange.Check("max_connections", int64(t.MaxConnections)))...)
}

// Init binds the listening socket, so that an address in use stops the
// pipeline from starting.
func (t *TCP) Init(env *pipeline.Env) error {
	t.env = env
	ln, err := net.Listen("tcp", t.Address)
	if err != nil {
		return fmt.Errorf("address %q: %w", t.Address, err)
	}
	t.ln = ln
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
	return pipeline.ServeTCP(ctx, t.ln, t.MaxConnections, t.env, func(c net.Conn) { t.serve(c, out) })
}

// serve reads one connection to its end.
func (t *TCP) serve(c net.Conn, out pipeline.LineEmitter) {
	remote := c.RemoteAddr().String()
	t.env.Log.Debug("connection opened", "remote", remote)
	err := pipeline.ReadLines(c, t.MaxLineBytes, out, t.env.Stats, t.env.Log)
	c.Close()
	switch {
	case err == nil, errors.Is(err, os.ErrDeadlineExceeded):
		t.env.Log.Debug("connection closed", "remote", remote)
	case isReadError(err):
		// A peer that resets the connection is not the pipeline's problem.
		t.env.Log.Debug("connection closed", "remote", remote, "error", err)
	default:
		t.env.Log.Warn("connection closed: the pipeline refused a line", "remote", remote, "error", err)
	}
}

func isReadError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read"
}

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
