package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// AppendEvent records an event as the newest and drops those past
// Options.EventLimit in the same transaction. Every call writes: record
// events, not ticks.
func (s *Store) AppendEvent(e Event) error {
	val, err := encode("event", e)
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	_, err = s.update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketEvents)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(seq), val); err != nil {
			return err
		}
		return pruneSeq(b, seq, s.opts.EventLimit, nil)
	})
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	return nil
}

// Events returns up to limit events, newest first (limit <= 0: all kept).
// Events that do not decode are skipped and reported (Damaged).
func (s *Store) Events(limit int) ([]Event, error) {
	var out []Event
	err := s.view(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketEvents)
		if err != nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var e Event
			if err := s.decode(bucketEvents, k, v, &e); errors.Is(err, ErrDamaged) {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}
