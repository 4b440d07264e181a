package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/skiffops/skiff/internal/durable"
	"github.com/skiffops/skiff/manifests"
)

// errDigestMismatch says that a file did not have the content manifests
// hashed: it changed in the checkout after loading.
var errDigestMismatch = errors.New("content does not match its digest")

// errNoCopy says that a copy is not there at all (rather than damaged).
var errNoCopy = errors.New("no copy")

// maxTreeDepth bounds directory recursion (manifests refuses deeper trees).
const maxTreeDepth = 64

// copySpec is what a copy must be: a file with this sha256, permission bits
// and owner (-1: whatever it is), or a directory tree whose listing has
// this sha256.
type copySpec struct {
	digest   string // sha256 hex
	tree     bool
	perm     fs.FileMode // files only
	uid, gid int         // files only
}

// verifyCopy checks the copy at dest against its spec, re-reading its
// content: nil when it may be reused, errNoCopy when there is none, another
// error that says what is wrong with it.
func verifyCopy(dest string, c copySpec) error {
	fi, err := os.Lstat(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return errNoCopy
	}
	if err != nil {
		return err
	}
	if c.tree {
		if !fi.IsDir() {
			return errors.New("not a directory")
		}
		return matchDigest(treeDigest(dest))(c.digest)
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	if fi.Mode().Perm() != c.perm {
		return fmt.Errorf("mode %04o, want %04o", fi.Mode().Perm(), c.perm)
	}
	if err := checkOwner(fi, c.uid, c.gid); err != nil {
		return err
	}
	return matchDigest(fileSum(dest))(c.digest)
}

// matchDigest compares a computed sum with the one wanted.
func matchDigest(sum string, err error) func(want string) error {
	return func(want string) error {
		switch {
		case err != nil:
			return err
		case sum != want:
			return fmt.Errorf("%w (sha256:%s, want sha256:%s)", errDigestMismatch, sum, want)
		}
		return nil
	}
}

func checkOwner(fi fs.FileInfo, uid, gid int) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (uid < 0 || int(st.Uid) == uid) && (gid < 0 || int(st.Gid) == gid) {
		return nil
	}
	return fmt.Errorf("owner %d:%d, want %d:%d", st.Uid, st.Gid, uid, gid)
}

func fileSum(path string) (string, error) {
	return copyContent(io.Discard, path)
}

// treeDigest is the sha256 hex of a directory's listing, as the spec
// records the directory it was copied from.
func treeDigest(dir string) (string, error) {
	d, err := manifests.TreeDigest(dir)
	return strings.TrimPrefix(d, "sha256:"), err
}

// makeCopy copies src to dest as c says, atomically: a temporary copy
// beside dest is checked against the digest, synced and renamed into place.
func makeCopy(src, dest string, c copySpec) error {
	if c.tree {
		return copyTree(src, dest, c.digest)
	}
	return copyFile(src, dest, c)
}

// copyFile copies src to dest atomically, replacing dest if it exists.
func copyFile(src, dest string, c copySpec) (err error) {
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := writeCopy(tmp, src, c); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	return durable.Sync(dir)
}

// writeCopy fills tmp with src's content, checks its digest, and sets mode
// and owner before syncing.
func writeCopy(tmp *os.File, src string, c copySpec) error {
	sum, err := copyContent(tmp, src)
	if err != nil {
		return err
	}
	if sum != c.digest {
		return fmt.Errorf("%s: %w (sha256:%s, want sha256:%s)", src, errDigestMismatch, sum, c.digest)
	}
	if c.uid >= 0 || c.gid >= 0 {
		if err := tmp.Chown(c.uid, c.gid); err != nil {
			return err
		}
	}
	if err := tmp.Chmod(c.perm); err != nil {
		return err
	}
	return tmp.Sync()
}

// copyContent copies the content of src into w and returns its sha256 hex.
func copyContent(w io.Writer, src string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), in); err != nil {
		return "", fmt.Errorf("read %s: %w", src, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyTree copies the tree at src to dest atomically. When another copy
// took dest meanwhile, that one stays.
func copyTree(src, dest, digest string) error {
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return err
	}
	if err := fillTree(src, tmp, digest); err != nil {
		return errors.Join(err, removeAll(tmp))
	}
	if err := os.Rename(tmp, dest); err != nil {
		if verifyCopy(dest, copySpec{digest: digest, tree: true}) == nil {
			return removeAll(tmp) // another copy won the race
		}
		return errors.Join(err, removeAll(tmp))
	}
	return durable.Sync(parent)
}

// fillTree copies src into the empty directory tmp and checks the digest
// of what was written.
func fillTree(src, tmp, digest string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	if err := copyDir(src, tmp, 0); err != nil {
		return err
	}
	if err := matchDigest(treeDigest(tmp))(digest); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	return os.Chmod(tmp, fi.Mode().Perm())
}

// copyDir copies the entries of src into the existing directory dst.
func copyDir(src, dst string, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%s: directory tree too deep", src)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := copyEntry(e, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), depth); err != nil {
			return err
		}
	}
	return durable.Sync(dst)
}

func copyEntry(e fs.DirEntry, src, dst string, depth int) error {
	fi, err := e.Info()
	if err != nil {
		return err
	}
	switch typ := e.Type(); {
	case typ.IsDir():
		// created writable, filled, then given src's mode
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		if err := copyDir(src, dst, depth+1); err != nil {
			return err
		}
		return os.Chmod(dst, fi.Mode().Perm())
	case typ&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case typ.IsRegular():
		return copyTreeFile(src, dst, fi.Mode().Perm())
	}
	return fmt.Errorf("%s is neither a regular file, a directory nor a symlink", src)
}

func copyTreeFile(src, dst string, perm fs.FileMode) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = copyContent(out, src)
	if err == nil {
		err = out.Chmod(perm)
	}
	if err == nil {
		err = out.Sync()
	}
	if closeErr := out.Close(); err == nil {
		err = closeErr
	}
	return err
}

// removeAll removes a path, making its directories writable first when
// their modes (copied from the repository) forbid it.
func removeAll(p string) error {
	if err := os.RemoveAll(p); err == nil {
		return nil
	}
	_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}
