package testenv

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/google/go-cmp/cmp"
)

// lsRemote returns the hash GitBranch has at url, as the agent's poll asks it.
func lsRemote(ctx context.Context, url string, auth transport.AuthMethod) (string, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return "", err
	}
	for _, ref := range refs {
		if ref.Name() == plumbing.NewBranchReferenceName(GitBranch) {
			return ref.Hash().String(), nil
		}
	}
	return "", nil
}

// cloneFiles clones url with go-git into memory and returns the head commit
// and its files (path → content).
func cloneFiles(t *testing.T, url string, auth transport.AuthMethod) (*object.Commit, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{
		URL:           url,
		Auth:          auth,
		ReferenceName: plumbing.NewBranchReferenceName(GitBranch),
		SingleBranch:  true,
	})
	if err != nil {
		t.Fatalf("clone %s: %v", url, err)
	}
	return headFiles(t, repo)
}

func headFiles(t *testing.T, repo *git.Repository) (*object.Commit, map[string]string) {
	t.Helper()
	head, err := repo.Head()
	if err != nil {
		t.Fatalf("read HEAD: %v", err)
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatalf("read commit %s: %v", head.Hash(), err)
	}
	return commit, commitFiles(t, commit)
}

func commitFiles(t *testing.T, commit *object.Commit) map[string]string {
	t.Helper()
	files := map[string]string{}
	iter, err := commit.Files()
	if err != nil {
		t.Fatalf("list files of %s: %v", commit.Hash, err)
	}
	err = iter.ForEach(func(f *object.File) error {
		content, err := f.Contents()
		files[f.Name] = content
		return err
	})
	if err != nil {
		t.Fatalf("read files of %s: %v", commit.Hash, err)
	}
	return files
}

func mustPush(t *testing.T, s *GitHTTPServer, files map[string]string, msg string) string {
	t.Helper()
	commit, err := s.Push(files, msg)
	if err != nil {
		t.Fatalf("push %q: %v", msg, err)
	}
	return commit
}

func TestGitServerPushCloneLsRemote(t *testing.T) {
	t.Parallel()
	s := GitServer(t)
	if got := s.Head(); got != "" {
		t.Fatalf("Head() of a new server = %q, want none", got)
	}

	v1 := map[string]string{
		"fleet.yaml":                "regions: [eu]\n",
		"stacks/web/compose.yaml":   "services:\n  web:\n    image: web:1\n",
		"stacks/cache/compose.yaml": "services:\n  cache:\n    image: cache:1\n",
	}
	first := mustPush(t, s, v1, "add web and cache")
	if got := s.Head(); got != first {
		t.Fatalf("Head() = %q after pushing %s", got, first)
	}
	commit, files := cloneFiles(t, s.URL(), nil)
	if commit.Hash.String() != first {
		t.Errorf("cloned HEAD = %s, want the pushed %s", commit.Hash, first)
	}
	if diff := cmp.Diff(v1, files); diff != "" {
		t.Errorf("cloned files (-pushed +cloned):\n%s", diff)
	}
	if commit.Author.Name != GitAuthorName || commit.NumParents() != 0 {
		t.Errorf("first commit: author %q, %d parents; want %q, 0", commit.Author.Name, commit.NumParents(), GitAuthorName)
	}

	v2 := map[string]string{"fleet.yaml": v1["fleet.yaml"], "stacks/web/compose.yaml": v1["stacks/web/compose.yaml"]}
	second := mustPush(t, s, v2, "remove cache")
	before := s.Requests()
	head, err := lsRemote(context.Background(), s.URL(), nil)
	if err != nil {
		t.Fatalf("ls-remote: %v", err)
	}
	if head != second {
		t.Errorf("ls-remote head = %s, want the second push %s", head, second)
	}
	after := s.Requests()
	wantCounts := before
	wantCounts.AdvertiseUpload++
	if diff := cmp.Diff(wantCounts, after); diff != "" {
		t.Errorf("requests of one ls-remote (-want +got):\n%s", diff)
	}

	commit, files = cloneFiles(t, s.URL(), nil)
	if diff := cmp.Diff(v2, files); diff != "" {
		t.Errorf("files after removing cache (-pushed +cloned):\n%s", diff)
	}
	if got := commit.ParentHashes; len(got) != 1 || got[0].String() != first {
		t.Errorf("parents of the second commit = %v, want [%s]", got, first)
	}
}

func TestGitServerSamePushTwiceMakesTwoCommits(t *testing.T) {
	t.Parallel()
	s := GitServer(t)
	files := map[string]string{"a": "1"}
	first := mustPush(t, s, files, "same")
	second := mustPush(t, s, files, "same")
	if first == second {
		t.Fatalf("two pushes of the same tree and message made one commit %s", first)
	}
}

