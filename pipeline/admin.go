package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminServer serves the admin API: / (a page of the plugins and links),
// /healthz, /metrics, /api/plugins, /api/listeners, POST /api/reload.
//
// Every request must name this server in its Host header (an IP address,
// localhost, the configured address or this host's name), so that a web
// page cannot reach it through DNS rebinding. With admin_token or
// admin_user/admin_password, every request but /healthz must carry them.
// A request that changes something (POST) must not come from another
// origin (Origin, Sec-Fetch-Site) and must carry X-Interoceptor-Request or
// Content-Type: application/json, which no web page can send to another
// origin without the preflight this server never grants.
type adminServer struct {
	addr   string
	scheme string // http or https
	srv    *http.Server
}

// AdminRequestHeader marks a state-changing admin API request as sent by a
// program, not a cross-site form: `interoceptor reload` sends it.
const AdminRequestHeader = "X-Interoceptor-Request"

func startAdmin(rt *Runtime, agent AgentConfig) (*adminServer, error) {
	var tlsCfg *tls.Config
	if agent.AdminTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(agent.AdminTLSCert, agent.AdminTLSKey)
		if err != nil {
			return nil, fmt.Errorf("agent.admin_tls_cert, agent.admin_tls_key: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", agent.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("agent.admin_addr %q: %w", agent.AdminAddr, err)
	}
	a := &adminServer{addr: ln.Addr().String(), scheme: "http"}
	if tlsCfg != nil {
		a.scheme = "https"
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&statsCollector{rt: rt})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"status": "ok", "agent": rt.cfg.Agent.Name,
			"uptime_seconds": time.Since(rt.started).Seconds(), "draining": rt.draining.Load()})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/plugins", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, rt.PluginStatus())
	})
	// rt.admin is set only once startAdmin returns: the handlers use a.
	mux.HandleFunc("GET /api/listeners", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, rt.listeners(a.url()))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { rt.serveIndex(w, a.url()) })
	mux.HandleFunc("POST /api/reload", func(w http.ResponseWriter, r *http.Request) {
		results, err := rt.Reload(r.URL.Query().Get("plugin"))
		var refused *ReloadRefusedError
		if errors.As(err, &refused) {
			adminError(w, http.StatusUnprocessableEntity, rt.redact.String(err.Error()))
			return
		}
		if err != nil {
			adminError(w, http.StatusNotFound, rt.redact.String(err.Error()))
			return
		}
		for i := range results {
			results[i].Error = rt.redact.String(results[i].Error)
			results[i].Warning = rt.redact.String(results[i].Warning)
		}
		for _, res := range results {
			if !res.OK {
				w.WriteHeader(http.StatusUnprocessableEntity)
				break
			}
		}
		writeJSON(w, results)
	})
	mux.HandleFunc("/api/", rt.servePluginAPI)
	guard := newAdminGuard(agent)
	a.srv = &http.Server{Handler: guard.wrap(mux), ReadHeaderTimeout: 5 * time.Second, TLSConfig: tlsCfg,
		ErrorLog: slog.NewLogLogger(rt.log.Handler(), slog.LevelDebug)}
	go func() {
		if tlsCfg != nil {
			_ = a.srv.ServeTLS(ln, "", "")
		} else {
			_ = a.srv.Serve(ln)
		}
	}()
	rt.log.Info("admin API listening", "url", a.url(), "auth", guard.auth.describe())
	if beyondLoopback(agent.AdminAddr) != "" && guard.auth.configured() && tlsCfg == nil {
		rt.log.Warn("admin API: credentials travel in clear text beyond this host; set admin_tls_cert and admin_tls_key",
			"admin_addr", agent.AdminAddr)
	}
	return a, nil
}

// servePluginAPI hands a request under /api/ that no built-in route takes
// to the plugin that claims its path (see APIHandler).
func (rt *Runtime) servePluginAPI(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("plugin")
	for _, run := range rt.list() {
		h, ok := run.instance().(APIHandler)
		if !ok || name != "" && run.cfg.Name != name || run.state.Load() == "failed" {
			continue
		}
		for _, p := range h.APIPaths() {
			if r.URL.Path == p || strings.HasPrefix(r.URL.Path, p+"/") {
				rt.serveRedacted(h, w, r)
				return
			}
		}
	}
	if allow, ok := builtinAPI[r.URL.Path]; ok {
		w.Header().Set("Allow", allow)
		adminError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": use "+allow)
		return
	}
	adminError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
}

