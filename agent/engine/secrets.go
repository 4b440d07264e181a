package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/skiffops/skiff/internal/durable"
	"github.com/skiffops/skiff/internal/sopsfile"
	"github.com/skiffops/skiff/manifests"
)

// Repository files encrypted with SOPS (manifests.File.Sops) are copied to
// the file store encrypted, like any repository file: that copy survives
// reboots and checkout removals, and is what the node decrypts. The
// plaintext is written only under the secrets directory (the runtime
// directory, tmpfs under systemd), readable by the agent's user alone, and
// containers mount it from there, read-only:
//
//	<dir>/<sha256 hex of the ciphertext>/<base name>      0400
//	<dir>/<hex>-<uid>-<gid>-<perm>/<base name>           a secret or config
//	                                                      with the owner and
//	                                                      mode it asks for
//
// The directories are 0700. A plaintext copy is decrypted again from the
// encrypted copy at every use and rewritten (atomically) only when it
// differs; a copy that is gone (the runtime directory is emptied at every
// boot) is decrypted again before a container that mounts it starts. The
// values of encrypted dotenv files never reach a file: they go from the
// decrypter to the container's environment.

// Decrypter decrypts SOPS files with the node's identities (agent/secrets).
type Decrypter interface {
	Decrypt(data []byte, format string) (*sopsfile.Plaintext, error)
}

// ErrNoDecrypter says that a stack uses encrypted files and the engine has
// no identities or no secrets directory to decrypt them into.
var ErrNoDecrypter = errors.New("the node cannot decrypt SOPS files: set secrets.age_identity_file (and secrets.runtime_dir)")

// tmpfsMagic and ramfsMagic are the statfs types of memory file systems.
const (
	tmpfsMagic = 0x01021994
	ramfsMagic = 0x858458f6
)

// secretStore keeps the plaintext copies under dir.
type secretStore struct {
	dir string
	dec Decrypter
	log *slog.Logger
	// checkFS warns, once, before the first plaintext is written to a
	// directory that is not in memory.
	checkFS sync.Once
}

func newSecretStore(dir string, dec Decrypter, log *slog.Logger) *secretStore {
	if dir == "" || dec == nil {
		return nil
	}
	return &secretStore{dir: dir, dec: dec, log: log}
}

// onMemoryFS reports whether dir (or, before it exists, its nearest
// parent) is on tmpfs or ramfs.
func onMemoryFS(dir string) bool {
	for p := dir; ; p = filepath.Dir(p) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err == nil {
			return st.Type == tmpfsMagic || st.Type == ramfsMagic
		}
		if p == filepath.Dir(p) {
			return false
		}
	}
}

// secretSpec is what a plaintext copy must be.
type secretSpec struct {
	hex      string // sha256 of the ciphertext
	base     string
	format   string
	uid, gid int // -1: the agent's
	perm     fs.FileMode
	key      string // the directory name under dir
}

func plainSecret(hex, base, format string) secretSpec {
	return secretSpec{hex: hex, base: base, format: format, uid: -1, gid: -1, perm: 0o400, key: hex}
}

func (v fileVariant) secret(base, format string) secretSpec {
	perm := fs.FileMode(0o400)
	if v.hasMode {
		perm = v.mode
	}
	return secretSpec{hex: v.digest, base: base, format: format, uid: v.uid, gid: v.gid, perm: perm,
		key: variantKeyDir(v.digest, v.ref.UID, v.ref.GID, perm)}
}

func (s *secretStore) path(c secretSpec) string {
	return filepath.Join(s.dir, c.key, c.base)
}

// materializeSecrets decrypts the SOPS files of a stack from their
// encrypted copies (files, from materializeStack): the files containers
// mount are written under the secrets directory and files is pointed at
// them; the values of dotenv files are returned by placeholder. The caller
// holds the file store's lock shared.
func (e *Engine) materializeSecrets(st *manifests.Stack, files map[string]string) (map[string]string, error) {
	var sopsFiles []manifests.File
	for _, f := range st.Files {
		if f.Sops != "" && !f.Dir {
			sopsFiles = append(sopsFiles, f)
		}
	}
	if len(sopsFiles) == 0 {
		return nil, nil
	}
	if e.secrets == nil {
		return nil, fmt.Errorf("stack %s uses %s: %w", st.Name, sopsFiles[0].Rel, ErrNoDecrypter)
	}
	mounted := mountedRepoFiles(st)
	variants, err := sopsVariants(st)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, f := range sopsFiles {
		p, err := e.secrets.decrypt(f, files[f.Path])
		if err != nil {
			return nil, fmt.Errorf("repository file %s: %w", f.Rel, err)
		}
		rel, _ := filepath.Rel(st.Dir, f.Path)
		for _, kv := range p.Env {
			env[manifests.SecretRef{File: filepath.ToSlash(rel), Key: kv.Key}.Placeholder()] = kv.Value
		}
		hex, _ := digestHex(f.Digest)
		base := filepath.Base(f.Path)
		if mounted[f.Path] {
			c := plainSecret(hex, base, f.Sops)
			if files[f.Path], err = e.secrets.write(c, p.Data); err != nil {
				return nil, fmt.Errorf("repository file %s: %w", f.Rel, err)
			}
		}
		for _, v := range variants {
			if v.file != f.Path {
				continue
			}
			dest, err := e.secrets.write(v.secret(base, f.Sops), p.Data)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", v.where, f.Rel, err)
			}
			files[variantKey(v.file, v.ref)] = dest
		}
	}
	return env, nil
}