func TestGitServerDownRefusesAndComesBack(t *testing.T) {
	t.Parallel()
	s := GitServer(t)
	want := mustPush(t, s, map[string]string{"fleet.yaml": "x\n"}, "one")
	url := s.URL()
	if _, err := lsRemote(context.Background(), url, nil); err != nil {
		t.Fatalf("ls-remote while up: %v", err) // leaves an idle keep-alive connection
	}

	if err := s.SetDown(true); err != nil {
		t.Fatalf("SetDown(true): %v", err)
	}
	// A refused connection fails at once; the deadline only catches a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := lsRemote(ctx, url, nil)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("ls-remote while down: err = %v, want connection refused", err)
	}
	if _, err := s.Push(map[string]string{"fleet.yaml": "y\n"}, "while down"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("push while down: err = %v, want connection refused", err)
	}

	if err := s.SetDown(false); err != nil {
		t.Fatalf("SetDown(false): %v", err)
	}
	if s.URL() != url {
		t.Fatalf("URL changed from %s to %s", url, s.URL())
	}
	got, err := lsRemote(context.Background(), url, nil)
	if err != nil {
		t.Fatalf("ls-remote after coming back: %v", err)
	}
	if got != want {
		t.Errorf("ls-remote head = %s, want %s", got, want)
	}
	if err := s.SetDown(false); err != nil {
		t.Errorf("SetDown(false) while up: %v", err)
	}

	// Down means refused as soon as SetDown returns, however quick the flip.
	for range 20 {
		if err := s.SetDown(false); err != nil {
			t.Fatalf("SetDown(false): %v", err)
		}
		if err := s.SetDown(true); err != nil {
			t.Fatalf("SetDown(true): %v", err)
		}
		c, err := net.DialTimeout("tcp", s.Addr(), 10*time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			if c != nil {
				_ = c.Close()
			}
			t.Fatalf("dial right after SetDown(true): err = %v, want connection refused", err)
		}
	}
}

func TestGitServerForcePush(t *testing.T) {
	t.Parallel()
	s := GitServer(t)
	mustPush(t, s, map[string]string{"a": "1"}, "one")
	mustPush(t, s, map[string]string{"a": "2"}, "two")

	dir := t.TempDir()
	ctx := context.Background()
	clone, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: s.URL()})
	if err != nil {
		t.Fatalf("clone: %v", err)
	}

	rewritten, err := s.ForcePush(map[string]string{"b": "3"}, "rewrite")
	if err != nil {
		t.Fatalf("force push: %v", err)
	}
	if got := s.Head(); got != rewritten {
		t.Fatalf("Head() = %s after force push, want %s", got, rewritten)
	}

	// The agent fetches with a forced refspec: the rewrite is a new head like any other.
	err = clone.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []config.RefSpec{"+refs/heads/main:refs/remotes/origin/main"},
	})
	if err != nil {
		t.Fatalf("forced fetch after rewrite: %v", err)
	}
	ref, err := clone.Reference(plumbing.NewRemoteReferenceName("origin", GitBranch), true)
	if err != nil {
		t.Fatalf("read origin/main: %v", err)
	}
	commit, err := clone.CommitObject(ref.Hash())
	if err != nil {
		t.Fatalf("read fetched commit: %v", err)
	}
	if commit.Hash.String() != rewritten || commit.NumParents() != 0 {
		t.Errorf("fetched %s with %d parents, want root commit %s", commit.Hash, commit.NumParents(), rewritten)
	}
	if diff := cmp.Diff(map[string]string{"b": "3"}, commitFiles(t, commit)); diff != "" {
		t.Errorf("rewritten files (-want +got):\n%s", diff)
	}

	// A plain push after the rewrite builds on the new root.
	next := mustPush(t, s, map[string]string{"b": "4"}, "after rewrite")
	commit, _ = cloneFiles(t, s.URL(), nil)
	if commit.Hash.String() != next || commit.NumParents() != 1 || commit.ParentHashes[0].String() != rewritten {
		t.Errorf("push after rewrite: head %s parents %v, want %s on %s", commit.Hash, commit.ParentHashes, next, rewritten)
	}
}

