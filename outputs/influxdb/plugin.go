// Package influxdb is the outputs.influxdb plugin: it writes metric points
// and log messages to InfluxDB through the v2 write API (/api/v2/write:
// InfluxDB 2.x and 3.x, and 1.8+ with bucket "db/rp"), in batches, and keeps
// what it cannot deliver yet in memory and then on disk, in order, until
// InfluxDB takes it.
package influxdb

// Where to find what:
//
//	plugin.go    registration, the keys and their checks, Init, Write, Flush,
//	             Close, gauges and status
//	queue.go     the queue of batches: filling, the memory bound and the spill
//	             to disk, full_action, the batch the writer takes next
//	disk.go      the disk half of the queue: segment files, records, cursor
//	delivery.go  the writer: it sends the oldest batch over HTTP and retries
//	             with backoff; what InfluxDB's answer means for the points
//	line.go      a message as a line of line protocol

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/interoceptor/interoceptor/pipeline"
)

//go:embed sample.toml
var sample string

func init() {
	pipeline.Register(pipeline.Registration{
		Kind:        pipeline.KindOutput,
		Type:        "influxdb",
		Description: "Writes metrics and logs to InfluxDB (v2 write API: 2.x, 3.x, 1.8+), buffering in memory and on disk while it is unreachable",
		Sample:      sample,
		New: func() any {
			return &InfluxDB{
				Precision:        "ns",
				BatchSize:        5000,
				FlushInterval:    pipeline.Duration(time.Second),
				Gzip:             true,
				Timeout:          pipeline.Duration(10 * time.Second),
				MaxRetryInterval: pipeline.Duration(10 * time.Second),
				BufferBytes:      16 << 20,
				DiskBufferBytes:  1 << 30,
				FullAction:       fullBlock,
			}
		},
	})
}

// The values of full_action.
const (
	fullBlock      = "block"
	fullDropOldest = "drop_oldest"
)

// How long Close tries to deliver before it keeps the rest on disk, and how
// long a Write waits for room before it asks the runtime to retry.
const (
	closeWait = 5 * time.Second
	blockWait = time.Second
)

// InfluxDB writes each message as one point (README: the mapping). Write
// turns a batch into lines of line protocol and queues them; a writer
// goroutine sends them, batch_size points at a time or flush_interval after
// the first, in order. What InfluxDB does not take yet waits: in memory up
// to buffer_bytes, then on disk up to disk_buffer_bytes, then full_action
// decides.
//
// The queue, oldest first: the batch the writer holds (being sent or
// retried), the batches on disk, the batches in memory, the batch being
// filled. Memory overflows by moving its oldest batch to the end of the
// disk queue, so the order holds; the writer takes from disk while there is
// anything there.
type InfluxDB struct {
	URL                 string            `toml:"url" secret:"url"`
	Bucket              string            `toml:"bucket"`
	Org                 string            `toml:"org"`
	Token               string            `toml:"token" secret:"true"`
	Precision           string            `toml:"precision"`
	BatchSize           int               `toml:"batch_size"`
	FlushInterval       pipeline.Duration `toml:"flush_interval"`
	Gzip                bool              `toml:"gzip"`
	Timeout             pipeline.Duration `toml:"timeout"`
	MaxRetryInterval    pipeline.Duration `toml:"max_retry_interval"`
	BufferBytes         int64             `toml:"buffer_bytes"`
	DiskBufferBytes     int64             `toml:"disk_buffer_bytes"`
	FullAction          string            `toml:"full_action"`
	LogMeasurement      string            `toml:"log_measurement"`
	LogMeasurementField string            `toml:"log_measurement_field"`
	UintSupport         bool              `toml:"uint_support"`
	TLSCA               string            `toml:"tls_ca" path:"true"`
	TLSCert             string            `toml:"tls_cert" path:"true"`
	TLSKey              string            `toml:"tls_key" secret:"file" path:"true"`
	InsecureSkipVerify  bool              `toml:"insecure_skip_verify"`

	env     *pipeline.Env
	enc     lineEncoder
	snd     *sender
	client  influxdb2.Client
	dir     string // data_dir/influxdb/<name>
	scratch []byte // Write: the lines of the batch being written
	ends    []int  // Write: where each line of scratch ends

	cancel    context.CancelFunc // stops the writer, aborting a request
	closingCh chan struct{}      // closed when Close starts: stop waiting, deliver
	done      chan struct{}      // closed when the writer has returned
	wake      chan struct{}      // Write to writer: there is something to send

	mu        sync.Mutex
	closing   bool
	cur       []byte // the batch being filled
	curPoints int
	curSince  time.Time
	mem       []*batch // sealed batches, oldest first
	memBytes  int64    // cur, mem and held (when it came from memory)
	memPoints int64
	held      *batch     // a batch from memory the writer is sending or retrying
	disk      *diskQueue // nil with disk_buffer_bytes = 0
	// The disk record the writer is sending, if any; detached when
	// drop_oldest deleted its segment meanwhile (counted as dropped then,
	// less its points, which count when the send ends).
	diskSending  bool
	diskDetached bool
	diskPoints   int
	room         chan struct{} // closed and replaced whenever room is made
	readBuf      []byte        // the disk record being sent
	free         [][]byte      // buffers of delivered batches, for cur

	written, rejected, dropped, retries uint64
	lastErr                             string
	failingSince                        time.Time

	dropLog, rejectLog, retryLog, diskLog pipeline.LogThrottle
}

