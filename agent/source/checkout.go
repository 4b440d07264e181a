package source

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/skiffops/skiff/internal/durable"
)

// Checkout stages commit and promotes it at once: Stage, then Promote. It
// returns the checkout's directory, the root of the repository.
func (s *Source) Checkout(commit string) (string, error) {
	dir, err := s.Stage(commit)
	if err != nil {
		return "", err
	}
	return dir, s.Promote(commit)
}

// Stage writes the tree of commit, which Fetch must have brought, into
// Dir/checkouts/<commit> (reusing it when it exists: it is complete by
// construction) without touching the current link: the caller loads it
// first and promotes it only when it loaded, so that a revision refused as
// a whole never becomes the checkout a reboot starts from. It returns the
// checkout's directory, the root of the repository: the caller joins
// source.path.
func (s *Source) Stage(commit string) (string, error) {
	c, err := parseCommit(commit)
	if err != nil {
		return "", fmt.Errorf("checkout: %w", err)
	}
	s.linkMu.Lock()
	defer s.linkMu.Unlock()
	dir := s.checkoutDir(c)
	_, err = os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		err = s.materialize(c, dir)
	}
	if err != nil {
		return "", fmt.Errorf("checkout %s: %w", short(c), err)
	}
	return dir, nil
}

// Promote switches the current link to commit's staged checkout; the
// checkout it replaces becomes the previous one, and every older checkout
// is pruned (a failure there is logged, not returned).
func (s *Source) Promote(commit string) error {
	c, err := parseCommit(commit)
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	s.linkMu.Lock()
	defer s.linkMu.Unlock()
	if _, err := os.Stat(s.checkoutDir(c)); err != nil {
		return fmt.Errorf("promote %s: not staged: %w", short(c), err)
	}
	switched, err := s.switchTo(c)
	if err != nil {
		return fmt.Errorf("promote %s: switch %s: %w", short(c), linkCurrent, err)
	}
	if switched {
		s.log.Info("switched checkout", "revision", c, "dir", s.checkoutDir(c))
	}
	if err := s.pruneLocked(nil); err != nil {
		s.log.Warn("cannot prune old checkouts", "error", err)
	}
	return nil
}

// Prune removes every checkout but the current one, the previous one and
// those in keep, as Checkout does after each switch (with keep empty).
func (s *Source) Prune(keep ...string) error {
	s.linkMu.Lock()
	defer s.linkMu.Unlock()
	return s.pruneLocked(keep)
}

