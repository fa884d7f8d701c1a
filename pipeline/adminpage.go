package pipeline

import (
	"html/template"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Listeners is what GET /api/listeners reports: the addresses this process
// has bound, read from its sockets (a port 0 in the config shows as the port
// the system chose), so that a script or a banner can say where things are
// without trusting the config.
type Listeners struct {
	Admin       string          `json:"admin,omitempty"`        // the admin API's base URL
	NATS        string          `json:"nats,omitempty"`         // the embedded server's client URL; empty when it is in-process only or external
	NATSCluster string          `json:"nats_cluster,omitempty"` // the embedded server's route address, in a cluster
	Inputs      []InputListener `json:"inputs,omitempty"`       // inputs that listen (tcp, udp, syslog)
}

// InputListener is one input's bound address.
type InputListener struct {
	Plugin  string `json:"plugin"`  // kind.type[name]
	Network string `json:"network"` // tcp or udp
	Addr    string `json:"addr"`
}

// addressed is an input that listens (inputs.tcp, inputs.udp,
// inputs.syslog); Addr is nil until it has bound.
type addressed interface{ Addr() net.Addr }

// Listeners reports the addresses this process has bound.
func (rt *Runtime) Listeners() Listeners { return rt.listeners(rt.AdminURL()) }

func (rt *Runtime) listeners(adminURL string) Listeners {
	l := Listeners{Admin: adminURL}
	if s := rt.bus.Server; s != nil && rt.cfg.Nats.Listen != "" {
		if a := s.Addr(); a != nil {
			scheme := "nats"
			if strings.HasPrefix(s.ClientURL(), "tls://") {
				scheme = "tls"
			}
			l.NATS = scheme + "://" + a.String()
		}
		if a := s.ClusterAddr(); a != nil {
			l.NATSCluster = a.String()
		}
	}
	for _, r := range rt.list() {
		in, ok := r.instance().(addressed)
		if !ok || r.cfg.Kind != KindInput {
			continue
		}
		if a := in.Addr(); a != nil {
			l.Inputs = append(l.Inputs, InputListener{Plugin: rt.redact.String(r.cfg.ID()),
				Network: a.Network(), Addr: a.String()})
		}
	}
	return l
}

// indexPage returns the admin API's "/": the plugins with their counters,
// and links to the other endpoints. html/template escapes every value.
// Parsed on first use: a pipeline whose "/" is never asked for (or whose
// admin API is off) never needs it.
var indexPage = sync.OnceValue(func() *template.Template { return template.Must(template.New("index").Parse(indexPageSource)) })

const indexPageSource = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Interoceptor {{.Agent}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<h1>Interoceptor {{.Agent}}</h1>
<p>{{if .Listeners.NATS}}NATS {{.Listeners.NATS}} · {{end}}up {{.Uptime}}{{if .Draining}} · draining{{end}}</p>
<h2>Plugins</h2>
<table>
<tr><th>plugin</th><th>state</th><th>subjects</th><th>in</th><th>out</th><th>dropped</th><th>errors</th></tr>
{{range .Plugins}}<tr><td>{{.Kind}}.{{.Type}}[{{.Name}}]</td><td>{{.State}}</td><td>{{.Subjects}}</td><td class="n">{{.Counters.In}}</td><td class="n">{{.Counters.Out}}</td><td class="n">{{.Counters.Dropped}}</td><td class="n">{{.Counters.Errors}}</td></tr>
{{end}}</table>
<h2>Endpoints</h2>
<ul>
{{range .Links}}<li><a href="{{.Path}}">{{.Path}}</a> {{.What}}</li>
{{end}}</ul>
</body>
</html>
`

type indexPlugin struct {
	PluginStatus
	Subjects string
}

type indexLink struct{ Path, What string }

// serveIndex answers GET / with indexPage, built from what /api/plugins
// shows (secrets hidden alike).
func (rt *Runtime) serveIndex(w http.ResponseWriter, adminURL string) {
	data := struct {
		Agent     string
		Uptime    string
		Draining  bool
		Listeners Listeners
		Plugins   []indexPlugin
		Links     []indexLink
	}{Agent: rt.redact.String(rt.cfg.Agent.Name), Uptime: uptime(rt), Draining: rt.draining.Load(), Listeners: rt.listeners(adminURL)}
	for _, st := range rt.PluginStatus() {
		st.Name, st.State = rt.redact.String(st.Name), rt.redact.String(st.State)
		subjects := strings.Join(st.Subscribe, ", ")
		if st.Publish != "" {
			subjects = strings.TrimPrefix(subjects+" → "+st.Publish, " ")
		}
		data.Plugins = append(data.Plugins, indexPlugin{PluginStatus: st, Subjects: rt.redact.String(subjects)})
	}
	data.Links = []indexLink{
		{"/healthz", "status and uptime (JSON; needs no credentials)"},
		{"/metrics", "Prometheus metrics"},
		{"/api/plugins", "every plugin's state, subjects and counters (JSON)"},
		{"/api/listeners", "the addresses this process listens on (JSON)"},
	}
	for _, p := range rt.pluginAPIPaths() {
		data.Links = append(data.Links, indexLink{p, "served by a plugin"})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = indexPage().Execute(w, data)
}

// pluginAPIPaths are the paths the running plugins serve (APIHandler),
// sorted, once each.
func (rt *Runtime) pluginAPIPaths() []string {
	seen := map[string]bool{}
	for _, r := range rt.list() {
		h, ok := r.instance().(APIHandler)
		if !ok || r.state.Load() == "failed" {
			continue
		}
		for _, p := range h.APIPaths() {
			if _, builtin := builtinAPI[p]; !builtin {
				seen[p] = true
			}
		}
	}
	paths := make([]string, 0, len(seen))
	for p := range seen {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

func uptime(rt *Runtime) string {
	return time.Since(rt.started).Round(time.Second).String()
}
