package pipeline

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

// logMessage is a typical log line: a ~100-byte payload, headers, no fields.
func logMessage() *Message {
	return &Message{
		UUID:      UUID{0x01, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0x7e, 0xf0, 0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8},
		Timestamp: 1795140252123456789,
		Type:      "nginx.access",
		Logger:    "nginx",
		Severity:  6,
		Hostname:  "edge-1",
		Pid:       4321,
		Payload:   []byte(`10.0.0.7 - - [21/Nov/2026:02:04:12 +0000] "GET /api/v1/items?page=2 HTTP/1.1" 200 5123 "-" "curl/8.5"`),
	}
}

// metricMessage is a typical metric point: a measurement, 3 tags, 4 fields.
func metricMessage() *Message {
	return &Message{
		UUID:      UUID{0x01, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0x7e, 0xf0, 0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf9},
		Timestamp: 1795140252000000000,
		Type:      "metric",
		Logger:    "cpu",
		Severity:  6,
		Hostname:  "edge-1",
		Pid:       4321,
		Fields: []Field{
			{Name: "name", Kind: KindString, Role: RoleMeasurement, Str: "cpu"},
			{Name: "host", Kind: KindString, Role: RoleTag, Str: "edge-1"},
			{Name: "cpu", Kind: KindString, Role: RoleTag, Str: "cpu-total"},
			{Name: "region", Kind: KindString, Role: RoleTag, Str: "eu-west"},
			{Name: "usage_user", Kind: KindFloat, Float: 12.5},
			{Name: "usage_system", Kind: KindFloat, Float: 3.25},
			{Name: "usage_idle", Kind: KindFloat, Float: 84.25},
			{Name: "processes", Kind: KindInt, Int: 312},
		},
	}
}

// oddMessages covers every kind and role and the edge values a codec gets
// wrong: empty and nil payloads, repeated names, NaN and infinities, extreme
// integers, bytes that are not UTF-8.
func oddMessages() []*Message {
	every := &Message{
		UUID:      UUID{0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0},
		Timestamp: math.MinInt64,
		Type:      "every\x00kind",
		Logger:    "\xff\xfe not utf-8",
		Severity:  math.MinInt32,
		Hostname:  "höst-ü",
		Pid:       math.MaxInt32,
		Payload:   []byte{},
	}
	for _, role := range []FieldRole{RoleField, RoleTag, RoleMeasurement} {
		every.Fields = append(every.Fields,
			Field{Name: "s", Kind: KindString, Role: role, Str: "a \"quoted\"\n\t\\ line \u2028 ☃"},
			Field{Name: "b", Kind: KindBytes, Role: role, Bytes: []byte{0, 0xff, 0x80, '\n'}},
			Field{Name: "i", Kind: KindInt, Role: role, Int: -42},
			Field{Name: "u", Kind: KindUint, Role: role, Uint: 42},
			Field{Name: "f", Kind: KindFloat, Role: role, Float: -0.000123},
			Field{Name: "t", Kind: KindBool, Role: role, Bool: true},
		)
	}
	extremes := &Message{
		Timestamp: math.MaxInt64,
		Severity:  math.MaxInt32,
		Pid:       math.MinInt32,
		Payload:   []byte("\xc3\x28 invalid utf-8 \x00"),
		Fields: []Field{
			{Name: "n", Kind: KindInt, Int: math.MinInt64},
			{Name: "n", Kind: KindInt, Int: math.MaxInt64},
			{Name: "n", Kind: KindUint, Uint: math.MaxUint64},
			{Name: "n", Kind: KindUint},
			{Name: "nan", Kind: KindFloat, Float: math.NaN()},
			{Name: "inf", Kind: KindFloat, Float: math.Inf(1)},
			{Name: "-inf", Kind: KindFloat, Float: math.Inf(-1)},
			{Name: "-0", Kind: KindFloat, Float: math.Copysign(0, -1)},
			{Name: "tiny", Kind: KindFloat, Float: math.SmallestNonzeroFloat64},
			{Name: "max", Kind: KindFloat, Float: math.MaxFloat64},
			{Name: "big", Kind: KindFloat, Float: 1e21},
			{Name: "", Kind: KindString},
			{Name: "empty bytes", Kind: KindBytes, Bytes: []byte{}},
			{Name: "nil bytes", Kind: KindBytes},
			{Name: "\xff", Kind: KindString, Str: "\xfe\xff", Role: RoleTag},
			{Name: "false", Kind: KindBool},
		},
	}
	long := &Message{
		Type:    strings.Repeat("t", 200), // longer than the string cache takes
		Payload: bytes.Repeat([]byte("0123456789"), 2000),
		Fields:  []Field{{Name: strings.Repeat("n", 300), Kind: KindString, Str: strings.Repeat("v", 70000)}},
	}
	return []*Message{{}, {Payload: nil}, logMessage(), metricMessage(), every, extremes, long}
}