// serveRedacted hands r to a plugin's API and sends its answer with the
// config's secrets hidden, as /api/plugins shows its status: what a plugin
// keeps (a receiver's last error) may hold what a service echoed of them.
// The answer is buffered whole for that.
func (rt *Runtime) serveRedacted(h APIHandler, w http.ResponseWriter, r *http.Request) {
	rec := &bufferedResponse{header: w.Header()}
	h.ServeAPI(rec, r)
	for _, vs := range rec.header {
		for i, v := range vs {
			vs[i] = rt.redact.String(v)
		}
	}
	rec.header.Del("Content-Length") // the redacted body's length differs
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write([]byte(rt.redact.String(rec.body.String())))
}

// bufferedResponse keeps what a handler answers until it returns; the
// header is the real response's.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// builtinAPI are the runtime's own paths under /api/, with their method:
// the catch-all of the plugins' APIs answers another method with 405.
var builtinAPI = map[string]string{"/api/plugins": "GET", "/api/listeners": "GET", "/api/reload": "POST"}

// url is the admin API's base URL ("https://127.0.0.1:8377/").
func (a *adminServer) url() string { return a.scheme + "://" + a.addr + "/" }

func (a *adminServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
}

// adminGuard checks Host, credentials and origin before the admin mux.
type adminGuard struct {
	names map[string]bool // host names accepted in Host besides IPs and localhost
	auth  adminAuth
	cop   *http.CrossOriginProtection
}

func newAdminGuard(agent AgentConfig) *adminGuard {
	g := &adminGuard{names: map[string]bool{"localhost": true}, auth: newAdminAuth(agent),
		cop: http.NewCrossOriginProtection()}
	if host, _, err := net.SplitHostPort(agent.AdminAddr); err == nil && host != "" {
		g.names[normalHost(host)] = true
	}
	// This host's own name: a web page cannot be served under it by
	// someone else, so it is no rebinding risk, and scrapers use it.
	if h, err := os.Hostname(); err == nil && h != "" {
		g.names[normalHost(h)] = true
	}
	return g
}

func (g *adminGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r.Host) {
			adminError(w, http.StatusMisdirectedRequest, fmt.Sprintf(
				"Host %q is not this admin API: address it by IP, localhost or its configured address (a guard against DNS rebinding)", r.Host))
			return
		}
		if r.URL.Path != "/healthz" && !g.auth.ok(r) {
			g.auth.challenge(w)
			adminError(w, http.StatusUnauthorized, "authentication required: send the admin_token as \"Authorization: Bearer TOKEN\", or admin_user and admin_password as basic auth")
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if err := g.cop.Check(r); err != nil {
				adminError(w, http.StatusForbidden, "cross-origin request refused: the admin API takes state-changing requests only from its own origin")
				return
			}
			if r.Header.Get(AdminRequestHeader) == "" && !jsonContent(r) {
				adminError(w, http.StatusForbidden, fmt.Sprintf(
					"%s needs the header %s (any value) or Content-Type: application/json, which a web page cannot send to another origin", r.Method, AdminRequestHeader))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether a Host header names this server: an IP
// address, localhost, the configured address or this host's name. An empty
// Host (HTTP/1.0) comes from no browser.
func (g *adminGuard) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = normalHost(host)
	if host == "" || g.names[host] {
		return true
	}
	return net.ParseIP(host) != nil
}

func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

func jsonContent(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// adminAuth holds the SHA-256 of the configured credentials: comparing
// digests in constant time reveals neither the secrets nor their length.
type adminAuth struct {
	token, user, pass [sha256.Size]byte
	hasToken, hasUser bool
}

func newAdminAuth(agent AgentConfig) adminAuth {
	a := adminAuth{hasToken: agent.AdminToken != "", hasUser: agent.AdminUser != ""}
	a.token = sha256.Sum256([]byte(agent.AdminToken))
	a.user = sha256.Sum256([]byte(agent.AdminUser))
	a.pass = sha256.Sum256([]byte(agent.AdminPassword))
	return a
}

func (a adminAuth) configured() bool { return a.hasToken || a.hasUser }

func (a adminAuth) describe() string {
	switch {
	case a.hasToken && a.hasUser:
		return "token or basic"
	case a.hasToken:
		return "token"
	case a.hasUser:
		return "basic"
	}
	return "none"
}

func (a adminAuth) ok(r *http.Request) bool {
	if !a.configured() {
		return true
	}
	if a.hasToken {
		h := r.Header.Get("Authorization")
		if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
			got := sha256.Sum256([]byte(h[7:]))
			if subtle.ConstantTimeCompare(got[:], a.token[:]) == 1 {
				return true
			}
		}
	}
	if a.hasUser {
		if u, p, ok := r.BasicAuth(); ok {
			gu, gp := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
			if subtle.ConstantTimeCompare(gu[:], a.user[:])&subtle.ConstantTimeCompare(gp[:], a.pass[:]) == 1 {
				return true
			}
		}
	}
	return false
}

func (a adminAuth) challenge(w http.ResponseWriter) {
	if a.hasUser {
		w.Header().Add("WWW-Authenticate", `Basic realm="interoceptor", charset="UTF-8"`)
	}
	if a.hasToken {
		w.Header().Add("WWW-Authenticate", `Bearer realm="interoceptor"`)
	}
}

func adminError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]string{"error": msg})
}

