package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/interoceptor/interoceptor/internal/filewatch"
)

// configDebounce lets an editor, or a tool writing several files of a
// config directory, finish before the config is read.
const configDebounce = 200 * time.Millisecond

// watchConfig reloads the config when one of its files changes
// (agent.watch_config): the file given to LoadConfig, or any *.toml file
// of the directory given, including one added or removed. A config that
// does not load is reported and the pipeline goes on, as on SIGHUP.
func (rt *Runtime) watchConfig() (*filewatch.Watcher, error) {
	path := filepath.Clean(rt.cfg.Path)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	matters := func(p string) bool { return p == path }
	watched := path
	if fi.IsDir() {
		matters = func(p string) bool { return filepath.Dir(p) == path && strings.HasSuffix(p, ".toml") }
		watched = path + string(filepath.Separator)
	}
	w, err := filewatch.Watch(matters, configDebounce, func() {
		rt.log.Info("config changed on disk: reloading", "path", rt.cfg.Path)
		_, _ = rt.Reload("") // it logs what it did, or why it refused
	}, rt.log)
	if err != nil {
		return nil, err
	}
	w.Add([]string{watched})
	return w, nil
}
