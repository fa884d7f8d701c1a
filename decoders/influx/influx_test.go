package influx

import (
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

const now = 1111 // the arrival time the runtime sets before decoding

// headers is a message as the runtime hands it to a decoder.
func headers(line string) *pipeline.Message {
	return &pipeline.Message{Timestamp: now, Hostname: "edge-1", Logger: "in", Payload: []byte(line)}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		ts         int64
		fields     []pipeline.Field
	}{
		{"typical", "cpu,host=edge-1,cpu=cpu0 usage_user=12.5,usage_idle=84i 1700000000000000000", 1700000000000000000,
			[]pipeline.Field{
				{Name: "name", Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "cpu"},
				{Name: "cpu", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "cpu0"},
				{Name: "host", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "edge-1"},
				{Name: "usage_user", Kind: pipeline.KindFloat, Float: 12.5},
				{Name: "usage_idle", Kind: pipeline.KindInt, Int: 84},
			}},
		{"the README's example", `cpu,host=edge-1,cpu=cpu0 usage_user=12.5,usage_system=3i,busy=true,state="ok" 1700000000000000000`, 1700000000000000000,
			[]pipeline.Field{
				{Name: "name", Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "cpu"},
				{Name: "cpu", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "cpu0"},
				{Name: "host", Kind: pipeline.KindString, Role: pipeline.RoleTag, Str: "edge-1"},
				{Name: "usage_user", Kind: pipeline.KindFloat, Float: 12.5},
				{Name: "usage_system", Kind: pipeline.KindInt, Int: 3},
				{Name: "busy", Kind: pipeline.KindBool, Bool: true},
				{Name: "state", Kind: pipeline.KindString, Str: "ok"},
			}},
		{"no timestamp keeps arrival time", `app ok=t,msg="fine",n=3u`, now,
			[]pipeline.Field{
				{Name: "name", Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "app"},
				{Name: "ok", Kind: pipeline.KindBool, Bool: true},
				{Name: "msg", Kind: pipeline.KindString, Str: "fine"},
				{Name: "n", Kind: pipeline.KindUint, Uint: 3},
			}},
		{"CRLF", "app x=1 5\r", 5,
			[]pipeline.Field{
				{Name: "name", Kind: pipeline.KindString, Role: pipeline.RoleMeasurement, Str: "app"},
				{Name: "x", Kind: pipeline.KindFloat, Float: 1},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := headers(tc.line)
			if err := (&Influx{}).Decode([]byte(tc.line), m); err != nil {
				t.Fatal(err)
			}
			want := &pipeline.Message{Type: "metric", Timestamp: tc.ts, Hostname: "edge-1", Logger: "in", Fields: tc.fields}
			if !m.Equal(want) {
				t.Fatalf("got  %+v\nwant %+v", m, want)
			}
			if m.Payload != nil {
				t.Fatalf("payload not cleared: %q", m.Payload)
			}
		})
	}
}

func TestDecodeSkipsCommentsAndBlankLines(t *testing.T) {
	for _, line := range []string{"# comment", "  # indented comment", "#", "", "  \t\r"} {
		m := headers(line)
		if err := (&Influx{}).Decode([]byte(line), m); err != pipeline.ErrSkipLine {
			t.Errorf("%q: got %v, want ErrSkipLine", line, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"cpu", "line protocol: column 4"},
		{"cpu value=high", "line protocol: column 11: field value has unrecognized type"},
		{"cpu,host=a,host=b v=1", `tag "host" appears twice`},
		{"cpu v=1 yesterday", "invalid timestamp"},
	} {
		m := headers(tc.line)
		err := (&Influx{}).Decode([]byte(tc.line), m)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got error %v, want one containing %q", tc.line, err, tc.want)
		}
		if string(m.Payload) != tc.line || len(m.Fields) != 0 || m.Type != "" {
			t.Errorf("%q: a failed decode changed the message: %+v", tc.line, m)
		}
	}
}

func TestRegistered(t *testing.T) {
	r, ok := pipeline.LookupDecoder("influx")
	if !ok {
		t.Fatal("influx decoder not registered")
	}
	if _, ok := r.New().(*Influx); !ok {
		t.Fatalf("New returned %T", r.New())
	}
}

// FuzzDecode: no panic, and whatever decodes is a metric that writes back as
// line protocol.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("cpu,host=edge-1,cpu=cpu0 usage_user=12.5,usage_system=3.25,usage_idle=84.25 1700000000000000000"))
	f.Add([]byte(`m,t\ k=v\,1 s="a\"b\\c",i=-1i,u=1u,b=F 0`))
	f.Add([]byte("# comment"))
	f.Fuzz(func(t *testing.T, line []byte) {
		m := headers(string(line))
		err := (&Influx{}).Decode(line, m)
		if err != nil {
			return
		}
		if !m.IsMetric() || m.Payload != nil {
			t.Fatalf("%q decoded to %+v", line, m)
		}
		if _, err := pipeline.AppendLineProtocol(nil, m); err != nil {
			t.Fatalf("%q decoded to a metric that does not write: %v", line, err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	line := []byte("cpu,host=edge-1,cpu=cpu0 usage_user=12.5,usage_system=3.25,usage_idle=84.25 1700000000000000000")
	d := &Influx{}
	m := &pipeline.Message{Fields: make([]pipeline.Field, 0, 16)}
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		m.Fields = m.Fields[:0]
		m.Payload = line
		if err := d.Decode(line, m); err != nil {
			b.Fatal(err)
		}
	}
}
