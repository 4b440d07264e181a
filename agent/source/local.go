package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// This file is the file:// transport: the repository is read in process,
// without the git binary go-git's own file transport would run.

// localGitDir returns the git directory of the repository at path: path
// itself when bare, path/.git otherwise.
func localGitDir(path string) string {
	if fi, err := os.Stat(filepath.Join(path, ".git")); err == nil && fi.IsDir() {
		return filepath.Join(path, ".git")
	}
	return path
}

// localHead reads the branch head of a file:// repository from disk.
func (s *Source) localHead(_ context.Context, _ transport.AuthMethod) (string, error) {
	_, h, err := s.openLocal()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (s *Source) openLocal() (*git.Repository, plumbing.Hash, error) {
	repo, err := git.PlainOpen(s.ep.Path)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	ref, err := repo.Reference(s.branch, true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, plumbing.ZeroHash, fmt.Errorf("branch %s: %w", s.cfg.Branch, ErrNoBranch)
	}
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("read branch %s: %w", s.cfg.Branch, err)
	}
	return repo, ref.Hash(), nil
}

// copyLocal makes dir a bare repository holding the branch head of a
// file:// repository (the commit, its trees and blobs, like a depth-1
// fetch) and returns the head.
func (s *Source) copyLocal(ctx context.Context, dir string) (string, error) {
	src, head, err := s.openLocal()
	if err != nil {
		return "", err
	}
	dst, err := git.PlainInit(dir, true)
	if err != nil {
		return "", err
	}
	commit, err := src.CommitObject(head)
	if err != nil {
		return "", fmt.Errorf("read head %s: %w", short(head.String()), err)
	}
	cp := objectCopier{ctx: ctx, from: src.Storer, to: dst.Storer, seen: map[plumbing.Hash]bool{}}
	if err := cp.object(head); err != nil {
		return "", err
	}
	if err := cp.tree(commit.TreeHash); err != nil {
		return "", err
	}
	if err := dst.Storer.SetReference(plumbing.NewHashReference(s.tracking(), head)); err != nil {
		return "", fmt.Errorf("set %s: %w", s.tracking(), err)
	}
	return head.String(), nil
}

// objectCopier copies objects between repositories, each once.
type objectCopier struct {
	ctx  context.Context
	from storer.EncodedObjectStorer
	to   storer.EncodedObjectStorer
	seen map[plumbing.Hash]bool
}

func (c *objectCopier) object(h plumbing.Hash) error {
	if c.seen[h] {
		return nil
	}
	c.seen[h] = true
	obj, err := c.from.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return fmt.Errorf("read object %s: %w", h, err)
	}
	if _, err := c.to.SetEncodedObject(obj); err != nil {
		return fmt.Errorf("write object %s: %w", h, err)
	}
	return nil
}

// tree copies a tree with its subtrees and blobs; submodules are left out.
func (c *objectCopier) tree(h plumbing.Hash) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if c.seen[h] {
		return nil
	}
	if err := c.object(h); err != nil {
		return err
	}
	t, err := object.GetTree(c.from, h)
	if err != nil {
		return fmt.Errorf("read tree %s: %w", h, err)
	}
	for _, e := range t.Entries {
		switch e.Mode {
		case filemode.Dir:
			err = c.tree(e.Hash)
		case filemode.Submodule:
			continue
		default:
			err = c.object(e.Hash)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
