package source

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/skiffops/skiff/testenv"
)

func TestFileSource(t *testing.T) {
	srv := testenv.GitServer(t)
	ctx := context.Background()
	files1 := map[string]string{"stacks/web/compose.yaml": "services: {}\n"}
	c1 := push(t, srv, files1)
	s := newSource(t, Config{URL: "file://" + srv.BareDir()})

	before := srv.Requests()
	head, dir := pull(t, s)
	if head != c1 {
		t.Errorf("Head = %s, want %s", head, c1)
	}
	wantTree(t, dir, files1)
	if after := srv.Requests(); after != before {
		t.Errorf("a file:// source made HTTP requests: %+v → %+v", before, after)
	}

	files2 := map[string]string{"stacks/api/compose.yaml": "services: {api: {}}\n"}
	c2 := push(t, srv, files2)
	snap := snapshot(t, s.cfg.Dir)
	if got, err := s.Head(ctx); err != nil || got != c2 {
		t.Fatalf("Head after a push = %s, %v; want %s", got, err, c2)
	}
	if after := snapshot(t, s.cfg.Dir); len(after) != len(snap) {
		t.Errorf("file:// Head wrote under Dir: %d entries → %d", len(snap), len(after))
	}
	_, dir = pull(t, s)
	wantTree(t, dir, files2)
	wantCurrent(t, s, c2)

	root, err := srv.ForcePush(map[string]string{"x": "rewritten"}, "rewrite")
	if err != nil {
		t.Fatal(err)
	}
	if head, dir := pull(t, s); head != root {
		t.Errorf("after a force-push Head = %s, want %s", head, root)
	} else {
		wantTree(t, dir, map[string]string{"x": "rewritten"})
	}

	paths := s.WatchPaths()
	if len(paths) != 3 {
		t.Fatalf("WatchPaths = %v, want HEAD, packed-refs and the branch", paths)
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, srv.BareDir()+string(filepath.Separator)) {
			t.Errorf("watch path %s is not in the repository %s", p, srv.BareDir())
		}
	}
	for _, p := range []string{filepath.Join(srv.BareDir(), "HEAD"), filepath.Join(srv.BareDir(), "refs", "heads", testenv.GitBranch)} {
		if !slices.Contains(paths, p) {
			t.Errorf("WatchPaths %v lacks %s", paths, p)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("watch path: %v", err)
		}
	}
}

func TestFileSourceNonBareAndMissing(t *testing.T) {
	work := t.TempDir()
	repo, err := git.PlainInit(work, false)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(work, "fleet.yaml"), "regions: {}\n", 0o644)
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("fleet.yaml"); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: testenv.GitAuthorName, Email: testenv.GitAuthorEmail, When: time.Now()}
	h, err := wt.Commit("first", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}

	s := newSource(t, Config{URL: "file://" + work, Branch: ref.Name().Short()})
	head, dir := pull(t, s)
	if head != h.String() {
		t.Errorf("Head = %s, want %s", head, h)
	}
	wantTree(t, dir, map[string]string{"fleet.yaml": "regions: {}\n"})
	if want := filepath.Join(work, ".git", "refs", "heads", ref.Name().Short()); !slices.Contains(s.WatchPaths(), want) {
		t.Errorf("WatchPaths = %v, want %s among them", s.WatchPaths(), want)
	}

	gone := newSource(t, Config{URL: "file://" + filepath.Join(work, "gone")})
	_, err = gone.Head(context.Background())
	wantErr(t, "Head of a missing file:// repository", err, ErrUnreachable)
	other := newSource(t, Config{URL: "file://" + work, Branch: "nope"})
	_, err = other.Head(context.Background())
	wantErr(t, "Head of a missing branch", err, ErrNoBranch)

	if paths := newSource(t, Config{URL: "https://git.example.com/fleet.git"}).WatchPaths(); paths != nil {
		t.Errorf("WatchPaths of an https source = %v, want nil", paths)
	}
}
