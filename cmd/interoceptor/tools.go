package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/wire"
	"github.com/nats-io/nats.go"
)

// toolConn holds the flags every NATS tool shares.
type toolConn struct {
	server *string
	config *string
}

func addConnFlags(fs *flag.FlagSet) toolConn {
	return toolConn{
		server: fs.String("server", "nats://127.0.0.1:4222", "NATS `url` of the pipeline (its [nats] url, or the embedded server's listen address)"),
		config: fs.String("config", "", "take the NATS url and credentials from this pipeline `file` instead of -server"),
	}
}

func (t toolConn) connect(name string) (*nats.Conn, error) {
	url := *t.server
	var nc pipeline.NatsConfig
	if *t.config != "" {
		cfg, err := pipeline.LoadConfig(*t.config)
		if err != nil {
			return nil, err
		}
		nc = cfg.Nats
		switch {
		case nc.URL != "":
			url = nc.URL
		case nc.Listen != "":
			url = "nats://" + nc.Listen
		default:
			return nil, fmt.Errorf("%s: its NATS server is embedded and in-process only; set nats.listen so that tools can reach it", *t.config)
		}
	}
	opts, err := pipeline.ClientOptions(nc)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.Name("interoceptor "+name))
	conn, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", pipeline.RedactURL(url), err)
	}
	return conn, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func cmdCat(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("cat", "", stderr)
	conn := addConnFlags(fs)
	subject := fs.String("subject", "", "NATS `subject` to print, wildcards allowed (required)")
	count := fs.Int("count", 0, "exit after this many messages (0: until interrupted)")
	format := fs.String("format", "json", "json, payload or influx")
	if code, done := parse(fs, args); done {
		return code
	}
	if *subject == "" {
		fmt.Fprintln(stderr, "interoceptor cat: -subject is required")
		fs.Usage()
		return 2
	}
	if !isFormatOK(*format) {
		fmt.Fprintf(stderr, "interoceptor cat: -format %q: use json, payload or influx\n", *format)
		return 2
	}
	nc, err := conn.connect("cat")
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor cat:", err)
		return 1
	}
	defer nc.Close()
	ctx, cancel := signalContext()
	defer cancel()
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	msgs := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(*subject, msgs)
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor cat:", err)
		return 1
	}
	_ = sub.SetPendingLimits(-1, 256<<20)
	var dec pipeline.BatchDecoder
	var buf []byte
	seen := 0
	for {
		select {
		case <-ctx.Done():
			return 0
		case msg := <-msgs:
			data, err := pipeline.BatchData(msg) // a durable publisher's batches are compressed
			var batch []*pipeline.Message
			if err == nil {
				batch, err = dec.Decode(data)
			}
			if err != nil {
				fmt.Fprintf(stderr, "interoceptor cat: %s: not an Interoceptor batch (%d bytes): %v\n", msg.Subject, len(msg.Data), err)
				continue
			}
			for _, m := range batch {
				buf, err = wire.AppendFormatted(buf[:0], m, *format)
				if err != nil {
					fmt.Fprintf(stderr, "interoceptor cat: %v\n", err)
					continue
				}
				_, _ = w.Write(buf)
				seen++
				if *count > 0 && seen >= *count {
					return 0
				}
			}
			if len(msgs) == 0 {
				_ = w.Flush()
			}
		}
	}
}

func isFormatOK(f string) bool {
	for _, g := range wire.OutputFormats {
		if f == g {
			return true
		}
	}
	return false
}

// batchPublisher sends messages in Interoceptor batches.
type batchPublisher struct {
	nc      *nats.Conn
	subject string
	enc     pipeline.BatchEncoder
	max     int
}

func (p *batchPublisher) add(m *pipeline.Message) error {
	p.enc.Add(m)
	if p.enc.Size() >= p.max {
		return p.flush()
	}
	return nil
}

func (p *batchPublisher) flush() error {
	if p.enc.Len() == 0 {
		return nil
	}
	err := p.nc.Publish(p.subject, p.enc.Bytes())
	p.enc.Reset()
	return err
}

// stamp fills the headers a pipeline would have filled.
func stamp(m *pipeline.Message, logger string) {
	now := time.Now()
	if m.Timestamp == 0 {
		m.Timestamp = now.UnixNano()
	}
	if m.UUID == (pipeline.UUID{}) {
		m.UUID = pipeline.NewUUID(now)
	}
	if m.Hostname == "" {
		m.Hostname, _ = os.Hostname()
	}
	if m.Pid == 0 {
		m.Pid = int32(os.Getpid())
	}
	if m.Logger == "" {
		m.Logger = logger
	}
}

