package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiffops/skiff/internal/sopsfile"
	"github.com/skiffops/skiff/manifests"
)

// referencedSecrets lists the plaintext copies (<key>/<base>) that the
// stacks of keep mount.
func referencedSecrets(keep []*manifests.Stack) map[string]bool {
	refs := map[string]bool{}
	for _, st := range keep {
		if st == nil || st.Project == nil {
			continue
		}
		mounted := mountedRepoFiles(st)
		for _, f := range st.Files {
			if hex, err := digestHex(f.Digest); err == nil && f.Sops != "" && !f.Dir && mounted[f.Path] {
				refs[hex+"/"+filepath.Base(f.Path)] = true
			}
		}
		variants, _ := sopsVariants(st) // a stack refused here never ran
		for _, v := range variants {
			c := v.secret(filepath.Base(v.file), "")
			refs[c.key+"/"+c.base] = true
		}
	}
	return refs
}

// collect removes the plaintext copies that are neither referenced nor
// mounted, and leftovers of interrupted writes. The caller holds the file
// store's lock exclusively.
func (s *secretStore) collect(refs, mounted map[string]bool) (int, error) {
	return collectEach(s.dir, func(k os.DirEntry) (int, error) {
		return s.collectKey(k, refs, mounted)
	})
}

// collectKey collects one key directory: the copies neither referenced nor
// mounted, then the directory itself when nothing is kept in it.
func (s *secretStore) collectKey(k os.DirEntry, refs, mounted map[string]bool) (int, error) {
	dir := filepath.Join(s.dir, k.Name())
	if _, ours := parseSecretKey(k.Name()); !ours || !k.IsDir() {
		s.log.Warn("unknown entry in the secrets directory left alone", "path", dir)
		return 0, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	removed, kept := 0, 0
	var errs []error
	for _, e := range ents {
		entry := k.Name() + "/" + e.Name()
		if !strings.HasPrefix(e.Name(), ".tmp-") && (refs[entry] || mounted[entry]) {
			kept++
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if kept == 0 {
		errs = append(errs, os.Remove(dir))
	}
	return removed, errors.Join(errs...)
}

// restoreSecrets decrypts again the plaintext copies that container id
// mounts and that are gone (the runtime directory is emptied at boot), so
// that it can start. The encrypted copies are in the file store.
func (e *Engine) restoreSecrets(ctx context.Context, id string) error {
	if e.secrets == nil {
		return nil
	}
	info, err := e.inspect(ctx, id)
	if err != nil {
		return err
	}
	roots := []string{filepath.Clean(e.secrets.dir)}
	for _, m := range info.Mounts {
		entry, ok := copyEntryOf(roots, m.Source)
		if !ok {
			continue
		}
		if _, err := os.Lstat(m.Source); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := e.restoreSecret(entry); err != nil {
			return fmt.Errorf("decrypt %s again for %s: %w", m.Source, short(id), err)
		}
		e.log.Info("decrypted a mounted file again", "container", short(id), "path", m.Source)
	}
	return nil
}

// restoreSecret writes the plaintext copy <key>/<base> again from the
// encrypted copy of the same content.
func (e *Engine) restoreSecret(entry string) error {
	key, base, _ := strings.Cut(entry, "/")
	c, ok := parseSecretKey(key)
	if !ok {
		return fmt.Errorf("%s is not a name skiff writes", entry)
	}
	f, ok := sopsfile.Recognize(base)
	if !ok {
		return fmt.Errorf("%s is not the name of a SOPS file", base)
	}
	c.base, c.format = base, sopsfile.FormatName(f)
	copied, err := e.files.reuseAnyMode(filepath.Join(e.secrets.dir, entry), c.hex, base)
	if err != nil {
		return err
	}
	p, err := e.secrets.decrypt(manifests.File{Sops: c.format}, copied)
	if err != nil {
		return err
	}
	_, err = e.secrets.write(c, p.Data)
	return err
}
