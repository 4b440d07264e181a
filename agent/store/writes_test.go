package store

import (
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// txID is bbolt's own transaction id: it moves only when a write commits,
// whatever the store's counter says.
func txID(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	must(t, s.view(func(tx *bolt.Tx) error { id = tx.ID(); return nil }))
	return id
}

// assertNoWrite runs fn and fails if it committed a write.
func assertNoWrite(t *testing.T, s *Store, what string, fn func() error) {
	t.Helper()
	w, id := s.Writes(), txID(t, s)
	if err := fn(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if s.Writes() != w || txID(t, s) != id {
		t.Errorf("%s wrote: Writes %d→%d, bbolt txid %d→%d", what, w, s.Writes(), id, txID(t, s))
	}
}

func fill(t *testing.T, s *Store) {
	t.Helper()
	must(t, s.PutRevision(fullRevision("c1")))
	must(t, s.PutStack(AppliedStack{Stack: "web", Revision: "c1", Spec: []byte("spec")}))
	must(t, s.PutImage("r/a:1", Image{Digest: "sha256:aa"}))
	must(t, s.PutRegistry("reg", RegistryStats{Samples: 3}))
	must(t, s.AppendEvent(Event{Kind: "k"}))
	if _, err := s.SetMeta(MetaWantedRevision, "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetFailed("web", Failed{Commit: "c0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetLastSync(t0); err != nil {
		t.Fatal(err)
	}
}

func TestReadsNeverWrite(t *testing.T) {
	s := openTemp(t)
	fill(t, s)
	reads := map[string]func() error{
		"Meta":        func() error { _, err := s.Meta(); return err },
		"MetaValue":   func() error { _, err := s.MetaValue(MetaLastSync); return err },
		"GetRevision": func() error { _, err := s.GetRevision("c1"); return err },
		"Revisions":   func() error { _, err := s.Revisions(0); return err },
		"GetStack":    func() error { _, err := s.GetStack("web"); return err },
		"Stacks":      func() error { _, err := s.Stacks(); return err },
		"FailedSpecs": func() error { _, err := s.FailedSpecs(); return err },
		"GetImage":    func() error { _, err := s.GetImage("r/a:1"); return err },
		"Images":      func() error { _, err := s.Images(); return err },
		"Registries":  func() error { _, err := s.Registries(); return err },
		"Events":      func() error { _, err := s.Events(0); return err },
		"Status":      func() error { _, err := s.Status(); return err },
		"Damaged":     func() error { s.Damaged(); return nil },
	}
	for name, read := range reads {
		assertNoWrite(t, s, name, read)
	}
}

func TestUnchangedWritesSkipped(t *testing.T) {
	s := openTemp(t)
	fill(t, s)
	same := map[string]func() error{
		"SetMeta":      func() error { return changedIs(s.SetMeta(MetaWantedRevision, "c1")) },
		"unset absent": func() error { return changedIs(s.SetMeta(MetaAppliedRevision, "")) },
		"PutRevision":  func() error { return s.PutRevision(fullRevision("c1")) },
		"PutStack":     func() error { return s.PutStack(AppliedStack{Stack: "web", Revision: "c1", Spec: []byte("spec")}) },
		"PutImage":     func() error { return s.PutImage("r/a:1", Image{Digest: "sha256:aa"}) },
		"PutRegistry":  func() error { return s.PutRegistry("reg", RegistryStats{Samples: 3}) },
		"SetFailed":    func() error { return changedIs(s.SetFailed("web", Failed{Commit: "c0"})) },
		"ClearFailed":  func() error { return changedIs(s.ClearFailed("db")) },
		"DeleteStack":  func() error { return s.DeleteStack("db") },
		"DeleteImage":  func() error { return s.DeleteImage("r/b:1") },
		"SetLastSync":  func() error { return changedIs(s.SetLastSync(t0.UTC())) },
	}
	for name, write := range same {
		assertNoWrite(t, s, name, write)
	}

	w := s.Writes()
	if changed, err := s.SetMeta(MetaWantedRevision, "c2"); !changed || err != nil {
		t.Fatalf("SetMeta to a new value = %v, %v; want true", changed, err)
	}
	if s.Writes() != w+1 {
		t.Errorf("a changed SetMeta counted %d writes, want 1", s.Writes()-w)
	}
}

// changedIs turns a (changed, err) pair into an error when it wrote.
func changedIs(changed bool, err error) error {
	if err == nil && changed {
		return errors.New("reported a write")
	}
	return err
}

func TestReopenWritesNothing(t *testing.T) {
	path := tempPath(t)
	s := openAt(t, path, Options{})
	if w := s.Writes(); w != 1 {
		t.Errorf("Writes() after creating = %d, want 1 (the migration)", w)
	}
	must(t, s.Close())
	s = openAt(t, path, Options{})
	if w := s.Writes(); w != 0 {
		t.Errorf("Writes() after reopening an up-to-date store = %d, want 0", w)
	}
}