var (
	_ pipeline.Output          = (*InfluxDB)(nil)
	_ pipeline.Validator       = (*InfluxDB)(nil)
	_ pipeline.Initializer     = (*InfluxDB)(nil)
	_ pipeline.Flusher         = (*InfluxDB)(nil)
	_ pipeline.Closer          = (*InfluxDB)(nil)
	_ pipeline.GaugeReporter   = (*InfluxDB)(nil)
	_ pipeline.CounterReporter = (*InfluxDB)(nil)
	_ pipeline.StatusReporter  = (*InfluxDB)(nil)
)

// Ranges of the keys that size or time the output.
var (
	batchSizeRange        = pipeline.CountRange{Min: 1, Max: 1_000_000}                                // points per request
	flushIntervalRange    = pipeline.DurationRange{Min: 10 * time.Millisecond, Max: time.Hour}         // a timer per batch
	timeoutRange          = pipeline.DurationRange{Min: 100 * time.Millisecond, Max: 10 * time.Minute} // one request
	maxRetryIntervalRange = pipeline.DurationRange{Min: 100 * time.Millisecond, Max: time.Hour}        // between two tries
	bufferBytesRange      = pipeline.ByteRange{Min: 1 << 10, Max: 1 << 30}                             // memory: what a machine holds
	diskBufferBytesRange  = pipeline.ByteRange{Min: 64 << 10, Max: 1 << 40}                            // disk, 0 aside
)

// Validate checks the decoded keys.
func (o *InfluxDB) Validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var u *url.URL
	if o.URL == "" {
		add(pipeline.MissingKey("url"))
	} else if v, err := url.Parse(o.URL); err != nil || (v.Scheme != "http" && v.Scheme != "https") || v.Host == "" {
		add(pipeline.InvalidKey("url", "want http://host:port or https://host:port; got %q", pipeline.RedactURL(o.URL)))
	} else {
		u = v
	}
	if o.Bucket == "" {
		add(pipeline.MissingKey("bucket"))
	}
	switch o.Precision {
	case "ns", "us", "ms", "s":
	default:
		add(pipeline.InvalidKey("precision", `must be one of "ns", "us", "ms", "s"; got %q`, o.Precision))
	}
	add(batchSizeRange.Check("batch_size", int64(o.BatchSize)))
	add(flushIntervalRange.Check("flush_interval", time.Duration(o.FlushInterval)))
	add(timeoutRange.Check("timeout", time.Duration(o.Timeout)))
	add(maxRetryIntervalRange.Check("max_retry_interval", time.Duration(o.MaxRetryInterval)))
	add(bufferBytesRange.Check("buffer_bytes", o.BufferBytes))
	if o.DiskBufferBytes != 0 && diskBufferBytesRange.Check("disk_buffer_bytes", o.DiskBufferBytes) != nil {
		add(pipeline.InvalidKey("disk_buffer_bytes", "must be 0 (no disk buffer) or %s; got %d", diskBufferBytesRange, o.DiskBufferBytes))
	}
	if o.FullAction != fullBlock && o.FullAction != fullDropOldest {
		add(pipeline.InvalidKey("full_action", `must be "block" or "drop_oldest"; got %q`, o.FullAction))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		key := "tls_key"
		if o.TLSCert == "" {
			key = "tls_cert"
		}
		add(pipeline.InvalidKey(key, "tls_cert and tls_key go together: set both or neither"))
	}
	if u != nil && u.Scheme == "http" {
		for _, k := range []struct{ key, v string }{{"tls_ca", o.TLSCA}, {"tls_cert", o.TLSCert}} {
			if k.v != "" {
				add(pipeline.InvalidKey(k.key, "is set, but url %q is not https", pipeline.RedactURL(o.URL)))
			}
		}
		if o.InsecureSkipVerify {
			add(pipeline.InvalidKey("insecure_skip_verify", "is set, but url %q is not https", pipeline.RedactURL(o.URL)))
		}
	}
	return errors.Join(errs...)
}

