package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/skiffops/skiff/internal/durable"
	"github.com/skiffops/skiff/manifests"
)

// Repository files are mounted from copies under the state directory, so that
// mounts survive the removal of the checkout they came from (DESIGN.md §6).
// The copies are content-addressed:
//
//	<filesDir>/<sha256 hex>-<perm>/<base name>   a file, with its permission bits
//	<filesDir>/<sha256 hex>/<base name>/         a directory tree
//	<filesDir>/<sha256 hex>-<uid>-<gid>-<mode>/<base name>
//	                                             a secret or config with owner and
//	                                             mode (see materializeStack)
//
// Each copy is written into a temporary name beside it, checked against the
// digest manifests computed, synced, and renamed into place: a copy that is
// present is complete, and is reused as it is.

// errDigestMismatch says that a file did not have the content manifests
// hashed: it changed in the checkout after loading.
var errDigestMismatch = errors.New("content does not match its digest")

// maxTreeDepth bounds directory recursion (manifests refuses deeper trees).
const maxTreeDepth = 64

var sha256Digest = regexp.MustCompile(`^sha256:([0-9a-f]{64})$`)

// materializeFiles copies each repository file or directory into its
// content-addressed place under filesDir and returns the copy of each
// checkout path (manifests.File.Path).
func materializeFiles(filesDir string, files []manifests.File) (map[string]string, error) {
	if err := os.MkdirAll(filesDir, 0o755); err != nil {
		return nil, fmt.Errorf("copy repository files: %w", err)
	}
	out := make(map[string]string, len(files))
	for _, f := range files {
		p, err := materialize(filesDir, f)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", f.Rel, err)
		}
		out[f.Path] = p
	}
	return out, nil
}

func materialize(filesDir string, f manifests.File) (string, error) {
	m := sha256Digest.FindStringSubmatch(f.Digest)
	if m == nil {
		return "", fmt.Errorf("digest %q is not sha256:<hex>", f.Digest)
	}
	base := filepath.Base(f.Path)
	if f.Dir {
		return copyTree(f.Path, filepath.Join(filesDir, m[1], base), m[1])
	}
	fi, err := os.Stat(f.Path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", f.Path)
	}
	perm := fi.Mode().Perm()
	dest := filepath.Join(filesDir, m[1]+"-"+strconv.FormatUint(uint64(perm), 8), base)
	if err := copyFile(f.Path, dest, fileCopy{perm: perm, uid: -1, gid: -1, digest: m[1]}); err != nil {
		return "", err
	}
	return dest, nil
}

// fileCopy says how a file is copied: its permission bits, its owner (-1:
// unchanged) and the sha256 hex its content must have.
type fileCopy struct {
	perm     fs.FileMode
	uid, gid int
	digest   string
}

// copyFile copies src to dest atomically, unless dest exists.
func copyFile(src, dest string, c fileCopy) (err error) {
	if fi, err := os.Lstat(dest); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s exists and is not a regular file", dest)
		}
		return nil
	}
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
func writeCopy(tmp *os.File, src string, c fileCopy) error {
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

// treeCopy copies one directory tree and computes, as it goes, the listing
// manifests digests a tree by: one line per entry in lexical order,
// `d "path"`, `f "path" x|- <sha256>` or `l "path" "target"`, where only the
// executable bit of a file counts. It must stay in step with writeTree in
// manifests/files.go: a difference refuses every directory mount.
type treeCopy struct {
	listing hash.Hash
}

// copyTree copies the tree at src to dest atomically, unless dest exists.
func copyTree(src, dest, digest string) (string, error) {
	if fi, err := os.Lstat(dest); err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("%s exists and is not a directory", dest)
		}
		return dest, nil
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return "", err
	}
	if err := fillTree(src, tmp, digest); err != nil {
		return "", errors.Join(err, os.RemoveAll(tmp))
	}
	if err := os.Rename(tmp, dest); err != nil {
		if _, statErr := os.Lstat(dest); statErr == nil {
			return dest, os.RemoveAll(tmp) // another copy won the race
		}
		return "", errors.Join(err, os.RemoveAll(tmp))
	}
	return dest, durable.Sync(parent)
}

// fillTree copies src into the empty directory tmp and checks the digest.
func fillTree(src, tmp, digest string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	t := &treeCopy{listing: sha256.New()}
	if err := t.copyDir(src, tmp, "", 0); err != nil {
		return err
	}
	if sum := hex.EncodeToString(t.listing.Sum(nil)); sum != digest {
		return fmt.Errorf("%s: %w (sha256:%s, want sha256:%s)", src, errDigestMismatch, sum, digest)
	}
	return os.Chmod(tmp, fi.Mode().Perm())
}

// copyDir copies the entries of src into the existing directory dst; prefix
// is dst's path in the tree, for the listing.
func (t *treeCopy) copyDir(src, dst, prefix string, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%s: directory tree too deep", src)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := t.copyEntry(e, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), prefix+e.Name(), depth); err != nil {
			return err
		}
	}
	return durable.Sync(dst)
}

func (t *treeCopy) copyEntry(e fs.DirEntry, src, dst, name string, depth int) error {
	switch typ := e.Type(); {
	case typ.IsDir():
		fmt.Fprintf(t.listing, "d %q\n", name)
		return t.copySubdir(src, dst, name, depth)
	case typ&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		fmt.Fprintf(t.listing, "l %q %q\n", name, filepath.ToSlash(target))
		return os.Symlink(target, dst)
	case typ.IsRegular():
		return t.copyTreeFile(e, src, dst, name)
	}
	return fmt.Errorf("%s is neither a regular file, a directory nor a symlink", src)
}

// copySubdir creates dst writable, fills it, then gives it src's mode.
func (t *treeCopy) copySubdir(src, dst, name string, depth int) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	if err := t.copyDir(src, dst, name+"/", depth+1); err != nil {
		return err
	}
	return os.Chmod(dst, fi.Mode().Perm())
}

func (t *treeCopy) copyTreeFile(e fs.DirEntry, src, dst, name string) error {
	fi, err := e.Info()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	sum, err := copyContent(out, src)
	if err == nil {
		err = out.Chmod(fi.Mode().Perm())
	}
	if err == nil {
		err = out.Sync()
	}
	if closeErr := out.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	x := "-"
	if fi.Mode().Perm()&0o111 != 0 {
		x = "x"
	}
	fmt.Fprintf(t.listing, "f %q %s %s\n", name, x, sum)
	return nil
}
