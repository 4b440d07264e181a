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

// materializeStack copies the repository files of a stack, then makes the
// copies its secrets and configs ask for with uid, gid or mode. The result
// maps checkout paths, and variantKey for those, to host paths: what
// specRequest.Files expects.
func materializeStack(filesDir string, st *manifests.Stack) (map[string]string, error) {
	files, err := materializeFiles(filesDir, st.Files)
	if err != nil {
		return nil, err
	}
	digests := make(map[string]string, len(st.Files))
	for _, f := range st.Files {
		digests[f.Path] = f.Digest
	}
	for _, name := range st.Project.ServiceNames() {
		b := &specBuilder{req: specRequest{Stack: st}, svc: st.Project.Services[name]}
		for _, o := range b.fileObjectList() {
			copied, ok := files[o.file]
			if !ok || !hasOwnerOrMode(o.ref) {
				continue
			}
			p, err := b.variant(filesDir, o, copied, digests[o.file])
			if err != nil {
				return nil, err
			}
			files[variantKey(o.file, o.ref)] = p
		}
	}
	return files, nil
}

// variantKey is the specRequest.Files key of a copy of the repository file
// at checkout path p with the owner and mode of a secret or config.
func variantKey(p string, r types.FileReferenceConfig) string {
	return p + "\x00" + r.UID + "\x00" + r.GID + "\x00" + modeString(r.Mode)
}

// variant copies a copied file again with the owner and mode of o.
func (b *specBuilder) variant(filesDir string, o fileObject, copied, digest string) (string, error) {
	c := fileCopy{perm: 0o444, uid: -1, gid: -1}
	for _, id := range []struct {
		key, val string
		dst      *int
	}{{"uid", o.ref.UID, &c.uid}, {"gid", o.ref.GID, &c.gid}} {
		if id.val == "" {
			continue
		}
		n, err := strconv.Atoi(id.val)
		if err != nil || n < 0 {
			return "", b.refuse(o.key+"."+id.key, "%q must be a numeric id: names are not resolved on the node", id.val)
		}
		*id.dst = n
	}
	if o.ref.Mode != nil {
		if *o.ref.Mode < 0 || *o.ref.Mode > 0o777 {
			return "", b.refuse(o.key+".mode", "%s is not a permission mode", modeString(o.ref.Mode))
		}
		c.perm = fs.FileMode(*o.ref.Mode)
	} else if fi, err := os.Stat(copied); err == nil {
		c.perm = fi.Mode().Perm()
	}
	m := sha256Digest.FindStringSubmatch(digest)
	if m == nil {
		return "", fmt.Errorf("%s: digest %q is not sha256:<hex>", o.file, digest)
	}
	c.digest = m[1]
	dir := fmt.Sprintf("%s-%s-%s-%s", m[1], o.ref.UID, o.ref.GID, modeString(o.ref.Mode))
	dest := filepath.Join(filesDir, dir, filepath.Base(copied))
	if err := copyFile(copied, dest, c); err != nil {
		return "", fmt.Errorf("services.%s.%s: copy %s: %w", b.svc.Name, o.key, o.file, err)
	}
	return dest, nil
}
