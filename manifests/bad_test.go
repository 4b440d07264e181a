package manifests

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestBadInputCorpus loads every case of the repository's testdata/bad
// (README.md there lists the cases kept in testdata/broken beside this
// test): each is a checkout with a bad stack and a good one, ok. The
// problems must be the case's want.txt, each naming its file; the good
// stack must still load. A case's generate.txt lists files made at run time
// (path, size: sparse, of zeros), too large to keep in Git.
func TestBadInputCorpus(t *testing.T) {
	root := filepath.Join("..", "testdata", "bad")
	cases, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			dir := copyCase(t, filepath.Join(root, c.Name()))
			ps, err := Validate(dir)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			wantProblems(t, ps, filepath.Join(root, c.Name(), "want.txt"))
			if !hasErrors(ps) {
				t.Errorf("a bad case must have at least one error")
			}
			d, err := Load(dir, Node{Name: "n1", Region: "eu-west"})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !slices.ContainsFunc(d.Stacks, func(s Stack) bool { return s.Name == "ok" }) || slices.Contains(d.Refused(), "ok") {
				t.Errorf("the good stack did not load beside the bad one: stacks %d, refused %v", len(d.Stacks), d.Refused())
			}
		})
	}
}

// copyCase copies a case into a temporary checkout (symlinks kept as they
// are) and makes the files its generate.txt lists.
func copyCase(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case rel == "want.txt" || rel == "generate.txt":
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(src, "generate.txt"))
	if os.IsNotExist(err) {
		return dst
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		path, size, _ := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil {
			t.Fatalf("generate.txt: %q: %v", sc.Text(), err)
		}
		if err := os.Truncate(filepath.Join(dst, path), n); os.IsNotExist(err) {
			err = os.WriteFile(filepath.Join(dst, path), nil, 0o644)
			if err == nil {
				err = os.Truncate(filepath.Join(dst, path), n)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
