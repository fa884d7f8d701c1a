package pipeline

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Bus is the pipeline's NATS connection and, when [nats] url is empty, the
// embedded server it talks to in-process. One connection carries every
// publisher and subscription of the process: NATS keeps per-connection
// order, and one PING/PONG (Flush) then proves that everything published
// has reached the local subscriptions, which is what a lossless drain needs.
type Bus struct {
	Conn   *nats.Conn
	Server *server.Server // nil with an external server
	log    *slog.Logger
}

// maxPayload is the largest NATS message the embedded server accepts; batches
// stay well below it (nats.batch_bytes is at most 8 MiB).
const maxPayload = 16 << 20

// ConnectBus starts the embedded server or connects to the external ones.
func ConnectBus(cfg *Config, log *slog.Logger, onAsyncError func(*nats.Subscription, error)) (*Bus, error) {
	b := &Bus{log: log}
	opts := []nats.Option{
		nats.Name("interoceptor " + cfg.Agent.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectBufSize(64 << 20),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if onAsyncError != nil {
				onAsyncError(sub, err)
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrl()) }),
	}
	nc := cfg.Nats
	if nc.URL == "" {
		s, err := startEmbedded(cfg, log)
		if err != nil {
			return nil, err
		}
		b.Server = s
		opts = append(opts, nats.InProcessServer(s))
	}
	auth, err := ClientOptions(nc)
	if err != nil {
		if b.Server != nil {
			b.Server.Shutdown()
		}
		return nil, err
	}
	opts = append(opts, auth...)
	conn, err := nats.Connect(nc.URL, opts...)
	if err != nil {
		if b.Server != nil {
			b.Server.Shutdown()
		}
		if nc.URL != "" {
			return nil, fmt.Errorf("nats: connect to %s: %w", nc.URL, err)
		}
		return nil, fmt.Errorf("nats: connect to the embedded server: %w", err)
	}
	b.Conn = conn
	return b, nil
}

// ClientOptions turns the [nats] credentials and TLS keys into nats.go
// options; the CLI tools (cat, inject, flood) use them too.
func ClientOptions(nc NatsConfig) ([]nats.Option, error) {
	var opts []nats.Option
	if nc.User != "" {
		opts = append(opts, nats.UserInfo(nc.User, nc.Password))
	}
	if nc.Token != "" {
		opts = append(opts, nats.Token(nc.Token))
	}
	if nc.Creds != "" {
		opts = append(opts, nats.UserCredentials(nc.Creds))
	}
	if nc.NKeySeed != "" {
		o, err := nats.NkeyOptionFromSeed(nc.NKeySeed)
		if err != nil {
			return nil, fmt.Errorf("nats: nkey_seed: %w", err)
		}
		opts = append(opts, o)
	}
	if nc.URL != "" {
		if nc.TLSCA != "" {
			opts = append(opts, nats.RootCAs(nc.TLSCA))
		}
		if nc.TLSCert != "" || nc.TLSKey != "" {
			opts = append(opts, nats.ClientCert(nc.TLSCert, nc.TLSKey))
		}
		if nc.TLSInsecure {
			opts = append(opts, nats.Secure(&tls.Config{InsecureSkipVerify: true})) // asked for by the user, for tests
		}
	}
	return opts, nil
}

// startEmbedded starts the in-process server, with JetStream under data_dir.
func startEmbedded(cfg *Config, log *slog.Logger) (*server.Server, error) {
	nc := cfg.Nats
	opts := &server.Options{
		ServerName: cfg.Agent.Name,
		DontListen: nc.Listen == "",
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: maxPayload,
		MaxPending: 256 << 20,
		Username:   nc.User,
		Password:   nc.Password,
	}
	if nc.Token != "" {
		opts.Authorization = nc.Token
	}
	if nc.Listen != "" {
		host, port, err := net.SplitHostPort(nc.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats: listen %q: %w", nc.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats: listen %q: bad port", nc.Listen)
		}
		opts.Host, opts.Port = host, p
		if nc.TLSCert != "" {
			tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: nc.TLSCert, KeyFile: nc.TLSKey, CaFile: nc.TLSCA})
			if err != nil {
				return nil, fmt.Errorf("nats: tls: %w", err)
			}
			opts.TLSConfig = tc
		}
	}
	if nc.JetStream == nil || *nc.JetStream {
		dir := filepath.Join(cfg.Agent.DataDir, "jetstream")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("nats: jetstream store: %w", err)
		}
		opts.JetStream = true
		opts.StoreDir = dir
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats: embedded server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		if nc.Listen != "" {
			return nil, fmt.Errorf("nats: embedded server did not start on %s (is the address in use?)", nc.Listen)
		}
		return nil, errors.New("nats: embedded server did not start")
	}
	if nc.Listen != "" {
		log.Info("nats listening", "url", s.ClientURL())
	}
	return s, nil
}

// ClientURL is where other processes reach this pipeline's NATS: the
// embedded server's listen address, or the configured URLs.
func (b *Bus) ClientURL(cfg *Config) string {
	if b.Server != nil {
		if cfg.Nats.Listen == "" {
			return ""
		}
		return b.Server.ClientURL()
	}
	return strings.Split(cfg.Nats.URL, ",")[0]
}

// Close closes the connection and stops the embedded server.
func (b *Bus) Close() {
	if b.Conn != nil {
		b.Conn.Close()
	}
	if b.Server != nil {
		b.Server.Shutdown()
		b.Server.WaitForShutdown()
	}
}
