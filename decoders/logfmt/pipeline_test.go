package logfmt_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/interoceptor/interoceptor/decoders/logfmt"
	_ "github.com/interoceptor/interoceptor/inputs/file"
	_ "github.com/interoceptor/interoceptor/outputs/file"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// In a running pipeline a line's level becomes the message's Severity; a
// line without one, and a line read with no decoder, get 6 (info); a line
// that says emerg keeps 0; a line that fails to decode goes to the dead
// letter subject as an error (3).
func TestPipelineSeverity(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	out := filepath.Join(dir, "out.jsonl")
	raw := filepath.Join(dir, "raw.jsonl")
	dead := filepath.Join(dir, "dead.jsonl")
	lines := "level=info msg=a\nlevel=error msg=b\nmsg=c\nlevel=emerg msg=d\nLEVEL=x =bad\n"
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	_, wait := pipelinetest.Run(t, fmt.Sprintf(`
[agent]
data_dir = %[1]q
admin_addr = "off"
[[inputs.file]]
name = "decoded"
publish = "logs"
dead_letter = "dead"
path = %[2]q
decoder = "logfmt"
[[inputs.file]]
name = "raw"
publish = "raw"
path = %[2]q
[[outputs.file]]
name = "out"
subscribe = ["logs"]
path = %[3]q
format = "json"
[[outputs.file]]
name = "raw"
subscribe = ["raw"]
path = %[4]q
format = "json"
[[outputs.file]]
name = "dead"
subscribe = ["dead"]
path = %[5]q
format = "json"
`, dir, in, out, raw, dead))
	if err := wait(false); err != nil {
		t.Fatal(err)
	}
	check := func(path string, want ...int32) {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var got []int32
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m pipeline.Message
			if err := pipeline.ParseJSON(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			got = append(got, m.Severity)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: severities %v, want %v", filepath.Base(path), got, want)
		}
	}
	check(out, 6, 3, 6, 0)
	check(raw, 6, 6, 6, 6, 6)
	check(dead, 3)
}