func TestCodecRoundTrip(t *testing.T) {
	for i, m := range oddMessages() {
		got, err := DecodeMessage(EncodeMessage(m))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !got.Equal(m) {
			t.Errorf("message %d: round trip changed it:\n got %+v\nwant %+v", i, got, m)
		}
	}
}

func TestCodecBatchRoundTrip(t *testing.T) {
	var e BatchEncoder
	var d BatchDecoder
	want := oddMessages()
	for round := 0; round < 3; round++ { // again, to exercise reused memory
		// Records of growing, then (reversed) shrinking sizes: the length
		// bytes the encoder keeps room for are too few, then too many.
		slices.Reverse(want)
		e.Reset()
		for _, m := range want {
			e.Add(m)
		}
		if e.Len() != len(want) || e.Size() != len(e.Bytes()) {
			t.Fatalf("Len %d Size %d, frame of %d bytes", e.Len(), e.Size(), len(e.Bytes()))
		}
		got, err := d.Decode(e.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("decoded %d messages, want %d", len(got), len(want))
		}
		for i := range got {
			if !got[i].Equal(want[i]) {
				t.Errorf("round %d, message %d:\n got %+v\nwant %+v", round, i, got[i], want[i])
			}
		}
	}
}

func TestCodecEmptyFrame(t *testing.T) {
	var e BatchEncoder
	if e.Size() != len(e.Bytes()) || e.Len() != 0 {
		t.Fatalf("empty encoder: Size %d, Len %d, frame %x", e.Size(), e.Len(), e.Bytes())
	}
	var d BatchDecoder
	msgs, err := d.Decode(e.Bytes())
	if err != nil || len(msgs) != 0 {
		t.Fatalf("empty frame: %v, %d messages", err, len(msgs))
	}
}

// TestCodecFormat pins the bytes of a small frame: the format is a contract
// between builds, so a change here must be deliberate (see codec.go).
func TestCodecFormat(t *testing.T) {
	m := &Message{
		UUID:      UUID{15: 0xab},
		Timestamp: -1,
		Type:      "t",
		Severity:  6,
		Pid:       -2,
		Payload:   []byte("hi"),
		Fields: []Field{
			{Name: "x", Kind: KindFloat, Role: RoleTag, Float: 1},
			{Name: "y", Kind: KindBool, Bool: true},
			{Name: "z", Kind: KindUint, Role: RoleMeasurement, Uint: 300},
		},
	}
	want := "c1" + "01" + "01000000" + // magic, version, count
		"2f" + // record length 47
		"000000000000000000000000000000ab" + // uuid
		"01" + // timestamp -1, zigzag
		"0174" + "00" + "00" + // type "t", logger, hostname
		"0c" + "03" + // severity 6, pid -2
		"026869" + // payload "hi"
		"03" + // 3 fields
		"0178" + "13" + "000000000000f03f" + // x: tag<<4|float, 1.0
		"0179" + "04" + "01" + // y: field|bool, true
		"017a" + "25" + "ac02" // z: measurement<<4|uint, 300
	if got := hex.EncodeToString(EncodeMessage(m)); got != want {
		t.Errorf("frame\n got %s\nwant %s", got, want)
	}
}

// TestCodecDecodeAliasing checks the zero-copy contract: payloads alias the
// frame, but an append to one cannot run over the rest of the frame.
func TestCodecDecodeAliasing(t *testing.T) {
	var e BatchEncoder
	e.Add(logMessage())
	e.Add(metricMessage())
	frame := bytes.Clone(e.Bytes())
	var d BatchDecoder
	msgs, err := d.Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	p := msgs[0].Payload
	if cap(p) != len(p) {
		t.Errorf("payload cap %d, len %d: an append would overwrite the frame", cap(p), len(p))
	}
	if i := bytes.Index(frame, p); i < 0 || &frame[i] != &p[0] {
		t.Errorf("payload is a copy, want an alias of the frame")
	}
	_ = append(p, "more"...)
	if again, err := (&BatchDecoder{}).Decode(frame); err != nil || !again[1].Equal(metricMessage()) {
		t.Errorf("append to a payload damaged the frame: %v", err)
	}
}

