package pipeline

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// ServeTCP accepts connections on ln until ctx is done, and calls serve on
// its own goroutine for each; serve reads the connection to its end and
// closes it. At most maxConns connections are served at once: one more is
// closed at once, counted as an error in env.Stats and logged (throttled).
// An accept that fails is retried with a growing delay rather than in a
// spin (out of file descriptors, say).
//
// When ctx is done ServeTCP closes ln and sets every open connection's read
// deadline in the past, so that each serve's blocked read returns while
// what it has already read can still be emitted; it waits for every serve
// to return, then returns nil.
func ServeTCP(ctx context.Context, ln net.Listener, maxConns int, env *Env, serve func(c net.Conn)) error {
	var (
		mu       sync.Mutex
		conns    = map[net.Conn]struct{}{}
		stopping bool
		wg       sync.WaitGroup
		refused  LogThrottle // connections beyond maxConns
		failed   LogThrottle // accept errors
	)
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		stopping = true
		for c := range conns {
			c.SetReadDeadline(time.Unix(1, 0))
		}
		mu.Unlock()
		ln.Close()
	})
	defer stop()

	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			env.Stats.Errors.Add(1)
			if ok, more := failed.Allow(); ok {
				env.Log.Error("accept failed; retrying", "error", err, "more_since_last_log", more)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		mu.Lock()
		if stopping {
			mu.Unlock()
			c.Close()
			break
		}
		if len(conns) >= maxConns {
			mu.Unlock()
			// Counted before the close, so that a peer that sees it closed
			// sees it counted.
			env.Stats.Errors.Add(1)
			c.Close()
			if ok, more := refused.Allow(); ok {
				env.Log.Warn("connection refused: max_connections reached",
					"remote", c.RemoteAddr().String(), "max_connections", maxConns, "more_since_last_log", more)
			}
			continue
		}
		conns[c] = struct{}{}
		wg.Add(1)
		mu.Unlock()
		go func() {
			defer wg.Done()
			serve(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return nil
}
