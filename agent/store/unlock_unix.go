//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"os"
	"syscall"
)

// unlock releases the flock bbolt took on f. Closing f is not enough after a
// panic inside bolt.Open: the mapping bbolt made keeps the open file
// description, and with it the lock, alive.
func unlock(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
