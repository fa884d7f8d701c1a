package pipeline

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	// leaf is a second in-process connection for leaf node pings, kept off
	// Conn so that its messages do not count as batches.
	leaf   *nats.Conn
	agent  bool   // leafnode_remotes: this server is a leaf node of a central
	domain string // the central's JetStream domain, for an agent's durable traffic

	// jsConn carries durable (JetStream) traffic, opened by JetStream on
	// first use and kept off Conn so that API replies and PubAcks do not
	// count as batches in the drain check.
	jsMu   sync.Mutex // guards jsConn, js and jsAPI: plugins ask for JetStream at Init
	jsConn *nats.Conn
	js     nats.JetStreamContext
	jsAPI  jetstream.JetStream // see jetStreamAPI
	url    string
	opts   []nats.Option
	store  *storeWatch // embedded JetStream: restarts it after a store failure

	// Fences (see fence): the subscription that hears them, the channels
	// of those sent and not back yet, oldest first, and how many were sent,
	// which Conn counts among its messages in and out but are no batches.
	fenceMu      sync.Mutex
	fenceSub     *nats.Subscription
	fenceSubject string
	fenceWaiting []chan struct{}
	fenceClosed  bool
	fencesSent   atomic.Uint64
}

// JetStream returns a JetStream context on the bus's second connection,
// connecting it on first use.
func (b *Bus) JetStream() (nats.JetStreamContext, error) {
	b.jsMu.Lock()
	defer b.jsMu.Unlock()
	if b.js != nil {
		return b.js, nil
	}
	conn, err := nats.Connect(b.url, append(b.opts, nats.Name("interoceptor durable"))...)
	if err != nil {
		return nil, fmt.Errorf("nats: jetstream connection: %w", err)
	}
	var jsOpts []nats.JSOpt
	if b.agent {
		jsOpts = append(jsOpts, nats.Domain(b.domain)) // the central's, across the leaf link
	}
	js, err := conn.JetStream(jsOpts...)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	b.jsConn, b.js = conn, js
	return js, nil
}

// jetStreamAPI returns nats.go's newer JetStream API on the same connection
// and domain as JetStream, for what only it has (a consumer's reset).
func (b *Bus) jetStreamAPI() (jetstream.JetStream, error) {
	if _, err := b.JetStream(); err != nil {
		return nil, err
	}
	b.jsMu.Lock()
	defer b.jsMu.Unlock()
	if b.jsAPI != nil {
		return b.jsAPI, nil
	}
	var err error
	if b.agent {
		b.jsAPI, err = jetstream.NewWithDomain(b.jsConn, b.domain)
	} else {
		b.jsAPI, err = jetstream.New(b.jsConn)
	}
	if err != nil {
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	return b.jsAPI, nil
}

// fence returns a channel closed once every message published on Conn
// before the call, on a subject this process subscribes to, has come back
// and is in its subscriptions' pending queues. A fence is an empty batch
// published on Conn to a subject of its own, which only Conn's fence
// subscription hears: the server sends a connection what it publishes in
// order, so the fence comes back after those messages. It travels with
// them, where a PING (Conn.Flush) would be written alone, and the server
// would then read less than its buffer at once, shrink it and grow it again.
// If the fence cannot be sent the channel is closed at once; Close closes
// those still waiting.
func (b *Bus) fence() <-chan struct{} {
	done := make(chan struct{})
	b.fenceMu.Lock()
	defer b.fenceMu.Unlock()
	if b.fenceSub == nil && !b.fenceClosed {
		subject := "_INTEROCEPTOR.fence." + strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix)
		sub, err := b.Conn.Subscribe(subject, b.fencePassed)
		if err == nil {
			b.fenceSub, b.fenceSubject = sub, subject
		}
	}
	if b.fenceSub == nil {
		close(done)
		return done
	}
	// Sent and queued under fenceMu, so that fences come back in the order
	// of fenceWaiting.
	if err := b.Conn.Publish(b.fenceSubject, emptyBatch); err != nil {
		close(done)
		return done
	}
	b.fencesSent.Add(1)
	b.fenceWaiting = append(b.fenceWaiting, done)
	return done
}

