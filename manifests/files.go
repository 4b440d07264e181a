package manifests

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
)

// maxLinks bounds symlink hops while resolving a path, as the kernel does.
const maxLinks = 40

// errLeavesRepo marks a path that resolves outside the repository.
var errLeavesRepo = errors.New("leaves the repository")

// inRepo resolves the symlinks of abs, which must be lexically inside the
// repository, one component at a time, and fails as soon as a link leads
// outside it: nothing outside the checkout is ever looked at. It returns the
// real path; a missing component is an error wrapping fs.ErrNotExist.
func (c *stackCheck) inRepo(abs string) (string, error) {
	rel, err := filepath.Rel(c.in.repo, abs)
	if err != nil || !local(rel) {
		return "", fmt.Errorf("%s %w", abs, errLeavesRepo)
	}
	cur, rest := c.in.repo, splitPath(rel)
	for hops := 0; len(rest) > 0; {
		next := filepath.Join(cur, rest[0])
		fi, err := os.Lstat(next)
		if err != nil {
			return "", fmt.Errorf("%s: %w", c.relToRepo(filepath.Join(next, filepath.Join(rest[1:]...))), fs.ErrNotExist)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur, rest = next, rest[1:]
			continue
		}
		if hops++; hops > maxLinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", c.relToRepo(next))
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			return "", fmt.Errorf("symlink %s -> %s %w", c.relToRepo(next), target, errLeavesRepo)
		}
		joined := filepath.Join(cur, target)
		r, err := filepath.Rel(c.in.repo, joined)
		if err != nil || !local(r) {
			return "", fmt.Errorf("symlink %s -> %s %w", c.relToRepo(next), target, errLeavesRepo)
		}
		cur, rest = c.in.repo, append(splitPath(r), rest[1:]...)
	}
	return cur, nil
}

// local reports whether a cleaned relative path stays below its base.
func local(rel string) bool {
	return rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

func splitPath(rel string) []string {
	if rel == "." || rel == "" {
		return nil
	}
	return strings.Split(filepath.ToSlash(rel), "/")
}

func (c *stackCheck) relToRepo(abs string) string {
	rel, err := filepath.Rel(c.in.repo, abs)
	if err != nil {
		return abs
	}
	return filepath.ToSlash(rel)
}

// digestFile returns the digest of a regular file or of a directory tree.
func (c *stackCheck) digestFile(real string) (digest string, dir bool, err error) {
	fi, err := os.Stat(real)
	if err != nil {
		return "", false, err
	}
	switch {
	case fi.Mode().IsRegular():
		if err := checkSize(c.relToRepo(real), fi.Size()); err != nil {
			return "", false, err
		}
		sum, err := fileSum(real)
		return "sha256:" + sum, false, err
	case fi.IsDir():
		digest, err := treeDigest(real, c)
		return digest, true, err
	}
	return "", false, fmt.Errorf("%s is neither a regular file nor a directory", c.relToRepo(real))
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// The checks a stack's directory mount gets beyond the listing (see
// tree.go): errors name paths from the repository's root, symlinks must stay
// in it, files must be under the size limit.

func (c *stackCheck) pathName(full string) string { return c.relToRepo(full) }

func (c *stackCheck) symlink(full, target string) error {
	if filepath.IsAbs(target) {
		return fmt.Errorf("symlink %s -> %s %w", c.relToRepo(full), target, errLeavesRepo)
	}
	if _, err := c.inRepo(filepath.Join(filepath.Dir(full), target)); errors.Is(err, errLeavesRepo) {
		return err
	}
	return nil
}

func (c *stackCheck) file(full string, size int64) error {
	return checkSize(c.relToRepo(full), size)
}
