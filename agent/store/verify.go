package store

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// maxCheckErrors bounds how many of bbolt's consistency errors are quoted.
const maxCheckErrors = 5

// verify refuses a file that bbolt opened but that is not whole: shorter
// than its pages claim, with a page that faults or panics when read, or
// failing bbolt's own consistency check. Faults and panics are caught here
// (SetPanicOnFault is per goroutine), which is why every page is read in this
// goroutine before Check, which reads them again in one of its own.
func verify(db *bolt.DB) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = panicError("reading the file", r)
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		if err := checkSize(tx); err != nil {
			return err
		}
		runtime.KeepAlive(touchAll(tx))
		return check(tx)
	})
}

// checkSize compares the file's length with the pages its meta page claims:
// a truncated file would fault on the first page past its end.
func checkSize(tx *bolt.Tx) error {
	info, err := os.Stat(tx.DB().Path())
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if tx.Size() > info.Size() {
		return fmt.Errorf("%w: file is %d bytes, its pages need %d: truncated", ErrCorrupt, info.Size(), tx.Size())
	}
	return nil
}

// touchAll reads every bucket, key and value (one byte per KiB of each
// value), so that a bad page faults or panics now.
func touchAll(tx *bolt.Tx) byte {
	var sum byte
	var visit func(b *bolt.Bucket)
	visit = func(b *bolt.Bucket) {
		_ = b.ForEach(func(k, v []byte) error {
			if v == nil {
				if child := b.Bucket(k); child != nil {
					visit(child)
				}
				return nil
			}
			for i := 0; i < len(v); i += 1024 {
				sum ^= v[i]
			}
			if len(v) > 0 {
				sum ^= v[len(v)-1]
			}
			return nil
		})
	}
	_ = tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
		visit(b)
		return nil
	})
	return sum
}

// check runs bbolt's consistency check and quotes its first errors.
func check(tx *bolt.Tx) error {
	var msgs []string
	n := 0
	for err := range tx.Check() {
		n++
		if len(msgs) < maxCheckErrors {
			msgs = append(msgs, err.Error())
		}
	}
	if n == 0 {
		return nil
	}
	if n > len(msgs) {
		msgs = append(msgs, fmt.Sprintf("and %d more", n-len(msgs)))
	}
	return fmt.Errorf("%w: consistency check: %s", ErrCorrupt, strings.Join(msgs, "; "))
}
