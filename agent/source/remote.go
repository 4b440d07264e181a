package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/skiffops/skiff/internal/durable"
)

// remoteName is the name of the remote in the repositories this package makes.
const remoteName = "origin"

// Head returns the commit the branch points to on the remote, by ls-remote:
// nothing is fetched and nothing is written. Errors match ErrUnreachable,
// ErrAuth or ErrNoBranch.
func (s *Source) Head(ctx context.Context) (string, error) {
	auth, secret, err := s.auth()
	if err != nil {
		return "", fmt.Errorf("ls-remote %s: %w", s.url, err)
	}
	head := s.lsRemote
	if s.ep.Protocol == "file" {
		head = s.localHead
	}
	return netCall(ctx, s, "ls-remote", secret, func(ctx context.Context) (string, error) {
		return head(ctx, auth)
	}, nil)
}

// Fetch brings commit, the branch head that Head returned, into the local
// repository: a depth-1 fetch of the branch with a forced refspec into a
// fresh directory, which replaces the repository when the call returns in
// time. It does nothing when commit is already there. When the branch moved
// meanwhile, the new head is fetched and the error matches ErrMoved; other
// errors match ErrUnreachable, ErrAuth or ErrNoBranch.
func (s *Source) Fetch(ctx context.Context, commit string) error {
	c, err := parseCommit(commit)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", s.url, err)
	}
	if s.has(c) {
		return nil
	}
	auth, secret, err := s.auth()
	if err != nil {
		return fmt.Errorf("fetch %s: %w", s.url, err)
	}
	tmp, err := s.newTemp("fetch-")
	if err != nil {
		return fmt.Errorf("fetch %s: %w", s.url, err)
	}
	head, err := netCall(ctx, s, "fetch", secret, func(ctx context.Context) (string, error) {
		h, err := s.fetchInto(ctx, tmp, auth)
		if err == nil {
			err = syncTree(tmp)
		}
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
		return h, err
	}, func(string, error) { _ = os.RemoveAll(tmp) })
	if err != nil {
		return err
	}
	if err := s.swapRepo(tmp); err != nil {
		return fmt.Errorf("fetch %s: %w", s.url, err)
	}
	s.log.Debug("fetched", "revision", head)
	if head != c {
		return fmt.Errorf("fetch %s: want %s, branch %s is now at %s: %w", s.url, short(c), s.cfg.Branch, short(head), ErrMoved)
	}
	return nil
}

// netCall runs fn as one network call: under its own deadline, in a
// goroutine abandoned at the deadline (see detach), with its error reported
// as "op url: sentinel: cause" and secret removed from it.
func netCall[T any](ctx context.Context, s *Source, op, secret string, fn func(context.Context) (T, error),
	orphan func(T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	v, _, err := detach(ctx, s.calls, op, fn, orphan)
	if err == nil {
		return v, nil
	}
	var zero T
	return zero, scrub(s.callError(ctx, op, err), secret)
}

func (s *Source) callError(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s %s: no answer within %s: %w: %w", op, s.url, s.cfg.Timeout, ErrUnreachable, context.DeadlineExceeded)
	case ctx.Err() != nil: // the caller gave up
		return fmt.Errorf("%s %s: %w", op, s.url, ctx.Err())
	}
	if k := kind(err); k != nil {
		return fmt.Errorf("%s %s: %w: %w", op, s.url, k, err)
	}
	return fmt.Errorf("%s %s: %w", op, s.url, err)
}

// lsRemote asks the remote for its references and returns the branch's.
func (s *Source) lsRemote(ctx context.Context, auth transport.AuthMethod) (string, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: remoteName, URLs: []string{s.cfg.URL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return "", err
	}
	for _, ref := range refs {
		if ref.Name() == s.branch && ref.Type() == plumbing.HashReference {
			return ref.Hash().String(), nil
		}
	}
	return "", fmt.Errorf("branch %s: %w", s.cfg.Branch, ErrNoBranch)
}

// fetchInto makes dir a bare repository holding the branch head, and returns
// the head.
func (s *Source) fetchInto(ctx context.Context, dir string, auth transport.AuthMethod) (string, error) {
	if s.ep.Protocol == "file" {
		return s.copyLocal(ctx, dir)
	}
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		return "", err
	}
	_, err = repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{s.cfg.URL}})
	if err != nil {
		return "", err
	}
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", s.branch, s.tracking()))
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{spec},
		Depth:      1,
		Tags:       git.NoTags,
		Auth:       auth,
		Force:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", err
	}
	ref, err := repo.Reference(s.tracking(), true)
	if err != nil {
		return "", fmt.Errorf("read fetched %s: %w", s.tracking(), err)
	}
	return ref.Hash().String(), nil
}

// tracking is the reference a fetch stores the branch head under.
func (s *Source) tracking() plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(remoteName, s.cfg.Branch)
}

// has reports whether the local repository holds commit.
func (s *Source) has(commit string) bool {
	s.repoMu.RLock()
	defer s.repoMu.RUnlock()
	_, err := s.commitObject(commit)
	return err == nil
}

// commitObject reads commit from the local repository. s.repoMu must be held
// for as long as the commit, its trees and blobs are read.
func (s *Source) commitObject(commit string) (*object.Commit, error) {
	repo, err := git.PlainOpen(s.repoDir())
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("commit %s not fetched: no repository yet", short(commit))
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.repoDir(), err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("commit %s not fetched: %w", short(commit), err)
	}
	return c, nil
}

// swapRepo installs the fetched repository dir as Dir/repo.
func (s *Source) swapRepo(dir string) error {
	old := dir + ".old"
	defer func() { _ = os.RemoveAll(old) }() // after the unlock below
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	err := os.Rename(s.repoDir(), old)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("move old repository aside: %w", err)
	}
	if err := os.Rename(dir, s.repoDir()); err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("install fetched repository: %w", err)
	}
	return durable.Sync(s.cfg.Dir)
}

// newTemp creates a fresh directory in Dir/tmp.
func (s *Source) newTemp(prefix string) (string, error) {
	if err := os.MkdirAll(s.tmpDir(), 0o700); err != nil {
		return "", err
	}
	return os.MkdirTemp(s.tmpDir(), prefix)
}

// syncTree flushes every file and directory under root to disk.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink != 0 {
			return err
		}
		return durable.Sync(p)
	})
}