// decrypt decrypts the encrypted copy of f.
func (s *secretStore) decrypt(f manifests.File, copied string) (*sopsfile.Plaintext, error) {
	if copied == "" {
		return nil, errors.New("no encrypted copy under the state directory")
	}
	data, err := os.ReadFile(copied)
	if err != nil {
		return nil, err
	}
	p, err := s.dec.Decrypt(data, f.Sops)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return p, nil
}

// mountedRepoFiles lists the checkout paths a stack mounts: bind sources,
// and the files of the secrets and configs its services use.
func mountedRepoFiles(st *manifests.Stack) map[string]bool {
	out := map[string]bool{}
	for _, name := range st.Project.ServiceNames() {
		b := &specBuilder{req: specRequest{Stack: st}, svc: st.Project.Services[name]}
		for _, v := range b.svc.Volumes {
			out[v.Source] = true
		}
		for _, o := range b.fileObjectList() {
			if !hasOwnerOrMode(o.ref) {
				out[o.file] = true
			}
		}
	}
	return out
}

// write makes the plaintext copy c hold data: reused when it already
// does, else written beside it and renamed into place.
func (s *secretStore) write(c secretSpec, data []byte) (string, error) {
	dest := s.path(c)
	if verifySecret(dest, c, data) == nil {
		return dest, nil
	}
	if err := mkdirPrivate(s.dir); err != nil {
		return "", err
	}
	s.checkFS.Do(func() {
		if !onMemoryFS(s.dir) {
			s.log.Warn("the secrets directory is not on tmpfs: decrypted files are written to disk", "dir", s.dir)
		}
	})
	dir := filepath.Dir(dest)
	if err := mkdirPrivate(dir); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", err
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if c.uid >= 0 || c.gid >= 0 {
		if err := tmp.Chown(c.uid, c.gid); err != nil {
			return fail(err)
		}
	}
	if err := tmp.Chmod(c.perm); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return dest, durable.Sync(dir)
}

// mkdirPrivate makes dir, or makes it private: 0700, not a symlink.
func mkdirPrivate(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
				return err
			}
			return mkdirPrivate(dir)
		}
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// verifySecret checks a plaintext copy against what it must hold.
func verifySecret(dest string, c secretSpec, data []byte) error {
	fi, err := os.Lstat(dest)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != c.perm {
		return fmt.Errorf("%s: mode %s, want %04o", dest, fi.Mode(), c.perm)
	}
	uid, gid := c.uid, c.gid
	if uid < 0 {
		uid = os.Geteuid()
	}
	if gid < 0 {
		gid = os.Getegid()
	}
	if err := checkOwner(fi, uid, gid); err != nil {
		return err
	}
	got, err := os.ReadFile(dest)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("%s: content differs", dest)
	}
	return nil
}

// parseSecretKey reads a plaintext copy's directory name: <hex>, or
// <hex>-<uid>-<gid>-<perm>.
func parseSecretKey(key string) (c secretSpec, ok bool) {
	parts := strings.Split(key, "-")
	c = secretSpec{hex: parts[0], uid: -1, gid: -1, perm: 0o400, key: key}
	if !isHex64(c.hex) {
		return c, false
	}
	switch len(parts) {
	case 1:
		return c, true
	case 4:
		for i, dst := range []*int{&c.uid, &c.gid} {
			if parts[i+1] == "" {
				continue
			}
			n, err := strconv.Atoi(parts[i+1])
			if err != nil || n < 0 {
				return c, false
			}
			*dst = n
		}
		perm, err := strconv.ParseUint(parts[3], 8, 32)
		if err != nil || perm > 0o777 {
			return c, false
		}
		c.perm = fs.FileMode(perm)
		return c, true
	}
	return c, false
}
