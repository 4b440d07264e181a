package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// treeDigest computes the sha256 of the listing manifests digests a
// directory tree by: one line per entry in lexical order, `d "path"`,
// `f "path" x|- <sha256>` or `l "path" "target"`, where only the executable
// bit of a file counts. It must stay in step with writeTree in
// manifests/files.go: a difference refuses every directory mount.
func treeDigest(dir string) (string, error) {
	h := sha256.New()
	if err := listTree(h, dir, "", 0); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func listTree(w io.Writer, dir, prefix string, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%s: directory tree too deep", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := listEntry(w, e, filepath.Join(dir, e.Name()), prefix+e.Name(), depth); err != nil {
			return err
		}
	}
	return nil
}

func listEntry(w io.Writer, e fs.DirEntry, full, name string, depth int) error {
	switch typ := e.Type(); {
	case typ.IsDir():
		fmt.Fprintf(w, "d %q\n", name)
		return listTree(w, full, name+"/", depth+1)
	case typ&fs.ModeSymlink != 0:
		target, err := os.Readlink(full)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "l %q %q\n", name, filepath.ToSlash(target))
		return nil
	case typ.IsRegular():
		fi, err := e.Info()
		if err != nil {
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
		return nil
	}
	return fmt.Errorf("%s is neither a regular file, a directory nor a symlink", full)
}
