package lua_test

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/interoceptor/interoceptor/filters/lua"
	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// preserve_data saves under data_dir/lua, named after the plugin; a name
// that config loading would refuse ("../../../x") still cannot put the file
// outside that directory.
func TestPreservedDataStaysInDataDirWhateverTheName(t *testing.T) {
	root := t.TempDir()
	dataDir := filepath.Join(root, "a", "b", "var") // "../../../x.preserve" from var/lua lands in root/a
	script := writeScript(t, root, "keep", "count = 1\nfunction process_message() return 0 end\n")
	p := lua.New()
	p.Script, p.PreserveData, p.Watch = script, true, false
	env := pipelinetest.Env(pipeline.KindFilter, "lua", "../../../x")
	env.Agent.DataDir = dataDir
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := p.Init(env); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil { // saves the preserved data
		t.Fatal(err)
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path != script {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || filepath.Dir(files[0]) != filepath.Join(dataDir, "lua") || filepath.Ext(files[0]) != ".preserve" {
		t.Fatalf("files written: %v; want one .preserve file in %s", files, filepath.Join(dataDir, "lua"))
	}
}