// TestCodecReleasesOldFrames checks that a small frame after a large one does
// not leave references into the large one in the unused slots.
func TestCodecReleasesOldFrames(t *testing.T) {
	var e BatchEncoder
	var d BatchDecoder
	for range 10 {
		e.Add(oddMessages()[4])
	}
	if _, err := d.Decode(e.Bytes()); err != nil {
		t.Fatal(err)
	}
	e.Reset()
	e.Add(logMessage())
	if _, err := d.Decode(e.Bytes()); err != nil {
		t.Fatal(err)
	}
	for i, m := range d.msgs[1:cap(d.msgs)] {
		if m.Payload != nil || len(m.Fields) != 0 {
			t.Errorf("slot %d still holds %d fields, payload %v", i+1, len(m.Fields), m.Payload != nil)
		}
		for _, f := range m.Fields[:cap(m.Fields)] {
			if f.Bytes != nil {
				t.Errorf("slot %d still references bytes", i+1)
			}
		}
	}
}

// TestCodecTruncation cuts a valid frame at every offset: each cut must be
// an error, never a panic and never a shorter valid batch.
func TestCodecTruncation(t *testing.T) {
	var e BatchEncoder
	for _, m := range oddMessages()[:6] {
		e.Add(m)
	}
	frame := e.Bytes()
	var d BatchDecoder
	for i := range len(frame) {
		if msgs, err := d.Decode(frame[:i]); err == nil {
			t.Fatalf("frame cut at %d of %d bytes decoded to %d messages", i, len(frame), len(msgs))
		}
	}
	if _, err := d.Decode(frame); err != nil {
		t.Fatalf("whole frame: %v", err)
	}
}

// frameOf builds a frame by hand, so that tests can write what the encoder
// never would.
func frameOf(count byte, records ...[]byte) []byte {
	f := []byte{FrameMagic, FrameVersion, count, 0, 0, 0}
	for _, r := range records {
		f = append(f, byte(len(r)))
		f = append(f, r...)
	}
	return f
}

// record returns a record body with empty headers and the given field bytes.
func record(nfields byte, fields ...byte) []byte {
	r := make([]byte, 16, 64)
	r = append(r, 0, 0, 0, 0, 0, 0, 0, nfields)
	return append(r, fields...)
}

