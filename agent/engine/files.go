package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/skiffops/skiff/manifests"
)

// Repository files are content (DESIGN.md §6, §10). Containers mount copies
// under the state directory, never the checkout, so that mounts do not
// depend on which checkout is current and survive its removal. The copies
// are addressed by content:
//
//	<dir>/<sha256 hex>-<perm>/<base name>   a file, with its permission bits
//	<dir>/<sha256 hex>/<base name>/         a directory tree
//	<dir>/<sha256 hex>-<uid>-<gid>-<perm>/<base name>
//	                                        a secret or config with the owner
//	                                        and mode it asks for (uid and gid
//	                                        as written, possibly empty)
//
// A copy is written under a temporary name beside it, checked against the
// digest manifests computed, synced and renamed into place. It is verified
// again before every reuse (content, permission bits, owner; a tree's
// listing), and only a copy that is missing or damaged is made (again) from
// the checkout: recreating a container needs no checkout, so a stored spec
// whose checkout was removed still runs offline. A damaged copy is set
// aside and removed first. Copies are mounted read-only (see spec.go), so no
// container can change what another sees, and CollectFiles removes those no
// spec and no container refers to.

// ErrFileLost says that the copy of a repository file is missing or damaged
// and the checkout it was made from is gone: nothing on the node can make it
// again. A revision that has the file (a new commit, or a fetch of that
// one) can.
var ErrFileLost = errors.New("the checkout it came from is gone")

var sha256Digest = regexp.MustCompile(`^sha256:([0-9a-f]{64})$`)

// fileStore keeps the copies under dir.
type fileStore struct {
	dir string
	log *slog.Logger

	// mu is held shared while copies are made and until the containers
	// that mount them exist (CreateContainer), and exclusively by collect:
	// a collect never removes a copy that a create is about to mount.
	mu sync.RWMutex
	// repair serializes the replacement of damaged copies, so that two
	// creates never set aside each other's fresh copy.
	repair sync.Mutex
}

func newFileStore(dir string, log *slog.Logger) *fileStore {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &fileStore{dir: dir, log: log}
}

// materializeFiles makes sure each repository file or directory has a
// verified copy and returns the copy of each checkout path
// (manifests.File.Path). The caller holds s.mu shared.
func (s *fileStore) materializeFiles(files []manifests.File) (map[string]string, error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("copy repository files: %w", err)
	}
	out := make(map[string]string, len(files))
	for _, f := range files {
		p, err := s.materialize(f)
		if err != nil {
			return nil, fmt.Errorf("repository file %s (%s): %w", f.Rel, f.Digest, err)
		}
		out[f.Path] = p
	}
	return out, nil
}

func (s *fileStore) materialize(f manifests.File) (string, error) {
	hex, err := digestHex(f.Digest)
	if err != nil {
		return "", err
	}
	base := filepath.Base(f.Path)
	if f.Dir {
		dest := filepath.Join(s.dir, hex, base)
		return dest, s.ensure(f.Path, dest, copySpec{digest: hex, tree: true})
	}
	// The mode is not part of manifests.File: it is read from the checkout
	// while there is one (cheap, and a chmod in Git reaches the next
	// container), else from the copies.
	fi, err := os.Stat(f.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.reuseAnyMode(f.Path, hex, base)
	case err != nil:
		return "", err
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%s is not a regular file", f.Path)
	}
	c := copySpec{digest: hex, perm: fi.Mode().Perm(), uid: -1, gid: -1}
	dest := filepath.Join(s.dir, fileKey(hex, c.perm), base)
	return dest, s.ensure(f.Path, dest, c)
}

func digestHex(digest string) (string, error) {
	m := sha256Digest.FindStringSubmatch(digest)
	if m == nil {
		return "", fmt.Errorf("digest %q is not sha256:<hex>", digest)
	}
	return m[1], nil
}

// ensure makes the copy at dest good: reused when it verifies, else made
// from src; a damaged copy is set aside first.
func (s *fileStore) ensure(src, dest string, c copySpec) error {
	bad := verifyCopy(dest, c)
	if bad == nil {
		return nil
	}
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return lost(dest, src, bad)
	}
	if errors.Is(bad, errNoCopy) {
		return makeCopy(src, dest, c)
	}
	s.repair.Lock()
	defer s.repair.Unlock()
	if err := verifyCopy(dest, c); err == nil {
		return nil // another create replaced it meanwhile
	}
	s.log.Warn("repository file copy is damaged: copying it again", "path", dest, "error", bad)
	if err := s.setAside(dest); err != nil {
		return fmt.Errorf("set aside damaged copy %s: %w", dest, err)
	}
	return makeCopy(src, dest, c)
}

func lost(dest, checkout string, why error) error {
	if errors.Is(why, errNoCopy) {
		return fmt.Errorf("no copy at %s, and %w (%s)", dest, ErrFileLost, checkout)
	}
	return fmt.Errorf("the copy %s is damaged (%v), and %w (%s)", dest, why, ErrFileLost, checkout)
}

// setAside moves a damaged copy out of its place and removes it; what
// cannot be removed stays as a .tmp- entry for CollectFiles.
func (s *fileStore) setAside(dest string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(dest), ".tmp-damaged-")
	if err != nil {
		return err
	}
	if err := os.Rename(dest, filepath.Join(tmp, filepath.Base(dest))); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	if err := removeAll(tmp); err != nil {
		s.log.Warn("cannot remove damaged copy", "path", tmp, "error", err)
	}
	return nil
}

// reuseAnyMode finds a verified copy of a file whose checkout is gone,
// whatever its mode: the newest one when several modes were copied.
func (s *fileStore) reuseAnyMode(checkout, hex, base string) (string, error) {
	keys, err := filepath.Glob(filepath.Join(s.dir, hex+"-*"))
	if err != nil {
		return "", err
	}
	var best string
	var bestInfo fs.FileInfo
	var bad error = errNoCopy
	badPath := filepath.Join(s.dir, hex+"-<mode>", base)
	for _, key := range keys {
		perm, ok := parseFileKey(filepath.Base(key), hex)
		if !ok {
			continue
		}
		p := filepath.Join(key, base)
		if err := verifyCopy(p, copySpec{digest: hex, perm: perm, uid: -1, gid: -1}); err != nil {
			if !errors.Is(err, errNoCopy) {
				bad, badPath = err, p
			}
			continue
		}
		if fi, err := os.Stat(p); err == nil && (bestInfo == nil || fi.ModTime().After(bestInfo.ModTime())) {
			best, bestInfo = p, fi
		}
	}
	if best == "" {
		return "", lost(badPath, checkout, bad)
	}
	return best, nil
}

// fileKey names the copy of a file with its permission bits.
func fileKey(hex string, perm fs.FileMode) string {
	return hex + "-" + permString(perm)
}

// variantKeyDir names the copy of a secret's or config's file with the
// owner and mode it asks for.
func variantKeyDir(hex, uid, gid string, perm fs.FileMode) string {
	return hex + "-" + uid + "-" + gid + "-" + permString(perm)
}

func permString(perm fs.FileMode) string {
	return strconv.FormatUint(uint64(perm.Perm()), 8)
}

// parseFileKey reads the permission bits of a file copy's name
// (<hex>-<perm>).
func parseFileKey(name, hex string) (fs.FileMode, bool) {
	rest, ok := strings.CutPrefix(name, hex+"-")
	if !ok || strings.Contains(rest, "-") {
		return 0, false
	}
	perm, err := strconv.ParseUint(rest, 8, 32)
	if err != nil || perm > 0o777 {
		return 0, false
	}
	return fs.FileMode(perm), true
}
