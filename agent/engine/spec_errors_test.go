package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// Keys the engine cannot honour are refused with the key named, never
// dropped. Most cannot get past manifests; the service is edited after
// loading to reach the engine's own checks.
func TestBuildSpecRefusesWhatItCannotHonour(t *testing.T) {
	interval := types.Duration(time.Second)
	tests := []struct {
		key  string
		edit func(*types.ServiceConfig)
	}{
		{"healthcheck.start_interval", func(s *types.ServiceConfig) {
			s.HealthCheck = &types.HealthCheckConfig{Test: []string{"NONE"}, StartInterval: &interval}
		}},
		{"security_opt[1]", func(s *types.ServiceConfig) {
			s.SecurityOpt = []string{"no-new-privileges", "seccomp=profile.json"}
		}},
		{"security_opt[0]", func(s *types.ServiceConfig) { s.SecurityOpt = []string{"bogus"} }},
		{"devices[0]", func(s *types.ServiceConfig) {
			s.Devices = []types.DeviceMapping{{Source: "nvidia.com/gpu=all", Target: "nvidia.com/gpu=all", Permissions: "rwm"}}
		}},
		{"platform", func(s *types.ServiceConfig) { s.Platform = "amd64" }},
		{"network_mode", func(s *types.ServiceConfig) { s.NetworkMode = "service:nowhere" }},
		{"pid", func(s *types.ServiceConfig) { s.Pid = "container:abc" }},
		{"networks.default.ipv6_address", func(s *types.ServiceConfig) {
			s.Networks = map[string]*types.ServiceNetworkConfig{"default": {Ipv6Address: "fd00::1"}}
		}},
		{"volumes[0].type", func(s *types.ServiceConfig) {
			s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeNamedPipe, Source: `\\.\pipe\x`, Target: "/x"}}
		}},
		{"volumes[0].volume.subpath", func(s *types.ServiceConfig) {
			s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "data", Target: "/x", Volume: &types.ServiceVolumeVolume{Subpath: "a"}}}
		}},
		{"volumes[0].bind.recursive", func(s *types.ServiceConfig) {
			s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: "/srv/x", Target: "/x", Bind: &types.ServiceVolumeBind{Recursive: "readonly", CreateHostPath: true}}}
		}},
		{"volumes[0].source", func(s *types.ServiceConfig) {
			s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: "relative", Target: "/x"}}
		}},
		{"secrets[0]", func(s *types.ServiceConfig) {
			s.Secrets = []types.ServiceSecretConfig{{Source: "undefined"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			st := loadStack(t, "services:\n  web:\n    image: registry.example.com/shop/web:1.4\n", nil)
			s := st.Project.Services["web"]
			tt.edit(&s)
			st.Project.Services["web"] = s
			_, err := buildSpec(request(st, "web"))
			if !errors.Is(err, errCannotHonour) || !strings.HasPrefix(err.Error(), "services.web."+tt.key+": ") {
				t.Errorf("err = %v, want errCannotHonour starting with services.web.%s", err, tt.key)
			}
		})
	}
}

func TestBuildSpecBadRequests(t *testing.T) {
	st := loadStack(t, "services:\n  web:\n    image: registry.example.com/shop/web:1.4\n", nil)
	tests := []struct {
		name string
		edit func(*specRequest)
	}{
		{"no stack", func(r *specRequest) { r.Stack = nil }},
		{"unknown service", func(r *specRequest) { r.Service = "nope" }},
		{"replica zero", func(r *specRequest) { r.Number = 0 }},
		{"no image", func(r *specRequest) { r.Image = "" }},
		{"no name", func(r *specRequest) { r.Name = "" }},
	}
	for _, tt := range tests {
		req := request(st, "web")
		tt.edit(&req)
		if _, err := buildSpec(req); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
