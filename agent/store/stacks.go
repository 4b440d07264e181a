package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutStack records the applied state of a stack: its record and its Spec in
// one transaction. Writing what is already stored is skipped.
func (s *Store) PutStack(st AppliedStack) error {
	if st.Stack == "" {
		return fmt.Errorf("put stack: no name: %w", ErrInvalid)
	}
	val, err := encode("stack "+st.Stack, st)
	if err != nil {
		return fmt.Errorf("put stack: %w", err)
	}
	spec := st.Spec
	if spec == nil {
		spec = []byte{}
	}
	key := []byte(st.Stack)
	if _, err := s.apply(putOp(bucketStacks, key, val), putOp(bucketSpecs, key, spec)); err != nil {
		return fmt.Errorf("put stack %s: %w", st.Stack, err)
	}
	return nil
}

// GetStack returns the applied state of a stack, its Spec included:
// ErrNotFound when there is none, ErrDamaged when it does not decode.
func (s *Store) GetStack(name string) (AppliedStack, error) {
	var st AppliedStack
	err := s.view(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketStacks)
		if err != nil {
			return err
		}
		v := b.Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		st, err = s.readStack(tx, []byte(name), v, true)
		return err
	})
	if err != nil {
		return AppliedStack{}, fmt.Errorf("get stack %s: %w", name, err)
	}
	return st, nil
}

// Stacks returns the applied state of every stack, Specs included, sorted by
// name: what the agent reconciles at boot. Records that do not decode are
// skipped and reported (Damaged).
func (s *Store) Stacks() ([]AppliedStack, error) {
	var out []AppliedStack
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		out, err = s.stacks(tx, true)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list stacks: %w", err)
	}
	return out, nil
}

func (s *Store) stacks(tx *bolt.Tx, withSpec bool) ([]AppliedStack, error) {
	b, err := bucket(tx, bucketStacks)
	if err != nil {
		return nil, err
	}
	var out []AppliedStack
	err = b.ForEach(func(k, v []byte) error {
		st, err := s.readStack(tx, k, v, withSpec)
		switch {
		case errors.Is(err, ErrDamaged):
			return nil
		case err != nil:
			return err
		}
		out = append(out, st)
		return nil
	})
	return out, err
}

// readStack decodes a stack record and, when asked, copies its Spec out of
// the transaction. A record without its spec is damaged.
func (s *Store) readStack(tx *bolt.Tx, key, val []byte, withSpec bool) (AppliedStack, error) {
	var st AppliedStack
	if err := s.decode(bucketStacks, key, val, &st); err != nil {
		return AppliedStack{}, err
	}
	if !withSpec {
		return st, nil
	}
	specs, err := bucket(tx, bucketSpecs)
	if err != nil {
		return AppliedStack{}, err
	}
	spec := specs.Get(key)
	if spec == nil {
		err := errors.New("spec missing")
		s.noteDamaged(bucketSpecs, key, err)
		return AppliedStack{}, fmt.Errorf("%s/%s: %w: %w", bucketSpecs, key, ErrDamaged, err)
	}
	st.Spec = bytes.Clone(spec)
	return st, nil
}

// DeleteStack forgets everything recorded about a stack that no longer runs
// here: its applied state, its spec and its failed revision.
func (s *Store) DeleteStack(name string) error {
	key := []byte(name)
	_, err := s.apply(delOp(bucketStacks, key), delOp(bucketSpecs, key), delOp(bucketFailed, key))
	if err != nil {
		return fmt.Errorf("delete stack %s: %w", name, err)
	}
	return nil
}

// SetFailed records the spec that failed for stack, so that the agent does
// not retry it until a commit changes the stack. It reports whether it
// wrote.
func (s *Store) SetFailed(stack string, f Failed) (bool, error) {
	if stack == "" || f.Commit == "" {
		return false, fmt.Errorf("set failed spec of stack %q: stack and commit required: %w", stack, ErrInvalid)
	}
	val, err := encode("failed "+stack, f)
	if err != nil {
		return false, fmt.Errorf("set failed spec of stack %s: %w", stack, err)
	}
	changed, err := s.apply(putOp(bucketFailed, []byte(stack), val))
	if err != nil {
		return false, fmt.Errorf("set failed spec of stack %s: %w", stack, err)
	}
	return changed, nil
}

// ClearFailed forgets the failed spec of a stack (after a new one applied).
// It reports whether it wrote.
func (s *Store) ClearFailed(stack string) (bool, error) {
	changed, err := s.apply(delOp(bucketFailed, []byte(stack)))
	if err != nil {
		return false, fmt.Errorf("clear failed spec of stack %s: %w", stack, err)
	}
	return changed, nil
}

// FailedSpecs returns stack → failed spec for every stack that has one.
// Records that do not decode are skipped and reported (Damaged).
func (s *Store) FailedSpecs() (map[string]Failed, error) {
	out := map[string]Failed{}
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		out, err = s.failedSpecs(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list failed specs: %w", err)
	}
	return out, nil
}

func (s *Store) failedSpecs(tx *bolt.Tx) (map[string]Failed, error) {
	b, err := bucket(tx, bucketFailed)
	if err != nil {
		return nil, err
	}
	out := map[string]Failed{}
	err = b.ForEach(func(k, v []byte) error {
		var f Failed
		switch err := s.decode(bucketFailed, k, v, &f); {
		case errors.Is(err, ErrDamaged):
			return nil
		case err != nil:
			return err
		}
		out[string(k)] = f
		return nil
	})
	return out, err
}
