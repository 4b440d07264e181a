package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// op sets a key of a bucket to val, or deletes it when del is set.
type op struct {
	bucket string
	key    []byte
	val    []byte
	del    bool
}

func putOp(bucket string, key, val []byte) op { return op{bucket: bucket, key: key, val: val} }
func delOp(bucket string, key []byte) op      { return op{bucket: bucket, key: key, del: true} }

// holds reports whether the file already says what o would write.
func (o op) holds(tx *bolt.Tx) bool {
	b := tx.Bucket([]byte(o.bucket))
	if b == nil {
		return false
	}
	k, v := b.Cursor().Seek(o.key)
	present := k != nil && bytes.Equal(k, o.key)
	if o.del {
		return !present
	}
	return present && bytes.Equal(v, o.val)
}

func (o op) do(tx *bolt.Tx) error {
	b, err := bucket(tx, o.bucket)
	if err != nil {
		return err
	}
	if o.del {
		err = b.Delete(o.key)
	} else {
		err = b.Put(o.key, o.val)
	}
	if err != nil {
		return fmt.Errorf("write %s/%s: %w", o.bucket, o.key, err)
	}
	return nil
}

func allHold(tx *bolt.Tx, ops []op) bool {
	for _, o := range ops {
		if !o.holds(tx) {
			return false
		}
	}
	return true
}

// apply writes ops in one transaction, unless the file already holds them
// all: then it costs a read transaction and no write. It reports whether it
// wrote.
func (s *Store) apply(ops ...op) (bool, error) {
	var held bool
	if err := s.view(func(tx *bolt.Tx) error { held = allHold(tx, ops); return nil }); err != nil {
		return false, err
	}
	if held {
		return false, nil
	}
	return s.update(func(tx *bolt.Tx) error {
		if allHold(tx, ops) { // another writer got there first
			return errUnchanged
		}
		for _, o := range ops {
			if err := o.do(tx); err != nil {
				return err
			}
		}
		return nil
	})
}

// bucket returns a bucket that migrations create; its absence means the file
// is not what its schema version says.
func bucket(tx *bolt.Tx, name string) (*bolt.Bucket, error) {
	b := tx.Bucket([]byte(name))
	if b == nil {
		return nil, fmt.Errorf("bucket %s missing: %w", name, ErrCorrupt)
	}
	return b, nil
}

// seqKey encodes a sequence number so that byte order is numeric order.
func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func seqOf(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// pruneSeq deletes the entries of a sequence-keyed bucket older than the
// newest limit, newest being the sequence just written; each deleted value
// is handed to onDelete first (nil: nothing to do).
func pruneSeq(b *bolt.Bucket, newest uint64, limit int, onDelete func(k, v []byte) error) error {
	if newest <= uint64(limit) {
		return nil
	}
	oldestKept := newest - uint64(limit) + 1
	c := b.Cursor()
	for k, v := c.First(); k != nil && seqOf(k) < oldestKept; k, v = c.First() {
		if onDelete != nil {
			if err := onDelete(k, v); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	return nil
}

func encode(what string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, err)
	}
	return b, nil
}