func TestCodecErrors(t *testing.T) {
	ok := record(0)
	big := record(1, append([]byte{1, 'a', 0, 30}, strings.Repeat("x", 30)...)...)
	tests := []struct {
		name, frame, want string
	}{
		{"empty", "", "shorter than the 6-byte header"},
		{"json", `{"type":"x"}`, "bad magic byte 0x7b"},
		{"version", "\xc1\x02\x00\x00\x00\x00", "unknown frame version 2"},
		{"count", "\xc1\x01\xff\xff\xff\xff" + string(ok), "message count 4294967295 cannot fit"},
		{"missing message", string(frameOf(2, big)), "message 1: truncated record length"},
		{"record length", string(frameOf(1, ok)[:6]) + "\x7f" + string(ok), "message 0: record length 127 runs past the end"},
		{"trailing", string(frameOf(1, ok)) + "\x00", "1 bytes after the last of 1 messages"},
		{"uuid", string(frameOf(1, ok[:10])) + strings.Repeat("\x00", 20), "message 0: truncated uuid"},
		{"field count", string(frameOf(1, record(9, 1, 'a', 4, 1))), "message 0: field count 9 cannot fit in the 4 bytes left"},
		{"kind", string(frameOf(1, record(1, 1, 'a', 0x0e, 0))), "message 0: field 0: unknown kind 14"},
		{"role", string(frameOf(1, record(1, 1, 'a', 0x34, 0))), "message 0: field 0: unknown role 3"},
		{"bool", string(frameOf(1, record(1, 1, 'a', 4, 2))), "message 0: field 0: bool value byte 2 is neither 0 nor 1"},
		{"float", string(frameOf(1, record(1, 1, 'a', 3, 0, 0, 0, 0))), "message 0: field 0: truncated float value"},
		{"bytes", string(frameOf(1, record(2, 1, 'a', 4, 0, 1, 'b', 1, 9, 'x'))), "message 0: field 1: truncated bytes value"},
		{"name", string(frameOf(1, record(1, 5, 'a', 4, 0))), "message 0: field 0: truncated name"},
		{"varint", string(frameOf(1, record(1, 1, 'a', 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f))), "message 0: field 0: truncated int value"},
	}
	sev := record(0)
	sev = append(sev[:16+4], 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0)
	tests = append(tests, struct{ name, frame, want string }{"severity", string(frameOf(1, sev)), "message 0: severity 2147483648 overflows int32"})
	var d BatchDecoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := d.Decode([]byte(tt.frame))
			if err == nil {
				t.Fatalf("decoded %d messages, want error %q", len(msgs), tt.want)
			}
			if !strings.HasPrefix(err.Error(), "codec: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestCodecExtension checks the compatibility rule: bytes after the last
// field of a record are skipped, so a later build can append headers there.
func TestCodecExtension(t *testing.T) {
	m := metricMessage()
	body := appendMessage(nil, m)
	body = append(body, "future header"...)
	frame := []byte{FrameMagic, FrameVersion, 2, 0, 0, 0}
	for range 2 {
		frame = binary.AppendUvarint(frame, uint64(len(body)))
		frame = append(frame, body...)
	}
	msgs, err := new(BatchDecoder).Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || !msgs[0].Equal(m) || !msgs[1].Equal(m) {
		t.Errorf("extension bytes changed the messages: %+v", msgs)
	}
}

// AddExtended writes exactly what Add writes for the message with the
// fields appended, whether it copies the record (a message an Alias decoder
// returned) or encodes it (any other, or one that has gained or lost fields
// since), and EncodedSizeExtended says how long that is. The extension
// bytes of a record are not passed on, as Add would not write them.
func TestCodecAddExtended(t *testing.T) {
	extras := [][]Field{nil, {{Name: "load", Kind: KindString, Role: RoleTag, Str: "high"}}, oddMessages()[4].Fields}
	many := make([]Field, 130) // the field count's varint grows a byte past 127
	for i := range many {
		many[i] = Field{Name: "n", Kind: KindInt, Int: int64(i)}
	}
	extras = append(extras, many)
	var frame BatchEncoder
	for _, m := range oddMessages() {
		frame.Add(m)
	}
	body := append(appendMessage(nil, metricMessage()), "future header"...)
	extended := binary.AppendUvarint([]byte{FrameMagic, FrameVersion, 1, 0, 0, 0}, uint64(len(body)))
	extended = append(extended, body...)
	for _, src := range []struct {
		name  string
		frame []byte
		alias bool
	}{
		{"alias", frame.Bytes(), true},
		{"copying decoder", frame.Bytes(), false},
		{"record with an extension", extended, true},
	} {
		t.Run(src.name, func(t *testing.T) {
			for _, extra := range extras {
				d := BatchDecoder{Alias: src.alias}
				msgs, err := d.Decode(slices.Clone(src.frame))
				if err != nil {
					t.Fatal(err)
				}
				for i, base := range msgs {
					if (base.rec.body != nil) != src.alias {
						t.Fatalf("message %d: record kept %v, want %v", i, base.rec.body != nil, src.alias)
					}
					want := base.Clone()
					want.Fields = append(want.Fields, extra...)
					var got, full BatchEncoder
					got.AddExtended(base, extra)
					full.Add(want)
					if !bytes.Equal(got.Bytes(), full.Bytes()) {
						t.Fatalf("message %d + %d fields: AddExtended wrote\n%x\nwant\n%x", i, len(extra), got.Bytes(), full.Bytes())
					}
					if n := EncodedSizeExtended(base, extra); n != len(EncodeMessage(want)) {
						t.Errorf("message %d + %d fields: EncodedSizeExtended = %d, want %d", i, len(extra), n, len(EncodeMessage(want)))
					}
				}
			}
		})
	}
	t.Run("a base that gained a field is encoded", func(t *testing.T) {
		d := BatchDecoder{Alias: true}
		msgs, err := d.Decode(EncodeMessage(metricMessage()))
		if err != nil {
			t.Fatal(err)
		}
		base := msgs[0]
		base.AddString("env", "prod")
		var got BatchEncoder
		got.AddExtended(base, nil)
		if !bytes.Equal(got.Bytes(), EncodeMessage(base)) {
			t.Error("AddExtended copied a record that no longer holds the message's fields")
		}
		if c := base.Clone(); c.rec.body != nil {
			t.Error("Clone kept the record, which pins the frame")
		}
	})
}

func TestCodecInvalidKindPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `field "x" has invalid kind 9`) {
			t.Errorf("recovered %v", r)
		}
	}()
	var e BatchEncoder
	e.Add(&Message{Fields: []Field{{Name: "x", Kind: 9}}})
}

