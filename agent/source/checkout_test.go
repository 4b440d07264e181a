package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffops/skiff/testenv"
)

func TestFetchCheckoutSwitchAndPrune(t *testing.T) {
	srv := testenv.GitServer(t)
	ctx := context.Background()
	s := newSource(t, Config{URL: srv.URL()})
	if _, _, ok := s.Current(); ok {
		t.Fatal("Current on a fresh node reports a checkout")
	}

	files1 := map[string]string{"fleet.yaml": "regions: {}\n", "stacks/web/compose.yaml": "services: {web: {image: a}}\n"}
	c1 := push(t, srv, files1)
	head, dir1 := pull(t, s)
	if head != c1 || dir1 != filepath.Join(s.cfg.Dir, "checkouts", c1) {
		t.Fatalf("first checkout: %s in %s, want %s in checkouts/%s", head, dir1, c1, c1)
	}
	wantTree(t, dir1, files1)
	wantCurrent(t, s, c1)

	// Fetch and Checkout of what is already here: no request, same directory.
	marker := filepath.Join(dir1, "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	before := srv.Requests()
	if err := s.Fetch(ctx, c1); err != nil {
		t.Fatalf("second Fetch(%s): %v", c1, err)
	}
	if after := srv.Requests(); after != before {
		t.Errorf("Fetch of a commit already here made requests: %+v → %+v", before, after)
	}
	if dir, err := s.Checkout(c1); err != nil || dir != dir1 {
		t.Fatalf("second Checkout(%s) = %s, %v; want %s", c1, dir, err, dir1)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("second Checkout rewrote the complete checkout: %v", err)
	}
	_ = os.Remove(marker)

	files2 := map[string]string{"fleet.yaml": "regions: {eu: {}}\n"}
	c2 := push(t, srv, files2)
	_, dir2 := pull(t, s)
	if dir2 == dir1 {
		t.Fatal("a new commit reused the old checkout directory")
	}
	wantTree(t, dir2, files2)
	wantCurrent(t, s, c2)
	wantLink(t, s, linkPrevious, c1)
	wantTree(t, dir1, files1) // kept as the previous one

	c3 := push(t, srv, map[string]string{"fleet.yaml": "v3\n"})
	_, dir3 := pull(t, s)
	wantCurrent(t, s, c3)
	wantLink(t, s, linkPrevious, c2)
	for dir, want := range map[string]bool{dir1: false, dir2: true, dir3: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("after the third checkout, %s exists = %t, want %t", filepath.Base(dir), err == nil, want)
		}
	}
	if left := tmpEntries(t, s); len(left) != 0 {
		t.Errorf("tmp still holds %v", left)
	}

	// Reboot without network: a new Source reads the checkout from disk.
	if err := srv.SetDown(true); err != nil {
		t.Fatal(err)
	}
	rebooted := newSource(t, s.cfg)
	if c, dir, ok := rebooted.Current(); !ok || c != c3 || dir != dir3 {
		t.Errorf("after reboot, Current = %s, %s, %t; want %s, %s", c, dir, ok, c3, dir3)
	}
	if _, err := rebooted.Head(ctx); err == nil {
		t.Error("Head with the server down succeeded")
	}
	wantTree(t, dir3, map[string]string{"fleet.yaml": "v3\n"})
}

func TestPruneKeeps(t *testing.T) {
	srv := testenv.GitServer(t)
	s := newSource(t, Config{URL: srv.URL()})
	var commits []string
	for _, v := range []string{"1", "2"} {
		push(t, srv, map[string]string{"v": v})
		c, _ := pull(t, s)
		commits = append(commits, c)
	}
	extra, junk := strings.Repeat("e", 40), "leftover"
	for _, name := range []string{extra, junk} {
		mustWrite(t, filepath.Join(s.checkoutsDir(), name, "f"), "x", 0o644)
	}
	if err := s.Prune(extra); err != nil {
		t.Fatalf("Prune(%s): %v", extra, err)
	}
	for name, want := range map[string]bool{commits[0]: true, commits[1]: true, extra: true, junk: false} {
		if _, err := os.Stat(filepath.Join(s.checkoutsDir(), name)); (err == nil) != want {
			t.Errorf("after Prune(extra), %s exists = %t, want %t", name, err == nil, want)
		}
	}
	if err := s.Prune("not-a-commit"); err == nil {
		t.Error("Prune of a malformed commit succeeded")
	}
	if err := s.Prune(); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.checkoutsDir(), extra)); err == nil {
		t.Error("Prune without keep left a checkout that is neither current nor previous")
	}
}

func TestForcePushIsFetchedAndCheckedOut(t *testing.T) {
	srv := testenv.GitServer(t)
	s := newSource(t, Config{URL: srv.URL()})
	push(t, srv, map[string]string{"a": "1"})
	push(t, srv, map[string]string{"a": "2"})
	pull(t, s)

	files := map[string]string{"rewritten": "yes"}
	root, err := srv.ForcePush(files, "rewrite history")
	if err != nil {
		t.Fatalf("force push: %v", err)
	}
	head, dir := pull(t, s)
	if head != root {
		t.Fatalf("after a force-push Head = %s, want the rewritten root %s", head, root)
	}
	wantTree(t, dir, files)
	wantCurrent(t, s, root)

	c, err := s.Checkout(root)
	if err != nil || c != dir {
		t.Errorf("Checkout again = %s, %v", c, err)
	}
}

