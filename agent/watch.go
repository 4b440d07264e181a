package agent

import (
	"context"
	"path/filepath"
	"slices"

	"github.com/fsnotify/fsnotify"
)

// watchLocalSource polls at once when a file:// source's branch moves:
// fsnotify on the repository's refs turns a local commit into a sync
// without waiting for the interval. Other sources have nothing to watch.
func (a *Agent) watchLocalSource(ctx context.Context) {
	paths := a.src.WatchPaths()
	if len(paths) == 0 {
		return
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		a.log.Warn("cannot watch the local source; polling only", "error", err)
		return
	}
	defer w.Close()
	// Refs are replaced by rename, so watch their directories and match
	// the names.
	var dirs []string
	for _, p := range paths {
		if d := filepath.Dir(p); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
			if err := w.Add(d); err != nil {
				a.log.Warn("cannot watch the local source; polling only", "dir", d, "error", err)
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if slices.Contains(paths, ev.Name) {
				a.Sync()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			a.log.Warn("watching the local source", "error", err)
		}
	}
}
