package engine

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/mount"

	"github.com/skiffops/skiff/reconcile"
)

// Mounts follow compose v2.40.3 on API 1.41: binds that may create their
// host path (and, for skiff, binds with selinux:) and named volumes without
// nocopy are HostConfig.Binds strings, in the order of volumes:; everything
// else (tmpfs volumes, anonymous volumes, nocopy, propagation,
// create_host_path: false, secrets, configs) is a HostConfig.Mounts entry,
// sorted by target. consistency: reaches Mounts only, as with compose; Linux
// engines ignore it anyway. Repository files and trees are mounted
// read-only, whatever the compose file says (spec.go).

// mounts fills Binds and Mounts from volumes, secrets and configs.
func (b *specBuilder) mounts(spec *containerSpec) error {
	m := &mountSet{targets: map[string]string{}}
	for i, v := range b.svc.Volumes {
		if err := b.volume(m, "volumes["+strconv.Itoa(i)+"]", v); err != nil {
			return err
		}
	}
	if err := b.fileObjects(m); err != nil {
		return err
	}
	b.inherited(m)
	sort.Slice(m.mounts, func(i, j int) bool { return m.mounts[i].Target < m.mounts[j].Target })
	spec.Host.Binds, spec.Host.Mounts = m.binds, m.mounts
	return nil
}

// mountSet collects binds and mounts, and which key claimed each target.
type mountSet struct {
	binds   []string
	mounts  []mount.Mount
	targets map[string]string // target → key
}

func (b *specBuilder) claim(m *mountSet, key, target string) error {
	if other, ok := m.targets[target]; ok {
		return b.refuse(key, "target %s is already mounted by %s", target, other)
	}
	m.targets[target] = key
	return nil
}

func (b *specBuilder) volume(m *mountSet, key string, v types.ServiceVolumeConfig) error {
	if err := b.claim(m, key, v.Target); err != nil {
		return err
	}
	switch v.Type {
	case types.VolumeTypeBind:
		return b.bind(m, key, v)
	case types.VolumeTypeVolume:
		if v.Volume != nil && v.Volume.Subpath != "" {
			return b.refuse(key+".volume.subpath", "needs Docker API 1.45")
		}
		return b.namedVolume(m, v)
	case types.VolumeTypeTmpfs:
		mt := mount.Mount{Type: mount.TypeTmpfs, Target: v.Target, ReadOnly: v.ReadOnly, Consistency: mount.Consistency(v.Consistency)}
		if v.Tmpfs != nil {
			mt.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
		}
		m.mounts = append(m.mounts, mt)
		return nil
	}
	return b.refuse(key+".type", "volume type %q is not supported: use bind, volume or tmpfs", v.Type)
}

// bind mounts a repository file from its copy, always read-only (copies are
// shared content), or a node path as written.
func (b *specBuilder) bind(m *mountSet, key string, v types.ServiceVolumeConfig) error {
	src, fromRepo, err := b.hostSource(key+".source", v.Source)
	if err != nil {
		return err
	}
	v.ReadOnly = v.ReadOnly || fromRepo
	opt := v.Bind
	if fromRepo && b.decrypted(v.Source) {
		return b.decryptedBind(m, key, v, src)
	}
	if opt == nil || opt.SELinux != "" || (bool(opt.CreateHostPath) && opt.Propagation == "" && opt.Recursive == "") {
		if opt != nil && opt.SELinux != "" && !bool(opt.CreateHostPath) && !fromRepo {
			return b.refuse(key+".bind.selinux", "cannot be asked together with create_host_path: false; set create_host_path: true")
		}
		v.Source = src
		m.binds = append(m.binds, v.String())
		return nil
	}
	if opt.Recursive != "" {
		return b.refuse(key+".bind.recursive", "needs Docker API 1.44")
	}
	m.mounts = append(m.mounts, mount.Mount{
		Type: mount.TypeBind, Source: src, Target: v.Target, ReadOnly: v.ReadOnly,
		Consistency: mount.Consistency(v.Consistency),
		BindOptions: &mount.BindOptions{Propagation: mount.Propagation(opt.Propagation), CreateMountpoint: bool(opt.CreateHostPath)},
	})
	return nil
}

