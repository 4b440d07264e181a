package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Defaults of Options.
const (
	DefaultLockTimeout  = time.Second
	DefaultHistoryLimit = 100
	DefaultEventLimit   = 500
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	// LockTimeout bounds the wait for the file lock (default 1s): a second
	// agent fails fast with ErrLocked.
	LockTimeout time.Duration
	// Logger receives the warnings (damaged records, recoveries, migrations).
	// Default: discarded.
	Logger *slog.Logger
	// Now is the clock that names moved-aside files. Default: time.Now.
	Now func() time.Time
	// HistoryLimit is how many revisions are kept (default 100).
	HistoryLimit int
	// EventLimit is how many events are kept (default 500).
	EventLimit int
}

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = DefaultHistoryLimit
	}
	if o.EventLimit <= 0 {
		o.EventLimit = DefaultEventLimit
	}
	return o
}

// Store is the agent's database. Its methods are safe for concurrent use.
type Store struct {
	db     *bolt.DB
	path   string
	opts   Options
	log    *slog.Logger
	writes atomic.Uint64

	closeOnce sync.Once
	closeErr  error

	// mu guards damaged.
	mu      sync.Mutex
	damaged map[string]Damaged
}

// Open opens or creates the store at path, checks it, and migrates it to
// SchemaVersion. Errors: ErrLocked (another agent holds it), ErrCorrupt,
// ErrNewerSchema; anything else (permissions, a missing directory) is
// returned wrapped as it is.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	db, err := openBolt(path, opts.LockTimeout)
	if err == nil {
		s := &Store{db: db, path: path, opts: opts, log: opts.Logger, damaged: map[string]Damaged{}}
		if err = s.prepare(); err == nil {
			return s, nil
		}
		_ = db.Close()
	}
	return nil, fmt.Errorf("open store %s: %w", path, err)
}

// prepare checks the file, migrates it and notes its damaged records.
func (s *Store) prepare() error {
	if err := verify(s.db); err != nil {
		return err
	}
	if err := s.migrate(schemaMigrations()); err != nil {
		return err
	}
	return s.scanDamaged()
}

// openBolt opens the file under SetPanicOnFault: bbolt can panic, or touch
// pages past the end of a truncated file (SIGBUS), inside Open. Either
// becomes ErrCorrupt, and the file it opened is unlocked and closed so that
// its lock does not outlive the failure. The mapping bbolt made of the
// damaged file leaks (address space only, the size of the file, once).
func openBolt(path string, lockTimeout time.Duration) (db *bolt.DB, err error) {
	// bbolt initialises an empty file as a new database: a store that
	// lost its contents (a crash of the file system, a truncation) would
	// start empty without a word. Only a missing file is a new store.
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		return nil, fmt.Errorf("%w: the file is empty (0 bytes): its contents were lost", ErrCorrupt)
	}
	var file *os.File
	opts := &bolt.Options{
		Timeout: lockTimeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				unlock(file)
				_ = file.Close()
			}
			db, err = nil, panicError("opening the file", r)
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, openError(path, lockTimeout, err)
	}
	return db, nil
}

func openError(path string, lockTimeout time.Duration, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w after %s: is another skiff agent using %s?", ErrLocked, lockTimeout, filepath.Dir(path))
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// panicError turns what recover returned while bbolt read a damaged file
// into ErrCorrupt, saying whether it was a memory fault (SIGBUS, SIGSEGV
// turned into a panic by SetPanicOnFault) or a panic of bbolt's own.
func panicError(doing string, r any) error {
	if f, ok := r.(interface{ Addr() uintptr }); ok {
		return fmt.Errorf("%w: memory fault %s at %#x: %v", ErrCorrupt, doing, f.Addr(), r)
	}
	return fmt.Errorf("%w: panic %s: %v", ErrCorrupt, doing, r)
}

// Path is the file of the store.
func (s *Store) Path() string { return s.path }

// Writes counts the write transactions committed since Open, migrations
// included. A read, or a write of what is already stored, leaves it alone.
func (s *Store) Writes() uint64 { return s.writes.Load() }

// Close closes the store. It is idempotent: later calls return the first
// call's result. Methods called after Close return ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close store %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	return closedError(s.db.View(fn))
}

// update runs fn in a write transaction and counts the commit. fn returns
// errUnchanged to roll back a transaction that found nothing to do; update
// then reports false and no error.
func (s *Store) update(fn func(tx *bolt.Tx) error) (bool, error) {
	err := s.db.Update(fn)
	switch {
	case err == nil:
		s.writes.Add(1)
		return true, nil
	case errors.Is(err, errUnchanged):
		return false, nil
	}
	return false, closedError(err)
}

func closedError(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