// pruneLocked is Prune; s.linkMu must be held.
func (s *Source) pruneLocked(keep []string) error {
	kept := map[string]bool{}
	for _, name := range []string{linkCurrent, linkPrevious} {
		if c, _, ok := s.readLink(name); ok {
			kept[c] = true
		}
	}
	for _, k := range keep {
		c, err := parseCommit(k)
		if err != nil {
			return fmt.Errorf("prune: keep: %w", err)
		}
		kept[c] = true
	}
	entries, err := os.ReadDir(s.checkoutsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !kept[e.Name()] {
			errs = append(errs, s.remove(e.Name()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
}

// remove moves a checkout out of checkouts/ first, so that a half-removed
// one never looks complete, then removes it.
func (s *Source) remove(name string) error {
	trash, err := s.newTemp("prune-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(trash) }()
	if err := os.Rename(filepath.Join(s.checkoutsDir(), name), filepath.Join(trash, name)); err != nil {
		return err
	}
	s.log.Debug("pruned checkout", "revision", name)
	return nil
}

// materialize writes the tree of commit into a temporary directory, synced,
// and renames it to dir.
func (s *Source) materialize(commit, dir string) error {
	s.repoMu.RLock()
	defer s.repoMu.RUnlock()
	c, err := s.commitObject(commit)
	if err != nil {
		return err
	}
	tree, err := c.Tree()
	if err != nil {
		return fmt.Errorf("read tree: %w", err)
	}
	if err := os.MkdirAll(s.checkoutsDir(), 0o755); err != nil {
		return err
	}
	tmp, err := s.newTemp("checkout-" + short(commit) + "-")
	if err != nil {
		return err
	}
	err = os.Chmod(tmp, 0o755) // MkdirTemp made it 0700
	if err == nil {
		err = writeTree(tree, tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	return durable.Sync(s.checkoutsDir())
}

// writeTree writes the entries of t into dir, which exists, and syncs them.
// Files are created exclusively, so that no entry can write through another
// (a symlink, or a duplicate name in a crafted tree).
func writeTree(t *object.Tree, dir string) error {
	for i := range t.Entries {
		e := &t.Entries[i]
		if err := checkName(e.Name); err != nil {
			return err
		}
		p := filepath.Join(dir, e.Name)
		var err error
		switch e.Mode {
		case filemode.Dir:
			err = writeSubtree(t, e.Name, p)
		case filemode.Regular, filemode.Deprecated:
			err = writeBlob(t, e, p, 0o644)
		case filemode.Executable:
			err = writeBlob(t, e, p, 0o755)
		case filemode.Symlink:
			err = writeSymlink(t, e, p)
		case filemode.Submodule:
			// Not fetched: a submodule's commit is in another repository.
			// An empty directory stands in its place, as git leaves one for
			// a submodule it did not clone: a stack made a submodule then
			// reads as a stack without compose.yaml (refused, it keeps its
			// last good spec), never as a stack removed from the node.
			err = os.Mkdir(p, 0o755)
		default:
			err = fmt.Errorf("unsupported file mode %s", e.Mode)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return durable.Sync(dir)
}

func writeSubtree(t *object.Tree, name, p string) error {
	sub, err := t.Tree(name)
	if err != nil {
		return err
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		return err
	}
	return writeTree(sub, p)
}

func writeBlob(t *object.Tree, e *object.TreeEntry, p string, mode os.FileMode) error {
	f, err := t.TreeEntryFile(e)
	if err != nil {
		return err
	}
	r, err := f.Reader()
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeSymlink(t *object.Tree, e *object.TreeEntry, p string) error {
	f, err := t.TreeEntryFile(e)
	if err != nil {
		return err
	}
	target, err := f.Contents()
	if err != nil {
		return err
	}
	return os.Symlink(target, p)
}

// checkName refuses tree entry names that could leave the checkout or plant
// a repository in it.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || strings.EqualFold(name, ".git") {
		return fmt.Errorf("refusing tree entry %q", name)
	}
	return nil
}

// switchTo points the current link at commit's checkout, after pointing the
// previous link at the one current replaces. It reports whether current
// changed.
func (s *Source) switchTo(commit string) (bool, error) {
	cur, _, ok := s.readLink(linkCurrent)
	if ok && cur == commit {
		return false, nil
	}
	if ok {
		if err := s.setLink(linkPrevious, cur); err != nil {
			return false, err
		}
	}
	if err := s.setLink(linkCurrent, commit); err != nil {
		return false, err
	}
	return true, durable.Sync(s.cfg.Dir)
}

// setLink atomically points Dir/name at checkouts/<commit>, relative so that
// the state directory can move: a new link in tmp/ renamed over the old.
func (s *Source) setLink(name, commit string) error {
	if err := os.MkdirAll(s.tmpDir(), 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(s.tmpDir(), name+"-"+rand.Text())
	if err := os.Symlink(filepath.Join(filepath.Base(s.checkoutsDir()), commit), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.cfg.Dir, name)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// readLink returns the commit and the checkout a link points to, when both
// are there.
func (s *Source) readLink(name string) (commit, dir string, ok bool) {
	target, err := os.Readlink(filepath.Join(s.cfg.Dir, name))
	if err != nil || filepath.Dir(target) != filepath.Base(s.checkoutsDir()) {
		return "", "", false
	}
	c, err := parseCommit(filepath.Base(target))
	if err != nil || c != filepath.Base(target) {
		return "", "", false
	}
	dir = s.checkoutDir(c)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", "", false
	}
	return c, dir, true
}