// TestCodecDecodeStrings checks that strings do not alias the frame: a
// string must never change when the frame's memory is reused.
func TestCodecDecodeStrings(t *testing.T) {
	var e BatchEncoder
	m := metricMessage()
	m.Fields[1].Str = strings.Repeat("h", internMaxLen+1) // not cached
	e.Add(m)
	frame := bytes.Clone(e.Bytes())
	msgs, err := new(BatchDecoder).Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	clear(frame)
	if msgs[0].Type != "metric" || msgs[0].Fields[1].Str != m.Fields[1].Str || msgs[0].Fields[2].Name != "cpu" {
		t.Errorf("strings changed with the frame: %+v", msgs[0])
	}
}

// TestCodecDecodeAlias checks Alias: strings are the frame's bytes, even
// ones the decoder has never seen, and cost no allocation.
func TestCodecDecodeAlias(t *testing.T) {
	var e BatchEncoder
	m := metricMessage()
	var d BatchDecoder
	d.Alias = true
	host := []byte("host-0000")
	allocs := testing.AllocsPerRun(50, func() {
		host[len(host)-1]++ // a host the decoder has not seen
		m.Hostname = string(host)
		e.Reset()
		e.Add(m)
		got, err := d.Decode(e.Bytes())
		if err != nil || got[0].Hostname != m.Hostname {
			t.Fatalf("decoded %+v, %v", got, err)
		}
	})
	if allocs > 1 { // the string made above
		t.Errorf("%v allocations a decode, want none", allocs-1)
	}
	frame := e.Bytes()
	msgs, _ := d.Decode(frame)
	clear(frame)
	if msgs[0].Type == "metric" {
		t.Errorf("Type %q does not alias the frame", msgs[0].Type)
	}
}

// TestCodecAllocs holds the hot path to its budget: no allocation per message
// to encode, none to decode a batch once the decoder has warmed up.
func TestCodecAllocs(t *testing.T) {
	msgs := []*Message{logMessage(), metricMessage()}
	var e BatchEncoder
	for range 64 {
		e.Add(msgs[0])
		e.Add(msgs[1])
	}
	e.Reset()
	if n := testing.AllocsPerRun(100, func() {
		e.Reset()
		for range 64 {
			e.Add(msgs[0])
			e.Add(msgs[1])
		}
	}); n != 0 {
		t.Errorf("encoding a batch: %v allocations, want 0", n)
	}
	frame := e.Bytes()
	var d BatchDecoder
	if _, err := d.Decode(frame); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(frame); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("decoding a batch: %v allocations, want 0", n)
	}
}

func fuzzFrames() [][]byte {
	var e BatchEncoder
	seeds := [][]byte{nil, []byte{FrameMagic, FrameVersion, 0, 0, 0, 0}, EncodeMessage(logMessage()), EncodeMessage(metricMessage())}
	for _, m := range oddMessages()[:6] {
		e.Add(m)
	}
	return append(seeds, bytes.Clone(e.Bytes()))
}

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic, and
// whatever it accepts must survive re-encoding.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzFrames() {
		f.Add(s)
	}
	var d BatchDecoder
	f.Fuzz(func(t *testing.T, frame []byte) {
		msgs, err := d.Decode(frame)
		if err != nil {
			return
		}
		var e BatchEncoder
		for _, m := range msgs {
			e.Add(m)
		}
		again, err := new(BatchDecoder).Decode(e.Bytes())
		if err != nil {
			t.Fatalf("re-encoded frame: %v", err)
		}
		for i := range msgs {
			if !again[i].Equal(msgs[i]) {
				t.Fatalf("message %d changed on re-encoding:\n got %+v\nwant %+v", i, again[i], msgs[i])
			}
		}
	})
}