// adminErrors checks the admin keys of [agent]; validate calls it. An
// address beyond loopback needs credentials, or the user's explicit
// admin_allow_unauthenticated.
func (cfg *Config) adminErrors() []error {
	a := cfg.Agent
	var errs []error
	bad := func(key, msg string) {
		// validate locates the key where it was last set.
		errs = append(errs, &ConfigError{Plugin: "agent", Key: key, Msg: msg})
	}
	// Named at the key that is set, which has a line.
	for _, pair := range [][2]string{{"admin_user", "admin_password"}, {"admin_tls_cert", "admin_tls_key"}} {
		v := map[string]string{"admin_user": a.AdminUser, "admin_password": a.AdminPassword,
			"admin_tls_cert": a.AdminTLSCert, "admin_tls_key": a.AdminTLSKey}
		for i, key := range pair {
			if other := pair[1-i]; v[key] != "" && v[other] == "" {
				bad(key, fmt.Sprintf("set without %s: %s and %s go together", other, pair[0], pair[1]))
			}
		}
	}
	if a.AdminAddr == "" || a.AdminAddr == "off" {
		return errs
	}
	_, port, err := net.SplitHostPort(a.AdminAddr)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
		bad("admin_addr", fmt.Sprintf("%q is not HOST:PORT (e.g. \"127.0.0.1:8377\"), nor \"off\"", a.AdminAddr))
		return errs
	}
	// The same test as [nats] listen: a name counts as loopback when every
	// address it resolves to is.
	if beyondLoopback(a.AdminAddr) != "" && a.AdminToken == "" && a.AdminUser == "" && !a.AdminAllowUnauthenticated {
		bad("admin_addr", fmt.Sprintf("%q listens beyond this host, and the admin API has no authentication: "+
			"whoever reaches it can read the pipeline and reload it. Set admin_token (or admin_user and admin_password), "+
			"or admin_allow_unauthenticated = true to accept that", a.AdminAddr))
	}
	return errs
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// PluginStatus is one entry of /api/plugins.
type PluginStatus struct {
	Kind      Kind               `json:"kind"`
	Type      string             `json:"type"`
	Name      string             `json:"name"`
	State     string             `json:"state"`
	Publish   string             `json:"publish,omitempty"`
	Subscribe []string           `json:"subscribe,omitempty"`
	Queue     string             `json:"queue,omitempty"`
	Matcher   string             `json:"matcher,omitempty"`
	Decoder   string             `json:"decoder,omitempty"`
	Status    map[string]any     `json:"status,omitempty"`
	Gauges    map[string]float64 `json:"gauges,omitempty"`
	Counters  struct {
		In             uint64  `json:"in"`
		Out            uint64  `json:"out"`
		Dropped        uint64  `json:"dropped"`
		Errors         uint64  `json:"errors"`
		Duplicates     uint64  `json:"duplicates,omitempty"` // durable mode
		ProcessSeconds float64 `json:"process_seconds"`
	} `json:"counters"`
}

// PluginStatus reports every plugin's identity, subjects, counters and state.
func (rt *Runtime) PluginStatus() []PluginStatus {
	out := make([]PluginStatus, 0, len(rt.list()))
	for _, r := range rt.list() {
		st := PluginStatus{Kind: r.cfg.Kind, Type: r.cfg.Type, Name: r.cfg.Name, Status: r.ownStatus(),
			Publish: r.cfg.Publish, Subscribe: r.cfg.Subscribe, Queue: r.cfg.Queue, Decoder: r.cfg.Decoder}
		st.State = r.stateWith(st.Status)
		if r.cfg.Matcher != nil {
			st.Matcher = r.cfg.Matcher.String()
		}
		s := r.stats.Snapshot()
		st.Counters.In, st.Counters.Out, st.Counters.Dropped, st.Counters.Errors = s.In, s.Out, s.Dropped, s.Errors
		st.Counters.ProcessSeconds = s.ProcessSeconds
		st.Counters.Duplicates = s.Duplicates
		if sr, ok := r.decoder.(StatusReporter); ok {
			if st.Status == nil {
				st.Status = map[string]any{}
			}
			st.Status["decoder"] = sr.Status()
		}
		if st.Status != nil {
			st.Status = rt.redact.Value(st.Status).(map[string]any)
		}
		st.Matcher = rt.redact.String(st.Matcher)
		if g, ok := r.cfg.Plugin.(GaugeReporter); ok {
			st.Gauges = g.Gauges()
		}
		out = append(out, st)
	}
	return out
}

