package store

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// t0 is a fixed instant for records (nanoseconds, a zone that is not UTC:
// both survive the codec).
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.FixedZone("CET", 3600))

// tempPath is a store file in a fresh directory.
func tempPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), FileName)
}

// openAt opens the store at path and closes it at the end of the test.
func openAt(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openTemp(t *testing.T) *Store {
	t.Helper()
	return openAt(t, tempPath(t), Options{})
}

// rawUpdate changes the file behind the store's back, as damage would.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatalf("raw update: %v", err)
	}
}

// logBuffer is a logger whose output the test can read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func TestOpenCreatesCurrentSchema(t *testing.T) {
	path := tempPath(t)
	s := openAt(t, path, Options{})
	var version uint64
	if err := s.view(func(tx *bolt.Tx) error {
		var err error
		version, err = readVersion(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if version != SchemaVersion {
		t.Errorf("schema version = %d, want %d", version, SchemaVersion)
	}
	if got := s.Path(); got != path {
		t.Errorf("Path() = %q, want %q", got, path)
	}
}

// An empty file is a store that lost its contents (bbolt would initialise
// it silently): Open says so, and OpenOrRecover moves it aside and starts a
// usable store, so that status reports the loss. Only a missing file is a
// new store.
func TestOpenEmptyFileIsLostContents(t *testing.T) {
	path := tempPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of an empty file: %v, want ErrCorrupt", err)
	}
	s, rec, err := OpenOrRecover(path, Options{})
	if err != nil || !rec.Recovered() {
		t.Fatalf("OpenOrRecover of an empty file: %+v, %v", rec, err)
	}
	defer s.Close()
	if _, err := s.SetMeta(MetaWantedRevision, "abc"); err != nil {
		t.Fatalf("SetMeta on the store that replaced an empty file: %v", err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := tempPath(t)
	first := openAt(t, path, Options{})
	opts := Options{LockTimeout: 50 * time.Millisecond}

	start := time.Now()
	_, err := Open(path, opts)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("second Open waited %s with a 50ms lock timeout", waited)
	}
	want := "is another skiff agent using " + filepath.Dir(path) + "?"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}

	// OpenOrRecover never moves a locked file aside.
	_, rec, err := OpenOrRecover(path, opts)
	if !errors.Is(err, ErrLocked) || rec.Recovered() {
		t.Fatalf("OpenOrRecover on a locked store: rec = %+v, err = %v; want ErrLocked and nothing moved", rec, err)
	}
	assertOnlyFile(t, path)

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openAt(t, path, opts) // the lock went with the first agent
}

// assertOnlyFile fails unless path is the only file of its directory.
func assertOnlyFile(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(path) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only %s", names, filepath.Base(path))
	}
}

func TestCloseIdempotent(t *testing.T) {
	s, err := Open(tempPath(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if _, err := s.Meta(); !errors.Is(err, ErrClosed) {
		t.Errorf("Meta after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.SetMeta(MetaWantedRevision, "abc"); !errors.Is(err, ErrClosed) {
		t.Errorf("SetMeta after Close: err = %v, want ErrClosed", err)
	}
}

func TestOpenMissingDirectoryIsNotCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", FileName)
	_, rec, err := OpenOrRecover(path, Options{})
	if err == nil || errors.Is(err, ErrCorrupt) || rec.Recovered() {
		t.Fatalf("OpenOrRecover in a missing directory: rec = %+v, err = %v; want a plain error", rec, err)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.LockTimeout != time.Second || o.HistoryLimit != 100 || o.EventLimit != 500 || o.Logger == nil || o.Now == nil {
		t.Errorf("defaults = %+v", o)
	}
}
