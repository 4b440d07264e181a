package engine

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/mount"

	"github.com/skiffops/skiff/manifests"
)

// Secrets and configs come from files (manifests refuses the other
// sources). Without Swarm, compose bind-mounts the file read-only: secrets at
// /run/secrets/<target or name>, configs at /<target or name>. Compose
// ignores uid, gid and mode there with a warning; skiff honours them by
// mounting a copy with that owner and mode (see materializeStack).

const (
	secretsDir = "/run/secrets/"
	configsDir = "/"
)

// fileObject is one secrets: or configs: entry of a service.
type fileObject struct {
	key    string // services.<svc>.<key>, as secrets[0]
	ref    types.FileReferenceConfig
	file   string // the top-level definition's file
	target string // absolute target in the container
	secret bool
}

func (b *specBuilder) fileObjects(m *mountSet) error {
	for _, o := range b.fileObjectList() {
		if err := b.claim(m, o.key, o.target); err != nil {
			return err
		}
		if o.file == "" {
			return b.refuse(o.key, "%s has no file: (environment, content and external need Swarm)", o.ref.Source)
		}
		src, err := b.fileObjectSource(o)
		if err != nil {
			return err
		}
		mt := mount.Mount{Type: mount.TypeBind, Source: src, Target: o.target, ReadOnly: true}
		if o.secret {
			mt.BindOptions = &mount.BindOptions{} // compose: create_host_path false
		}
		m.mounts = append(m.mounts, mt)
	}
	return nil
}

// fileObjectList lists the service's secrets, then its configs, with their
// targets resolved as compose does.
func (b *specBuilder) fileObjectList() []fileObject {
	p := b.req.Stack.Project
	var out []fileObject
	for i, s := range b.svc.Secrets {
		o := fileObject{key: "secrets[" + strconv.Itoa(i) + "]", ref: types.FileReferenceConfig(s), secret: true}
		o.file = p.Secrets[s.Source].File
		o.target = objectTarget(secretsDir, s.Source, s.Target)
		out = append(out, o)
	}
	for i, c := range b.svc.Configs {
		o := fileObject{key: "configs[" + strconv.Itoa(i) + "]", ref: types.FileReferenceConfig(c)}
		o.file = p.Configs[c.Source].File
		o.target = objectTarget(configsDir, c.Source, c.Target)
		out = append(out, o)
	}
	return out
}

func objectTarget(dir, source, target string) string {
	switch {
	case target == "":
		return dir + source
	case strings.HasPrefix(target, "/"):
		return target
	}
	return dir + target
}

// fileObjectSource is the copy to mount: the plain copy of the repository
// file, or its variant with the owner and mode asked for.
func (b *specBuilder) fileObjectSource(o fileObject) (string, error) {
	src, fromRepo, err := b.hostSource(o.key, o.file)
	if err != nil || !hasOwnerOrMode(o.ref) {
		return src, err
	}
	if !fromRepo {
		return "", b.refuse(o.key, "uid, gid and mode need a file of the stack directory: %s is a node path, mounted as it is", o.file)
	}
	v, ok := b.req.Files[variantKey(o.file, o.ref)]
	if !ok {
		return "", b.refuse(o.key, "no copy of %s with uid %q, gid %q and mode %s under the state directory", o.file, o.ref.UID, o.ref.GID, modeString(o.ref.Mode))
	}
	return v, nil
}

func hasOwnerOrMode(r types.FileReferenceConfig) bool {
	return r.UID != "" || r.GID != "" || r.Mode != nil
}

func modeString(m *types.FileMode) string {
	if m == nil {
		return "unset"
	}
	return "0" + strconv.FormatInt(int64(*m), 8)
}

// materializeStack makes sure the repository files of a stack have
// verified copies, then the copies its secrets and configs ask for with uid,
// gid or mode (made from the plain copy, never from the checkout). The
// result maps checkout paths, and variantKey for those, to host paths: what
// specRequest.Files expects. The caller holds s.mu shared.
func (s *fileStore) materializeStack(st *manifests.Stack) (map[string]string, error) {
	files, err := s.materializeFiles(st.Files)
	if err != nil {
		return nil, err
	}
	variants, err := stackVariants(st)
	if err != nil {
		return nil, err
	}
	for _, v := range variants {
		copied, ok := files[v.file]
		if !ok {
			continue
		}
		p, err := s.variant(v, copied)
		if err != nil {
			return nil, err
		}
		files[variantKey(v.file, v.ref)] = p
	}
	return files, nil
}

