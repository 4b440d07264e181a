package engine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiffops/skiff/manifests"
)

const filesCompose = `
services:
  web:
    image: registry.example.com/shop/web:1.4
    volumes:
      - ./app.conf:/etc/app.conf
      - ./same.conf:/etc/same.conf
      - ./run.sh:/run.sh
      - ./site:/srv/site
    secrets: [pw]
secrets:
  pw: {file: ./pw.txt}
`

// filesRepo writes a checkout with files of several modes and a tree with a
// subdirectory, an executable and a symlink.
func filesRepo(t *testing.T) string {
	t.Helper()
	repo := t.TempDir()
	stack := filepath.Join(repo, "stacks", "app")
	for name, f := range map[string]struct {
		body string
		mode fs.FileMode
	}{
		"compose.yaml":       {filesCompose, 0o644},
		"app.conf":           {"conf: 1\n", 0o644},
		"same.conf":          {"conf: 1\n", 0o644},
		"run.sh":             {"#!/bin/sh\n", 0o755},
		"pw.txt":             {"s3cret\n", 0o600},
		"site/index.html":    {"<h1>hi</h1>\n", 0o644},
		"site/sub/tool":      {"binary\n", 0o755},
		"site/sub/deep/note": {"deep\n", 0o640},
	} {
		p := filepath.Join(stack, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../index.html", filepath.Join(stack, "site", "sub", "link")); err != nil {
		t.Fatal(err)
	}
	return repo
}

func fileByRel(t *testing.T, st *manifests.Stack, rel string) manifests.File {
	t.Helper()
	for _, f := range st.Files {
		if f.Rel == rel {
			return f
		}
	}
	t.Fatalf("no repository file %s in %+v", rel, st.Files)
	return manifests.File{}
}

func TestMaterializeFilesLayout(t *testing.T) {
	st := loadRepo(t, filesRepo(t))
	dir := t.TempDir()
	got, err := newFileStore(dir, nil).materializeFiles(st.Files)
	if err != nil {
		t.Fatal(err)
	}
	hexOf := func(rel string) string { return strings.TrimPrefix(fileByRel(t, st, rel).Digest, "sha256:") }
	for _, tt := range []struct {
		rel, want string
		mode      fs.FileMode
	}{
		{"stacks/app/app.conf", hexOf("stacks/app/app.conf") + "-644/app.conf", 0o644},
		{"stacks/app/same.conf", hexOf("stacks/app/app.conf") + "-644/same.conf", 0o644},
		{"stacks/app/run.sh", hexOf("stacks/app/run.sh") + "-755/run.sh", 0o755},
		{"stacks/app/pw.txt", hexOf("stacks/app/pw.txt") + "-600/pw.txt", 0o600},
		{"stacks/app/site", hexOf("stacks/app/site") + "/site", fs.ModeDir | 0o755},
	} {
		f := fileByRel(t, st, tt.rel)
		if want := filepath.Join(dir, tt.want); got[f.Path] != want {
			t.Errorf("%s copied to %s, want %s", tt.rel, got[f.Path], want)
		}
		if fi, err := os.Stat(got[f.Path]); err != nil || fi.Mode() != tt.mode {
			t.Errorf("%s: copy mode %v (%v), want %v", tt.rel, fi.Mode(), err, tt.mode)
		}
	}
	assertSameTree(t, filepath.Join(st.Dir, "site"), got[fileByRel(t, st, "stacks/app/site").Path])
	assertNoTemp(t, dir)
}

// assertSameTree compares names, types, modes, contents and link targets.
func assertSameTree(t *testing.T, want, got string) {
	t.Helper()
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		wi, _ := os.Lstat(p)
		gi, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s missing from the copy: %v", rel, err)
			return nil
		}
		if wi.Mode() != gi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		switch {
		case wi.Mode()&fs.ModeSymlink != 0:
			wl, _ := os.Readlink(p)
			if gl, _ := os.Readlink(filepath.Join(got, rel)); gl != wl {
				t.Errorf("%s: link to %q, want %q", rel, gl, wl)
			}
		case wi.Mode().IsRegular():
			wb, _ := os.ReadFile(p)
			if gb, _ := os.ReadFile(filepath.Join(got, rel)); string(gb) != string(wb) {
				t.Errorf("%s: content %q, want %q", rel, gb, wb)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// A second checkout of the same content maps to the same copies, which are
// reused as they are, and stay when the checkouts are removed.
func TestMaterializeFilesReusedAcrossCheckouts(t *testing.T) {
	dir := t.TempDir()
	first := filesRepo(t)
	st1 := loadRepo(t, first)
	got1, err := newFileStore(dir, nil).materializeFiles(st1.Files)
	if err != nil {
		t.Fatal(err)
	}
	conf := got1[fileByRel(t, st1, "stacks/app/app.conf").Path]
	before, _ := os.Stat(conf)

	st2 := loadRepo(t, filesRepo(t))
	got2, err := newFileStore(dir, nil).materializeFiles(st2.Files)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range st2.Files {
		if p1 := got1[fileByRel(t, st1, f.Rel).Path]; got2[f.Path] != p1 {
			t.Errorf("%s: second checkout copied to %s, first to %s", f.Rel, got2[f.Path], p1)
		}
	}
	if after, _ := os.Stat(conf); !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("%s was rewritten", conf)
	}
	if err := os.RemoveAll(first); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(conf); err != nil || string(b) != "conf: 1\n" {
		t.Errorf("copy after removing its checkout: %q, %v", b, err)
	}
}

// A file that changed after manifests hashed it is not copied: neither the
// copy nor a temporary file is left.
func TestMaterializeFilesDigestMismatch(t *testing.T) {
	for _, rel := range []string{"app.conf", "site/sub/tool"} {
		t.Run(rel, func(t *testing.T) {
			repo := filesRepo(t)
			st := loadRepo(t, repo)
			if err := os.WriteFile(filepath.Join(st.Dir, rel), []byte("changed under us\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			_, err := newFileStore(dir, nil).materializeFiles(st.Files)
			if !errors.Is(err, errDigestMismatch) || !strings.Contains(err.Error(), "stacks/app/") {
				t.Fatalf("err = %v, want errDigestMismatch naming the file", err)
			}
			assertNoTemp(t, dir)
			top := strings.Split(rel, "/")[0]
			f := fileByRel(t, st, "stacks/app/"+top)
			matches, _ := filepath.Glob(filepath.Join(dir, strings.TrimPrefix(f.Digest, "sha256:")+"*", top))
			if len(matches) != 0 {
				t.Errorf("copies of the changed file exist: %v", matches)
			}
		})
	}
}

// A temporary file left by a crash does not stop a later copy, and a
// present copy is complete by construction: it was renamed into place.
func TestMaterializeFilesAfterCrash(t *testing.T) {
	st := loadRepo(t, filesRepo(t))
	f := fileByRel(t, st, "stacks/app/app.conf")
	dir := t.TempDir()
	keyDir := filepath.Join(dir, strings.TrimPrefix(f.Digest, "sha256:")+"-644")
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keyDir, ".tmp-123"), []byte("conf"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := newFileStore(dir, nil).materializeFiles([]manifests.File{f})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(got[f.Path]); err != nil || string(b) != "conf: 1\n" {
		t.Errorf("copy = %q, %v", b, err)
	}
}

func TestMaterializeFilesConcurrent(t *testing.T) {
	st := loadRepo(t, filesRepo(t))
	dir := t.TempDir()
	results := make([]map[string]string, 8)
	errs := make([]error, len(results))
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = newFileStore(dir, nil).materializeFiles(st.Files)
		}()
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		for k, v := range results[0] {
			if results[i][k] != v {
				t.Errorf("run %d copied %s to %s, run 0 to %s", i, k, results[i][k], v)
			}
		}
	}
	assertSameTree(t, filepath.Join(st.Dir, "site"), results[0][fileByRel(t, st, "stacks/app/site").Path])
	assertNoTemp(t, dir)
}

func TestMaterializeFilesRefusesBadDigests(t *testing.T) {
	st := loadRepo(t, filesRepo(t))
	f := fileByRel(t, st, "stacks/app/app.conf")
	for _, d := range []string{"", "md5:abc", "sha256:../../etc", "sha256:" + strings.Repeat("A", 64)} {
		f.Digest = d
		if _, err := newFileStore(t.TempDir(), nil).materializeFiles([]manifests.File{f}); err == nil {
			t.Errorf("digest %q: no error", d)
		}
	}
}

func TestMaterializeStackOwnerAndMode(t *testing.T) {
	repo := filesRepo(t)
	compose := strings.Replace(filesCompose, "secrets: [pw]", "secrets:\n      - {source: pw, mode: 0o440, uid: \"1234\", gid: \"5678\"}\n      - {source: pw, target: again, mode: 0o440, uid: \"1234\", gid: \"5678\"}", 1)
	if os.Geteuid() != 0 {
		compose = strings.ReplaceAll(compose, `, uid: "1234", gid: "5678"`, "")
	}
	if err := os.WriteFile(filepath.Join(repo, "stacks", "app", "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	st := loadRepo(t, repo)
	files, err := newFileStore(t.TempDir(), nil).materializeStack(st)
	if err != nil {
		t.Fatal(err)
	}
	ref := types.FileReferenceConfig(st.Project.Services["web"].Secrets[0])
	p, ok := files[variantKey(fileByRel(t, st, "stacks/app/pw.txt").Path, ref)]
	if !ok {
		t.Fatalf("no variant in %v", files)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode() != 0o440 {
		t.Fatalf("variant mode %v (%v), want 0440", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(p); string(b) != "s3cret\n" {
		t.Errorf("variant content %q", b)
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && (sys.Uid != 1234 || sys.Gid != 5678) {
		t.Errorf("variant owner %d:%d, want 1234:5678", sys.Uid, sys.Gid)
	}
	mounts := mustSpec(t, specRequest{Stack: st, Service: "web", Number: 1, Name: "app-web-1", Image: specTestImage, Files: files}).Host.Mounts
	for _, m := range mounts {
		if strings.HasPrefix(m.Target, "/run/secrets/") && m.Source != p {
			t.Errorf("%s mounts %s, want the variant %s", m.Target, m.Source, p)
		}
	}
	if orig, _ := os.Stat(files[fileByRel(t, st, "stacks/app/pw.txt").Path]); orig.Mode() != 0o600 {
		t.Errorf("plain copy mode changed to %v", orig.Mode())
	}
}

func TestMaterializeStackRefusesNamedOwners(t *testing.T) {
	repo := filesRepo(t)
	compose := strings.Replace(filesCompose, "secrets: [pw]", "secrets:\n      - {source: pw, uid: www-data}", 1)
	if err := os.WriteFile(filepath.Join(repo, "stacks", "app", "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	st := loadRepo(t, repo)
	_, err := newFileStore(t.TempDir(), nil).materializeStack(st)
	if !errors.Is(err, errCannotHonour) || !strings.Contains(err.Error(), "services.web.secrets[0].uid") {
		t.Errorf("err = %v, want errCannotHonour naming services.web.secrets[0].uid", err)
	}
}
