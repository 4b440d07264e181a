package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallFS is a tmpfs of a fixed size mounted on a directory of its own, so
// that a test can fill it up (writes fail with ENOSPC) and free it again
// without touching any other file system. Mounting needs root (CI and the
// developers' machines run as root); Unmount removes the mount point.
type SmallFS struct {
	Dir    string
	filler string
}

// MountSmallFS mounts a tmpfs of size bytes on a new directory under parent.
func MountSmallFS(parent string, size int64) (*SmallFS, error) {
	dir, err := os.MkdirTemp(parent, "smallfs-")
	if err != nil {
		return nil, fmt.Errorf("mount small fs: %w", err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		_ = os.Remove(dir)
		return nil, fmt.Errorf("mount a tmpfs on %s (needs root): %w", dir, err)
	}
	return &SmallFS{Dir: dir, filler: filepath.Join(dir, ".filler")}, nil
}

// SmallFileSystem mounts a SmallFS for the test under t.TempDir and unmounts
// it in t.Cleanup. Without the right to mount it skips, or fails when
// SKIFF_REQUIRE_DOCKER=1 (CI, which runs as root).
func SmallFileSystem(t testing.TB, size int64) *SmallFS {
	t.Helper()
	fs, err := MountSmallFS(t.TempDir(), size)
	if err != nil {
		if os.Getenv(EnvRequireDocker) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Cleanup(func() {
		if err := fs.Unmount(); err != nil {
			t.Errorf("unmount small fs: %v", err)
		}
	})
	return fs
}

// Fill writes a filler file until the file system has no free block left.
func (f *SmallFS) Fill() error {
	w, err := os.OpenFile(f.filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("fill %s: %w", f.Dir, err)
	}
	defer w.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := w.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return fmt.Errorf("fill %s: %w", f.Dir, err)
		}
	}
}

// Free removes the filler file: the space is back.
func (f *SmallFS) Free() error {
	if err := os.Remove(f.filler); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("free %s: %w", f.Dir, err)
	}
	return nil
}

// Unmount detaches the file system (lazily, should a process still hold a
// file of it) and removes its mount point.
func (f *SmallFS) Unmount() error {
	if err := syscall.Unmount(f.Dir, syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount %s: %w", f.Dir, err)
	}
	return os.Remove(f.Dir)
}
