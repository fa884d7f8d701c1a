package main

import (
	"fmt"
	"math"
	"strings"
)

// decoderLines says what each decoder benchmark decodes, as read in its
// package's *_test.go; keyed by "<package dir> <benchmark>". A benchmark that
// is not here is still reported, without the description.
var decoderLines = map[string]string{
	"decoders/influx Decode": "a line-protocol point, 2 tags, 3 float fields and a timestamp: " +
		"`cpu,host=edge-1,cpu=cpu0 usage_user=12.5,usage_system=3.25,usage_idle=84.25 1700000000000000000`",
	"decoders/json Decode": "a JSON log line, 8 keys at the top, one of them an object of 2: " +
		"`{\"time\":\"2024-05-01T12:00:00Z\",\"level\":\"info\",\"msg\":\"request done\",…,\"user\":{\"id\":42,\"name\":\"ada\"}}`",
	"decoders/json DecodeEncodingJSON": "the same line through `encoding/json` into a map (for comparison, not a decoder)",
	"decoders/logfmt Decode": "a logfmt line, 7 pairs: " +
		"`ts=2024-05-01T12:00:00Z level=info msg=\"request done\" method=GET path=/api/v1/items status=200 latency=12.5ms`",
	"decoders/regex Decode": "an access line matched by a 7-group pattern, 4 groups typed (int, int, float, unix_ms timestamp): " +
		"`10.0.0.1 GET /api/v1/items 200 5120 0.012 1700000000123`",
	"decoders/accesslog Decode": "an Apache combined log line, `decoder = \"combined\"` (a hand-written scanner; typed fields and the log's timestamp): " +
		"`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"`",
	"decoders/accesslog DecodeGrok": "the same line through the grok decoder and `%{COMBINEDAPACHELOG}` (for comparison; the same as decoders/grok Decode)",
	"decoders/grok Decode":          "the same Apache combined line through `%{COMBINEDAPACHELOG}`, every field a string",
	"decoders/syslog Decode/rfc5424": "an RFC 5424 message with two structured-data elements: " +
		"`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][origin ip=\"10.0.0.1\"] An application event log entry...`",
	"decoders/syslog Decode/rfc3164": "a BSD (RFC 3164) message: `<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8`",
}

// decoderReferences are benchmarks that decode through something else, to
// compare with a decoder; they are not decoders of their own.
var decoderReferences = map[string]bool{
	"decoders/json DecodeEncodingJSON": true,
	"decoders/accesslog DecodeGrok":    true,
}

// writeDecoders writes the decoders' table from the Go benchmarks' run.
func (rep *report) writeDecoders(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	if rep.opts.skipGo {
		return
	}
	var rows []benchResult
	for _, r := range rep.goBench.results {
		if strings.HasPrefix(shortPkg(r.pkg), "decoders/") {
			rows = append(rows, r)
		}
	}
	w("## Decoders\n\n")
	w("The `Benchmark*` functions of every decoder package that has them, from the `go test` run of the\n")
	w("[micro-benchmarks](#go-micro-benchmarks) (raw output there): one line decoded into a message per op, the\n")
	w("message's fields reused, on **one goroutine**. So **lines/s per core = 10^9 / ns per line**: what one core\n")
	w("does decoding one line after another, and nothing else (no reading, no NATS, no output). Bytes per line is\n")
	w("MB/s × ns / 1000 (the benchmarks set their line's length).\n\n")
	if len(rows) == 0 {
		w("No decoder benchmark ran (see the raw output).\n\n")
		return
	}
	w("| decoder benchmark | bytes per line | ns per line | lines/s per core | B/op | allocs/op | × Hindsight (%sk) | × Fluent Bit (%sk) |\n",
		group(hindsightTailLinesPerSec/1000, 0), group(fluentBitLinesPerSec/1000, 0))
	w("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	var slow []string
	for _, r := range rows {
		name := shortPkg(r.pkg) + " " + r.name
		ns := r.metrics["ns/op"]
		rate, bytesPerLine := "–", "–"
		hind, fluent := "–", "–"
		if ns > 0 {
			lps := 1e9 / ns
			rate = group(lps, 0)
			hind, fluent = fmt.Sprintf("%.2f×", lps/hindsightTailLinesPerSec), fmt.Sprintf("%.2f×", lps/fluentBitLinesPerSec)
			if mbs, ok := r.metrics["MB/s"]; ok {
				bytesPerLine = group(math.Round(mbs*ns/1000), 0)
			}
			if lps < fluentBitLinesPerSec && !decoderReferences[name] {
				slow = append(slow, fmt.Sprintf("%s (%s lines/s)", name, group(lps, 0)))
			}
		}
		w("| %s | %s | %s | **%s** | %s | %s | %s | %s |\n", name, bytesPerLine, metric(r, "ns/op"), rate,
			metric(r, "B/op"), metric(r, "allocs/op"), hind, fluent)
	}
	w("\nWhat each decodes (from the benchmark's source):\n\n")
	for _, r := range rows {
		name := shortPkg(r.pkg) + " " + r.name
		if d, ok := decoderLines[name]; ok {
			w("- **%s**: %s.\n", name, d)
		} else {
			w("- **%s**: see its benchmark in %s.\n", name, shortPkg(r.pkg))
		}
	}
	w("\nThe two references are whole pipelines, not decoders: Hindsight's ≈ %s lines/s tails one file, Fluent\n", group(hindsightTailLinesPerSec, 0))
	w("Bit's ≈ %s lines/s is tcp→file on this machine's 2 cores. A decoder's rate per core is the most a pipeline\n", group(fluentBitLinesPerSec, 0))
	w("using it could reach on one core; compare the `influx` row with tcp→file (influx decode + encode) above for\n")
	w("what reading, NATS and the output add.")
	if len(slow) > 0 {
		w(" Below %s lines/s on one core: %s.", group(fluentBitLinesPerSec, 0), strings.Join(slow, ", "))
	}
	w("\n\n")
}