func TestFetchOfAMovedBranch(t *testing.T) {
	srv := testenv.GitServer(t)
	ctx := context.Background()
	s := newSource(t, Config{URL: srv.URL()})
	c1 := push(t, srv, map[string]string{"a": "1"})
	c2 := push(t, srv, map[string]string{"a": "2"})
	err := s.Fetch(ctx, c1)
	wantErr(t, "Fetch of a head the branch left", err, ErrMoved)
	before := srv.Requests()
	if err := s.Fetch(ctx, c2); err != nil {
		t.Fatalf("Fetch(new head): %v", err)
	}
	if after := srv.Requests(); after.UploadPack != before.UploadPack {
		t.Errorf("the new head, fetched by the moved fetch, was fetched again: %+v → %+v", before, after)
	}
	if _, err := s.Checkout(c1); err == nil {
		t.Error("Checkout of a commit never fetched succeeded")
	}
	if _, _, ok := s.Current(); ok {
		t.Error("a failed Checkout switched current")
	}
}

func TestCheckoutKeepsModesAndSymlinks(t *testing.T) {
	srv := testenv.GitServer(t)
	src := t.TempDir()
	mustWrite(t, filepath.Join(src, "stacks/web/run.sh"), "#!/bin/sh\n", 0o755)
	mustWrite(t, filepath.Join(src, "stacks/web/compose.yaml"), "services: {}\n", 0o644)
	if err := os.Symlink("compose.yaml", filepath.Join(src, "stacks/web/link.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PushDir(src, "modes"); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Config{URL: srv.URL()})
	_, dir := pull(t, s)
	info, err := os.Stat(filepath.Join(dir, "stacks/web/run.sh"))
	if err != nil || info.Mode()&0o100 == 0 {
		t.Errorf("run.sh: %v, mode %v; want executable", err, info)
	}
	if target, err := os.Readlink(filepath.Join(dir, "stacks/web/link.yaml")); err != nil || target != "compose.yaml" {
		t.Errorf("link.yaml -> %q, %v; want a symlink to compose.yaml", target, err)
	}
}

func TestCheckoutRefusesEscapingNames(t *testing.T) {
	for _, name := range []string{"..", ".", "", "a/b", ".git", ".GIT", "a\x00"} {
		if checkName(name) == nil {
			t.Errorf("checkName(%q) accepted", name)
		}
	}
	for _, name := range []string{"a", "..a", ".gitignore", "compose.yaml"} {
		if err := checkName(name); err != nil {
			t.Errorf("checkName(%q): %v", name, err)
		}
	}
}

func TestMalformedCommitsAreRefused(t *testing.T) {
	srv := testenv.GitServer(t)
	s := newSource(t, Config{URL: srv.URL()})
	for _, c := range []string{"", "HEAD", "../../etc", "abc"} {
		if err := s.Fetch(context.Background(), c); err == nil {
			t.Errorf("Fetch(%q) succeeded", c)
		}
		if _, err := s.Checkout(c); err == nil {
			t.Errorf("Checkout(%q) succeeded", c)
		}
	}
}

func wantCurrent(t *testing.T, s *Source, commit string) {
	t.Helper()
	c, dir, ok := s.Current()
	if !ok || c != commit || dir != s.checkoutDir(commit) {
		t.Errorf("Current = %s, %s, %t; want %s", c, dir, ok, commit)
	}
	wantLink(t, s, linkCurrent, commit)
}

func wantLink(t *testing.T, s *Source, name, commit string) {
	t.Helper()
	target, err := os.Readlink(filepath.Join(s.cfg.Dir, name))
	if want := filepath.Join("checkouts", commit); err != nil || target != want {
		t.Errorf("%s -> %s, %v; want %s", name, target, err, want)
	}
}

func mustWrite(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// A staged checkout is not current until promoted: a revision refused after
// loading never becomes the checkout a reboot starts from.
func TestStageDoesNotMoveTheLink(t *testing.T) {
	srv := testenv.GitServer(t)
	ctx := context.Background()
	s := newSource(t, Config{URL: srv.URL()})
	c1 := push(t, srv, map[string]string{"stacks/web/compose.yaml": "services: {web: {image: a}}\n"})
	pull(t, s)
	c2 := push(t, srv, map[string]string{"README": "no stacks here\n"})
	if err := s.Fetch(ctx, c2); err != nil {
		t.Fatal(err)
	}
	dir2, err := s.Stage(c2)
	if err != nil {
		t.Fatal(err)
	}
	wantTree(t, dir2, map[string]string{"README": "no stacks here\n"})
	wantCurrent(t, s, c1)
	if err := s.Promote(c2); err != nil {
		t.Fatal(err)
	}
	wantCurrent(t, s, c2)
	wantLink(t, s, linkPrevious, c1)
	if err := s.Promote(strings.Repeat("ab", 20)); err == nil {
		t.Error("promoted a commit that was never staged")
	}
}
