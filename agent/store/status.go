package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Status is what `skiff status` needs from the store, read in one
// transaction so that its parts agree.
type Status struct {
	Meta Meta
	// Last is the newest revision seen, nil when none.
	Last *Revision
	// Stacks are the applied stacks, sorted by name, without their Spec.
	Stacks []AppliedStack
	// Failed is stack → the spec not retried until a commit changes it.
	Failed map[string]Failed
}

// Status reads the status data: meta, the newest revision, the stacks
// (without their specs) and the failed revisions.
func (s *Store) Status() (Status, error) {
	var st Status
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if st.Meta, err = s.readMeta(tx); err != nil {
			return err
		}
		last, err := s.revisions(tx, 1)
		if err != nil {
			return err
		}
		if len(last) == 1 {
			st.Last = &last[0]
		}
		if st.Stacks, err = s.stacks(tx, false); err != nil {
			return err
		}
		st.Failed, err = s.failedSpecs(tx)
		return err
	})
	if err != nil {
		return Status{}, fmt.Errorf("read status: %w", err)
	}
	return st, nil
}
