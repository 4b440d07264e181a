package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// migrationTests holds one test per step of schemaMigrations: it gets a
// file at the previous version, the step applied, and checks the result.
// TestEveryMigrationHasATest keeps the two tables in step.
func migrationTests() map[uint64]func(t *testing.T, tx *bolt.Tx) {
	return map[uint64]func(t *testing.T, tx *bolt.Tx){
		1: func(t *testing.T, tx *bolt.Tx) {
			for _, name := range v1Buckets() {
				if tx.Bucket([]byte(name)) == nil {
					t.Errorf("bucket %s missing", name)
				}
			}
		},
		2: func(t *testing.T, tx *bolt.Tx) {
			if tx.Bucket([]byte(bucketFailed)) == nil {
				t.Errorf("bucket %s missing", bucketFailed)
			}
		},
	}
}

// TestMigrationFailedAsRecords migrates a version 1 failed record, plain
// text, into a Failed record without a digest, and leaves a record
// already migrated alone.
func TestMigrationFailedAsRecords(t *testing.T) {
	s := rawStore(t)
	steps := schemaMigrations()
	must(t, s.migrate(steps[:1]))
	_, err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketFailed))
		if err := b.Put([]byte("web"), []byte("c0ffee")); err != nil {
			return err
		}
		return b.Put([]byte("db"), []byte(`{"commit":"d00d","digest":"v1-x"}`))
	})
	must(t, err)
	must(t, s.migrate(steps))
	got, err := s.FailedSpecs()
	must(t, err)
	want := map[string]Failed{"web": {Commit: "c0ffee"}, "db": {Commit: "d00d", Digest: "v1-x"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("failed specs %v, want %v", got, want)
	}
	assertVersion(t, s, 2)
}

func TestEveryMigrationHasATest(t *testing.T) {
	steps := schemaMigrations()
	if err := checkMigrations(steps); err != nil {
		t.Fatal(err)
	}
	if last := steps[len(steps)-1].version; last != SchemaVersion {
		t.Errorf("last migration is version %d, SchemaVersion is %d", last, SchemaVersion)
	}
	tests := migrationTests()
	for _, m := range steps {
		if tests[m.version] == nil {
			t.Errorf("migration %d (%s) has no test in migrationTests", m.version, m.name)
		}
	}
}

func TestMigrations(t *testing.T) {
	steps := schemaMigrations()
	for i, m := range steps {
		t.Run(fmt.Sprintf("%d %s", m.version, m.name), func(t *testing.T) {
			s := rawStore(t)
			must(t, s.migrate(steps[:i+1]))
			must(t, s.view(func(tx *bolt.Tx) error {
				migrationTests()[m.version](t, tx)
				return nil
			}))
			assertVersion(t, s, m.version)
		})
	}
}

// rawStore is a Store over a new bbolt file that no migration has touched.
func rawStore(t *testing.T) *Store {
	t.Helper()
	db, err := bolt.Open(tempPath(t), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{}.withDefaults()
	s := &Store{db: db, opts: opts, log: opts.Logger, damaged: map[string]Damaged{}}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func assertVersion(t *testing.T, s *Store, want uint64) {
	t.Helper()
	var got uint64
	must(t, s.view(func(tx *bolt.Tx) error {
		var err error
		got, err = readVersion(tx)
		return err
	}))
	if got != want {
		t.Errorf("schema version = %d, want %d", got, want)
	}
}

// fakeSteps is a migration table of three steps that record their runs;
// the step numbered fail returns an error after writing.
func fakeSteps(ran *[]uint64, fail uint64) []migration {
	var steps []migration
	for v := uint64(1); v <= 3; v++ {
		steps = append(steps, migration{version: v, name: fmt.Sprint("step ", v), apply: func(tx *bolt.Tx) error {
			*ran = append(*ran, v)
			b, err := tx.CreateBucketIfNotExists([]byte("fake"))
			if err == nil {
				err = b.Put([]byte(fmt.Sprint(v)), []byte("done"))
			}
			if err == nil && v == fail {
				err = errors.New("boom")
			}
			return err
		}})
	}
	return steps
}

func TestMigrateFramework(t *testing.T) {
	tests := []struct {
		name        string
		from        int // steps already applied (0: a new file)
		upTo        int // steps known to the code
		fail        uint64
		wantRan     []uint64
		wantVersion uint64
		wantErr     error
		wantWrites  uint64
	}{
		{name: "new file runs every step", upTo: 3, wantRan: []uint64{1, 2, 3}, wantVersion: 3, wantWrites: 1},
		{name: "older file runs the pending steps in order", from: 1, upTo: 3, wantRan: []uint64{2, 3}, wantVersion: 3, wantWrites: 1},
		{name: "up to date runs nothing and writes nothing", from: 3, upTo: 3, wantVersion: 3},
		{name: "newer file is refused", from: 3, upTo: 2, wantVersion: 3, wantErr: ErrNewerSchema},
		{name: "failed step rolls every step back", from: 1, upTo: 3, fail: 3, wantRan: []uint64{2, 3}, wantVersion: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rawStore(t)
			var ran []uint64
			if tt.from > 0 {
				must(t, s.migrate(fakeSteps(&ran, 0)[:tt.from]))
			}
			ran, writes := nil, s.Writes()
			err := s.migrate(fakeSteps(&ran, tt.fail)[:tt.upTo])
			switch {
			case tt.fail != 0:
				if err == nil || !strings.Contains(err.Error(), "migrate store to version 3 (step 3): boom") {
					t.Errorf("err = %v, want the failed step named", err)
				}
			case !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(ran, tt.wantRan) {
				t.Errorf("ran %v, want %v", ran, tt.wantRan)
			}
			if got := s.Writes() - writes; got != tt.wantWrites {
				t.Errorf("%d write transactions, want %d", got, tt.wantWrites)
			}
			assertVersion(t, s, tt.wantVersion)
			assertFakeKeys(t, s, tt.wantVersion)
		})
	}
}

// assertFakeKeys checks that exactly the steps up to version left their key.
func assertFakeKeys(t *testing.T, s *Store, version uint64) {
	t.Helper()
	must(t, s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("fake"))
		for v := uint64(1); v <= 3; v++ {
			has := b != nil && b.Get([]byte(fmt.Sprint(v))) != nil
			if has != (v <= version) {
				t.Errorf("key of step %d present = %v at version %d", v, has, version)
			}
		}
		return nil
	}))
}

func TestCheckMigrations(t *testing.T) {
	noop := func(*bolt.Tx) error { return nil }
	tests := map[string][]migration{
		"empty":              nil,
		"starts at 0":        {{version: 0, apply: noop}},
		"out of order":       {{version: 2, apply: noop}, {version: 1, apply: noop}},
		"duplicate":          {{version: 1, apply: noop}, {version: 1, apply: noop}},
		"step without apply": {{version: 1}},
	}
	for name, steps := range tests {
		if err := checkMigrations(steps); err == nil {
			t.Errorf("%s: checkMigrations accepted it", name)
		}
	}
}
