package engine

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/skiffops/skiff/manifests"
)

const collectComposeA = `
services:
  web:
    image: registry.example.com/shop/web:1.4
    volumes: [./shared.conf:/etc/shared.conf, ./a.conf:/etc/a.conf, ./site:/srv/site]
    secrets: [{source: pw, mode: 0o440}]
secrets:
  pw: {file: ./pw.txt}
`

const collectComposeB = `
services:
  api:
    image: registry.example.com/shop/api:1.4
    volumes: [./shared.conf:/etc/shared.conf, ./b.conf:/etc/b.conf]
`

// collectStacks materializes two stacks that share a file into one store.
func collectStacks(t *testing.T) (s *fileStore, a, b *manifests.Stack, copies map[string]string) {
	t.Helper()
	a = loadStack(t, collectComposeA, map[string]string{
		"shared.conf": "shared\n", "a.conf": "only a\n", "pw.txt": "s3cret\n", "site/index.html": "<h1>a</h1>\n",
	})
	b = loadStack(t, collectComposeB, map[string]string{"shared.conf": "shared\n", "b.conf": "only b\n"})
	s = newFileStore(t.TempDir(), nil)
	copies = map[string]string{}
	for name, st := range map[string]*manifests.Stack{"a": a, "b": b} {
		got, err := s.materializeStack(st)
		if err != nil {
			t.Fatal(err)
		}
		for k, p := range got {
			copies[name+":"+filepath.Base(strings.Split(k, "\x00")[0])+variantSuffix(k)] = p
		}
	}
	return s, a, b, copies
}

func variantSuffix(k string) string {
	if strings.Contains(k, "\x00") {
		return "+variant"
	}
	return ""
}

// entries lists the store's copies, as <key>/<base>, and top-level names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	keys, _ := os.ReadDir(dir)
	for _, k := range keys {
		ents, err := os.ReadDir(filepath.Join(dir, k.Name()))
		if err != nil || len(ents) == 0 {
			out = append(out, k.Name())
		}
		for _, e := range ents {
			out = append(out, k.Name()+"/"+e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func relTo(t *testing.T, dir string, paths ...string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, filepath.ToSlash(rel))
	}
	sort.Strings(out)
	return out
}

func TestCollectFilesKeepsWhatIsReferenced(t *testing.T) {
	s, a, _, copies := collectStacks(t)
	leftovers := []string{filepath.Join(s.dir, ".tmp-123"), filepath.Join(filepath.Dir(copies["a:a.conf"]), ".tmp-456")}
	for _, p := range leftovers {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.dir, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}

	removed, err := s.collect(referencedCopies([]*manifests.Stack{a}), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := append(relTo(t, s.dir, copies["a:shared.conf"], copies["a:a.conf"], copies["a:pw.txt"], copies["a:pw.txt+variant"], copies["a:site"]), "lost+found")
	sort.Strings(want)
	if got := entries(t, s.dir); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kept with stack a:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if removed != 3 { // b.conf and two leftovers
		t.Errorf("removed %d, want 3", removed)
	}
	if _, err := s.materializeStack(a); err != nil {
		t.Errorf("stack a after collect: %v", err)
	}

	mounted := map[string]bool{}
	for _, r := range relTo(t, s.dir, copies["a:site"]) {
		mounted[r] = true
	}
	if _, err := s.collect(referencedCopies(nil), mounted); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, s.dir); strings.Join(got, ",") != strings.Join(append(relTo(t, s.dir, copies["a:site"]), "lost+found"), ",") {
		t.Errorf("kept with nothing referenced but a mounted tree: %v", got)
	}
	if _, err := s.collect(nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, s.dir); strings.Join(got, ",") != "lost+found" {
		t.Errorf("kept with nothing referenced: %v, want only the unknown entry", got)
	}
}

// A collect that runs while stacks are created never takes a copy from
// under a create: between its materialize and the container's creation
// (the shared lock), every copy it returned is there and verified.
func TestCollectFilesConcurrentWithCreates(t *testing.T) {
	s, a, b, _ := collectStacks(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if i%4 == 0 {
					s.mu.Lock()
					_, err := s.collect(referencedCopies(nil), nil)
					s.mu.Unlock()
					if err != nil {
						errs <- err
					}
					continue
				}
				st := []*manifests.Stack{a, b}[i%2]
				s.mu.RLock()
				got, err := s.materializeStack(st)
				for _, p := range got {
					if _, statErr := os.Stat(p); statErr != nil && err == nil {
						err = statErr
					}
				}
				s.mu.RUnlock()
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assertNoTemp(t, s.dir)
}

func TestCopyRefs(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		key  string
		refs []string
	}{
		{hex, []string{"t/" + hex + "/b"}},
		{hex + "-644", []string{"f/" + hex + "/b"}},
		{hex + "-1000-1000-440", []string{"v/" + hex + "/1000/1000/440/b", "v/" + hex + "/1000/1000/*/b"}},
		{hex + "--5-unset", []string{"v/" + hex + "//5/unset/b", "v/" + hex + "//5/*/b"}},
		{hex + "-", nil},
		{hex + "-1-2", nil},
		{"abc-644", nil},
		{".tmp-123", nil},
		{"lost+found", nil},
	} {
		refs, ok := copyRefs(tt.key, "b")
		if ok != (tt.refs != nil) || strings.Join(refs, ",") != strings.Join(tt.refs, ",") {
			t.Errorf("copyRefs(%q) = %v, %v; want %v", tt.key, refs, ok, tt.refs)
		}
	}
}