// fileVariant is a copy of a repository file with the owner and mode of a
// secret or config.
type fileVariant struct {
	file     string // checkout path
	digest   string // sha256 hex
	ref      types.FileReferenceConfig
	uid, gid int         // -1: unchanged
	mode     fs.FileMode // when hasMode
	hasMode  bool
	where    string // services.<svc>.<key>, for errors
}

// stackVariants lists the copies the secrets and configs of a stack's
// services ask for with uid, gid or mode, refusing ids and modes that
// cannot be honoured. Encrypted files are left to sopsVariants: their
// variants hold the plaintext, under the secrets directory.
func stackVariants(st *manifests.Stack) ([]fileVariant, error) {
	return variantsOf(st, false)
}

// sopsVariants lists the variants of the encrypted files of a stack.
func sopsVariants(st *manifests.Stack) ([]fileVariant, error) {
	return variantsOf(st, true)
}

func variantsOf(st *manifests.Stack, sops bool) ([]fileVariant, error) {
	digests := make(map[string]string, len(st.Files))
	for _, f := range st.Files {
		if hex, err := digestHex(f.Digest); err == nil && !f.Dir && (f.Sops != "") == sops {
			digests[f.Path] = hex
		}
	}
	var out []fileVariant
	for _, name := range st.Project.ServiceNames() {
		b := &specBuilder{req: specRequest{Stack: st}, svc: st.Project.Services[name]}
		for _, o := range b.fileObjectList() {
			hex, ok := digests[o.file]
			if !ok || !hasOwnerOrMode(o.ref) {
				continue
			}
			v, err := b.fileVariant(o, hex)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func (b *specBuilder) fileVariant(o fileObject, hex string) (fileVariant, error) {
	v := fileVariant{file: o.file, digest: hex, ref: o.ref, uid: -1, gid: -1, where: "services." + b.svc.Name + "." + o.key}
	for _, id := range []struct {
		key, val string
		dst      *int
	}{{"uid", o.ref.UID, &v.uid}, {"gid", o.ref.GID, &v.gid}} {
		if id.val == "" {
			continue
		}
		n, err := strconv.Atoi(id.val)
		if err != nil || n < 0 {
			return fileVariant{}, b.refuse(o.key+"."+id.key, "%q must be a numeric id: names are not resolved on the node", id.val)
		}
		*id.dst = n
	}
	if o.ref.Mode != nil {
		if *o.ref.Mode < 0 || *o.ref.Mode > 0o777 {
			return fileVariant{}, b.refuse(o.key+".mode", "%s is not a permission mode", modeString(o.ref.Mode))
		}
		v.mode, v.hasMode = fs.FileMode(*o.ref.Mode), true
	}
	return v, nil
}

// variantKey is the specRequest.Files key of a copy of the repository file
// at checkout path p with the owner and mode of a secret or config.
func variantKey(p string, r types.FileReferenceConfig) string {
	return p + "\x00" + r.UID + "\x00" + r.GID + "\x00" + modeString(r.Mode)
}

// variant copies a verified plain copy again with the owner and mode of v;
// without a mode, it keeps the plain copy's.
func (s *fileStore) variant(v fileVariant, copied string) (string, error) {
	c := copySpec{digest: v.digest, perm: v.mode, uid: v.uid, gid: v.gid}
	if !v.hasMode {
		fi, err := os.Stat(copied)
		if err != nil {
			return "", fmt.Errorf("%s: %w", v.where, err)
		}
		c.perm = fi.Mode().Perm()
	}
	dest := filepath.Join(s.dir, variantKeyDir(v.digest, v.ref.UID, v.ref.GID, c.perm), filepath.Base(copied))
	if err := s.ensure(copied, dest, c); err != nil {
		return "", fmt.Errorf("%s: copy %s: %w", v.where, v.file, err)
	}
	return dest, nil
}
