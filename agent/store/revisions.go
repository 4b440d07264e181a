package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutRevision records r as the newest revision seen. When the newest entry
// already has r.Commit, r replaces it (its outcome moved on); a commit seen
// again after another one (a force-push back) gets a new entry, so history is
// a timeline. Revisions past Options.HistoryLimit are pruned in the same
// transaction. Writing what is already stored is skipped.
func (s *Store) PutRevision(r Revision) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("put revision: %w", err)
	}
	val, err := encode("revision "+r.Commit, r)
	if err != nil {
		return fmt.Errorf("put revision: %w", err)
	}
	var held bool
	err = s.view(func(tx *bolt.Tx) error {
		rt, err := revisionBuckets(tx)
		if err != nil {
			return err
		}
		_, old, same := rt.newest(r.Commit)
		held = same && bytes.Equal(old, val)
		return nil
	})
	if err != nil || held {
		return wrapRevision("put", r.Commit, err)
	}
	_, err = s.update(func(tx *bolt.Tx) error { return s.putRevision(tx, r.Commit, val) })
	return wrapRevision("put", r.Commit, err)
}

// UpdateRevision replaces the newest entry of r.Commit with r, wherever it is
// in the history: the outcome of a revision that settles after a newer one
// was seen. A commit with no entry (never seen, or pruned) is put as the
// newest. Writing what is already stored is skipped.
func (s *Store) UpdateRevision(r Revision) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("update revision: %w", err)
	}
	val, err := encode("revision "+r.Commit, r)
	if err != nil {
		return fmt.Errorf("update revision: %w", err)
	}
	_, err = s.update(func(tx *bolt.Tx) error {
		rt, err := revisionBuckets(tx)
		if err != nil {
			return err
		}
		key := rt.idx.Get([]byte(r.Commit))
		old := rt.revs.Get(key)
		switch {
		case key == nil || old == nil:
			return s.putRevision(tx, r.Commit, val)
		case bytes.Equal(old, val):
			return errUnchanged
		}
		return rt.revs.Put(bytes.Clone(key), val)
	})
	return wrapRevision("update", r.Commit, err)
}

func wrapRevision(verb, commit string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s revision %s: %w", verb, commit, err)
}

// revisionTx is the two buckets of the history within one transaction.
type revisionTx struct {
	revs *bolt.Bucket // seq → Revision
	idx  *bolt.Bucket // commit → seq
}

func revisionBuckets(tx *bolt.Tx) (revisionTx, error) {
	revs, err := bucket(tx, bucketRevisions)
	if err != nil {
		return revisionTx{}, err
	}
	idx, err := bucket(tx, bucketRevisionIndex)
	if err != nil {
		return revisionTx{}, err
	}
	return revisionTx{revs: revs, idx: idx}, nil
}

// newest returns the newest entry, and whether it is commit's.
func (rt revisionTx) newest(commit string) (key, val []byte, same bool) {
	key, val = rt.revs.Cursor().Last()
	return key, val, key != nil && bytes.Equal(rt.idx.Get([]byte(commit)), key)
}

func (s *Store) putRevision(tx *bolt.Tx, commit string, val []byte) error {
	rt, err := revisionBuckets(tx)
	if err != nil {
		return err
	}
	key, old, same := rt.newest(commit)
	switch {
	case same && bytes.Equal(old, val):
		return errUnchanged
	case same:
		return rt.revs.Put(bytes.Clone(key), val)
	}
	seq, err := rt.revs.NextSequence()
	if err != nil {
		return err
	}
	if err := rt.revs.Put(seqKey(seq), val); err != nil {
		return err
	}
	if err := rt.idx.Put([]byte(commit), seqKey(seq)); err != nil {
		return err
	}
	return pruneSeq(rt.revs, seq, s.opts.HistoryLimit, func(k, v []byte) error {
		return unindexRevision(rt.idx, k, v)
	})
}

// unindexRevision drops the index entry of a pruned revision when it still
// points at it. A pruned record that does not decode leaves its entry, which
// then points at nothing and reads as not found.
func unindexRevision(idx *bolt.Bucket, k, v []byte) error {
	var r struct {
		Commit string `json:"commit"`
	}
	if json.Unmarshal(v, &r) != nil || r.Commit == "" {
		return nil
	}
	if bytes.Equal(idx.Get([]byte(r.Commit)), k) {
		return idx.Delete([]byte(r.Commit))
	}
	return nil
}

// GetRevision returns the newest entry for commit: ErrNotFound when there is
// none (never seen, or pruned), ErrDamaged when it does not decode.
func (s *Store) GetRevision(commit string) (Revision, error) {
	var r Revision
	err := s.view(func(tx *bolt.Tx) error {
		rt, err := revisionBuckets(tx)
		if err != nil {
			return err
		}
		key := rt.idx.Get([]byte(commit))
		if key == nil {
			return ErrNotFound
		}
		v := rt.revs.Get(key)
		if v == nil { // pruned while damaged: see unindexRevision
			return ErrNotFound
		}
		return s.decode(bucketRevisions, key, v, &r)
	})
	return r, wrapRevision("get", commit, err)
}

// Revisions returns up to limit revisions, newest first (limit <= 0: all
// kept). Entries that do not decode are skipped and reported (Damaged).
func (s *Store) Revisions(limit int) ([]Revision, error) {
	var out []Revision
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		out, err = s.revisions(tx, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list revisions: %w", err)
	}
	return out, nil
}

func (s *Store) revisions(tx *bolt.Tx, limit int) ([]Revision, error) {
	b, err := bucket(tx, bucketRevisions)
	if err != nil {
		return nil, err
	}
	var out []Revision
	c := b.Cursor()
	for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
		var r Revision
		if err := s.decode(bucketRevisions, k, v, &r); errors.Is(err, ErrDamaged) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
