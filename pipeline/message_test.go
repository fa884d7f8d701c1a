package pipeline_test

import (
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
)

func TestUUIDText(t *testing.T) {
	u := pipeline.UUID{0x01, 0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0x7e, 0xf0, 0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8}
	const want = "0190a1b2-c3d4-7ef0-8192-a3b4c5d6e7f8"
	if got := u.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := string(pipeline.AppendUUID([]byte("id="), u)); got != "id="+want {
		t.Errorf("AppendUUID after a prefix = %q, want %q", got, "id="+want)
	}
	if back, ok := pipeline.ParseUUID(want); !ok || back != u {
		t.Errorf("ParseUUID(%q) = %v, %v; want %v, true", want, back, ok, u)
	}
}
