package testenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// This file holds the push helpers: they build the commits GitHTTPServer pushes
// over its own smart HTTP endpoint, in an in-memory go-git repository.

// Head returns the commit the branch points to in the bare repository, read
// from disk (no request), or "" when there is none yet or it cannot be read.
func (s *GitHTTPServer) Head() string {
	h, err := s.readHead()
	if err != nil || h.IsZero() {
		return ""
	}
	return h.String()
}

func (s *GitHTTPServer) readHead() (plumbing.Hash, error) {
	repo, err := git.PlainOpen(s.bare)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("open %s: %w", s.bare, err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(GitBranch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read %s of %s: %w", GitBranch, s.bare, err)
	}
	return ref.Hash(), nil
}

// Push commits files (slash-separated path → content) as the whole tree of
// GitBranch, on top of its head, and pushes the commit over HTTP; a file not
// listed is removed. It returns the commit's hash. Every commit the helpers
// make is distinct: its time is a second later than the previous one's or more.
func (s *GitHTTPServer) Push(files map[string]string, msg string) (string, error) {
	return s.commitAndPush(gitFilesOf(files), msg, false)
}

// PushDir is Push with the tree of the directory srcDir as the files
// (".git" left out, executable bits and symlinks kept).
func (s *GitHTTPServer) PushDir(srcDir, msg string) (string, error) {
	files, err := readGitFiles(srcDir)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", srcDir, err)
	}
	return s.commitAndPush(files, msg, false)
}

// ForcePush rewrites history: it commits files as a root commit (no parent)
// and force-pushes it to GitBranch over HTTP.
func (s *GitHTTPServer) ForcePush(files map[string]string, msg string) (string, error) {
	return s.commitAndPush(gitFilesOf(files), msg, true)
}

// PushWithSubmodule is Push with, at path, a submodule: a gitlink to commit
// of another repository, which is not pushed (as git records a submodule).
func (s *GitHTTPServer) PushWithSubmodule(files map[string]string, path, commit, msg string) (string, error) {
	all := gitFilesOf(files)
	all[path] = gitFile{mode: filemode.Submodule, data: []byte(commit)}
	return s.commitAndPush(all, msg, false)
}

// gitFile is one file of a pushed tree.
type gitFile struct {
	mode filemode.FileMode
	data []byte
}

func gitFilesOf(files map[string]string) map[string]gitFile {
	out := make(map[string]gitFile, len(files))
	for p, content := range files {
		out[p] = gitFile{mode: filemode.Regular, data: []byte(content)}
	}
	return out
}

func (s *GitHTTPServer) commitAndPush(files map[string]gitFile, msg string, rewrite bool) (string, error) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), gitPushTimeout)
	defer cancel()
	var parents []plumbing.Hash
	if !rewrite {
		head, err := s.syncHead(ctx)
		if err != nil {
			return "", fmt.Errorf("push to %s: %w", s.URL(), err)
		}
		if !head.IsZero() {
			parents = append(parents, head)
		}
	}
	commit, err := s.commit(files, msg, parents)
	if err != nil {
		return "", fmt.Errorf("push to %s: %w", s.URL(), err)
	}
	if err := s.push(ctx, commit, rewrite); err != nil {
		return "", fmt.Errorf("push to %s: %w", s.URL(), err)
	}
	return commit.String(), nil
}

// syncHead returns the head of the served branch, fetching it into the work
// repository first when another client pushed it.
func (s *GitHTTPServer) syncHead(ctx context.Context) (plumbing.Hash, error) {
	head, err := s.readHead()
	if err != nil || head.IsZero() {
		return head, err
	}
	if s.work.Storer.HasEncodedObject(head) == nil {
		return head, nil
	}
	branch := plumbing.NewBranchReferenceName(GitBranch)
	tracking := plumbing.NewRemoteReferenceName(gitRemote, GitBranch)
	err = s.work.FetchContext(ctx, &git.FetchOptions{
		RemoteName: gitRemote,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + branch + ":" + tracking)},
		Auth:       s.clientAuth(),
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", GitBranch, err)
	}
	ref, err := s.work.Reference(tracking, true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", GitBranch, err)
	}
	return ref.Hash(), nil
}

// commit stores the tree of files and a commit of it in the work repository.
func (s *GitHTTPServer) commit(files map[string]gitFile, msg string, parents []plumbing.Hash) (plumbing.Hash, error) {
	root, err := buildGitTree(files)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tree, err := root.store(s.work.Storer)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	sig := object.Signature{Name: GitAuthorName, Email: GitAuthorEmail, When: s.nextCommitTime()}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: tree, ParentHashes: parents}
	if err := signCommit(c, s.signer); err != nil {
		return plumbing.ZeroHash, err
	}
	obj := s.work.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode commit: %w", err)
	}
	h, err := s.work.Storer.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store commit: %w", err)
	}
	return h, nil
}

