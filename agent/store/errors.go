package store

import "errors"

// Errors of the store, matched with errors.Is.
var (
	// ErrLocked: another process (another skiff agent) holds the file.
	// Never move such a file aside: wait for the other agent or stop it.
	ErrLocked = errors.New("store locked")
	// ErrCorrupt: the file is not a readable bbolt database. OpenOrRecover
	// moves it aside and starts empty.
	ErrCorrupt = errors.New("store corrupt")
	// ErrNewerSchema: the file was written by a newer agent. OpenOrRecover
	// moves it aside (a downgrade starts empty).
	ErrNewerSchema = errors.New("store schema newer than this agent")
	// ErrNotFound: no record under that key.
	ErrNotFound = errors.New("not found")
	// ErrDamaged: the record exists but does not decode; treat it as absent.
	ErrDamaged = errors.New("damaged record")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrInvalid: the caller passed a record the store refuses to write.
	ErrInvalid = errors.New("invalid record")

	// errUnchanged rolls back a write transaction that found nothing to
	// change; it never leaves the package.
	errUnchanged = errors.New("unchanged")
)
