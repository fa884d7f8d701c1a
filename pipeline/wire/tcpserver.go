package wire

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// Defaults of the keys that bound the connections of a TCP input
// (inputs.tcp, and inputs.syslog over TCP and TLS).
const (
	DefaultMaxConnections = 1024
	// DefaultIdleTimeout is nginx's client_body_timeout and
	// client_header_timeout: a minute of silence closes a connection.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultFrameTimeout gives a line (or a frame) 30 s from its first
	// byte to its last, and a TLS handshake as long: Apache's mod_reqtimeout
	// gives a request header 20 s to 40 s.
	DefaultFrameTimeout = 30 * time.Second
	// DefaultMaxBufferBytes is what the connections of one input may hold
	// together in lines longer than their read buffer: 64 MiB.
	DefaultMaxBufferBytes = 64 << 20
)

// TCPReadBufferBytes is the read buffer of each connection: lines (frames)
// up to this long are read in it and cost nothing more; longer ones are
// assembled in memory charged to max_buffer_bytes. An input holds at most
// max_connections × TCPReadBufferBytes + max_buffer_bytes of data.
const TCPReadBufferBytes = readBufferBytes

// minTimeout is the shortest idle_timeout and frame_timeout accepted: less
// would close healthy connections between two packets.
const minTimeout = time.Second

// TCPLimits bound the connections of one TCP input in number, time and
// memory: what a sender, slow or hostile, may hold.
type TCPLimits struct {
	// MaxConnections is how many connections are served at once. A new
	// connection beyond it takes the place of the one idle the longest;
	// only when none is idle (every one is inside a frame, or handing one
	// on) is the new one refused.
	MaxConnections int
	// IdleTimeout closes a connection that sends nothing for this long,
	// between frames or inside one; 0 never does.
	IdleTimeout time.Duration
	// FrameTimeout is the longest a frame (a line, a syslog message) may
	// take from its first byte to its last, and a TLS handshake from the
	// connection's accept to its end; 0 sets no limit on frames and leaves
	// handshakes DefaultFrameTimeout.
	FrameTimeout time.Duration
	// MaxBufferBytes bounds the memory the connections hold together for
	// frames longer than their read buffer, incomplete ones included.
	MaxBufferBytes int
}

// Validate returns a pipeline.InvalidKey error, naming the key
// (max_connections, idle_timeout, frame_timeout, max_buffer_bytes), for a
// limit out of range.
// maxFrame is the input's longest frame, set by its key maxFrameKey
// (max_line_bytes, say): max_buffer_bytes must hold one.
func (l TCPLimits) Validate(maxFrameKey string, maxFrame int) error {
	var errs []error
	errs = append(errs, pipeline.ConnectionsRange.Check("max_connections", int64(l.MaxConnections)))
	if l.IdleTimeout != 0 {
		errs = append(errs, tcpTimeoutRange.Check("idle_timeout", l.IdleTimeout))
	}
	if l.FrameTimeout != 0 {
		errs = append(errs, tcpTimeoutRange.Check("frame_timeout", l.FrameTimeout))
	}
	if r := (pipeline.ByteRange{Min: min(max(int64(maxFrame), 1), pipeline.LineBytesRange.Max), Max: maxBufferBytes}); r.Check("max_buffer_bytes", int64(l.MaxBufferBytes)) != nil {
		errs = append(errs, pipeline.InvalidKey("max_buffer_bytes", "must be %s: at least %s, so that a connection can hold its longest frame; got %d",
			r, maxFrameKey, l.MaxBufferBytes))
	}
	return errors.Join(errs...)
}

// The ranges of the connection limits: a timeout of "0" means none;
// max_buffer_bytes holds at least the longest frame (so that one
// connection can hold it) and at most 4 GiB.
var tcpTimeoutRange = pipeline.DurationRange{Min: minTimeout, Max: 24 * time.Hour}

const maxBufferBytes = 4 << 30

