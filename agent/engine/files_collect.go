package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/container"

	"github.com/skiffops/skiff/manifests"
)

// CollectFiles removes the copies of repository files that no stack of keep
// refers to (through its Files, and the owner and mode variants of its
// secrets and configs) and no container on the engine mounts, and the
// leftovers of interrupted copies. keep should hold every spec the node may
// still run: each stack's current spec and its last good one.
//
// The containers' mounts are listed first (one call): a copy that a
// container mounts is never removed, whatever keep says, since it would be
// gone when the container restarts. It holds off every CreateContainer
// while it runs, so that a copy made for a container being created is
// either kept or made again. The plaintext copies under SecretsDir are
// collected by the same rules. Names that skiff does not write are left
// alone.
func (e *Engine) CollectFiles(ctx context.Context, keep []*manifests.Stack) (removed int, err error) {
	e.files.mu.Lock()
	defer e.files.mu.Unlock()
	sources, err := e.mountSources(ctx)
	if err != nil {
		return 0, fmt.Errorf("collect repository files: %w", err)
	}
	removed, err = e.files.collect(referencedCopies(keep), entriesUnder(e.files.dir, sources))
	if e.secrets != nil {
		n, serr := e.secrets.collect(referencedSecrets(keep), entriesUnder(e.secrets.dir, sources))
		removed, err = removed+n, errors.Join(err, serr)
	}
	if removed > 0 {
		e.log.Info("repository file copies collected", "removed", removed, "dir", e.files.dir)
	}
	if err != nil {
		return removed, fmt.Errorf("collect repository files: %w", err)
	}
	return removed, nil
}

// mountSources lists the host paths that containers mount, from one list
// of every container on the engine.
func (e *Engine) mountSources(ctx context.Context) ([]string, error) {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	cs, err := e.cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []string
	for _, c := range cs {
		for _, m := range c.Mounts {
			out = append(out, m.Source)
		}
	}
	return out, nil
}

// entriesUnder lists the copies (<key>/<base>) under dir that sources
// name.
func entriesUnder(dir string, sources []string) map[string]bool {
	roots := []string{filepath.Clean(dir)}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != roots[0] {
		roots = append(roots, real)
	}
	out := map[string]bool{}
	for _, src := range sources {
		if entry, ok := copyEntryOf(roots, src); ok {
			out[entry] = true
		}
	}
	return out
}

// copyEntryOf returns the <key>/<base> of a host path inside one of roots.
func copyEntryOf(roots []string, source string) (string, bool) {
	for _, root := range roots {
		rel, err := filepath.Rel(root, source)
		if err != nil || !filepath.IsLocal(rel) {
			continue
		}
		parts := strings.SplitN(filepath.ToSlash(rel), "/", 3)
		if len(parts) >= 2 {
			return parts[0] + "/" + parts[1], true
		}
	}
	return "", false
}

// Copies are matched by reference: "t/<hex>/<base>" for a tree,
// "f/<hex>/<base>" for a file in any mode (the mode is not part of
// manifests.File: every mode copied of a referenced file is kept), and
// "v/<hex>/<uid>/<gid>/<perm>/<base>" for a variant, with perm "*" when the
// variant takes the plain copy's mode.

// referencedCopies lists the references of keep's copies.
func referencedCopies(keep []*manifests.Stack) map[string]bool {
	refs := map[string]bool{}
	for _, st := range keep {
		if st == nil {
			continue
		}
		for _, f := range st.Files {
			hex, err := digestHex(f.Digest)
			if err != nil {
				continue
			}
			kind := "f/"
			if f.Dir {
				kind = "t/"
			}
			refs[kind+hex+"/"+filepath.Base(f.Path)] = true
		}
		if st.Project == nil {
			continue
		}
		variants, _ := stackVariants(st) // a stack refused here never ran
		for _, v := range variants {
			perm := "*"
			if v.hasMode {
				perm = permString(v.mode)
			}
			refs["v/"+v.digest+"/"+v.ref.UID+"/"+v.ref.GID+"/"+perm+"/"+filepath.Base(v.file)] = true
		}
	}
	return refs
}

// copyRefs returns the references a copy named key/base answers to; false
// when key is not a name skiff writes (see files.go).
func copyRefs(key, base string) ([]string, bool) {
	parts := strings.Split(key, "-")
	hex := parts[0]
	if !isHex64(hex) {
		return nil, false
	}
	switch {
	case len(parts) == 1:
		return []string{"t/" + hex + "/" + base}, true
	case len(parts) == 2 && parts[1] != "":
		return []string{"f/" + hex + "/" + base}, true
	case len(parts) == 4 && parts[3] != "":
		prefix := "v/" + hex + "/" + parts[1] + "/" + parts[2] + "/"
		return []string{prefix + parts[3] + "/" + base, prefix + "*/" + base}, true
	}
	return nil, false
}

func isHex64(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// collect removes every copy that is neither referenced nor mounted, and
// every .tmp- leftover; it returns how many it removed. The caller holds
// s.mu exclusively: no copy is being made.
func (s *fileStore) collect(refs, mounted map[string]bool) (int, error) {
	return collectEach(s.dir, func(k os.DirEntry) (int, error) {
		return s.collectKey(k, refs, mounted)
	})
}

// collectEach runs collect on every entry of dir (none when dir does not
// exist) and sums what they removed; an entry that fails does not stop
// the others.
func collectEach(dir string, collect func(os.DirEntry) (int, error)) (int, error) {
	keys, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, k := range keys {
		n, err := collect(k)
		removed += n
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}

// collectKey collects one entry of the store's directory.
func (s *fileStore) collectKey(k os.DirEntry, refs, mounted map[string]bool) (int, error) {
	path := filepath.Join(s.dir, k.Name())
	if strings.HasPrefix(k.Name(), ".tmp-") {
		if err := s.remove(path); err != nil {
			return 0, err
		}
		return 1, nil
	}
	if _, ours := copyRefs(k.Name(), "x"); !ours {
		s.log.Warn("unknown entry in the repository files directory left alone", "path", path)
		return 0, nil
	}
	if !k.IsDir() {
		if err := s.remove(path); err != nil {
			return 0, err
		}
		return 1, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return 0, err
	}
	removed, kept := 0, 0
	var errs []error
	for _, e := range ents {
		refsOf, _ := copyRefs(k.Name(), e.Name())
		if !strings.HasPrefix(e.Name(), ".tmp-") && (mounted[k.Name()+"/"+e.Name()] || anyIn(refs, refsOf)) {
			kept++
			continue
		}
		if err := s.remove(filepath.Join(path, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if kept == 0 && len(errs) == 0 {
		errs = append(errs, os.Remove(path))
	}
	return removed, errors.Join(errs...)
}

func (s *fileStore) remove(path string) error {
	s.log.Debug("removing repository file copy", "path", path)
	if err := removeAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

func anyIn(set map[string]bool, keys []string) bool {
	for _, k := range keys {
		if set[k] {
			return true
		}
	}
	return false
}
