package store

import (
	"errors"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestDamagedRecordSkipped: one record of a bucket is not JSON any more.
// The store still opens (nothing is moved aside), the record is reported and
// logged, lists skip it, a get says ErrDamaged, and writing it again heals it.
func TestDamagedRecordSkipped(t *testing.T) {
	tests := []struct {
		bucket  string
		key     []byte
		wantKey string
		count   func(s *Store) (int, error)
		get     func(s *Store) error // nil: no single get
		heal    func(s *Store) error
	}{
		{bucketStacks, []byte("bad"), "bad",
			func(s *Store) (int, error) { l, err := s.Stacks(); return len(l), err },
			func(s *Store) error { _, err := s.GetStack("bad"); return err },
			func(s *Store) error { return s.PutStack(AppliedStack{Stack: "bad"}) }},
		{bucketSpecs, []byte("bad"), "bad", // record fine, spec gone
			func(s *Store) (int, error) { l, err := s.Stacks(); return len(l), err },
			func(s *Store) error { _, err := s.GetStack("bad"); return err },
			func(s *Store) error { return s.PutStack(AppliedStack{Stack: "bad"}) }},
		{bucketRevisions, seqKey(1), "1",
			func(s *Store) (int, error) { l, err := s.Revisions(0); return len(l), err },
			func(s *Store) error { _, err := s.GetRevision("bad"); return err },
			nil},
		{bucketImages, []byte("bad"), "bad",
			func(s *Store) (int, error) { l, err := s.Images(); return len(l), err },
			func(s *Store) error { _, err := s.GetImage("bad"); return err },
			func(s *Store) error { return s.PutImage("bad", Image{}) }},
		{bucketRegistries, []byte("bad"), "bad",
			func(s *Store) (int, error) { l, err := s.Registries(); return len(l), err },
			nil,
			func(s *Store) error { return s.PutRegistry("bad", RegistryStats{}) }},
		{bucketEvents, seqKey(1), "1",
			func(s *Store) (int, error) { l, err := s.Events(0); return len(l), err },
			nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.bucket, func(t *testing.T) {
			path := tempPath(t)
			seedTwo(t, path)
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte(tt.bucket))
				if tt.bucket == bucketSpecs {
					return b.Delete(tt.key)
				}
				if b.Get(tt.key) == nil {
					t.Fatalf("seed has no %s/%x", tt.bucket, tt.key)
				}
				return b.Put(tt.key, []byte(`{"not json`))
			})

			var logs logBuffer
			s, rec, err := OpenOrRecover(path, Options{Logger: logs.logger()})
			if err != nil || rec.Recovered() {
				t.Fatalf("OpenOrRecover: rec = %+v, err = %v; want the store, nothing moved", rec, err)
			}
			t.Cleanup(func() { _ = s.Close() })
			assertDamaged(t, s, &logs, tt.bucket, tt.wantKey, tt.count, tt.get)
			if tt.heal != nil {
				must(t, tt.heal(s))
				if n, _ := tt.count(s); n != 2 {
					t.Errorf("after writing the record again: %d records, want 2", n)
				}
			}
		})
	}
}

func assertDamaged(t *testing.T, s *Store, logs *logBuffer, bucket, key string,
	count func(*Store) (int, error), get func(*Store) error) {
	t.Helper()
	if n, err := count(s); err != nil || n != 1 {
		t.Errorf("list: %d records, err %v; want the 1 good one", n, err)
	}
	if get != nil {
		if err := get(s); !errors.Is(err, ErrDamaged) {
			t.Errorf("get: err = %v, want ErrDamaged", err)
		}
	}
	d := s.Damaged()
	if len(d) != 1 || d[0].Bucket != bucket || d[0].Key != key || d[0].Error == "" {
		t.Errorf("Damaged() = %+v, want %s/%s", d, bucket, key)
	}
	if out := logs.String(); strings.Count(out, "damaged record skipped") != 1 || !strings.Contains(out, "level=WARN") {
		t.Errorf("log = %q, want one warning", out)
	}
}

// seedTwo writes two records into every record bucket: the first of each
// (key "bad", or sequence 1) is the one the test damages.
func seedTwo(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{"bad", "good"} {
		must(t, s.PutStack(AppliedStack{Stack: name, Spec: []byte(name)}))
		must(t, s.PutRevision(Revision{Commit: name, Outcome: OutcomeApplied}))
		must(t, s.PutImage(name, Image{Digest: "sha256:" + name}))
		must(t, s.PutRegistry(name, RegistryStats{Samples: 1}))
		must(t, s.AppendEvent(Event{Kind: "k", Message: name}))
	}
}

func TestDamagedMetaTime(t *testing.T) {
	path := tempPath(t)
	openAt(t, path, Options{}).Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(MetaLastSync), []byte("yesterday"))
	})
	s := openAt(t, path, Options{})
	m, err := s.Meta()
	if err != nil || !m.LastSync.IsZero() {
		t.Errorf("Meta() = %+v, %v; want a zero LastSync", m, err)
	}
	if d := s.Damaged(); len(d) != 1 || d[0].Key != string(MetaLastSync) {
		t.Errorf("Damaged() = %+v", d)
	}
}