// Why a connection's read ended, other than the peer's doing.
var (
	errIdleTimeout      = errors.New("idle_timeout: nothing received for that long")
	errFrameTimeout     = errors.New("frame_timeout: frame not complete in time")
	errHandshakeTimeout = errors.New("frame_timeout: TLS handshake not complete in time")
	errBufferFull       = errors.New("max_buffer_bytes: the input's connections hold that much already")
	errEvicted          = errors.New("closed to admit a new connection: max_connections reached and this one was idle the longest")
	errStopping         = errors.New("input stopping")
)

// peerError is an error of the connection itself (a reset, a failed TLS
// handshake): the peer's problem, not the pipeline's.
type peerError struct{ err error }

func (e *peerError) Error() string { return e.err.Error() }
func (e *peerError) Unwrap() error { return e.err }

// TCPServer serves the connections of one TCP input within its TCPLimits,
// and counts what it did for the input's gauges. An input makes one at Init
// with NewTCPServer, serves with Serve in Run and reports Gauges.
type TCPServer struct {
	limits TCPLimits
	env    *pipeline.Env

	// buffered is what the connections hold for frames longer than their
	// read buffer, peak its highest value; both within MaxBufferBytes.
	buffered, peak atomic.Int64

	open, idleClosed, frameTimeouts, evicted, refused, bufferFull atomic.Uint64

	refusedLog, failedLog, idleLog, frameLog, evictedLog, fullLog pipeline.LogThrottle
}

// NewTCPServer returns a server for the input of env with the given limits,
// which should have passed Validate.
func NewTCPServer(limits TCPLimits, env *pipeline.Env) *TCPServer {
	return &TCPServer{limits: limits, env: env}
}

// Gauges reports the open connections, the bytes they hold for frames
// longer than their read buffer (now and at most since start), and how
// many connections were closed for idle_timeout, frame_timeout
// (frames and TLS handshakes), to admit a new one (evicted), for
// max_buffer_bytes, and refused with max_connections reached.
func (s *TCPServer) Gauges() map[string]float64 {
	return map[string]float64{
		"tcp_connections":         float64(s.open.Load()),
		"tcp_buffered_bytes":      float64(s.buffered.Load()),
		"tcp_buffered_bytes_peak": float64(s.peak.Load()),
		"tcp_idle_closed":         float64(s.idleClosed.Load()),
		"tcp_frame_timeouts":      float64(s.frameTimeouts.Load()),
		"tcp_evicted":             float64(s.evicted.Load()),
		"tcp_buffer_full":         float64(s.bufferFull.Load()),
		"tcp_refused":             float64(s.refused.Load()),
	}
}

// IsCounter reports which of the Gauges keys only grow: the closed and
// refused connections (pipeline.CounterReporter).
func (s *TCPServer) IsCounter(key string) bool {
	switch key {
	case "tcp_idle_closed", "tcp_frame_timeouts", "tcp_evicted", "tcp_buffer_full", "tcp_refused":
		return true
	}
	return false
}

// reserve charges n bytes to max_buffer_bytes, unless that would pass it.
func (s *TCPServer) reserve(n int64) bool {
	for {
		used := s.buffered.Load()
		if used+n > int64(s.limits.MaxBufferBytes) {
			return false
		}
		if s.buffered.CompareAndSwap(used, used+n) {
			for p := s.peak.Load(); used+n > p && !s.peak.CompareAndSwap(p, used+n); p = s.peak.Load() {
			}
			return true
		}
	}
}

