package manifests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// TreeDigest returns the digest, "sha256:<hex>", by which a stack's spec
// records a directory it mounts: the sha256 of its canonical listing, one
// line per entry in lexical order, `d "path"`, `f "path" x|- <sha256>` or
// `l "path" "target"`. Only the executable bit of a file counts: Git
// records nothing else, and umasks differ. agent/engine verifies its copies
// of the directory with it; here it checks nothing but the depth.
func TreeDigest(dir string) (string, error) {
	return treeDigest(dir, anyTree{})
}

// treeCheck is what a listing asks of its entries beyond reading them.
type treeCheck interface {
	pathName(full string) string // how errors name a path
	symlink(full, target string) error
	file(full string, size int64) error
}

// anyTree accepts every entry and names paths as they are.
type anyTree struct{}

func (anyTree) pathName(full string) string  { return full }
func (anyTree) symlink(_, _ string) error    { return nil }
func (anyTree) file(_ string, _ int64) error { return nil }

func treeDigest(dir string, c treeCheck) (string, error) {
	h := sha256.New()
	if err := writeTree(h, c, dir, "", 0); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func writeTree(w io.Writer, c treeCheck, dir, prefix string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: directory tree too deep", c.pathName(dir))
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := writeEntry(w, c, e, filepath.Join(dir, e.Name()), prefix+e.Name(), depth); err != nil {
			return err
		}
	}
	return nil
}

func writeEntry(w io.Writer, c treeCheck, e fs.DirEntry, full, name string, depth int) error {
	switch t := e.Type(); {
	case t.IsDir():
		fmt.Fprintf(w, "d %q\n", name)
		return writeTree(w, c, full, name+"/", depth+1)
	case t&fs.ModeSymlink != 0:
		target, err := os.Readlink(full)
		if err != nil {
			return err
		}
		if err := c.symlink(full, target); err != nil {
			return err
		}
		fmt.Fprintf(w, "l %q %q\n", name, filepath.ToSlash(target))
	case t.IsRegular():
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if err := c.file(full, fi.Size()); err != nil {
			return err
		}
		sum, err := fileSum(full)
		if err != nil {
			return err
		}
		x := "-"
		if fi.Mode().Perm()&0o111 != 0 {
			x = "x"
		}
		fmt.Fprintf(w, "f %q %s %s\n", name, x, sum)
	default:
		return fmt.Errorf("%s is neither a regular file, a directory nor a symlink", c.pathName(full))
	}
	return nil
}
