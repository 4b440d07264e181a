package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// FileName is the name of the store's file under the agent's state directory.
const FileName = "skiff.db"

// Every bucket and key name of the file; doc.go draws them as a tree.
const (
	bucketSchema     = "schema"
	keySchemaVersion = "version"

	bucketMeta                  = "meta"
	MetaWantedRevision  MetaKey = "wanted_revision"
	MetaAppliedRevision MetaKey = "applied_revision"
	MetaLastSync        MetaKey = "last_sync"

	bucketRevisions     = "revisions"
	bucketRevisionIndex = "revision_index"
	bucketStacks        = "stacks"
	bucketSpecs         = "specs"
	bucketFailed        = "failed"
	bucketImages        = "images"
	bucketRegistries    = "registries"
	bucketEvents        = "events"
)

// MetaKey names one of the small values of the meta bucket.
type MetaKey string

func (k MetaKey) valid() bool {
	switch k {
	case MetaWantedRevision, MetaAppliedRevision, MetaLastSync:
		return true
	}
	return false
}

// SchemaVersion is the layout this code reads and writes: the version of the
// last step of schemaMigrations.
const SchemaVersion = 2

// migration is one step of the schema: apply turns a file at the previous
// step's version into one at version.
type migration struct {
	version uint64
	name    string
	apply   func(tx *bolt.Tx) error
}

// schemaMigrations is the ordered table of every step since the first
// release. Append a step (and its test in migrate_test.go) to change the
// layout; never edit a released one.
func schemaMigrations() []migration {
	return []migration{
		{version: 1, name: "create the buckets", apply: createBuckets(v1Buckets()...)},
		{version: 2, name: "failed records carry the digest of the failed spec", apply: failedAsRecords},
	}
}

// failedAsRecords turns version 1's failed/<stack> → commit (plain text)
// into a Failed record: a spec that failed is then known by its digest,
// and not retried by a commit that leaves the stack alone. Version 1
// records have no digest: the stack is retried once by the next commit.
func failedAsRecords(tx *bolt.Tx) error {
	b, err := bucket(tx, bucketFailed)
	if err != nil {
		return err
	}
	old := map[string][]byte{}
	err = b.ForEach(func(k, v []byte) error {
		if len(v) > 0 && v[0] != '{' {
			old[string(k)] = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, v := range old {
		val, err := json.Marshal(Failed{Commit: string(v)})
		if err != nil {
			return err
		}
		if err := b.Put([]byte(k), val); err != nil {
			return fmt.Errorf("rewrite failed/%s: %w", k, err)
		}
	}
	return nil
}

func v1Buckets() []string {
	return []string{
		bucketMeta, bucketRevisions, bucketRevisionIndex, bucketStacks,
		bucketSpecs, bucketFailed, bucketImages, bucketRegistries, bucketEvents,
	}
}

func createBuckets(names ...string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		for _, name := range names {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	}
}

// readVersion returns the schema version of the file, 0 for a file that has
// none yet (a new file).
func readVersion(tx *bolt.Tx) (uint64, error) {
	b := tx.Bucket([]byte(bucketSchema))
	if b == nil {
		return 0, nil
	}
	v := b.Get([]byte(keySchemaVersion))
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("schema version is %d bytes, want 8: %w", len(v), ErrCorrupt)
}

func writeVersion(tx *bolt.Tx, version uint64) error {
	b, err := tx.CreateBucketIfNotExists([]byte(bucketSchema))
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketSchema, err)
	}
	return b.Put([]byte(keySchemaVersion), binary.BigEndian.AppendUint64(nil, version))
}
