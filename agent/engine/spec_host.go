package engine

import (
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/strslice"
)

// host builds container.HostConfig but for mounts and networking: restart
// policy, resources, logging, security and namespaces.
func (b *specBuilder) host(spec *containerSpec) error {
	s := b.svc
	restart, err := b.restartPolicy()
	if err != nil {
		return err
	}
	resources, err := b.resources()
	if err != nil {
		return err
	}
	spec.Host = &container.HostConfig{
		CapAdd:         strslice.StrSlice(s.CapAdd),
		CapDrop:        strslice.StrSlice(s.CapDrop),
		Init:           s.Init,
		ReadonlyRootfs: s.ReadOnly,
		RestartPolicy:  restart,
		ShmSize:        int64(s.ShmSize),
		Sysctls:        s.Sysctls,
		Resources:      resources,
		DNS:            s.DNS,
		DNSSearch:      s.DNSSearch,
		ExtraHosts:     extraHostList(s.ExtraHosts),
		UsernsMode:     container.UsernsMode(s.UserNSMode),
		Privileged:     s.Privileged,
		Tmpfs:          tmpfsMap(s.Tmpfs),
		LogConfig:      logConfigOf(s.Logging),
		GroupAdd:       s.GroupAdd,
	}
	if err := b.securityOpts(spec.Host); err != nil {
		return err
	}
	pid, err := b.joinService("pid", s.Pid)
	if err != nil {
		return err
	}
	ipc, err := b.joinService("ipc", s.Ipc)
	if err != nil {
		return err
	}
	spec.Host.PidMode, spec.Host.IpcMode = container.PidMode(pid), container.IpcMode(ipc)
	return nil
}

// restartPolicy maps restart: no, always, unless-stopped, on-failure[:N].
func (b *specBuilder) restartPolicy() (container.RestartPolicy, error) {
	if b.svc.Restart == "" {
		return container.RestartPolicy{}, nil
	}
	name, count, hasCount := strings.Cut(b.svc.Restart, ":")
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	switch p.Name {
	case container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if !hasCount {
			return p, nil
		}
	case container.RestartPolicyOnFailure:
		if !hasCount {
			return p, nil
		}
		n, err := strconv.Atoi(count)
		if err == nil && n >= 0 {
			p.MaximumRetryCount = n
			return p, nil
		}
	}
	return container.RestartPolicy{}, b.refuse("restart", "%q must be no, always, unless-stopped or on-failure[:N]", b.svc.Restart)
}

// resources applies compose's precedence: deploy.resources wins over
// mem_limit, mem_reservation, cpus and pids_limit (compose-go refuses
// distinct values for both anyway).
func (b *specBuilder) resources() (container.Resources, error) {
	s := b.svc
	oomKillDisable := false
	r := container.Resources{
		Memory:            int64(s.MemLimit),
		MemoryReservation: int64(s.MemReservation),
		NanoCPUs:          int64(s.CPUS * 1e9), // float32 arithmetic, as compose
		OomKillDisable:    &oomKillDisable,
		Ulimits:           ulimitList(s.Ulimits),
	}
	if s.PidsLimit != 0 {
		pids := s.PidsLimit
		r.PidsLimit = &pids
	}
	if s.Deploy != nil {
		deployLimits(s.Deploy.Resources.Limits, &r)
		if res := s.Deploy.Resources.Reservations; res != nil && res.MemoryBytes != 0 {
			r.MemoryReservation = int64(res.MemoryBytes)
		}
	}
	devices, err := b.devices()
	r.Devices = devices
	return r, err
}

func deployLimits(l *types.Resource, r *container.Resources) {
	if l == nil {
		return
	}
	if l.MemoryBytes != 0 {
		r.Memory = int64(l.MemoryBytes)
	}
	if l.NanoCPUs != 0 {
		r.NanoCPUs = int64(l.NanoCPUs * 1e9)
	}
	if l.Pids > 0 {
		pids := l.Pids
		r.PidsLimit = &pids
	}
}

// devices maps host device paths. CDI names (vendor.com/class=name) need a
// newer engine than API 1.41.
func (b *specBuilder) devices() ([]container.DeviceMapping, error) {
	var out []container.DeviceMapping
	for i, d := range b.svc.Devices {
		if !strings.HasPrefix(d.Source, "/") {
			return nil, b.refuse("devices["+strconv.Itoa(i)+"]", "%q is not a device path of the node (CDI devices need Docker API 1.44)", d.Source)
		}
		out = append(out, container.DeviceMapping{
			PathOnHost: d.Source, PathInContainer: d.Target, CgroupPermissions: d.Permissions,
		})
	}
	return out, nil
}

// ulimitList writes single values as soft = hard, sorted by name.
func ulimitList(m map[string]*types.UlimitsConfig) []*container.Ulimit {
	var out []*container.Ulimit
	for name, u := range m {
		if u == nil {
			continue
		}
		soft, hard := u.Single, u.Single
		if u.Soft != 0 {
			soft = u.Soft
		}
		if u.Hard != 0 {
			hard = u.Hard
		}
		out = append(out, &container.Ulimit{Name: name, Soft: int64(soft), Hard: int64(hard)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// extraHostList writes "host:ip", the only form API 1.41 engines read, sorted.
func extraHostList(h types.HostsList) []string {
	out := h.AsList(":")
	sort.Strings(out)
	return out
}

// tmpfsMap maps "path[:options]" entries.
func tmpfsMap(list types.StringList) map[string]string {
	if len(list) == 0 {
		return nil
	}
	out := make(map[string]string, len(list))
	for _, t := range list {
		path, opts, _ := strings.Cut(t, ":")
		out[path] = opts
	}
	return out
}

func logConfigOf(l *types.LoggingConfig) container.LogConfig {
	if l == nil {
		return container.LogConfig{}
	}
	return container.LogConfig{Type: l.Driver, Config: l.Options}
}

// securityOpts checks security_opt as compose does. systempaths=unconfined
// is no engine option: it clears the masked and read-only paths. Seccomp
// profile files are refused (manifests neither checks nor hashes them).
func (b *specBuilder) securityOpts(h *container.HostConfig) error {
	for i, opt := range b.svc.SecurityOpt {
		key := "security_opt[" + strconv.Itoa(i) + "]"
		if opt == "systempaths=unconfined" {
			h.MaskedPaths, h.ReadonlyPaths = []string{}, []string{}
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok && k != "no-new-privileges" {
			if k, v, ok = strings.Cut(opt, ":"); !ok {
				return b.refuse(key, "invalid security option %q", opt)
			}
		}
		if k == "seccomp" && v != "unconfined" && v != "builtin" {
			return b.refuse(key, "seccomp profile files are not supported: use seccomp=unconfined or the builtin profile")
		}
		h.SecurityOpt = append(h.SecurityOpt, opt)
	}
	return nil
}