// Serve accepts connections on ln until ctx is done, and calls serve on its
// own goroutine for each; serve reads the connection, through c, until its
// end and returns what ended it: nil at EOF, else the error of its read or
// of the pipeline. Serve then closes the connection; it counts and logs
// (throttled) what was not the peer's doing. See TCPLimits for what bounds
// the connections. An accept that fails is retried with a growing delay
// rather than in a spin (out of file descriptors, say).
//
// When ctx is done Serve closes ln and sets every open connection's read
// deadline in the past, so that each serve's blocked read returns while
// what it has already read can still be emitted; it waits for every serve
// to return, then returns nil.
func (s *TCPServer) Serve(ctx context.Context, ln net.Listener, serve func(c *TCPConn) error) error {
	var (
		mu       sync.Mutex
		conns    = map[*TCPConn]struct{}{}
		evicting int // in conns, told to make room and not gone yet
		stopping bool
		wg       sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		stopping = true
		for c := range conns {
			c.stop(errStopping)
		}
		mu.Unlock()
		ln.Close()
	})
	defer stop()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			s.env.Stats.Errors.Add(1)
			if ok, more := s.failedLog.Allow(); ok {
				s.env.Log.Error("accept failed; retrying", "error", err, "more_since_last_log", more)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		c := &TCPConn{Conn: nc, srv: s}
		c.idleSince.Store(time.Now().UnixNano()) // until it sends something
		mu.Lock()
		if stopping {
			mu.Unlock()
			nc.Close()
			break
		}
		if len(conns)-evicting >= s.limits.MaxConnections {
			victim := evictIdlest(conns)
			if victim == nil {
				mu.Unlock()
				// Counted before the close, so that a peer that sees it
				// closed sees it counted.
				s.refused.Add(1)
				s.env.Stats.Errors.Add(1)
				nc.Close()
				if ok, more := s.refusedLog.Allow(); ok {
					s.env.Log.Warn("connection refused: max_connections reached and none of them is idle",
						"remote", nc.RemoteAddr().String(), "max_connections", s.limits.MaxConnections, "more_since_last_log", more)
				}
				continue
			}
			victim.evicted = true
			evicting++
			s.evicted.Add(1)
			if ok, more := s.evictedLog.Allow(); ok {
				s.env.Log.Warn("connection closed to admit a new one: max_connections reached; it was idle the longest",
					"remote", victim.RemoteAddr().String(), "max_connections", s.limits.MaxConnections, "more_since_last_log", more)
			}
		}
		conns[c] = struct{}{}
		s.open.Add(1)
		wg.Add(1)
		mu.Unlock()
		go func() {
			defer wg.Done()
			s.serveConn(c, serve)
			mu.Lock()
			delete(conns, c)
			if c.evicted {
				evicting--
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return nil
}

// evictIdlest stops the connection idle the longest and returns it, or
// returns nil when none is idle.
func evictIdlest(conns map[*TCPConn]struct{}) *TCPConn {
	for range 3 { // the one chosen may receive data meanwhile: choose again
		var idlest *TCPConn
		var since int64
		for c := range conns {
			if t := c.idleSince.Load(); t != 0 && (idlest == nil || t < since) {
				idlest, since = c, t
			}
		}
		if idlest == nil {
			return nil
		}
		if idlest.stopIfIdle(errEvicted) {
			return idlest
		}
	}
	return nil
}

// serveConn serves one connection, then counts and logs what ended it and
// closes it.
func (s *TCPServer) serveConn(c *TCPConn, serve func(*TCPConn) error) {
	remote := c.RemoteAddr().String()
	s.env.Log.Debug("connection opened", "remote", remote)
	err := c.handshake()
	if err == nil {
		err = serve(c)
	}
	c.ReleaseBuffer()
	// Counted before the close, so that a peer that sees it closed sees it
	// counted.
	switch {
	case err == nil:
		s.env.Log.Debug("connection closed", "remote", remote)
	case errors.Is(err, errIdleTimeout):
		s.idleClosed.Add(1)
		if ok, more := s.idleLog.Allow(); ok {
			s.env.Log.Info("connection closed: nothing received for idle_timeout",
				"remote", remote, "idle_timeout", s.limits.IdleTimeout.String(), "more_since_last_log", more)
		}
	case errors.Is(err, errFrameTimeout), errors.Is(err, errHandshakeTimeout):
		s.frameTimeouts.Add(1)
		s.env.Stats.Errors.Add(1)
		if ok, more := s.frameLog.Allow(); ok {
			s.env.Log.Warn("connection closed: "+err.Error(),
				"remote", remote, "frame_timeout", s.limits.FrameTimeout.String(), "more_since_last_log", more)
		}
	case errors.Is(err, errBufferFull):
		s.bufferFull.Add(1)
		s.env.Stats.Errors.Add(1)
		if ok, more := s.fullLog.Allow(); ok {
			s.env.Log.Warn("connection closed: its frame would pass the input's max_buffer_bytes; what it held is dropped",
				"remote", remote, "max_buffer_bytes", s.limits.MaxBufferBytes, "more_since_last_log", more)
		}
	case errors.Is(err, errEvicted), errors.Is(err, errStopping):
		s.env.Log.Debug("connection closed", "remote", remote, "reason", err.Error())
	case isPeerError(err):
		// A peer that resets the connection, or fails the TLS handshake, is
		// not the pipeline's problem.
		s.env.Log.Debug("connection closed", "remote", remote, "error", err)
	default:
		s.env.Log.Warn("connection closed: the pipeline refused what it read", "remote", remote, "error", err)
	}
	c.Close()
	s.open.Add(^uint64(0))
}

func isPeerError(err error) bool {
	var pe *peerError
	return errors.As(err, &pe) || errors.Is(err, io.ErrUnexpectedEOF)
}

// TCPConn is a connection served by a TCPServer. Its Read applies the
// input's deadlines: idle_timeout while it waits between frames, and
// frame_timeout too once a frame has begun; its reader says where frames
// end (FrameDone, or ReadLines, which does it) and grows its buffer for a
// long frame within max_buffer_bytes (GrowBuffer). Read returns io.EOF at
// the end of the connection; any other error names what ended it.
type TCPConn struct {
	net.Conn
	srv *TCPServer

	// idleSince is when it began to wait for a frame (unix ns), 0 while it
	// is inside one, handing one on, or stopped: the accept loop reads it
	// to find the connection idle the longest.
	idleSince atomic.Int64
	evicted   bool // under the server's lock

	mu      sync.Mutex // orders stop against Read setting a deadline
	stopErr error      // why it was stopped; its read deadline is then past
	why     error      // which deadline the pending read has

	// The reader's own: where it is between frames, and what it holds.
	frameSince time.Time // first byte of the frame being read; zero between frames
	carried    bool      // a frame has begun in what the reader has buffered
	held       int       // bytes charged to max_buffer_bytes
}

// stop ends c's reading: its pending read, or the next, returns err.
func (c *TCPConn) stop(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopErr == nil {
		c.stopErr = err
		c.idleSince.Store(0)
		c.Conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// stopIfIdle stops c with err if it is still idle, and reports whether it did.
func (c *TCPConn) stopIfIdle(err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopErr != nil || c.idleSince.Load() == 0 {
		return false
	}
	c.stopErr = err
	c.idleSince.Store(0)
	c.Conn.SetReadDeadline(time.Unix(1, 0))
	return true
}

// Read reads from the connection within idle_timeout, and within
// frame_timeout of the first byte of the frame being read.
func (c *TCPConn) Read(p []byte) (int, error) {
	now := time.Now()
	if c.carried {
		// The frame began in what was read before: its time starts now,
		// not while the pipeline held its reader back.
		c.frameSince, c.carried = now, false
	}
	c.mu.Lock()
	if c.stopErr == nil {
		var deadline time.Time
		c.why = errIdleTimeout
		if idle := c.srv.limits.IdleTimeout; idle > 0 {
			deadline = now.Add(idle)
		}
		if frame := c.srv.limits.FrameTimeout; frame > 0 && !c.frameSince.IsZero() {
			if end := c.frameSince.Add(frame); deadline.IsZero() || end.Before(deadline) {
				deadline, c.why = end, errFrameTimeout
			}
		}
		c.Conn.SetReadDeadline(deadline)
		if c.frameSince.IsZero() && c.idleSince.Load() == 0 {
			// Idle from now; the first read keeps the time of the
			// accept, so that a connection whose reader started late
			// is not taken for a younger one.
			c.idleSince.Store(now.UnixNano())
		}
	}
	c.mu.Unlock()

	n, err := c.Conn.Read(p)
	c.idleSince.Store(0)
	if n > 0 && c.frameSince.IsZero() {
		c.frameSince = time.Now()
	}
	if err != nil && err != io.EOF {
		err = c.readError(err)
	}
	return n, err
}

// readError says why a read failed: a deadline of ours, or the peer.
func (c *TCPConn) readError(err error) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return &peerError{err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopErr != nil {
		return c.stopErr
	}
	return c.why
}

// handshake completes a TLS connection's handshake within frame_timeout of
// its accept (DefaultFrameTimeout when frame_timeout is 0); while it lasts
// the connection counts as idle. Other connections have none.
func (c *TCPConn) handshake() error {
	tc, ok := c.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	timeout := c.srv.limits.FrameTimeout
	if timeout <= 0 {
		timeout = DefaultFrameTimeout
	}
	c.mu.Lock()
	if c.stopErr != nil {
		c.mu.Unlock()
		return c.stopErr
	}
	deadline := time.Unix(0, c.idleSince.Load()).Add(timeout)
	c.Conn.SetReadDeadline(deadline)
	c.Conn.SetWriteDeadline(deadline)
	c.why = errHandshakeTimeout
	c.mu.Unlock()
	err := tc.Handshake()
	c.Conn.SetWriteDeadline(time.Time{})
	if err != nil {
		return c.readError(err)
	}
	return nil
}

// FrameDone tells c that its reader has a frame complete. buffered is how
// many bytes of the next frames the reader holds already (the Buffered of
// its bufio.Reader): with none, c is between frames, idle until it sends
// more; with some, the next frame has begun.
func (c *TCPConn) FrameDone(buffered int) {
	c.frameSince, c.carried = time.Time{}, buffered > 0
}

// ReadLines is the package's ReadLines for a connection: r reads from c
// (c itself, or a bufio.Reader over it, which ReadLines then uses as its
// buffer); the end of each line is the end of a frame, and a line longer
// than the read buffer is held within the input's max_buffer_bytes. When a
// line would pass it, the line is dropped and counted, and ReadLines
// returns an error that has Serve close the connection.
func (c *TCPConn) ReadLines(r io.Reader, maxLine int, out interface{ EmitLine(line []byte) error }) error {
	return readLines(r, maxLine, out, c.srv.env.Stats, c.srv.env.Log, c)
}

// GrowBuffer returns buf (nil, or the last slice GrowBuffer returned to
// this reader) with its contents and a capacity of at least n bytes, the
// capacity charged to the input's max_buffer_bytes; the caller bounds n by
// its longest frame. When the input's connections already hold too much for
// that, it returns buf and an error: the caller counts its incomplete frame
// as dropped and returns the error, and Serve closes the connection.
func (c *TCPConn) GrowBuffer(buf []byte, n int) ([]byte, error) {
	if n <= cap(buf) {
		return buf, nil
	}
	if !c.srv.reserve(int64(n - c.held)) {
		return buf, errBufferFull
	}
	c.held = n
	grown := make([]byte, len(buf), n)
	copy(grown, buf)
	return grown, nil
}

// ReleaseBuffer gives back what GrowBuffer charged, once the frame is
// handed on: the reader drops its buffer, so that a connection that is
// between long frames holds nothing.
func (c *TCPConn) ReleaseBuffer() {
	if c.held > 0 {
		c.srv.buffered.Add(-int64(c.held))
		c.held = 0
	}
}
