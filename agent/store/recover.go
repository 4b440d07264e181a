package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/skiffops/skiff/internal/durable"
)

// Recovery says what OpenOrRecover did to get a usable store, so that status
// and health can say so. The zero value means nothing was needed.
type Recovery struct {
	// MovedTo is where the old file now is ("" when nothing was moved).
	MovedTo string
	// Reason is why, in words: the error Open returned.
	Reason string
	// Cause is that error, for errors.Is (ErrCorrupt or ErrNewerSchema).
	Cause error
}

// Recovered reports whether a file was moved aside.
func (r Recovery) Recovered() bool { return r.MovedTo != "" }

// timestampLayout names moved-aside files: <path>.corrupt-20060102T150405Z.
const timestampLayout = "20060102T150405Z"

// OpenOrRecover opens the store at path like Open. When the file is corrupt
// or has a newer schema, it moves the file aside to
// <path>.corrupt-<UTC time> (or .newer-<UTC time>), keeping its bytes for a
// post-mortem or a later upgrade, and opens a fresh, empty store in its
// place. Every other error, ErrLocked above all, is returned as it is and
// nothing is moved: a file another agent holds is never touched.
func OpenOrRecover(path string, opts Options) (*Store, Recovery, error) {
	opts = opts.withDefaults()
	s, err := Open(path, opts)
	if err == nil {
		return s, Recovery{}, nil
	}
	kind := ""
	switch {
	case errors.Is(err, ErrLocked):
		return nil, Recovery{}, err
	case errors.Is(err, ErrCorrupt):
		kind = "corrupt"
	case errors.Is(err, ErrNewerSchema):
		kind = "newer"
	default:
		return nil, Recovery{}, err
	}
	movedTo, mvErr := moveAside(path, kind, opts)
	if mvErr != nil {
		return nil, Recovery{}, fmt.Errorf("%w; %w", err, mvErr)
	}
	rec := Recovery{MovedTo: movedTo, Reason: err.Error(), Cause: err}
	opts.Logger.Warn("store moved aside, starting empty", "path", path, "moved_to", movedTo, "error", err)
	s, err = Open(path, opts)
	if err != nil {
		return nil, rec, fmt.Errorf("open fresh store after moving the old one to %s: %w", movedTo, err)
	}
	return s, rec, nil
}

// moveAside renames path to a free <path>.<kind>-<UTC time>[-n] in the same
// directory and syncs the directory so that the move survives a crash.
func moveAside(path, kind string, opts Options) (string, error) {
	base := path + "." + kind + "-" + opts.Now().UTC().Format(timestampLayout)
	target := base
	for n := 1; ; n++ {
		if _, err := os.Lstat(target); errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return "", fmt.Errorf("move store aside: %w", err)
		}
		target = base + "-" + strconv.Itoa(n)
	}
	if err := os.Rename(path, target); err != nil {
		return "", fmt.Errorf("move store aside: %w", err)
	}
	if err := durable.Sync(filepath.Dir(path)); err != nil {
		opts.Logger.Warn("store moved aside, but the move may not survive a crash", "moved_to", target, "error", err)
	}
	return target, nil
}