// nextCommitTime returns now, or a second after the previous commit's time
// when that is later, so that two commits of one tree never share a hash.
func (s *GitHTTPServer) nextCommitTime() time.Time {
	when := time.Now().UTC().Truncate(time.Second)
	if !when.After(s.lastWhen) {
		when = s.lastWhen.Add(time.Second)
	}
	s.lastWhen = when
	return when
}

// push points the work repository's branch at commit and pushes it.
func (s *GitHTTPServer) push(ctx context.Context, commit plumbing.Hash, force bool) error {
	branch := plumbing.NewBranchReferenceName(GitBranch)
	if err := s.work.Storer.SetReference(plumbing.NewHashReference(branch, commit)); err != nil {
		return fmt.Errorf("set %s: %w", branch, err)
	}
	spec := config.RefSpec(branch + ":" + branch)
	if force {
		spec = "+" + spec
	}
	err := s.work.PushContext(ctx, &git.PushOptions{
		RemoteName: gitRemote,
		RefSpecs:   []config.RefSpec{spec},
		Auth:       s.clientAuth(),
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return err
	}
	return nil
}

// gitTree is a directory of a tree being committed.
type gitTree struct {
	files map[string]gitFile
	dirs  map[string]*gitTree
}

func newGitTree() *gitTree {
	return &gitTree{files: map[string]gitFile{}, dirs: map[string]*gitTree{}}
}

// buildGitTree arranges files by directory.
func buildGitTree(files map[string]gitFile) (*gitTree, error) {
	root := newGitTree()
	for p, f := range files {
		if err := checkGitPath(p); err != nil {
			return nil, err
		}
		parts := strings.Split(p, "/")
		dir, name := root, parts[len(parts)-1]
		for _, part := range parts[:len(parts)-1] {
			if _, clash := dir.files[part]; clash {
				return nil, fmt.Errorf("path %q: a file is in the way", p)
			}
			if dir.dirs[part] == nil {
				dir.dirs[part] = newGitTree()
			}
			dir = dir.dirs[part]
		}
		if _, clash := dir.dirs[name]; clash {
			return nil, fmt.Errorf("path %q: a directory is in the way", p)
		}
		dir.files[name] = f
	}
	return root, nil
}

func checkGitPath(p string) error {
	if p == "" || p == "." || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("path %q: want a clean relative path with slashes", p)
	}
	if slices.Contains(strings.Split(p, "/"), ".git") {
		return fmt.Errorf("path %q: .git is not allowed", p)
	}
	return nil
}

// store writes the blobs and trees of t, and returns the hash of t's tree.
func (t *gitTree) store(st storer.EncodedObjectStorer) (plumbing.Hash, error) {
	entries := make([]object.TreeEntry, 0, len(t.files)+len(t.dirs))
	for name, f := range t.files {
		if f.mode == filemode.Submodule { // a gitlink: the commit of another repository
			entries = append(entries, object.TreeEntry{Name: name, Mode: f.mode, Hash: plumbing.NewHash(string(f.data))})
			continue
		}
		h, err := storeBlob(st, f.data)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: f.mode, Hash: h})
	}
	for name, dir := range t.dirs {
		h, err := dir.store(st)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
	}
	sort.Sort(object.TreeEntrySorter(entries))
	obj := st.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode tree: %w", err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store tree: %w", err)
	}
	return h, nil
}

func storeBlob(st storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	return h, nil
}

// readGitFiles reads the tree of files under root, leaving out .git.
func readGitFiles(root string) (map[string]gitFile, error) {
	files := map[string]gitFile{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		f, err := readGitFile(p, d)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

func readGitFile(p string, d fs.DirEntry) (gitFile, error) {
	switch typ := d.Type(); {
	case typ&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		return gitFile{mode: filemode.Symlink, data: []byte(filepath.ToSlash(target))}, err
	case typ.IsRegular():
		info, err := d.Info()
		if err != nil {
			return gitFile{}, err
		}
		data, err := os.ReadFile(p)
		mode := filemode.Regular
		if info.Mode()&0o111 != 0 {
			mode = filemode.Executable
		}
		return gitFile{mode: mode, data: data}, err
	default:
		return gitFile{}, fmt.Errorf("%s: cannot commit a file of type %s", p, typ)
	}
}
