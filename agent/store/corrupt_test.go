package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// validStore writes a store of a few hundred KiB (many pages) and returns
// its bytes.
func validStore(t *testing.T, path string) []byte {
	t.Helper()
	s := openAt(t, path, Options{})
	spec := bytes.Repeat([]byte("spec "), 1200)
	for i := range 40 {
		must(t, s.PutStack(AppliedStack{Stack: fmt.Sprintf("stack-%02d", i), Revision: "c1", Spec: spec}))
		must(t, s.PutRevision(Revision{Commit: fmt.Sprintf("c%02d", i), Outcome: OutcomeApplied}))
	}
	must(t, s.Close())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func garbage(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// damage turns a valid store file into a bad one.
type damage func(t *testing.T, path string, valid []byte) []byte

func writeBytes(b []byte) damage {
	return func(t *testing.T, path string, _ []byte) []byte { return b }
}

func truncateTo(size func(valid []byte) int) damage {
	return func(t *testing.T, path string, valid []byte) []byte { return valid[:size(valid)] }
}

// newestMeta returns the offset of the newest meta page's meta (after the
// 16-byte page header). Meta: magic, version, page size, flags (4 each),
// root bucket (16), freelist (8), high water mark (8), txid (8), checksum (8).
func newestMeta(valid []byte) int {
	page := os.Getpagesize()
	best, txid := 0, uint64(0)
	for _, off := range []int{16, page + 16} {
		if tx := binary.LittleEndian.Uint64(valid[off+48:]); tx >= txid {
			best, txid = off, tx
		}
	}
	return best
}

func freelistPage(valid []byte) int {
	return int(binary.LittleEndian.Uint64(valid[newestMeta(valid)+32:]))
}

// raiseHighWater claims one more page than the file uses and appends it,
// zeroed, with a valid meta checksum: every read succeeds, and only bbolt's
// consistency check sees a page neither reachable nor free.
func raiseHighWater(t *testing.T, path string, valid []byte) []byte {
	b := bytes.Clone(valid)
	m := b[newestMeta(b):]
	hwm := binary.LittleEndian.Uint64(m[40:])
	binary.LittleEndian.PutUint64(m[40:], hwm+1)
	h := fnv.New64a()
	h.Write(m[:56])
	binary.LittleEndian.PutUint64(m[56:], h.Sum64())
	if need := int(hwm+1) * os.Getpagesize(); len(b) < need {
		b = append(b, make([]byte, need-len(b))...)
	}
	return b
}

// cutAtFreelist truncates the file where its freelist page starts: bbolt
// reads that page inside Open, past the end of the file but inside its
// mapping (which is a power of two), and faults (SIGBUS).
func cutAtFreelist(t *testing.T, path string, valid []byte) []byte {
	size := freelistPage(valid) * os.Getpagesize()
	if size&(size-1) == 0 {
		t.Skipf("freelist at %d: the mapping would end with the file, no fault to test", size)
	}
	return valid[:size]
}

// scribble overwrites the pages after the meta pages, keeping the length.
func scribble(t *testing.T, path string, valid []byte) []byte {
	b := bytes.Clone(valid)
	page := os.Getpagesize()
	copy(b[2*page:], garbage(8*page))
	return b
}

// newerSchema stamps the file with a version this code does not know.
func newerSchema(t *testing.T, path string, valid []byte) []byte {
	rawUpdate(t, path, func(tx *bolt.Tx) error { return writeVersion(tx, SchemaVersion+1) })
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorruptFilesMovedAside(t *testing.T) {
	page := os.Getpagesize()
	tests := []struct {
		name    string
		damage  damage
		wantErr error
		wantMsg string // in the error: which defence caught it
		suffix  string
	}{
		{"garbage", writeBytes(garbage(64 << 10)), ErrCorrupt, "invalid database", ".corrupt-"},
		{"short garbage", writeBytes([]byte("not a bbolt file\n")), ErrCorrupt, "invalid database", ".corrupt-"},
		{"zero length", writeBytes([]byte{}), ErrCorrupt, "file is empty", ".corrupt-"},
		{"truncated in half", truncateTo(func(v []byte) int { return len(v) / 2 }), ErrCorrupt, "truncated", ".corrupt-"},
		{"truncated mid-page", truncateTo(func(v []byte) int { return len(v)/2 + 100 }), ErrCorrupt, "truncated", ".corrupt-"},
		// bbolt either panics or faults on this one, depending on what the
		// missing pages map to: both defences say "opening".
		{"truncated to the meta pages", truncateTo(func([]byte) int { return 2 * page }), ErrCorrupt, "opening", ".corrupt-"},
		{"truncated at the freelist", cutAtFreelist, ErrCorrupt, "memory fault opening", ".corrupt-"},
		{"scribbled pages", scribble, ErrCorrupt, "", ".corrupt-"},
		{"unreachable page", raiseHighWater, ErrCorrupt, "consistency check: page", ".corrupt-"},
		{"newer schema", newerSchema, ErrNewerSchema, fmt.Sprintf("knows up to %d", SchemaVersion), ".newer-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			bad := tt.damage(t, path, validStore(t, path))
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}

			_, err := Open(path, Options{})
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Open: err = %v, want %v saying %q", err, tt.wantErr, tt.wantMsg)
			}

			now := func() time.Time { return t0 }
			s, rec, err := OpenOrRecover(path, Options{Now: now})
			if err != nil {
				t.Fatalf("OpenOrRecover: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			assertRecovered(t, rec, path+tt.suffix+"20250304T040607Z", tt.wantErr, bad)
			assertUsableAndEmpty(t, s)
		})
	}
}

func assertRecovered(t *testing.T, rec Recovery, wantMovedTo string, wantErr error, bad []byte) {
	t.Helper()
	if !rec.Recovered() || rec.MovedTo != wantMovedTo {
		t.Errorf("Recovery.MovedTo = %q, want %q", rec.MovedTo, wantMovedTo)
	}
	if !errors.Is(rec.Cause, wantErr) || rec.Reason == "" {
		t.Errorf("Recovery = %+v, want a reason and a cause matching %v", rec, wantErr)
	}
	moved, err := os.ReadFile(rec.MovedTo)
	if err != nil {
		t.Fatalf("moved-aside file: %v", err)
	}
	if !bytes.Equal(moved, bad) {
		t.Errorf("moved-aside file differs from the original (%d bytes, want %d)", len(moved), len(bad))
	}
}

func assertUsableAndEmpty(t *testing.T, s *Store) {
	t.Helper()
	if stacks, err := s.Stacks(); err != nil || len(stacks) != 0 {
		t.Fatalf("fresh store: Stacks = %d, %v; want empty", len(stacks), err)
	}
	must(t, s.PutStack(AppliedStack{Stack: "web", Spec: []byte("x")}))
	if _, err := s.GetStack("web"); err != nil {
		t.Errorf("fresh store: GetStack: %v", err)
	}
}

func TestMoveAsideNeverOverwrites(t *testing.T) {
	path := tempPath(t)
	taken := path + ".corrupt-20250304T040607Z"
	for _, p := range []string{path, taken} {
		if err := os.WriteFile(p, []byte("garbage: "+p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, rec, err := OpenOrRecover(path, Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rec.MovedTo != taken+"-1" {
		t.Errorf("MovedTo = %q, want %q", rec.MovedTo, taken+"-1")
	}
	if b, _ := os.ReadFile(taken); !strings.HasSuffix(string(b), taken) {
		t.Errorf("the earlier moved-aside file was overwritten")
	}
}

func TestHealthyStoreNotRecovered(t *testing.T) {
	path := tempPath(t)
	validStore(t, path)
	s, rec, err := OpenOrRecover(path, Options{})
	if err != nil || rec.Recovered() {
		t.Fatalf("OpenOrRecover on a healthy store: rec = %+v, err = %v", rec, err)
	}
	defer s.Close()
	if stacks, _ := s.Stacks(); len(stacks) != 40 {
		t.Errorf("healthy store lost stacks: %d left", len(stacks))
	}
	assertOnlyFile(t, path)
}
