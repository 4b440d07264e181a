//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import "os"

// unlock: on these systems the lock goes with the file handle.
func unlock(*os.File) {}
