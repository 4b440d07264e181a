package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// checkMigrations rejects a table whose versions do not strictly increase
// from 1: a programming error, caught by the tests.
func checkMigrations(steps []migration) error {
	if len(steps) == 0 {
		return errors.New("no schema migrations")
	}
	var prev uint64
	for _, m := range steps {
		if m.version <= prev || m.apply == nil {
			return fmt.Errorf("schema migration %d (%s) out of order or empty", m.version, m.name)
		}
		prev = m.version
	}
	return nil
}

// migrate brings the file to the last version of steps. An up-to-date file
// costs one read transaction and no write; pending steps run in order in one
// write transaction together with the new version, so that a failure or a
// crash leaves the file as it was. A file newer than steps is refused.
func (s *Store) migrate(steps []migration) error {
	if err := checkMigrations(steps); err != nil {
		return err
	}
	latest := steps[len(steps)-1].version
	var from uint64
	err := s.view(func(tx *bolt.Tx) error {
		v, err := readVersion(tx)
		from = v
		return err
	})
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if from > latest {
		return fmt.Errorf("schema version %d, this agent knows up to %d: %w", from, latest, ErrNewerSchema)
	}
	if from == latest {
		return nil
	}
	_, err = s.update(func(tx *bolt.Tx) error {
		return runMigrations(tx, steps, latest)
	})
	if err != nil {
		return err
	}
	s.log.Info("store schema migrated", "path", s.path, "from", from, "to", latest)
	return nil
}

func runMigrations(tx *bolt.Tx, steps []migration, latest uint64) error {
	from, err := readVersion(tx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if from > latest {
		return fmt.Errorf("schema version %d, this agent knows up to %d: %w", from, latest, ErrNewerSchema)
	}
	for _, m := range steps {
		if m.version <= from {
			continue
		}
		if err := m.apply(tx); err != nil {
			return fmt.Errorf("migrate store to version %d (%s): %w", m.version, m.name, err)
		}
	}
	return writeVersion(tx, latest)
}