// decrypted reports whether the checkout path p is an encrypted file the
// node decrypts.
func (b *specBuilder) decrypted(p string) bool {
	for _, f := range b.req.Stack.Files {
		if f.Path == p {
			return f.Sops != "" && !f.Dir
		}
	}
	return false
}

// decryptedBind mounts the plaintext of an encrypted file with the Mount
// API, which never creates a missing source: the engine must fail to start
// the container rather than mount an empty directory in its place (at boot
// the runtime directory is empty until the agent decrypts again).
func (b *specBuilder) decryptedBind(m *mountSet, key string, v types.ServiceVolumeConfig, src string) error {
	mt := mount.Mount{Type: mount.TypeBind, Source: src, Target: v.Target, ReadOnly: true, Consistency: mount.Consistency(v.Consistency)}
	if opt := v.Bind; opt != nil {
		if opt.SELinux != "" {
			return b.refuse(key+".bind.selinux", "cannot relabel a decrypted file: mount it without selinux:")
		}
		if opt.Recursive != "" {
			return b.refuse(key+".bind.recursive", "needs Docker API 1.44")
		}
		mt.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(opt.Propagation)}
	}
	m.mounts = append(m.mounts, mt)
	return nil
}

// namedVolume mounts a project volume by its engine name, or an anonymous
// volume (the replaced container's when the caller passes it).
func (b *specBuilder) namedVolume(m *mountSet, v types.ServiceVolumeConfig) error {
	noCopy := v.Volume != nil && v.Volume.NoCopy
	if v.Source != "" {
		name := reconcile.VolumeName(b.req.Stack, v.Source)
		if !noCopy {
			access := "rw"
			if v.ReadOnly {
				access = "ro"
			}
			m.binds = append(m.binds, name+":"+v.Target+":"+access)
			return nil
		}
		v.Source = name
	} else {
		v.Source = b.req.Inherit[v.Target]
	}
	mt := mount.Mount{Type: mount.TypeVolume, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly, Consistency: mount.Consistency(v.Consistency)}
	if v.Volume != nil {
		mt.VolumeOptions = &mount.VolumeOptions{NoCopy: v.Volume.NoCopy}
	}
	m.mounts = append(m.mounts, mt)
	return nil
}

// inherited mounts the replaced container's anonymous volumes (the image's
// VOLUMEs) at targets nothing else claimed.
func (b *specBuilder) inherited(m *mountSet) {
	targets := make([]string, 0, len(b.req.Inherit))
	for t := range b.req.Inherit {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		if _, claimed := m.targets[t]; claimed {
			continue
		}
		m.targets[t] = "the replaced container"
		m.mounts = append(m.mounts, mount.Mount{Type: mount.TypeVolume, Source: b.req.Inherit[t], Target: t})
	}
}

// hostSource resolves a path of the project to what the node mounts: the
// content-addressed copy of a repository file, or a node path as written.
// A path into the checkout without a copy is an error: the checkout is
// removed later.
func (b *specBuilder) hostSource(key, p string) (src string, fromRepo bool, err error) {
	if c, ok := b.req.Files[p]; ok {
		return c, true, nil
	}
	if repo := b.repoRoot(); repo != "" && (p == repo || strings.HasPrefix(p, repo+string(filepath.Separator))) {
		return "", false, b.refuse(key, "%s is a repository file without a copy under the state directory", p)
	}
	if !path.IsAbs(p) {
		return "", false, b.refuse(key, "%q is not an absolute path", p)
	}
	return p, false, nil
}

// repoRoot is the checkout holding stacks/<name>.
func (b *specBuilder) repoRoot() string {
	if b.req.Stack.Dir == "" {
		return ""
	}
	return filepath.Dir(filepath.Dir(b.req.Stack.Dir))
}
