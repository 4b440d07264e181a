package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/strslice"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestBuildSpecHost(t *testing.T) {
	st := loadStack(t, `
services:
  web:
    image: registry.example.com/shop/web:1.4
    restart: on-failure:3
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    devices: ["/dev/fuse:/dev/fuse:rwm", "/dev/null:/dev/mynull"]
    sysctls: {net.core.somaxconn: "1024"}
    ulimits:
      nproc: 512
      nofile: {soft: 1024, hard: 2048}
    logging:
      driver: json-file
      options: {max-size: 1m}
    extra_hosts: ["db.local:10.0.0.5", "other=10.0.0.6"]
    mem_limit: 64m
    mem_reservation: 32m
    cpus: 0.5
    pids_limit: 100
    init: true
    read_only: true
    dns: [8.8.8.8, 1.1.1.1]
    dns_search: [example.org]
    security_opt: ["no-new-privileges:true", "label=type:svirt_apache_t"]
    shm_size: 128m
    group_add: [audio, "1234"]
    tmpfs: ["/run/a", "/run/b:size=65536,mode=1777"]
    userns_mode: host
    pid: host
    ipc: shareable
    privileged: true
`, nil)
	oomKillDisable, pids, initOn := false, int64(100), true
	want := &container.HostConfig{
		CapAdd: strslice.StrSlice{"NET_ADMIN"}, CapDrop: strslice.StrSlice{"MKNOD"},
		Init: &initOn, ReadonlyRootfs: true,
		RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3},
		ShmSize:       128 << 20,
		Sysctls:       map[string]string{"net.core.somaxconn": "1024"},
		Resources: container.Resources{
			Memory: 64 << 20, MemoryReservation: 32 << 20, NanoCPUs: 500000000,
			PidsLimit: &pids, OomKillDisable: &oomKillDisable,
			Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 512, Hard: 512}},
			Devices: []container.DeviceMapping{
				{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
				{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rwm"},
			},
		},
		DNS: []string{"8.8.8.8", "1.1.1.1"}, DNSSearch: []string{"example.org"},
		ExtraHosts:  []string{"db.local:10.0.0.5", "other:10.0.0.6"},
		SecurityOpt: []string{"no-new-privileges:true", "label=type:svirt_apache_t"},
		UsernsMode:  "host", PidMode: "host", IpcMode: "shareable", Privileged: true,
		Tmpfs:     map[string]string{"/run/a": "", "/run/b": "size=65536,mode=1777"},
		LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m"}},
		GroupAdd:  []string{"audio", "1234"},
	}
	got := mustSpec(t, request(st, "web")).Host
	ignore := cmpopts.IgnoreFields(container.HostConfig{}, "NetworkMode", "PortBindings", "Binds", "Mounts")
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("HostConfig (-want +got):\n%s", diff)
	}
}

func TestBuildSpecRestartPolicy(t *testing.T) {
	tests := []struct {
		restart string
		want    container.RestartPolicy
	}{
		{"", container.RestartPolicy{}},
		{"no", container.RestartPolicy{Name: "no"}},
		{"always", container.RestartPolicy{Name: "always"}},
		{"unless-stopped", container.RestartPolicy{Name: "unless-stopped"}},
		{"on-failure", container.RestartPolicy{Name: "on-failure"}},
		{"on-failure:5", container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 5}},
	}
	st := loadStack(t, "services:\n  web:\n    image: registry.example.com/shop/web:1.4\n", nil)
	for _, tt := range tests {
		t.Run(tt.restart, func(t *testing.T) {
			svc := st.Project.Services["web"]
			svc.Restart = tt.restart
			st.Project.Services["web"] = svc
			if got := mustSpec(t, request(st, "web")).Host.RestartPolicy; got != tt.want {
				t.Errorf("restart %q = %+v, want %+v", tt.restart, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"sometimes", "always:3", "on-failure:x"} {
		svc := st.Project.Services["web"]
		svc.Restart = bad
		st.Project.Services["web"] = svc
		if _, err := buildSpec(request(st, "web")); !errors.Is(err, errCannotHonour) || !strings.Contains(err.Error(), "services.web.restart") {
			t.Errorf("restart %q: err = %v, want errCannotHonour naming services.web.restart", bad, err)
		}
	}
}

// Compose lets deploy.resources win over the service-level keys; compose-go
// refuses distinct values for both, so each is tested alone.
func TestBuildSpecResourcePrecedence(t *testing.T) {
	st := loadStack(t, `
services:
  deploy:
    image: registry.example.com/shop/web:1.4
    deploy:
      resources:
        limits: {cpus: "0.25", memory: 48m, pids: 50}
        reservations: {memory: 16m}
  both:
    image: registry.example.com/shop/web:1.4
    mem_limit: 48m
    deploy:
      resources:
        limits: {memory: 48m}
  none:
    image: registry.example.com/shop/web:1.4
`, nil)
	pids := int64(50)
	tests := []struct {
		service                   string
		memory, reservation, nano int64
		pids                      *int64
	}{
		{"deploy", 48 << 20, 16 << 20, 250000000, &pids},
		{"both", 48 << 20, 0, 0, nil},
		{"none", 0, 0, 0, nil},
	}
	for _, tt := range tests {
		r := mustSpec(t, request(st, tt.service)).Host.Resources
		if r.Memory != tt.memory || r.MemoryReservation != tt.reservation || r.NanoCPUs != tt.nano || !cmp.Equal(r.PidsLimit, tt.pids) {
			t.Errorf("%s: memory %d reservation %d nanocpus %d pids %v, want %d %d %d %v", tt.service,
				r.Memory, r.MemoryReservation, r.NanoCPUs, r.PidsLimit, tt.memory, tt.reservation, tt.nano, tt.pids)
		}
	}
}

func TestBuildSpecSystemPathsUnconfined(t *testing.T) {
	st := loadStack(t, `
services:
  web:
    image: registry.example.com/shop/web:1.4
    security_opt: ["systempaths=unconfined", "seccomp=unconfined"]
`, nil)
	h := mustSpec(t, request(st, "web")).Host
	if h.MaskedPaths == nil || len(h.MaskedPaths) != 0 || h.ReadonlyPaths == nil || len(h.ReadonlyPaths) != 0 {
		t.Errorf("masked %#v, read-only %#v: want both empty and not nil", h.MaskedPaths, h.ReadonlyPaths)
	}
	if want := []string{"seccomp=unconfined"}; !cmp.Equal(h.SecurityOpt, want) {
		t.Errorf("security_opt = %q, want %q", h.SecurityOpt, want)
	}
}
