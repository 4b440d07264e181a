package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/skiffops/skiff/testenv"
)

// TestWritesOnAFullFileSystem puts the store on a small tmpfs and fills it:
// writes fail with ENOSPC, and fail whole (bbolt commits or does not), reads
// go on, and once space is back writes succeed again and the file opens and
// passes its consistency check with every committed record in it.
func TestWritesOnAFullFileSystem(t *testing.T) {
	fs := testenv.SmallFileSystem(t, 4<<20)
	path := filepath.Join(fs.Dir, FileName)
	s := openAt(t, path, Options{})
	must(t, s.PutStack(AppliedStack{Stack: "web", Revision: "c0", Spec: []byte("spec")}))
	must(t, fs.Fill())

	long := strings.Repeat("x", 2048)
	var committed []string
	var werr error
	for i := range 2000 {
		commit := fmt.Sprintf("c%04d", i)
		err := s.PutRevision(Revision{Commit: commit, Outcome: OutcomePending, Error: long})
		if err != nil {
			werr = err
			break
		}
		committed = append(committed, commit)
	}
	if werr == nil {
		t.Fatalf("%d revisions written on a full file system, no error", len(committed))
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Errorf("write on a full file system: %v, want ENOSPC", werr)
	}
	t.Logf("%d writes committed before the file system was full: %v", len(committed), werr)
	if st, err := s.GetStack("web"); err != nil || st.Revision != "c0" {
		t.Errorf("read on a full file system: %+v, %v", st, err)
	}

	must(t, fs.Free())
	must(t, s.PutRevision(Revision{Commit: "after", Outcome: OutcomeApplied}))
	must(t, s.Close())
	s2 := openAt(t, path, Options{})
	if len(s2.Damaged()) != 0 {
		t.Errorf("damaged records after a full file system: %v", s2.Damaged())
	}
	for _, c := range append(committed, "after") {
		if _, err := s2.GetRevision(c); err != nil {
			t.Errorf("revision %s committed before the fault: %v", c, err)
		}
	}
}
