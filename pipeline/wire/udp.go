package wire

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
)

// ServeUDP receives datagrams on conn until ctx is done, then returns nil.
// It hands each datagram to handle with the address it came from; the
// datagram is only valid during the call. A datagram longer than maxBytes
// is cut to its first maxBytes and handed with cut set: handle counts and
// logs it, naming its input's key. A receive that fails is counted in
// env.Stats.Errors, logged (at most once a second) and retried with a
// growing delay rather than in a spin. An error from handle means the
// pipeline cannot take more: ServeUDP returns it.
//
// UDP itself may lose datagrams (a full socket buffer, the network): those
// losses happen before ServeUDP sees anything and are not counted.
func ServeUDP(ctx context.Context, conn *net.UDPConn, maxBytes int, env *pipeline.Env,
	handle func(datagram []byte, from netip.AddrPort, cut bool) error) error {
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	// One byte more than allowed, to tell a datagram of exactly the limit
	// from a longer one the kernel cut to fit.
	buf := make([]byte, maxBytes+1)
	var (
		failedLog pipeline.LogThrottle
		delay     time.Duration
	)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			env.Stats.Errors.Add(1)
			if ok, more := failedLog.Allow(); ok {
				env.Log.Error("receive failed; retrying", "error", err, "more_since_last_log", more)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		if err := handle(buf[:min(n, maxBytes)], from, n > maxBytes); err != nil {
			return err
		}
	}
}