// emptyBatch is a fence's payload: a frame without messages, which a
// subscriber to ">" decodes to nothing.
var emptyBatch = new(BatchEncoder).Bytes()

// fencePassed closes the oldest fence waiting: they come back in order.
func (b *Bus) fencePassed(*nats.Msg) {
	b.fenceMu.Lock()
	defer b.fenceMu.Unlock()
	if len(b.fenceWaiting) > 0 {
		close(b.fenceWaiting[0])
		b.fenceWaiting = b.fenceWaiting[1:]
	}
}

// closeFences closes the fences still waiting and sets no more.
func (b *Bus) closeFences() {
	b.fenceMu.Lock()
	defer b.fenceMu.Unlock()
	for _, c := range b.fenceWaiting {
		close(c)
	}
	b.fenceWaiting, b.fenceClosed = nil, true
}

// leafPingSubject is answered by every pipeline with leafnode_listen. An
// agent's reply proves the leaf connection is up, the central's interest has
// reached the agent, and (at Close) that what the agent sent before it has
// reached the central.
const leafPingSubject = "_INTEROCEPTOR.leaf.ping"

// leafWait is how long an agent waits for the central at start and at Close.
const leafWait = 5 * time.Second

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
		s, store, err := startEmbedded(cfg, log)
		if err != nil {
			return nil, err
		}
		b.Server, b.store = s, store
		opts = append(opts, nats.InProcessServer(s))
	}
	auth, err := ClientOptions(nc)
	if err != nil {
		b.store.close()
		if b.Server != nil {
			b.Server.Shutdown()
		}
		return nil, err
	}
	opts = append(opts, auth...)
	conn, err := nats.Connect(nc.URL, opts...)
	if err != nil {
		b.store.close()
		if b.Server != nil {
			b.Server.Shutdown()
		}
		if nc.URL != "" {
			return nil, fmt.Errorf("nats: connect to %s: %w", RedactURL(nc.URL), err)
		}
		return nil, fmt.Errorf("nats: connect to the embedded server: %w", err)
	}
	b.Conn = conn
	b.url, b.opts = nc.URL, opts
	if b.Server != nil && (nc.LeafnodeListen != "" || len(nc.LeafnodeRemotes) > 0) {
		if err := b.startLeafPings(nc, auth); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

// startLeafPings answers pings on a central and, on an agent, waits for the
// central's first answer so that inputs start once their messages can reach
// it. A central that is not reachable yet is not an error: the leaf
// connection keeps retrying, and what is published meanwhile is lost.
func (b *Bus) startLeafPings(nc NatsConfig, auth []nats.Option) error {
	lc, err := nats.Connect("", append([]nats.Option{nats.Name("interoceptor leaf ping"), nats.InProcessServer(b.Server)}, auth...)...)
	if err != nil {
		return fmt.Errorf("nats: leaf ping connection: %w", err)
	}
	b.leaf = lc
	b.agent = len(nc.LeafnodeRemotes) > 0
	b.domain = nc.jetStreamDomain()
	if nc.LeafnodeListen != "" && !b.agent { // a middle tier would answer its own pings
		if _, err := lc.Subscribe(leafPingSubject, func(m *nats.Msg) { _ = m.Respond(nil) }); err != nil {
			return fmt.Errorf("nats: leaf ping responder: %w", err)
		}
	}
	if len(nc.LeafnodeRemotes) > 0 {
		if b.pingCentral() {
			b.log.Info("nats leaf node connected", "remotes", RedactURL(strings.Join(nc.LeafnodeRemotes, ",")))
		} else {
			b.log.Warn("nats leaf node: central not reached yet; retrying in the background, messages published until then are lost",
				"remotes", RedactURL(strings.Join(nc.LeafnodeRemotes, ",")), "waited", leafWait)
		}
	}
	return nil
}

// pingCentral reports whether a central answered within leafWait.
func (b *Bus) pingCentral() bool {
	deadline := time.Now().Add(leafWait)
	for time.Now().Before(deadline) {
		if b.Server.NumLeafNodes() > 0 {
			if _, err := b.leaf.Request(leafPingSubject, nil, 250*time.Millisecond); err == nil {
				return true
			}
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return false
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

// jetStreamOn reports whether the embedded server runs JetStream. A leaf
// node agent runs none by default: its clients' JetStream requests then
// cross the leaf link, and its durable publishers store at the central.
func (nc NatsConfig) jetStreamOn() bool {
	if nc.JetStream != nil {
		return *nc.JetStream
	}
	return len(nc.LeafnodeRemotes) == 0
}

// jetStreamDomain is the central's JetStream domain, "" outside leaf setups.
func (nc NatsConfig) jetStreamDomain() string {
	if nc.JetStreamDomain != "" || nc.LeafnodeListen == "" && len(nc.LeafnodeRemotes) == 0 {
		return nc.JetStreamDomain
	}
	return DefaultJetStreamDomain
}

// startEmbedded starts the in-process server, with JetStream under data_dir
// and a storeWatch that restarts it after a store failure.
func startEmbedded(cfg *Config, log *slog.Logger) (*server.Server, *storeWatch, error) {
	nc := cfg.Nats
	opts := &server.Options{
		ServerName: cfg.Agent.Name,
		DontListen: nc.Listen == "",
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: maxPayload,
		MaxPending: 256 << 20,
		// What the server keeps of closed connections is for its
		// monitoring endpoint, which this process does not serve: its
		// default, 10,000, is a slice of pointers the GC scans for nothing.
		MaxClosedClients: 100,
		Username:         nc.User,
		Password:         nc.Password,
	}
	if nc.Token != "" {
		opts.Authorization = nc.Token
	}
	var serverTLS *tls.Config
	if nc.TLSCert != "" && (nc.Listen != "" || nc.LeafnodeListen != "") {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: nc.TLSCert, KeyFile: nc.TLSKey, CaFile: nc.TLSCA})
		if err != nil {
			return nil, nil, fmt.Errorf("nats: tls: %w", err)
		}
		serverTLS = tc
	}
	if nc.Listen != "" {
		host, p, err := splitListen("listen", nc.Listen)
		if err != nil {
			return nil, nil, err
		}
		opts.Host, opts.Port = host, p
		if serverTLS != nil {
			opts.TLSConfig = serverTLS.Clone()
		}
	}
	if nc.LeafnodeListen != "" {
		host, p, err := splitListen("leafnode_listen", nc.LeafnodeListen)
		if err != nil {
			return nil, nil, err
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.LeafNode.Host, opts.LeafNode.Port = host, p
		// A token needs nothing here: leaf nodes without a leafnode
		// authorization of their own are checked like clients.
		if nc.User != "" {
			opts.LeafNode.Username, opts.LeafNode.Password = nc.User, nc.Password
		}
		if serverTLS != nil {
			opts.LeafNode.TLSConfig = serverTLS.Clone()
		}
	}
	if len(nc.LeafnodeRemotes) > 0 {
		remote, err := leafRemote(nc)
		if err != nil {
			return nil, nil, err
		}
		opts.LeafNode.Remotes = []*server.RemoteLeafOpts{remote}
	}
	if nc.jetStreamOn() {
		dir := filepath.Join(cfg.Agent.DataDir, "jetstream")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("nats: jetstream store: %w", err)
		}
		opts.JetStream = true
		opts.StoreDir = dir
		// A central's domain makes its JetStream reachable from leaf agents
		// ($JS.<domain>.API); an agent that runs JetStream anyway gets a
		// domain of its own, so that the two are not taken for one.
		opts.JetStreamDomain = nc.jetStreamDomain()
		if len(nc.LeafnodeRemotes) > 0 {
			opts.JetStreamDomain = sanitizeName(cfg.Agent.Name)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("nats: embedded server: %w", err)
	}
	var store *storeWatch
	if opts.JetStream {
		store = newStoreWatch(opts.Clone(), log.With("nats", "jetstream"))
	}
	// Leaf connection errors (a refused password, a central that is down)
	// and JetStream store errors (a full disk) exist only in the server's log.
	s.SetLoggerV2(serverLog{log: log.With("nats", "server"), store: store}, false, false, false)
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		if nc.Listen != "" {
			return nil, nil, fmt.Errorf("nats: embedded server did not start on %s (is the address in use?)", nc.Listen)
		}
		return nil, nil, errors.New("nats: embedded server did not start")
	}
	if store != nil {
		store.start(s)
	}
	if nc.Listen != "" {
		log.Info("nats listening", "url", s.ClientURL())
	}
	if nc.LeafnodeListen != "" {
		log.Info("nats accepting leaf nodes", "address", nc.LeafnodeListen)
	}
	return s, store, nil
}

func splitListen(key, addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("nats: %s %q: %w", key, addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("nats: %s %q: bad port", key, addr)
	}
	return host, p, nil
}

// leafRemote is one remote with every URL of leafnode_remotes: they are the
// servers of one central, and the agent keeps one leaf connection to one of
// them, as a client does with url.
func leafRemote(nc NatsConfig) (*server.RemoteLeafOpts, error) {
	r := &server.RemoteLeafOpts{Credentials: nc.LeafnodeCreds}
	for _, raw := range nc.LeafnodeRemotes {
		u, err := parseLeafURL(raw)
		if err != nil {
			return nil, fmt.Errorf("nats: leafnode_remotes: %w", err)
		}
		if nc.LeafnodeUser != "" {
			if nc.LeafnodePassword != "" {
				u.User = url.UserPassword(nc.LeafnodeUser, nc.LeafnodePassword)
			} else {
				u.User = url.User(nc.LeafnodeUser) // sent as a token too
			}
		}
		if u.Scheme == "tls" {
			r.TLS = true
		}
		r.URLs = append(r.URLs, u)
	}
	if nc.LeafnodeTLSCA != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CaFile: nc.LeafnodeTLSCA})
		if err != nil {
			return nil, fmt.Errorf("nats: leafnode_tls_ca: %w", err)
		}
		// GenTLSConfig loads the CA for verifying clients; here we are one.
		tc.RootCAs, tc.ClientCAs = tc.ClientCAs, nil
		r.TLS, r.TLSConfig = true, tc
	}
	return r, nil
}