// fuzzMessage builds a message from fuzz arguments; the JSON fuzz target
// shares it.
func fuzzMessage(payload []byte, typ, s string, i int64, fl float64, b bool, by []byte) *Message {
	m := &Message{
		Timestamp: i,
		Type:      typ,
		Logger:    s,
		Severity:  int32(i),
		Hostname:  typ + s,
		Pid:       int32(i >> 32),
		Payload:   payload,
	}
	copy(m.UUID[:], by)
	m.AddString(s, s)
	m.AddInt("i", i)
	m.AddUint("u", uint64(i))
	m.AddFloat("f", fl)
	m.AddBool("b", b)
	m.AddBytes("by", by)
	m.Fields = append(m.Fields, Field{Name: typ, Kind: KindString, Role: FieldRole(uint64(i) % uint64(numRoles)), Str: typ})
	return m
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("a log line"), "nginx.access", "host", int64(1795140252123456789), 1.5, true, []byte{0, 1, 2})
	f.Add([]byte{}, "", "", int64(0), 0.0, false, []byte(nil))
	f.Add([]byte("\xff\xfe"), "\x00", "\xc3\x28", int64(math.MinInt64), math.NaN(), false, []byte("\xff"))
	f.Add([]byte(nil), "metric", "☃", int64(math.MaxInt64), math.Inf(-1), true, bytes.Repeat([]byte{7}, 40))
	var e BatchEncoder
	var d BatchDecoder
	f.Fuzz(func(t *testing.T, payload []byte, typ, s string, i int64, fl float64, b bool, by []byte) {
		m := fuzzMessage(payload, typ, s, i, fl, b, by)
		got, err := DecodeMessage(EncodeMessage(m))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(m) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
		}
		e.Reset()
		e.Add(m)
		e.Add(m)
		msgs, err := d.Decode(e.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 || !msgs[0].Equal(m) || !msgs[1].Equal(m) {
			t.Fatalf("batch round trip:\n got %+v\nwant %+v", msgs, m)
		}
	})
}

// The benchmarks compare this codec with the standard library's encoders on
// the same messages, per message, in batches of benchBatch as they travel on
// NATS. B/msg is the encoded size.
const benchBatch = 128

func BenchmarkCodec(b *testing.B) {
	for _, c := range []struct {
		name string
		m    *Message
	}{{"log", logMessage()}, {"metric", metricMessage()}} {
		m := c.m
		b.Run(c.name+"/binary/encode", func(b *testing.B) {
			var e BatchEncoder
			for i := range b.N {
				if i%benchBatch == 0 {
					e.Reset()
				}
				e.Add(m)
			}
			b.ReportMetric(float64(len(EncodeMessage(m))-frameHeaderSize), "B/msg")
		})
		b.Run(c.name+"/binary/decode", func(b *testing.B) {
			var e BatchEncoder
			for range benchBatch {
				e.Add(m)
			}
			var d BatchDecoder
			b.ReportAllocs()
			for i := 0; i < b.N; i += benchBatch {
				if _, err := d.Decode(e.Bytes()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/json/encode", func(b *testing.B) {
			var size int
			for range b.N {
				out, err := json.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "B/msg")
		})
		b.Run(c.name+"/json/decode", func(b *testing.B) {
			data, _ := json.Marshal(m)
			for range b.N {
				var got Message
				if err := json.Unmarshal(data, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
		// gob sends its type description once per stream; on NATS every
		// batch is its own stream, so one encoder per batch.
		b.Run(c.name+"/gob/encode", func(b *testing.B) {
			var buf bytes.Buffer
			var enc *gob.Encoder
			for i := range b.N {
				if i%benchBatch == 0 {
					buf.Reset()
					enc = gob.NewEncoder(&buf)
				}
				if err := enc.Encode(m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(gobBatchSize(b, m))/benchBatch, "B/msg")
		})
		b.Run(c.name+"/gob/decode", func(b *testing.B) {
			var buf bytes.Buffer
			enc := gob.NewEncoder(&buf)
			for range benchBatch {
				if err := enc.Encode(m); err != nil {
					b.Fatal(err)
				}
			}
			data := buf.Bytes()
			var dec *gob.Decoder
			var r bytes.Reader
			for i := range b.N {
				if i%benchBatch == 0 {
					r.Reset(data)
					dec = gob.NewDecoder(&r)
				}
				var got Message
				if err := dec.Decode(&got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func gobBatchSize(b *testing.B, m *Message) int {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	for range benchBatch {
		if err := enc.Encode(m); err != nil {
			b.Fatal(err)
		}
	}
	return buf.Len()
}