// statsCollector exposes the plugin counters to Prometheus at scrape time,
// so the hot path only touches atomics.
type statsCollector struct{ rt *Runtime }

var (
	labels      = []string{"kind", "type", "name"}
	descIn      = prometheus.NewDesc("interoceptor_plugin_messages_in_total", "Messages handed to the plugin (for inputs: lines read).", labels, nil)
	descOut     = prometheus.NewDesc("interoceptor_plugin_messages_out_total", "Messages the plugin emitted (for outputs: written).", labels, nil)
	descDropped = prometheus.NewDesc("interoceptor_plugin_messages_dropped_total", "Messages lost by the plugin, each also logged.", labels, nil)
	descDups    = prometheus.NewDesc("interoceptor_plugin_messages_duplicate_total",
		"Messages seen twice: lines read or delivered again and dropped by their id, lines in doubt after a crash written again, batches the stream de-duplicated, redeliveries.", labels, nil)
	descErrors  = prometheus.NewDesc("interoceptor_plugin_errors_total", "Failed calls, bad input and decode errors.", labels, nil)
	descSeconds = prometheus.NewDesc("interoceptor_plugin_process_seconds_total", "Time spent inside the plugin's own code.", labels, nil)
	descUp      = prometheus.NewDesc("interoceptor_plugin_running", "1 while the plugin is running.", labels, nil)
	descBatches = prometheus.NewDesc("interoceptor_nats_published_batches_total", "Batches this process published on NATS.", nil, nil)
)

// Describe sends nothing: plugins add gauges of their own (GaugeReporter),
// so this is an unchecked collector.
func (c *statsCollector) Describe(chan<- *prometheus.Desc) {}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.rt.list() {
		l := []string{string(r.cfg.Kind), r.cfg.Type, c.rt.redact.String(r.cfg.Name)}
		s := r.stats.Snapshot()
		ch <- prometheus.MustNewConstMetric(descIn, prometheus.CounterValue, float64(s.In), l...)
		ch <- prometheus.MustNewConstMetric(descOut, prometheus.CounterValue, float64(s.Out), l...)
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped), l...)
		ch <- prometheus.MustNewConstMetric(descDups, prometheus.CounterValue, float64(s.Duplicates), l...)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.Errors), l...)
		ch <- prometheus.MustNewConstMetric(descSeconds, prometheus.CounterValue, s.ProcessSeconds, l...)
		up := 0.0
		if r.running() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, l...)
		if g, ok := r.cfg.Plugin.(GaugeReporter); ok {
			gauges := g.Gauges()
			cr, _ := r.cfg.Plugin.(CounterReporter)
			for _, k := range sortedKeys(gauges) {
				name, help, vt := "interoceptor_plugin_"+k, "Reported by the plugin itself.", prometheus.GaugeValue
				if cr != nil && cr.IsCounter(k) {
					name, help, vt = name+"_total", "Counted by the plugin itself, since it started.", prometheus.CounterValue
				}
				d := prometheus.NewDesc(name, help, labels, nil)
				ch <- prometheus.MustNewConstMetric(d, vt, gauges[k], l...)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(c.rt.published.Load()))
}

// LoadAgentConfig reads only the [agent] table of a pipeline (a file, or a
// directory merged as LoadConfig does), for the commands that call its
// admin API: a broken plugin elsewhere in the file (the script being
// reloaded) must not stop them.
func LoadAgentConfig(path string) (AgentConfig, error) {
	files, err := configFiles(path)
	if err != nil {
		return AgentConfig{}, err
	}
	cfg := newConfig(files)
	var errs []error
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return AgentConfig{}, err
		}
		doc, lines, perrs := parseFile(f, string(src))
		if len(perrs) > 0 {
			errs = append(errs, perrs...)
			continue
		}
		if _, ok := doc["agent"]; ok {
			errs = append(errs, cfg.decodeSection(f, doc, "agent", &cfg.Agent, lines)...)
		}
	}
	if len(errs) > 0 {
		redactErrors(cfg.Redactor(), errs)
		return AgentConfig{}, errors.Join(errs...)
	}
	return cfg.Agent, nil
}
