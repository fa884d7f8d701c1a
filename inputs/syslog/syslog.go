// Package syslog is the inputs.syslog plugin: it receives syslog messages
// (RFC 5424 and RFC 3164) over UDP, TCP or TLS, and turns each one into a
// message of Type "syslog" with its headers and fields set.
package syslog

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindInput,
		Type:        "syslog",
		Description: "Receives syslog messages (RFC 5424, RFC 3164) over UDP, TCP or TLS",
		Sample:      sample,
		OwnMessages: true,
		New: func() any {
			return &Syslog{Protocol: "tcp", Address: "127.0.0.1:6514", Framing: "auto", RFC: "auto",
				MaxMessageBytes: 65536, MaxConnections: wire.DefaultMaxConnections,
				IdleTimeout: pipeline.Duration(wire.DefaultIdleTimeout), FrameTimeout: pipeline.Duration(wire.DefaultFrameTimeout),
				MaxBufferBytes: wire.DefaultMaxBufferBytes}
		},
	})
}

// Syslog listens on Address and emits one message per syslog message
// received. Over TCP and TLS each connection is read by its own goroutine;
// messages of one connection keep their order; what connections may hold
// is bounded as wire.TCPLimits says.
type Syslog struct {
	Protocol        string            `toml:"protocol"`
	Address         string            `toml:"address"`
	Framing         string            `toml:"framing"`
	RFC             string            `toml:"rfc"`
	MaxMessageBytes int               `toml:"max_message_bytes"`
	MaxConnections  int               `toml:"max_connections"`
	IdleTimeout     pipeline.Duration `toml:"idle_timeout"`
	FrameTimeout    pipeline.Duration `toml:"frame_timeout"`
	MaxBufferBytes  int               `toml:"max_buffer_bytes"`
	TLSCert         string            `toml:"tls_cert" path:"true"`
	TLSKey          string            `toml:"tls_key" secret:"file" path:"true"`
	TLSCA           string            `toml:"tls_ca" path:"true"`

	env      *pipeline.Env
	ln       net.Listener         // tcp and tls
	srv      *wire.TCPServer      // tcp and tls
	pc       *net.UDPConn         // udp
	invalid  pipeline.LogThrottle // messages that do not parse
	oversize pipeline.LogThrottle
	broken   pipeline.LogThrottle // octet-counting frames without a length
	cut      pipeline.LogThrottle // frames cut short
}

var (
	_ pipeline.Input           = (*Syslog)(nil)
	_ pipeline.GaugeReporter   = (*Syslog)(nil)
	_ pipeline.CounterReporter = (*Syslog)(nil)
)

func (s *Syslog) limits() wire.TCPLimits {
	return wire.TCPLimits{MaxConnections: s.MaxConnections, IdleTimeout: time.Duration(s.IdleTimeout),
		FrameTimeout: time.Duration(s.FrameTimeout), MaxBufferBytes: s.MaxBufferBytes}
}

// Validate checks the decoded keys, and that the TLS files load.
func (s *Syslog) Validate() error {
	var errs []error
	switch s.Protocol {
	case "udp", "tcp", "tls":
	default:
		errs = append(errs, pipeline.InvalidKey("protocol", "must be one of udp, tcp, tls; got %q", s.Protocol))
	}
	if s.Address == "" {
		errs = append(errs, pipeline.MissingKey("address"))
	} else if _, _, err := net.SplitHostPort(s.Address); err != nil {
		errs = append(errs, pipeline.InvalidKey("address", "want host:port, such as \"127.0.0.1:6514\" or \":6514\": %v", err))
	}
	switch s.Framing {
	case "auto", "octet-counting", "non-transparent":
	default:
		errs = append(errs, pipeline.InvalidKey("framing", "must be one of auto, octet-counting, non-transparent; got %q", s.Framing))
	}
	switch s.RFC {
	case "auto", "5424", "3164":
	default:
		errs = append(errs, pipeline.InvalidKey("rfc", "must be one of auto, 5424, 3164; got %q", s.RFC))
	}
	errs = append(errs,
		pipeline.LineBytesRange.Check("max_message_bytes", int64(s.MaxMessageBytes)),
		s.limits().Validate("max_message_bytes", s.MaxMessageBytes))
	if s.Protocol == "tls" {
		_, err := s.tlsConfig()
		return errors.Join(append(errs, err)...)
	}
	for _, k := range []struct{ key, v string }{{"tls_ca", s.TLSCA}, {"tls_cert", s.TLSCert}, {"tls_key", s.TLSKey}} {
		if k.v != "" {
			errs = append(errs, pipeline.InvalidKey(k.key, "only used with protocol = \"tls\"; protocol is %q", s.Protocol))
		}
	}
	return errors.Join(errs...)
}