// Init builds the HTTP client, opens the disk buffer under
// data_dir/influxdb/<name>/ (batches left there by a previous run are sent
// first) and starts the writer. InfluxDB need not be up.
func (o *InfluxDB) Init(env *pipeline.Env) error {
	o.env = env
	o.enc = lineEncoder{logMeasurement: o.LogMeasurement, logMeasurementField: o.LogMeasurementField,
		div: precisionDivisor(o.Precision), uintSupport: o.UintSupport}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if strings.HasPrefix(o.URL, "https:") {
		cfg, err := o.tlsConfig()
		if err != nil {
			return err
		}
		tr.TLSClientConfig = cfg
	}
	u, _ := url.Parse(o.URL) // checked by Validate
	u = u.JoinPath("api/v2/write")
	q := url.Values{"bucket": {o.Bucket}, "precision": {o.Precision}}
	if o.Org != "" {
		q.Set("org", o.Org)
	}
	u.RawQuery = q.Encode()
	// influxdb-client-go's HTTP service sends the requests (authorization,
	// user agent, our transport); the output reads each response itself,
	// because the client's write APIs either retry and drop on their own
	// (async) or lose InfluxDB 1.x's reason for a rejection (blocking).
	client := influxdb2.NewClientWithOptions(o.URL, o.Token, influxdb2.DefaultOptions().
		SetHTTPClient(&http.Client{Transport: tr, Timeout: time.Duration(o.Timeout)}))
	o.client = client
	o.snd = &sender{http: client.HTTPService(), url: u.String(), gzip: o.Gzip}

	o.room = make(chan struct{})
	dir := env.DataPath("influxdb", "")
	if o.DiskBufferBytes == 0 {
		if left, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix)); len(left) > 0 {
			env.Log.Warn("disk buffer: a previous run left points on disk; they are not sent while disk_buffer_bytes = 0",
				"dir", dir, "segments", len(left))
		}
	}
	if o.DiskBufferBytes > 0 {
		o.dir = dir
		seg := min(max(o.DiskBufferBytes/16, 4<<10), 64<<20)
		q, torn, err := openDisk(o.dir, seg)
		if err != nil {
			return fmt.Errorf("disk buffer %s: %w", o.dir, err)
		}
		o.disk = q
		for _, t := range torn {
			env.Log.Warn("disk buffer: a record cut short by a crash was cut off", "dir", o.dir, "what", t)
		}
		if !q.empty() {
			env.Log.Info("disk buffer: delivering what a previous run left, first", "dir", o.dir,
				"points", q.points, "bytes", q.bytes)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	o.closingCh = make(chan struct{})
	o.done = make(chan struct{})
	o.wake = make(chan struct{}, 1)
	go o.run(ctx)
	return nil
}

func (o *InfluxDB) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: o.InsecureSkipVerify} // false unless the user asked
	if o.TLSCA != "" {
		pem, err := os.ReadFile(o.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("tls_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca: %s holds no PEM certificate", o.TLSCA)
		}
		cfg.RootCAs = pool
	}
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls_cert, tls_key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Write turns each message into a line and queues the lines; it does not
// wait for InfluxDB. A message that has no line protocol form (a NaN, a
// bytes value in a metric) is skipped, counted in Dropped and Errors, and
// logged. With full_action = "block", when memory and disk are full, Write
// waits up to a second for room and then returns a retryable error without
// having taken anything: the runtime retries, holding back the publishers.
func (o *InfluxDB) Write(batch []*pipeline.Message) error {
	o.scratch, o.ends = o.scratch[:0], o.ends[:0]
	skipped := 0
	var skipErr error
	for _, m := range batch {
		var err error
		o.scratch, err = o.enc.appendLine(o.scratch, m)
		if err != nil {
			skipped++
			skipErr = err
			continue
		}
		o.ends = append(o.ends, len(o.scratch))
	}
	if len(o.ends) > 0 {
		if err := o.waitForRoom(); err != nil {
			return err
		}
	}
	if skipped > 0 {
		o.env.Stats.Dropped.Add(uint64(skipped))
		o.env.Stats.Errors.Add(uint64(skipped))
		if ok, more := o.dropLog.Allow(); ok {
			o.env.Log.Warn("message skipped: it has no line protocol form", "messages", skipped,
				"error", skipErr, "more_since_last_warning", more)
		}
	}
	if len(o.ends) == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	start := 0
	for i := 0; i < len(o.ends); {
		if o.curPoints == 0 {
			o.curSince = time.Now()
			if len(o.free) > 0 {
				o.cur, o.free = o.free[len(o.free)-1][:0], o.free[:len(o.free)-1]
			}
			o.kick() // the writer starts the flush_interval clock
		}
		n := min(o.BatchSize-o.curPoints, len(o.ends)-i)
		end := o.ends[i+n-1]
		o.cur = append(o.cur, o.scratch[start:end]...)
		o.curPoints += n
		o.memBytes += int64(end - start)
		o.memPoints += int64(n)
		start, i = end, i+n
		if o.curPoints >= o.BatchSize {
			o.seal()
		}
	}
	o.spill()
	return nil
}

