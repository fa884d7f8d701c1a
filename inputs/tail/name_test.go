package tail

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/interoceptor/interoceptor/pipeline"
	"github.com/interoceptor/interoceptor/pipeline/pipelinetest"
)

// The checkpoint is named after the plugin, but a name that config loading
// would refuse ("../../../x") still cannot put it outside data_dir/tail.
func TestCheckpointStaysInDataDirWhateverTheName(t *testing.T) {
	root := t.TempDir()
	dataDir := filepath.Join(root, "a", "b", "var") // "../../../x.json" from var/tail lands in root/a
	logFile := filepath.Join(root, "app.log")
	writeFile(t, logFile, "one\ntwo\n")
	p := newTail(logFile)
	p.FromBeginning = true
	env := pipelinetest.Env(pipeline.KindInput, "tail", "../../../x")
	env.Agent.DataDir = dataDir
	out := &pipelinetest.Collector{LinesOnly: true}
	stop := pipelinetest.StartInput(t, p, env, out)
	out.WaitFor(t, 2, wait)
	if err := stop(); err != nil { // writes the checkpoint
		t.Fatal(err)
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path != logFile {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || filepath.Dir(files[0]) != filepath.Join(dataDir, "tail") || !strings.HasSuffix(files[0], ".json") {
		t.Fatalf("files written: %v; want one checkpoint in %s", files, filepath.Join(dataDir, "tail"))
	}
	if saved, err := loadCheckpoint(files[0]); err != nil || len(saved) != 1 {
		t.Errorf("checkpoint %s records %d files (%v), want 1", files[0], len(saved), err)
	}
}