// parseLeafURL accepts nats-leaf://, nats:// and tls:// host:port URLs.
func parseLeafURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New(RedactURL(err.Error())) // url.Error quotes the URL whole
	}
	switch u.Scheme {
	case "nats-leaf", "nats", "tls":
	default:
		return nil, fmt.Errorf("%q: the scheme must be nats-leaf://, nats:// or tls://", RedactURL(raw))
	}
	if u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("%q: write it as nats-leaf://HOST:PORT", RedactURL(raw))
	}
	return u, nil
}

// leafnodeErrors checks the leaf node keys of [nats]; config loading calls it.
func (nc NatsConfig) leafnodeErrors() []error {
	var errs []error
	bad := func(key, msg string) {
		errs = append(errs, &ConfigError{Plugin: "nats", Key: key, Msg: msg})
	}
	if nc.LeafnodeListen != "" {
		if nc.URL != "" {
			bad("leafnode_listen", "needs the embedded server: url must be empty")
		} else if _, _, err := splitListen("leafnode_listen", nc.LeafnodeListen); err != nil {
			bad("leafnode_listen", "not a HOST:PORT address: "+nc.LeafnodeListen)
		}
	}
	if len(nc.LeafnodeRemotes) > 0 {
		if nc.URL != "" {
			bad("leafnode_remotes", "needs the embedded server: url must be empty (an agent connects either directly with url or as a leaf node)")
		}
		for _, raw := range nc.LeafnodeRemotes {
			if _, err := parseLeafURL(raw); err != nil {
				bad("leafnode_remotes", err.Error())
			}
		}
	} else {
		for key, v := range map[string]string{"leafnode_user": nc.LeafnodeUser, "leafnode_password": nc.LeafnodePassword,
			"leafnode_creds": nc.LeafnodeCreds, "leafnode_tls_ca": nc.LeafnodeTLSCA} {
			if v != "" {
				bad(key, "set without leafnode_remotes")
			}
		}
	}
	if nc.LeafnodePassword != "" && nc.LeafnodeUser == "" {
		bad("leafnode_password", "set without leafnode_user")
	}
	if nc.LeafnodeCreds != "" && nc.LeafnodeUser != "" {
		bad("leafnode_creds", "set together with leafnode_user: use one of them")
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].(*ConfigError).Key < errs[j].(*ConfigError).Key })
	return errs
}

