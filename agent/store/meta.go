package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SetMeta sets one meta value; "" unsets it. It writes only when the value
// changes and reports whether it did, so that a no-change poll costs no
// write and the caller can log changes, not ticks.
func (s *Store) SetMeta(key MetaKey, value string) (bool, error) {
	if !key.valid() {
		return false, fmt.Errorf("set meta %q: unknown key: %w", key, ErrInvalid)
	}
	o := putOp(bucketMeta, []byte(key), []byte(value))
	if value == "" {
		o = delOp(bucketMeta, []byte(key))
	}
	changed, err := s.apply(o)
	if err != nil {
		return false, fmt.Errorf("set meta %s: %w", key, err)
	}
	return changed, nil
}

// SetLastSync records the time of the last completed sync (UTC).
func (s *Store) SetLastSync(t time.Time) (bool, error) {
	return s.SetMeta(MetaLastSync, formatTime(t))
}

// MetaValue returns one meta value, "" when unset.
func (s *Store) MetaValue(key MetaKey) (string, error) {
	var v string
	err := s.view(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		v = string(b.Get([]byte(key)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("get meta %s: %w", key, err)
	}
	return v, nil
}

// Meta returns every meta value. A last_sync that does not parse is
// reported as damaged and read as the zero time.
func (s *Store) Meta() (Meta, error) {
	var m Meta
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		m, err = s.readMeta(tx)
		return err
	})
	if err != nil {
		return Meta{}, fmt.Errorf("get meta: %w", err)
	}
	return m, nil
}

func (s *Store) readMeta(tx *bolt.Tx) (Meta, error) {
	b, err := bucket(tx, bucketMeta)
	if err != nil {
		return Meta{}, err
	}
	m := Meta{
		WantedRevision:  string(b.Get([]byte(MetaWantedRevision))),
		AppliedRevision: string(b.Get([]byte(MetaAppliedRevision))),
	}
	if v := b.Get([]byte(MetaLastSync)); v != nil {
		t, err := time.Parse(time.RFC3339Nano, string(v))
		if err != nil {
			s.noteDamaged(bucketMeta, []byte(MetaLastSync), err)
		}
		m.LastSync = t
	}
	return m, nil
}

// scanMeta notes a damaged meta value at Open.
func (s *Store) scanMeta(tx *bolt.Tx) error {
	_, err := s.readMeta(tx)
	return err
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
