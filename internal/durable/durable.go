// Package durable makes writes survive a crash: after writing a file or
// renaming an entry, Sync the file or its directory.
package durable

import (
	"fmt"
	"os"
)

// Sync flushes the file or directory at path to stable storage. After a
// rename or a new entry, sync the directory that holds it.
func Sync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