// openListenErrors refuses an embedded server that listens beyond this host
// without asking for credentials: whoever reaches the port could inject
// messages and read every subject (`cat -subject '>'`). user/password or
// token protect both listen and leafnode_listen; creds and nkey_seed are
// what this process presents to a server, and the embedded one checks
// neither. allow_unauthenticated = true accepts the risk.
func (nc NatsConfig) openListenErrors() []error {
	if nc.URL != "" || nc.AllowUnauthenticated || nc.Token != "" || nc.User != "" && nc.Password != "" {
		return nil
	}
	asks := "the embedded server asks no credentials"
	if nc.User != "" {
		asks = "user has no password"
	}
	var errs []error
	for _, l := range []struct{ key, addr string }{{"listen", nc.Listen}, {"leafnode_listen", nc.LeafnodeListen}} {
		if l.addr == "" {
			continue
		}
		if where := beyondLoopback(l.addr); where != "" {
			errs = append(errs, &ConfigError{Plugin: "nats", Key: l.key, Msg: fmt.Sprintf(
				"%q %s, and %s: anyone who reaches it can publish and read every subject; "+
					"set user and password (or token), or listen on 127.0.0.1, or set allow_unauthenticated = true to accept that", l.addr, where, asks)})
		}
	}
	return errs
}