// tlsConfig loads the server's certificate and, with tls_ca, the CAs that
// client certificates must chain to (a client without one is refused).
func (s *Syslog) tlsConfig() (*tls.Config, error) {
	if s.TLSCert == "" {
		return nil, pipeline.MissingKey("tls_cert")
	}
	if s.TLSKey == "" {
		return nil, pipeline.MissingKey("tls_key")
	}
	cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
	if err != nil {
		return nil, pipeline.InvalidKey("tls_cert", "loading %s with tls_key %s: %v", s.TLSCert, s.TLSKey, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.TLSCA != "" {
		pem, err := os.ReadFile(s.TLSCA)
		if err != nil {
			return nil, pipeline.InvalidKey("tls_ca", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, pipeline.InvalidKey("tls_ca", "%s holds no PEM certificate", s.TLSCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Init binds the socket, so that an address in use stops the pipeline from
// starting; wire.Listen and wire.ListenPacket let the instance that replaces
// this one at a reload bind it too before this one closes.
func (s *Syslog) Init(env *pipeline.Env) error {
	s.env = env
	if s.Protocol == "udp" {
		pc, err := wire.ListenPacket("udp", s.Address)
		if err != nil {
			return fmt.Errorf("address %q: %w", s.Address, err)
		}
		s.pc = pc.(*net.UDPConn)
	} else {
		ln, err := wire.Listen("tcp", s.Address)
		if err != nil {
			return fmt.Errorf("address %q: %w", s.Address, err)
		}
		if s.Protocol == "tls" {
			cfg, err := s.tlsConfig()
			if err != nil {
				ln.Close()
				return err
			}
			ln = tls.NewListener(ln, cfg)
		}
		s.ln = ln
		s.srv = wire.NewTCPServer(s.limits(), env)
	}
	env.Log.Info("listening", "protocol", s.Protocol, "address", s.Addr().String())
	return nil
}

// Addr returns the address the input listens on (with the port chosen by the
// system when address ends in ":0"), or nil before Init.
func (s *Syslog) Addr() net.Addr {
	switch {
	case s.pc != nil:
		return s.pc.LocalAddr()
	case s.ln != nil:
		return s.ln.Addr()
	}
	return nil
}

// Run receives messages until ctx is done, then returns nil. Over TCP and
// TLS it then stops accepting, interrupts every connection's read and emits
// every complete message already read before it returns.
func (s *Syslog) Run(ctx context.Context, out pipeline.LineEmitter) error {
	if s.pc != nil {
		return s.runUDP(ctx, out)
	}
	return s.runStream(ctx, out)
}

// runUDP reads datagrams: one datagram, one message (RFC 5426).
func (s *Syslog) runUDP(ctx context.Context, out pipeline.Emitter) error {
	p := s.newParser(out)
	return wire.ServeUDP(ctx, s.pc, s.MaxMessageBytes, s.env, func(d []byte, from netip.AddrPort, cut bool) error {
		if cut {
			s.warnOversize()
		}
		return p.emit(d, from.Addr().Unmap().String())
	})
}

// runStream accepts TCP (or TLS) connections, as inputs.tcp does.
func (s *Syslog) runStream(ctx context.Context, out pipeline.Emitter) error {
	return s.srv.Serve(ctx, s.ln, func(c *wire.TCPConn) error { return s.read(c, hostOf(c.RemoteAddr()), out) })
}

// Gauges reports the figures of the TCP and TLS connections
// (wire.TCPServer.Gauges); over UDP there are none.
func (s *Syslog) Gauges() map[string]float64 {
	if s.srv == nil {
		return nil
	}
	return s.srv.Gauges()
}

// IsCounter is the TCP server's (pipeline.CounterReporter).
func (s *Syslog) IsCounter(key string) bool { return s.srv != nil && s.srv.IsCounter(key) }

// read picks the connection's framing (by its first byte when framing is
// auto: a digit starts an octet count) and emits its messages.
func (s *Syslog) read(c *wire.TCPConn, source string, out pipeline.Emitter) error {
	br := bufio.NewReaderSize(c, min(wire.TCPReadBufferBytes, s.MaxMessageBytes+16))
	p := s.newParser(out)
	framing := s.Framing
	if framing == "auto" {
		first, err := br.Peek(1)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		framing = "non-transparent"
		if first[0] >= '0' && first[0] <= '9' {
			framing = "octet-counting"
		}
	}
	if framing == "non-transparent" {
		return c.ReadLines(br, s.MaxMessageBytes, lineParser{p, source})
	}
	return s.readOctetCounted(c, br, p, source)
}

// lineParser hands each line of a non-transparent connection to the parser.
type lineParser struct {
	p      *parser
	source string
}

func (l lineParser) EmitLine(line []byte) error {
	if len(line) == 0 {
		return nil // the "\n" of a sender that ends its frames with "\r\n\n", say
	}
	return l.p.emit(line, l.source)
}

// readOctetCounted reads "MSG-LEN SP SYSLOG-MSG" frames (RFC 6587 3.4.1).
// A frame longer than max_message_bytes is cut to that length; a frame
// without a valid length is emitted up to the next newline as a message that
// does not parse, and reading goes on after it. A frame that fits in br's
// buffer is parsed there; a longer one, or one to cut, is assembled in
// memory charged to max_buffer_bytes.
func (s *Syslog) readOctetCounted(c *wire.TCPConn, br *bufio.Reader, p *parser, source string) error {
	maxDigits := len(strconv.Itoa(s.MaxMessageBytes)) + 9 // room to discard a longer frame
	for {
		n, bad, err := readLength(c, br, maxDigits)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			if n > 0 || bad != nil {
				s.warnCut(err)
			}
			return err
		}
		if bad != nil {
			rest, err := br.ReadSlice('\n')
			raw := append(bad, rest...)
			if len(raw) > s.MaxMessageBytes {
				raw = raw[:s.MaxMessageBytes]
			}
			s.env.Stats.Errors.Add(1)
			if ok, more := s.broken.Allow(); ok {
				s.env.Log.Warn("octet-counting frame without a valid length; kept up to the next newline",
					"remote", source, "more_since_last_log", more)
			}
			if emitErr := p.emitInvalid(raw, source, errors.New("octet-counting: frame does not start with MSG-LEN SP")); emitErr != nil {
				return emitErr
			}
			switch {
			case err == nil:
				c.FrameDone(br.Buffered())
				continue
			case err == bufio.ErrBufferFull:
				continue // a longer line: the rest is read as further frames
			case err == io.EOF:
				return nil
			default:
				return err
			}
		}
		keep := min(n, s.MaxMessageBytes)
		if n == keep && keep <= br.Size() {
			frame, err := br.Peek(keep)
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				s.warnCut(err)
				return err
			}
			if err := p.emit(frame, source); err != nil {
				return err
			}
			br.Discard(keep)
		} else {
			buf, err := readFrame(c, br, keep)
			if err != nil {
				s.warnCut(err)
				return err
			}
			if n > keep {
				if _, err := br.Discard(n - keep); err != nil {
					if err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					s.warnCut(err)
					return err
				}
				s.warnOversize()
			}
			err = p.emit(buf, source)
			c.ReleaseBuffer() // buf is not used again
			if err != nil {
				return err
			}
		}
		c.FrameDone(br.Buffered())
	}
}

// readFrame reads the keep bytes of a frame into a buffer that grows within
// the input's max_buffer_bytes as they arrive: a length alone holds no
// memory.
func readFrame(c *wire.TCPConn, br *bufio.Reader, keep int) ([]byte, error) {
	var buf []byte
	for len(buf) < keep {
		if len(buf) == cap(buf) {
			var err error
			if buf, err = c.GrowBuffer(buf, min(keep, max(2*cap(buf), wire.TCPReadBufferBytes))); err != nil {
				return buf, err
			}
		}
		m, err := br.Read(buf[len(buf):min(cap(buf), keep)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

// readLength reads MSG-LEN and the space after it. A frame that does not
// start that way is returned in bad (what was read of it), to be kept as an
// invalid message. Newlines before it are skipped: c is between frames
// after them.
func readLength(c *wire.TCPConn, br *bufio.Reader, maxDigits int) (n int, bad []byte, err error) {
	var digits []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			if err == io.EOF && len(digits) > 0 {
				return 0, digits, nil
			}
			return len(digits), nil, err
		}
		switch {
		case b >= '0' && b <= '9' && len(digits) < maxDigits:
			digits = append(digits, b)
		case b == ' ' && len(digits) > 0 && digits[0] != '0':
			n, _ := strconv.Atoi(string(digits))
			return n, nil, nil
		case (b == '\n' || b == '\r') && len(digits) == 0:
			// Stray newlines between frames (senders that add one) are skipped.
			c.FrameDone(br.Buffered())
		default:
			return 0, append(digits, b), nil
		}
	}
}

func (s *Syslog) warnOversize() {
	s.env.Stats.Errors.Add(1)
	if ok, more := s.oversize.Allow(); ok {
		s.env.Log.Warn("message longer than max_message_bytes truncated",
			"max_message_bytes", s.MaxMessageBytes, "more_since_last_warning", more)
	}
}

// warnCut counts a frame that reading stopped inside (the end of the
// connection, the shutdown, a timeout, max_buffer_bytes): it is incomplete,
// so it is dropped.
func (s *Syslog) warnCut(err error) {
	s.env.Stats.Dropped.Add(1)
	if ok, more := s.cut.Allow(); ok {
		s.env.Log.Warn("incomplete frame dropped: reading stopped before its end",
			"error", err, "more_since_last_warning", more)
	}
}

// hostOf returns the IP of a peer's address, without its port.
func hostOf(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap().String()
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap().String()
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// Close closes the socket if Run has not.
func (s *Syslog) Close() error {
	var err error
	switch {
	case s.pc != nil:
		err = s.pc.Close()
	case s.ln != nil:
		err = s.ln.Close()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
