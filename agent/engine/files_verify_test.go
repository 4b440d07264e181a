package engine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiffops/skiff/manifests"
)

// offlineStore materializes a fresh checkout's stack into a new store, then
// removes the checkout, as a few commits later.
func offlineStore(t *testing.T) (*fileStore, *manifests.Stack, map[string]string) {
	t.Helper()
	repo := filesRepo(t)
	st := loadRepo(t, repo)
	s := newFileStore(t.TempDir(), nil)
	first, err := s.materializeStack(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(repo); err != nil {
		t.Fatal(err)
	}
	return s, st, first
}

// After a few commits the checkout a stored spec names is gone: recreating
// its containers must work from the verified copies alone, and say clearly
// when a copy it needs is damaged or missing.
func TestMaterializeFilesWithoutCheckout(t *testing.T) {
	s, st, first := offlineStore(t)
	again, err := s.materializeStack(st)
	if err != nil {
		t.Fatalf("materialize with the checkout gone: %v", err)
	}
	if len(again) != len(first) {
		t.Errorf("copies %v without the checkout, %v with it", again, first)
	}
	for k, p := range first {
		if again[k] != p {
			t.Errorf("%q: copy %s without the checkout, %s with it", k, again[k], p)
		}
	}
	for _, tt := range []struct {
		rel    string
		damage func(copy string) error
		want   string
	}{
		{"stacks/app/app.conf", func(p string) error { return os.WriteFile(p, []byte("changed\n"), 0) }, "is damaged"},
		{"stacks/app/run.sh", func(p string) error { return os.Chmod(p, 0o777) }, "is damaged (mode 0777, want 0755)"},
		{"stacks/app/site", func(p string) error { return os.WriteFile(filepath.Join(p, "extra"), nil, 0o644) }, "is damaged"},
		{"stacks/app/pw.txt", os.Remove, "no copy at"},
	} {
		t.Run(filepath.Base(tt.rel), func(t *testing.T) {
			s, st, first := offlineStore(t)
			f := fileByRel(t, st, tt.rel)
			if err := tt.damage(first[f.Path]); err != nil {
				t.Fatal(err)
			}
			_, err := s.materializeStack(st)
			if !errors.Is(err, ErrFileLost) {
				t.Fatalf("err = %v, want ErrFileLost", err)
			}
			for _, want := range []string{tt.rel, f.Digest, tt.want, "the checkout it came from is gone"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want it to say %q", err, want)
				}
			}
		})
	}
}

// A damaged copy is made again from the checkout while there is one:
// content, mode and tree listing are each checked before reuse.
func TestMaterializeFilesRepairsDamagedCopies(t *testing.T) {
	st := loadRepo(t, filesRepo(t))
	dir := t.TempDir()
	s := newFileStore(dir, nil)
	got, err := s.materializeStack(st)
	if err != nil {
		t.Fatal(err)
	}
	conf, script := got[fileByRel(t, st, "stacks/app/app.conf").Path], got[fileByRel(t, st, "stacks/app/run.sh").Path]
	site := got[fileByRel(t, st, "stacks/app/site").Path]
	for _, damage := range []func() error{
		func() error { return os.WriteFile(conf, []byte("tampered\n"), 0) },
		func() error { return os.Chmod(script, 0o700) },
		func() error { return os.Remove(filepath.Join(site, "sub", "deep", "note")) },
		func() error { return os.WriteFile(filepath.Join(site, "index.html"), []byte("defaced"), 0) },
		func() error { return os.Remove(filepath.Join(site, "sub", "link")) },
	} {
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		again, err := s.materializeStack(st)
		if err != nil {
			t.Fatal(err)
		}
		if again[fileByRel(t, st, "stacks/app/app.conf").Path] != conf {
			t.Fatalf("copies moved: %v", again)
		}
	}
	if b, _ := os.ReadFile(conf); string(b) != "conf: 1\n" {
		t.Errorf("%s = %q after repair", conf, b)
	}
	if fi, _ := os.Stat(script); fi.Mode().Perm() != 0o755 {
		t.Errorf("%s mode %v after repair", script, fi.Mode())
	}
	assertSameTree(t, filepath.Join(st.Dir, "site"), site)
	assertNoTemp(t, dir)
}

// With several modes of one content copied (a chmod in Git) and the
// checkout gone, the newest verified copy is used.
func TestMaterializeFilesWithoutCheckoutPicksAVerifiedMode(t *testing.T) {
	repo := filesRepo(t)
	st := loadRepo(t, repo)
	f := fileByRel(t, st, "stacks/app/app.conf")
	dir := t.TempDir()
	s := newFileStore(dir, nil)
	old, err := s.materialize(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	newer, err := s.materialize(f)
	if err != nil || newer == old {
		t.Fatalf("after chmod: %s, %v; want a new copy beside %s", newer, err, old)
	}
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, hourAgo, hourAgo); err != nil { // whatever the file system's clock grain
		t.Fatal(err)
	}
	if err := os.RemoveAll(repo); err != nil {
		t.Fatal(err)
	}
	if got, err := s.materialize(f); err != nil || got != newer {
		t.Errorf("without checkout: %s, %v; want the newest copy %s", got, err, newer)
	}
	if err := os.WriteFile(newer, []byte("bad"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.materialize(f); err != nil || got != old {
		t.Errorf("with the newest damaged: %s, %v; want the other verified copy %s", got, err, old)
	}
}

func TestFileKeys(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	if perm, ok := parseFileKey(hex+"-755", hex); !ok || perm != 0o755 {
		t.Errorf("parseFileKey: %v, %v", perm, ok)
	}
	for _, bad := range []string{hex + "-9", hex + "-1-2-3", hex + "-7777", hex} {
		if _, ok := parseFileKey(bad, hex); ok {
			t.Errorf("parseFileKey(%q) accepted", bad)
		}
	}
	if got := fileKey(hex, fs.FileMode(0o640)); got != hex+"-640" {
		t.Errorf("fileKey = %s", got)
	}
	if got := variantKeyDir(hex, "", "5", 0o400); got != hex+"--5-400" {
		t.Errorf("variantKeyDir = %s", got)
	}
}

// A secret's owner and mode variant is made from the plain copy, so it is
// verified, and repaired when damaged, with the checkout gone too.
func TestMaterializeStackVariantWithoutCheckout(t *testing.T) {
	repo := filesRepo(t)
	compose := strings.Replace(filesCompose, "secrets: [pw]", "secrets:\n      - {source: pw, mode: 0o440}", 1)
	if err := os.WriteFile(filepath.Join(repo, "stacks", "app", "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	st := loadRepo(t, repo)
	s := newFileStore(t.TempDir(), nil)
	first, err := s.materializeStack(st)
	if err != nil {
		t.Fatal(err)
	}
	pw := fileByRel(t, st, "stacks/app/pw.txt").Path
	variant := first[variantKey(pw, types.FileReferenceConfig(st.Project.Services["web"].Secrets[0]))]
	if !strings.HasSuffix(filepath.Dir(variant), "--440") {
		t.Fatalf("variant at %s, want a <digest>--440 key", variant)
	}
	if err := os.RemoveAll(repo); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(variant, []byte("tampered"), 0); err != nil {
		t.Fatal(err)
	}
	again, err := s.materializeStack(st)
	if err != nil {
		t.Fatalf("without checkout: %v", err)
	}
	if b, _ := os.ReadFile(again[variantKey(pw, types.FileReferenceConfig(st.Project.Services["web"].Secrets[0]))]); string(b) != "s3cret\n" {
		t.Errorf("variant after repair = %q", b)
	}
}