// beyondLoopback says how a listen address reaches beyond this host
// ("listens on every interface"), or "" when it is a loopback address. A
// host name counts as loopback only when every address it resolves to is.
func beyondLoopback(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "" // not an address: reported as such elsewhere
	}
	if host == "" {
		return "listens on every interface"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if ip.IsUnspecified() {
			return "listens on every interface"
		}
		if !ip.IsLoopback() {
			return "is not a loopback address"
		}
		return ""
	}
	if strings.EqualFold(host, "localhost") {
		return "" // RFC 6761: always loopback
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return "names a host that does not resolve here, so it may not be loopback"
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return fmt.Sprintf("resolves to %s, not a loopback address", ip)
		}
	}
	return ""
}

// serverLog passes the embedded server's warnings and errors to slog, and to
// store (if any) to spot a store that cannot be written; its notices are
// debug lines, its debug and trace lines are off.
type serverLog struct {
	log   *slog.Logger
	store *storeWatch
}

func (l serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	// Startup warnings about our own options (maxPayload; passwords, which
	// come from the config file) say nothing the user can act on here.
	if strings.HasPrefix(msg, "Maximum payloads") || strings.HasPrefix(msg, "Plaintext passwords") {
		l.log.Debug(msg)
		return
	}
	l.log.Warn(msg)
	l.storeSaid(msg)
}
func (l serverLog) Fatalf(format string, v ...any) { l.Errorf(format, v...) }
func (l serverLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	l.storeSaid(msg)
}
func (l serverLog) storeSaid(msg string) {
	if l.store != nil {
		l.store.serverSaid(msg)
	}
}
func (l serverLog) Debugf(format string, v ...any) {}
func (l serverLog) Tracef(format string, v ...any) {}

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
	b.closeFences()
	b.store.close() // before the server's shutdown turns JetStream off
	if b.jsConn != nil {
		_ = b.jsConn.Flush() // acks sent at close
		b.jsConn.Close()
	}
	if b.Conn != nil {
		b.Conn.Close()
	}
	if b.Server != nil {
		b.Server.Shutdown()
		b.Server.WaitForShutdown()
	}
}
