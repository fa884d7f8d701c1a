// Package filewatch calls a function when files change on disk, once the
// changes have paused: Lua scripts and the modules they require (reloaded
// by the Lua filters and decoders), and a pipeline's config files
// (agent.watch_config).
package filewatch

import (
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher calls a reload function when a file it cares about changes on
// disk. It watches directories, not files, because editors replace files by
// renaming a new one over them.
type Watcher struct {
	fs        *fsnotify.Watcher
	log       *slog.Logger
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Watch starts a Watcher; it watches nothing until Add. matters reports
// whether a path that changed is one that matters now (see Files): a change
// to one calls reload, once the changes have paused for debounce so an
// editor can finish writing. Removing a file counts as a change. reload and
// matters run on the Watcher's goroutine, never concurrently; reload
// handles its own error.
func Watch(matters func(path string) bool, debounce time.Duration, reload func(), log *slog.Logger) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{fs: fw, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop(matters, debounce, reload)
	return w, nil
}

func (w *Watcher) loop(matters func(string) bool, debounce time.Duration, reload func()) {
	defer close(w.done)
	var pending <-chan time.Time
	for {
		select {
		case <-w.stop:
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 && matters(filepath.Clean(ev.Name)) {
				pending = time.After(debounce)
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.log.Warn("file watch error", "err", err)
		case <-pending:
			pending = nil
			reload()
		}
	}
}

// Files is the matters of Watch for a set of files that may change (the
// script and the modules of the version running now).
func Files(files func() []string) func(path string) bool {
	return func(path string) bool { return contains(files(), path) }
}

func contains(files []string, name string) bool {
	for _, f := range files {
		if filepath.Clean(f) == name {
			return true
		}
	}
	return false
}

// Add watches the directories of files; call it with Sandbox.Files after
// each reload, as a new version may require new modules, or with the
// directories themselves (a path ending in a separator). A directory that
// cannot be watched is logged, not returned: the script still runs.
func (w *Watcher) Add(files []string) {
	for _, f := range files {
		dir := filepath.Dir(f)
		if err := w.fs.Add(dir); err != nil {
			w.log.Warn("cannot watch", "dir", dir, "err", err)
		}
	}
}

// Close stops watching and waits for a reload in progress to return, so it
// must not be called from reload or with a lock reload takes. Later calls
// do nothing.
func (w *Watcher) Close() {
	w.closeOnce.Do(func() {
		close(w.stop)
		w.fs.Close()
		<-w.done
	})
}