func TestGitServerPushBuildsOnAnotherClientsPush(t *testing.T) {
	t.Parallel()
	s := GitServer(t)
	mustPush(t, s, map[string]string{"a": "1"}, "one")

	dir := t.TempDir()
	repo, err := git.PlainClone(dir, false, &git.CloneOptions{URL: s.URL()})
	if err != nil {
		t.Fatalf("clone: %v", err)
	}
	writeFile(t, filepath.Join(dir, "a"), "2", 0o644)
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("a"); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "other", Email: "other@skiff.invalid", When: time.Now()}
	theirs, err := wt.Commit("theirs", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(&git.PushOptions{}); err != nil {
		t.Fatalf("push from another client: %v", err)
	}

	ours := mustPush(t, s, map[string]string{"a": "3"}, "ours")
	commit, files := cloneFiles(t, s.URL(), nil)
	if commit.Hash.String() != ours || commit.NumParents() != 1 || commit.ParentHashes[0] != theirs {
		t.Errorf("head %s with parents %v, want %s on the other client's %s", commit.Hash, commit.ParentHashes, ours, theirs)
	}
	if files["a"] != "3" {
		t.Errorf("a = %q, want 3", files["a"])
	}

	// A rewrite over a head the helper never saw.
	if err := repo.Fetch(&git.FetchOptions{}); err != nil {
		t.Fatalf("fetch into the other client: %v", err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: plumbing.NewHash(ours), Mode: git.HardReset}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a"), "4", 0o644)
	if _, err := wt.Add("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit("theirs again", &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(&git.PushOptions{}); err != nil {
		t.Fatalf("second push from another client: %v", err)
	}
	rewritten, err := s.ForcePush(map[string]string{"b": "5"}, "rewrite")
	if err != nil {
		t.Fatalf("force push over an unseen head: %v", err)
	}
	if got := s.Head(); got != rewritten {
		t.Errorf("Head() = %s, want the rewrite %s", got, rewritten)
	}
}

func TestGitServerBasicAuth(t *testing.T) {
	t.Parallel()
	s := GitServer(t)
	s.RequireBasicAuth("fleet", "s3cret")
	want := mustPush(t, s, map[string]string{"a": "1"}, "with auth")
	ctx := context.Background()

	if _, err := lsRemote(ctx, s.URL(), nil); !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("ls-remote without credentials: err = %v, want %v", err, transport.ErrAuthenticationRequired)
	}
	wrong := &githttp.BasicAuth{Username: "fleet", Password: "nope"}
	if _, err := lsRemote(ctx, s.URL(), wrong); !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("ls-remote with a wrong password: err = %v, want %v", err, transport.ErrAuthenticationRequired)
	}
	if n := s.Requests().Unauthorized; n < 2 {
		t.Errorf("Requests().Unauthorized = %d, want at least 2", n)
	}
	right := &githttp.BasicAuth{Username: "fleet", Password: "s3cret"}
	got, err := lsRemote(ctx, s.URL(), right)
	if err != nil || got != want {
		t.Errorf("ls-remote with credentials = %q, %v; want %s", got, err, want)
	}
	commit, _ := cloneFiles(t, s.URL(), right)
	if commit.Hash.String() != want {
		t.Errorf("cloned %s with credentials, want %s", commit.Hash, want)
	}

	s.RequireBasicAuth("", "")
	if _, err := lsRemote(ctx, s.URL(), nil); err != nil {
		t.Errorf("ls-remote after turning auth off: %v", err)
	}
}

func TestGitServerPushDirAndFileClone(t *testing.T) {
	t.Parallel()
	s := GitServer(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "fleet.yaml"), "regions: [eu]\n", 0o644)
	writeFile(t, filepath.Join(src, "stacks", "web", "compose.yaml"), "services: {}\n", 0o644)
	writeFile(t, filepath.Join(src, "stacks", "web", "probe.sh"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(src, ".git", "HEAD"), "ignored\n", 0o644)
	if err := os.Symlink("compose.yaml", filepath.Join(src, "stacks", "web", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	want, err := s.PushDir(src, "import")
	if err != nil {
		t.Fatalf("push dir: %v", err)
	}

	// file:// through BareDir sees the commit pushed over HTTP.
	repo, err := git.PlainClone(t.TempDir(), true, &git.CloneOptions{URL: s.BareDir()})
	if err != nil {
		t.Fatalf("clone %s: %v", s.BareDir(), err)
	}
	commit, files := headFiles(t, repo)
	if commit.Hash.String() != want {
		t.Errorf("file clone HEAD = %s, want %s", commit.Hash, want)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	wantNames := []string{"fleet.yaml", "stacks/web/compose.yaml", "stacks/web/link.yaml", "stacks/web/probe.sh"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("pushed files (-want +got):\n%s", diff)
	}
	tree, err := commit.Tree()
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]filemode.FileMode{
		"stacks/web/probe.sh":  filemode.Executable,
		"stacks/web/link.yaml": filemode.Symlink,
		"fleet.yaml":           filemode.Regular,
	} {
		entry, err := tree.FindEntry(name)
		if err != nil || entry.Mode != mode {
			t.Errorf("%s: entry %v, %v; want mode %v", name, entry, err, mode)
		}
	}
}

func TestGitServerRejectsBadPaths(t *testing.T) {
	t.Parallel()
	s := GitServer(t)
	for _, files := range []map[string]string{
		{"/abs": "x"},
		{"../up": "x"},
		{"a//b": "x"},
		{"a/.git/config": "x"},
		{"a": "file", "a/b": "under a file"},
	} {
		if commit, err := s.Push(files, "bad"); err == nil {
			t.Errorf("Push(%v) = %s, want an error", files, commit)
		}
	}
	if got := s.Requests(); got != (GitRequests{}) {
		t.Errorf("rejected pushes made requests: %+v", got)
	}
}

func TestGitServerCloseIsFinal(t *testing.T) {
	t.Parallel()
	s, err := StartGitServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if err := s.SetDown(false); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDown(false) after Close: err = %v, want %v", err, net.ErrClosed)
	}
	if _, err := lsRemote(context.Background(), s.URL(), nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("ls-remote after Close: err = %v, want connection refused", err)
	}
}

func writeFile(t *testing.T, name, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}