func cmdInject(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("inject", "", stderr)
	conn := addConnFlags(fs)
	subject := fs.String("subject", "", "NATS `subject` to publish to (required)")
	file := fs.String("file", "-", "`file` of messages in the JSON form, one per line (- for stdin)")
	payload := fs.String("payload", "", "send one message with this payload instead of reading JSON")
	typ := fs.String("type", "log", "Type of the -payload message")
	severity := fs.Int("severity", 6, "Severity of the -payload message")
	if code, done := parse(fs, args); done {
		return code
	}
	if *subject == "" {
		fmt.Fprintln(stderr, "interoceptor inject: -subject is required")
		fs.Usage()
		return 2
	}
	nc, err := conn.connect("inject")
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor inject:", err)
		return 1
	}
	defer nc.Close()
	pub := &batchPublisher{nc: nc, subject: *subject, max: pipeline.DefaultBatchBytes}
	n := 0
	if *payload != "" {
		m := &pipeline.Message{Type: *typ, Severity: int32(*severity), Payload: []byte(*payload)}
		stamp(m, "inject")
		if err := pub.add(m); err != nil {
			fmt.Fprintln(stderr, "interoceptor inject:", err)
			return 1
		}
		n = 1
	} else {
		var r io.Reader = os.Stdin
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				fmt.Fprintln(stderr, "interoceptor inject:", err)
				return 1
			}
			defer f.Close()
			r = f
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		line := 0
		var m pipeline.Message
		for sc.Scan() {
			line++
			if len(sc.Bytes()) == 0 {
				continue
			}
			m.Reset()
			if err := pipeline.ParseJSON(sc.Bytes(), &m); err != nil {
				fmt.Fprintf(stderr, "interoceptor inject: %s:%d: %v\n", *file, line, err)
				return 1
			}
			stamp(&m, "inject")
			if err := pub.add(&m); err != nil {
				fmt.Fprintln(stderr, "interoceptor inject:", err)
				return 1
			}
			n++
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintln(stderr, "interoceptor inject:", err)
			return 1
		}
	}
	if err := pub.flush(); err != nil {
		fmt.Fprintln(stderr, "interoceptor inject:", err)
		return 1
	}
	if err := nc.Flush(); err != nil {
		fmt.Fprintln(stderr, "interoceptor inject:", err)
		return 1
	}
	fmt.Fprintf(stdout, "injected %d messages into %s\n", n, *subject)
	return 0
}

func cmdFlood(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("flood", "", stderr)
	conn := addConnFlags(fs)
	subject := fs.String("subject", "", "NATS `subject` to publish to (required)")
	rate := fs.Int("rate", 0, "messages per second (0: as fast as possible)")
	size := fs.Int("size", 100, "payload size in bytes")
	count := fs.Int("count", 0, "messages to send (0: until -duration)")
	duration := fs.Duration("duration", 10*time.Second, "how long to send when -count is 0")
	if code, done := parse(fs, args); done {
		return code
	}
	if *subject == "" {
		fmt.Fprintln(stderr, "interoceptor flood: -subject is required")
		fs.Usage()
		return 2
	}
	if *size < 16 || *rate < 0 || *count < 0 {
		fmt.Fprintln(stderr, "interoceptor flood: -size must be at least 16, -rate and -count not negative")
		return 2
	}
	nc, err := conn.connect("flood")
	if err != nil {
		fmt.Fprintln(stderr, "interoceptor flood:", err)
		return 1
	}
	defer nc.Close()
	ctx, cancel := signalContext()
	defer cancel()
	if *count == 0 {
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	pub := &batchPublisher{nc: nc, subject: *subject, max: pipeline.DefaultBatchBytes}
	m := &pipeline.Message{Type: "flood", Payload: make([]byte, *size)}
	for i := range m.Payload {
		m.Payload[i] = 'x'
	}
	stamp(m, "flood")
	start := time.Now()
	lastReport, lastN := start, 0
	sent := 0
	for *count == 0 || sent < *count {
		if ctx.Err() != nil {
			break
		}
		if *rate > 0 {
			due := start.Add(time.Duration(float64(sent) / float64(*rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				if err := pub.flush(); err != nil {
					break
				}
				time.Sleep(d)
			}
		}
		now := time.Now()
		m.Timestamp = now.UnixNano()
		m.UUID = pipeline.NewUUID(now)
		copy(m.Payload, strconv.Itoa(sent)+" ")
		if err := pub.add(m); err != nil {
			fmt.Fprintln(stderr, "interoceptor flood:", err)
			return 1
		}
		sent++
		if sent%1024 == 0 && now.Sub(lastReport) >= time.Second {
			fmt.Fprintf(stdout, "%d msgs, %.0f msgs/s\n", sent, float64(sent-lastN)/now.Sub(lastReport).Seconds())
			lastReport, lastN = now, sent
		}
	}
	if err := pub.flush(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		fmt.Fprintln(stderr, "interoceptor flood:", err)
		return 1
	}
	if err := nc.Flush(); err != nil {
		fmt.Fprintln(stderr, "interoceptor flood:", err)
		return 1
	}
	el := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "sent %d messages of %d bytes in %.2fs: %.0f msgs/s, %.1f MB/s\n",
		sent, *size, el, float64(sent)/el, float64(sent)*float64(*size)/el/1e6)
	return 0
}
