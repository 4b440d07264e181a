package store

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Damaged is a record that does not decode. It is skipped by every list and
// reported here and in the log, never a reason not to start; writing the key
// again replaces it.
type Damaged struct {
	Bucket string
	Key    string
	Error  string
}

// Damaged returns the damaged records found since Open (Open reads every
// record once), sorted by bucket and key.
func (s *Store) Damaged() []Damaged {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Damaged, 0, len(s.damaged))
	for _, d := range s.damaged {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Damaged) int {
		return cmp.Or(cmp.Compare(a.Bucket, b.Bucket), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// noteDamaged remembers a damaged record and logs it the first time.
func (s *Store) noteDamaged(bucket string, key []byte, err error) {
	d := Damaged{Bucket: bucket, Key: keyString(bucket, key), Error: err.Error()}
	id := d.Bucket + "/" + d.Key
	s.mu.Lock()
	_, seen := s.damaged[id]
	s.damaged[id] = d
	s.mu.Unlock()
	if !seen {
		s.log.Warn("store: damaged record skipped", "bucket", d.Bucket, "key", d.Key, "error", err)
	}
}

// keyString shows sequence keys as numbers, every other key as text.
func keyString(bucket string, key []byte) string {
	if bucket == bucketRevisions || bucket == bucketEvents {
		return strconv.FormatUint(seqOf(key), 10)
	}
	return string(key)
}

// decode unmarshals one record into dst. A record that does not decode is
// noted as damaged and returned as ErrDamaged.
func (s *Store) decode(bucket string, key, val []byte, dst any) error {
	if err := json.Unmarshal(val, dst); err != nil {
		s.noteDamaged(bucket, key, err)
		return fmt.Errorf("%s/%s: %w: %w", bucket, keyString(bucket, key), ErrDamaged, err)
	}
	return nil
}

// recordBuckets are the buckets of JSON records, with a new value of each.
func recordBuckets() map[string]func() any {
	return map[string]func() any{
		bucketRevisions:  func() any { return new(Revision) },
		bucketStacks:     func() any { return new(AppliedStack) },
		bucketImages:     func() any { return new(Image) },
		bucketRegistries: func() any { return new(RegistryStats) },
		bucketEvents:     func() any { return new(Event) },
		bucketFailed:     func() any { return new(Failed) },
	}
}

// scanDamaged decodes every record once so that damage is known, logged and
// reportable from the start rather than when a list first meets it.
func (s *Store) scanDamaged() error {
	return s.view(func(tx *bolt.Tx) error {
		for name, newRecord := range recordBuckets() {
			b, err := bucket(tx, name)
			if err != nil {
				return err
			}
			err = b.ForEach(func(k, v []byte) error {
				if err := s.decode(name, k, v, newRecord()); !errors.Is(err, ErrDamaged) {
					return err
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return s.scanMeta(tx)
	})
}
