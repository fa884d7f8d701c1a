// Package udp is the inputs.udp plugin: it receives UDP datagrams holding one
// or more newline-delimited lines.
package udp

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindInput,
		Type:        "udp",
		Description: "Receives UDP datagrams of newline-delimited lines",
		Sample:      sample,
		New:         func() any { return &UDP{Address: "127.0.0.1:5171", MaxDatagramBytes: 65536} },
	})
}

// UDP listens on Address and emits every non-empty line of every datagram.
// UDP itself may lose datagrams (a full socket buffer, the network): those
// losses happen before the input sees anything and are not counted here.
type UDP struct {
	Address          string `toml:"address"`
	MaxDatagramBytes int    `toml:"max_datagram_bytes"`

	env      *pipeline.Env
	conn     *net.UDPConn
	oversize pipeline.LogThrottle
}

var _ pipeline.Input = (*UDP)(nil)

// Validate checks the decoded keys.
func (u *UDP) Validate() error {
	var errs []error
	if u.Address == "" {
		errs = append(errs, pipeline.MissingKey("address"))
	} else if _, _, err := net.SplitHostPort(u.Address); err != nil {
		errs = append(errs, pipeline.InvalidKey("address", "want host:port, such as \"127.0.0.1:5171\" or \":5171\": %v", err))
	}
	return errors.Join(append(errs, datagramBytesRange.Check("max_datagram_bytes", int64(u.MaxDatagramBytes)))...)
}

// datagramBytesRange bounds max_datagram_bytes: the receive buffer is
// allocated at this size, and no UDP datagram is longer than 65535 bytes.
var datagramBytesRange = pipeline.ByteRange{Min: 1, Max: 65536}

// Init binds the socket, so that an address in use stops the pipeline from
// starting; wire.ListenPacket lets the instance that replaces this one at a
// reload bind it too before this one closes.
func (u *UDP) Init(env *pipeline.Env) error {
	u.env = env
	pc, err := wire.ListenPacket("udp", u.Address)
	if err != nil {
		return fmt.Errorf("address %q: %w", u.Address, err)
	}
	u.conn = pc.(*net.UDPConn)
	env.Log.Info("listening", "address", u.conn.LocalAddr().String())
	return nil
}

// Addr returns the address the input listens on (with the port chosen by the
// system when address ends in ":0"), or nil before Init.
func (u *UDP) Addr() net.Addr {
	if u.conn == nil {
		return nil
	}
	return u.conn.LocalAddr()
}

// Run receives datagrams until ctx is done, then returns nil. A datagram
// longer than max_datagram_bytes is cut to that length (its last line cut
// with it) and counted as an error.
func (u *UDP) Run(ctx context.Context, out pipeline.LineEmitter) error {
	return wire.ServeUDP(ctx, u.conn, u.MaxDatagramBytes, u.env, func(d []byte, _ netip.AddrPort, cut bool) error {
		if cut {
			u.env.Stats.Errors.Add(1)
			if ok, more := u.oversize.Allow(); ok {
				u.env.Log.Warn("datagram longer than max_datagram_bytes truncated",
					"max_datagram_bytes", u.MaxDatagramBytes, "more_since_last_warning", more)
			}
		}
		for len(d) > 0 {
			var line []byte
			line, d, _ = bytes.Cut(d, []byte{'\n'})
			line = bytes.TrimSuffix(line, []byte{'\r'})
			if len(line) == 0 {
				continue
			}
			if err := out.EmitLine(line); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close closes the socket.
func (u *UDP) Close() error {
	if u.conn == nil {
		return nil
	}
	err := u.conn.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
