package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutImage records what the node knows of an image, by canonical reference.
// Writing what is already stored is skipped.
func (s *Store) PutImage(ref string, img Image) error {
	return s.putRecord(bucketImages, "image", ref, img)
}

// GetImage returns an image record: ErrNotFound, ErrDamaged as GetStack.
func (s *Store) GetImage(ref string) (Image, error) {
	var img Image
	return img, s.getRecord(bucketImages, "image", ref, &img)
}

// Images returns canonical reference → image for every image recorded.
func (s *Store) Images() (map[string]Image, error) {
	return listRecords[Image](s, bucketImages, "images")
}

// DeleteImage forgets an image (removed from the node).
func (s *Store) DeleteImage(ref string) error {
	if _, err := s.apply(delOp(bucketImages, []byte(ref))); err != nil {
		return fmt.Errorf("delete image %s: %w", ref, err)
	}
	return nil
}

// PutRegistry records the latest measurement of a registry host. Writing
// what is already stored is skipped.
func (s *Store) PutRegistry(host string, r RegistryStats) error {
	return s.putRecord(bucketRegistries, "registry", host, r)
}

// Registries returns host → latest measurement for every registry measured.
func (s *Store) Registries() (map[string]RegistryStats, error) {
	return listRecords[RegistryStats](s, bucketRegistries, "registries")
}

// putRecord writes one keyed JSON record unless it is already stored.
func (s *Store) putRecord(bucket, what, key string, v any) error {
	if key == "" {
		return fmt.Errorf("put %s: empty key: %w", what, ErrInvalid)
	}
	val, err := encode(what+" "+key, v)
	if err == nil {
		_, err = s.apply(putOp(bucket, []byte(key), val))
	}
	if err != nil {
		return fmt.Errorf("put %s %s: %w", what, key, err)
	}
	return nil
}

// getRecord decodes one keyed JSON record into dst.
func (s *Store) getRecord(bucketName, what, key string, dst any) error {
	err := s.view(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketName)
		if err != nil {
			return err
		}
		v := b.Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		return s.decode(bucketName, []byte(key), v, dst)
	})
	if err != nil {
		return fmt.Errorf("get %s %s: %w", what, key, err)
	}
	return nil
}

// listRecords decodes every record of a keyed bucket, skipping (and
// reporting) the damaged ones.
func listRecords[T any](s *Store, bucketName, what string) (map[string]T, error) {
	out := map[string]T{}
	err := s.view(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketName)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var rec T
			if err := s.decode(bucketName, k, v, &rec); errors.Is(err, ErrDamaged) {
				return nil
			}
			out[string(k)] = rec
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	return out, nil
}