// Flush does nothing and never waits for InfluxDB: batches go out at
// batch_size points or flush_interval after their first point, and Close
// delivers (or keeps on disk) the rest.
func (o *InfluxDB) Flush() error { return nil }

// Close delivers what it can within closeWait; what is left (InfluxDB down,
// or too much to send in time) goes to the disk buffer, to be delivered at
// the next start. Without a disk buffer it is counted as dropped.
func (o *InfluxDB) Close() error {
	if o.done == nil {
		return nil // never initialised, or closed
	}
	o.mu.Lock()
	o.closing = true
	o.seal()
	o.mu.Unlock()
	close(o.closingCh)
	t := time.NewTimer(closeWait)
	select {
	case <-o.done:
	case <-t.C:
	}
	t.Stop()
	o.cancel()
	<-o.done
	o.done = nil
	o.client.Close()

	o.mu.Lock()
	defer o.mu.Unlock()
	o.seal()
	left := o.memPoints
	var errs []error
	if o.disk != nil {
		// Past disk_buffer_bytes if need be (by at most buffer_bytes): at
		// shutdown keeping the points beats keeping the bound.
		if o.held != nil {
			if err := o.disk.prepend(o.held.data, o.held.points); err != nil {
				errs = append(errs, err)
				o.lose(o.held.points, "disk buffer unwritable at shutdown")
			}
			o.held = nil
		}
		for _, b := range o.mem {
			if err := o.disk.append(b.data, b.points); err != nil {
				errs = append(errs, err)
				o.lose(b.points, "disk buffer unwritable at shutdown")
			}
		}
		if err := o.disk.close(); err != nil {
			errs = append(errs, err)
		}
		if o.disk.points > 0 {
			o.env.Log.Info("InfluxDB did not take everything before shutdown: the rest is on disk, for the next start",
				"points", o.disk.points, "bytes", o.disk.bytes, "dir", o.dir, "last_error", o.lastErr)
		}
	} else if left > 0 {
		o.lose(int(left), "shutdown with InfluxDB unreachable and no disk buffer (disk_buffer_bytes = 0)")
		o.env.Log.Error("points lost at shutdown: InfluxDB did not take them and there is no disk buffer",
			"points", left, "last_error", o.lastErr)
	}
	o.mem, o.held, o.cur, o.curPoints, o.memBytes, o.memPoints = nil, nil, nil, 0, 0, 0
	return errors.Join(errs...)
}

// Gauges reports the buffer and delivery counters, as
// interoceptor_plugin_influxdb_*.
func (o *InfluxDB) Gauges() map[string]float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return map[string]float64{
		"influxdb_buffered_points": float64(o.memPoints + o.diskPointsLocked()),
		"influxdb_memory_bytes":    float64(o.memBytes),
		"influxdb_disk_bytes":      float64(o.diskBytesLocked()),
		"influxdb_written_points":  float64(o.written),
		"influxdb_rejected_points": float64(o.rejected),
		"influxdb_dropped_points":  float64(o.dropped),
		"influxdb_retries":         float64(o.retries),
	}
}

// IsCounter reports which of the Gauges keys only grow: the points written,
// rejected and dropped, and the retries (pipeline.CounterReporter).
func (o *InfluxDB) IsCounter(key string) bool {
	switch key {
	case "influxdb_written_points", "influxdb_rejected_points", "influxdb_dropped_points", "influxdb_retries":
		return true
	}
	return false
}

// Status shows where the output writes and, while InfluxDB fails, why.
func (o *InfluxDB) Status() map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := map[string]any{"url": pipeline.RedactURL(o.URL), "bucket": o.Bucket}
	if o.dir != "" {
		s["disk_dir"] = o.dir
	}
	if !o.failingSince.IsZero() {
		s["failing_since"] = o.failingSince.UTC().Format(time.RFC3339)
		s["last_error"] = o.lastErr
	}
	return s
}
