package manifests

import (
	"sort"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
)

// The parts of the v1 spec encoding that need more than a copy; see hash.go
// for the rules.

func mounts(p *types.Project, vols []types.ServiceVolumeConfig, files map[string]File) []mountV1 {
	var out []mountV1
	for _, v := range vols {
		m := mountV1{Type: v.Type, Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeBind:
			if f, ok := files[v.Source]; ok {
				m.Digest, m.Sops = f.Digest, f.Sops
			} else {
				m.Source = v.Source
			}
			if v.Bind != nil {
				m.Propagation, m.SELinux, m.NoCreateHost = v.Bind.Propagation, v.Bind.SELinux, !bool(v.Bind.CreateHostPath)
			}
		case types.VolumeTypeVolume:
			m.Source = v.Source
			if v.Volume != nil {
				m.NoCopy = v.Volume.NoCopy
			}
			if def, ok := p.Volumes[v.Source]; ok {
				m.Volume = volumeDef(p.Name, v.Source, def)
			}
		case types.VolumeTypeTmpfs:
			if v.Tmpfs != nil {
				m.TmpfsSize, m.TmpfsMode = int64(v.Tmpfs.Size), v.Tmpfs.Mode
			}
		default:
			m.Source = v.Source
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// volumeDef and networkDef keep what reaches the container of a definition:
// the driver when not the default one, and the name only when it is not
// derived from the project name (renaming a stack is a new project anyway).
func volumeDef(project, key string, v types.VolumeConfig) *resourceV1 {
	r := &resourceV1{Driver: v.Driver, DriverOpts: v.DriverOpts, External: bool(v.External), Name: v.Name}
	if r.Driver == "local" {
		r.Driver = ""
	}
	r.Name = ownName(project, key, r.Name, r.External)
	return r
}

func networkDef(project, key string, n types.NetworkConfig) *resourceV1 {
	r := &resourceV1{Driver: n.Driver, External: bool(n.External), Internal: n.Internal, Name: n.Name}
	if r.Driver == "bridge" {
		r.Driver = ""
	}
	r.Name = ownName(project, key, r.Name, r.External)
	return r
}

func ownName(project, key, name string, external bool) string {
	if (external && name == key) || (!external && name == project+"_"+key) {
		return ""
	}
	return name
}

func networks(p *types.Project, nets map[string]*types.ServiceNetworkConfig) []networkV1 {
	var out []networkV1
	for key, cfg := range nets {
		n := networkV1{Key: key}
		if cfg != nil {
			n.Aliases, n.IPv4Address = sorted(cfg.Aliases), cfg.Ipv4Address
		}
		if def, ok := p.Networks[key]; ok {
			n.Network = networkDef(p.Name, key, def)
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func toSecretRefs(cs []types.ServiceConfigObjConfig) []types.ServiceSecretConfig {
	out := make([]types.ServiceSecretConfig, len(cs))
	for i, c := range cs {
		out[i] = types.ServiceSecretConfig(c)
	}
	return out
}

// fileRefs encodes secrets or configs; fileOf gives the top-level file of a
// source name.
func fileRefs(refs []types.ServiceSecretConfig, fileOf func(string) string, files map[string]File) []fileRefV1 {
	var out []fileRefV1
	for _, r := range refs {
		f := fileRefV1{Target: r.Target, UID: r.UID, GID: r.GID}
		if r.Mode != nil {
			f.Mode = strconv.FormatInt(int64(*r.Mode), 8)
		}
		if repo, ok := files[fileOf(r.Source)]; ok {
			f.Digest, f.Sops = repo.Digest, repo.Sops
		} else {
			f.Source = fileOf(r.Source)
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

func health(h *types.HealthCheckConfig) *healthV1 {
	if h == nil {
		return nil
	}
	return &healthV1{
		Test: h.Test, Interval: nanos(h.Interval), Timeout: nanos(h.Timeout),
		StartPeriod: nanos(h.StartPeriod), Retries: h.Retries, Disable: h.Disable,
	}
}

func devices(ds []types.DeviceMapping) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Source+":"+d.Target+":"+d.Permissions)
	}
	return sorted(out)
}

func ulimits(us map[string]*types.UlimitsConfig) map[string]ulimitV1 {
	if len(us) == 0 {
		return nil
	}
	out := make(map[string]ulimitV1, len(us))
	for k, u := range us {
		if u != nil {
			out[k] = ulimitV1{Single: u.Single, Soft: u.Soft, Hard: u.Hard}
		}
	}
	return out
}
