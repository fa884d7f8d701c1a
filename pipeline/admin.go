package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminServer serves the admin API: /healthz, /metrics, /api/plugins.
type adminServer struct {
	addr string
	srv  *http.Server
}

func startAdmin(rt *Runtime, addr string) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent.admin_addr %q: %w", addr, err)
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
	mux.HandleFunc("POST /api/reload", func(w http.ResponseWriter, r *http.Request) {
		results, err := rt.Reload(r.URL.Query().Get("plugin"))
		if err != nil {
			w.WriteHeader(http.StatusNotFound)
			writeJSON(w, map[string]any{"error": err.Error()})
			return
		}
		for _, res := range results {
			if !res.OK {
				w.WriteHeader(http.StatusUnprocessableEntity)
				break
			}
		}
		writeJSON(w, results)
	})
	a := &adminServer{addr: ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = a.srv.Serve(ln) }()
	rt.log.Info("admin API listening", "url", "http://"+a.addr+"/")
	return a, nil
}

func (a *adminServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
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
	out := make([]PluginStatus, 0, len(rt.runners))
	for _, r := range rt.runners {
		st := PluginStatus{Kind: r.cfg.Kind, Type: r.cfg.Type, Name: r.cfg.Name, State: r.state.Load().(string),
			Publish: r.cfg.Publish, Subscribe: r.cfg.Subscribe, Queue: r.cfg.Queue, Decoder: r.cfg.Decoder}
		if r.cfg.Matcher != nil {
			st.Matcher = r.cfg.Matcher.String()
		}
		s := r.stats.Snapshot()
		st.Counters.In, st.Counters.Out, st.Counters.Dropped, st.Counters.Errors = s.In, s.Out, s.Dropped, s.Errors
		st.Counters.ProcessSeconds = s.ProcessSeconds
		st.Counters.Duplicates = s.Duplicates
		if sr, ok := r.cfg.Plugin.(StatusReporter); ok {
			st.Status = sr.Status()
		}
		if sr, ok := r.decoder.(StatusReporter); ok {
			if st.Status == nil {
				st.Status = map[string]any{}
			}
			st.Status["decoder"] = sr.Status()
		}
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
	for _, r := range c.rt.runners {
		l := []string{string(r.cfg.Kind), r.cfg.Type, r.cfg.Name}
		s := r.stats.Snapshot()
		ch <- prometheus.MustNewConstMetric(descIn, prometheus.CounterValue, float64(s.In), l...)
		ch <- prometheus.MustNewConstMetric(descOut, prometheus.CounterValue, float64(s.Out), l...)
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped), l...)
		ch <- prometheus.MustNewConstMetric(descDups, prometheus.CounterValue, float64(s.Duplicates), l...)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.Errors), l...)
		ch <- prometheus.MustNewConstMetric(descSeconds, prometheus.CounterValue, s.ProcessSeconds, l...)
		up := 0.0
		if r.state.Load() == "running" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, l...)
		if g, ok := r.cfg.Plugin.(GaugeReporter); ok {
			gauges := g.Gauges()
			for _, k := range sortedKeys(gauges) {
				d := prometheus.NewDesc("interoceptor_plugin_"+k, "Reported by the plugin itself.", labels, nil)
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, gauges[k], l...)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(c.rt.published.Load()))
}
