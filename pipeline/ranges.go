package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Every config key that sizes a buffer, counts something that allocates or
// sets an interval has a range, checked when the config is loaded (by
// `check` as well as `run`): a config that passes check cannot make run
// allocate more than a machine holds, or spin on a 1ns timer. The error
// states the range, e.g. `key "poll_interval": must be between 10ms and 1m;
// got 1ns`.

// ByteRange is the range of a size in bytes.
type ByteRange struct{ Min, Max int64 }

// Check returns nil when v is within r, else an InvalidKey error for key
// that states the range.
func (r ByteRange) Check(key string, v int64) error {
	return checkRange(r, r.Min, r.Max, key, v, formatInt)
}

// String writes the range as errors and docs say it: "between 1 and
// 8388608 (8 MiB) bytes".
func (r ByteRange) String() string {
	return fmt.Sprintf("between %s and %s bytes", formatBytes(r.Min), formatBytes(r.Max))
}

// CountRange is the range of a count (connections, points, injects).
type CountRange struct{ Min, Max int64 }

// Check returns nil when v is within r, else an InvalidKey error for key
// that states the range.
func (r CountRange) Check(key string, v int64) error {
	return checkRange(r, r.Min, r.Max, key, v, formatInt)
}

// String writes the range: "between 1 and 65536".
func (r CountRange) String() string { return fmt.Sprintf("between %d and %d", r.Min, r.Max) }

// DurationRange is the range of an interval or a timeout.
type DurationRange struct{ Min, Max time.Duration }

// Check returns nil when v is within r, else an InvalidKey error for key
// that states the range.
func (r DurationRange) Check(key string, v time.Duration) error {
	return checkRange(r, r.Min, r.Max, key, v, formatDuration)
}

// checkRange is the Check of every range r, from lo to hi: nil when v is
// within, else an InvalidKey error for key that states r, and v as show
// writes it.
func checkRange[T int64 | time.Duration](r fmt.Stringer, lo, hi T, key string, v T, show func(T) string) error {
	if v >= lo && v <= hi {
		return nil
	}
	return InvalidKey(key, "must be %s; got %s", r, show(v))
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

// String writes the range: "between 10ms and 24h".
func (r DurationRange) String() string {
	return fmt.Sprintf("between %s and %s", formatDuration(r.Min), formatDuration(r.Max))
}

// Ranges shared by several plugins.
var (
	// LineBytesRange bounds max_line_bytes and its kin (a syslog message):
	// a line becomes one message, and a message must fit in one NATS
	// message (the embedded server takes 16 MiB, batch_bytes is at most
	// 8 MiB).
	LineBytesRange = ByteRange{Min: 1, Max: MaxBatchBytes}
	// ConnectionsRange bounds max_connections: each connection holds a
	// goroutine, a descriptor and a read buffer.
	ConnectionsRange = CountRange{Min: 1, Max: 65536}
	// TickerIntervalRange bounds ticker_interval and the interval of the
	// inputs that gather on a timer: below 10ms the wake-ups cost CPU for
	// nothing, and at 1ns they keep a core busy.
	TickerIntervalRange = DurationRange{Min: 10 * time.Millisecond, Max: 24 * time.Hour}
)

// formatBytes writes n, followed by its size in KiB, MiB, GiB or TiB when
// it is a whole number of them: "1048576 (1 MiB)".
func formatBytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d (%d %s)", n, n/u.size, u.name)
		}
	}
	return fmt.Sprint(n)
}

// formatDuration writes d as a config would: "24h", "1m30s", "10ms"
// rather than time.Duration's "24h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
