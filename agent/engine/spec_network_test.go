package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"github.com/google/go-cmp/cmp"
)

const networksCompose = `
services:
  web:
    image: registry.example.com/shop/web:1.4
    networks:
      front:
        aliases: [www, shop]
      back:
        ipv4_address: 172.30.0.10
      ext: {}
  db:
    image: registry.example.com/shop/db:2
    container_name: shop-db
  worker:
    image: registry.example.com/shop/web:1.4
    network_mode: service:db
    pid: service:db
    ipc: "service:web"
  tool:
    image: registry.example.com/shop/web:1.4
    network_mode: host
  sealed:
    image: registry.example.com/shop/web:1.4
    network_mode: none
networks:
  front: {}
  back: {name: shop-back}
  ext: {external: true, name: corp-net}
`

// Compose creates the container on the first network by key (no priority
// here) and connects the others before start; every endpoint carries the
// container's name and the service's as aliases, then its own.
func TestBuildSpecNetworks(t *testing.T) {
	st := loadStack(t, networksCompose, nil)
	req := request(st, "web")
	req.Name = "3f2a1b_app-web-1" // a temporary name: the aliases keep the final one
	spec := mustSpec(t, req)

	if spec.Host.NetworkMode != "shop-back" {
		t.Errorf("NetworkMode = %q, want shop-back (key back sorts first)", spec.Host.NetworkMode)
	}
	want := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		"shop-back": {
			Aliases:    []string{"app-web-1", "web"},
			IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "172.30.0.10"}, IPAddress: "172.30.0.10",
		},
	}}
	if diff := cmp.Diff(want, spec.Networking); diff != "" {
		t.Errorf("Networking (-want +got):\n%s", diff)
	}
	wantExtra := []networkAttachment{
		{Network: "corp-net", Endpoint: &network.EndpointSettings{Aliases: []string{"app-web-1", "web"}, IPAMConfig: &network.EndpointIPAMConfig{}}},
		{Network: "app_front", Endpoint: &network.EndpointSettings{Aliases: []string{"app-web-1", "web", "www", "shop"}, IPAMConfig: &network.EndpointIPAMConfig{}}},
	}
	if diff := cmp.Diff(wantExtra, spec.Extra); diff != "" {
		t.Errorf("Extra (-want +got):\n%s", diff)
	}

	db := mustSpec(t, request(st, "db"))
	wantDB := map[string]*network.EndpointSettings{"app_default": {Aliases: []string{"shop-db", "db"}}}
	if db.Host.NetworkMode != "app_default" || !cmp.Equal(db.Networking.EndpointsConfig, wantDB) || db.Extra != nil {
		t.Errorf("db: mode %q endpoints %+v extra %+v, want the default network only", db.Host.NetworkMode, db.Networking.EndpointsConfig, db.Extra)
	}
}

func TestBuildSpecNetworkModes(t *testing.T) {
	st := loadStack(t, networksCompose, nil)
	tests := []struct {
		service  string
		net      container.NetworkMode
		pid, ipc string
	}{
		{"worker", "container:shop-db", "container:shop-db", "container:app-web-1"},
		{"tool", "host", "", ""},
		{"sealed", "none", "", ""},
	}
	for _, tt := range tests {
		spec := mustSpec(t, request(st, tt.service))
		h := spec.Host
		if h.NetworkMode != tt.net || string(h.PidMode) != tt.pid || string(h.IpcMode) != tt.ipc || spec.Networking != nil || spec.Extra != nil {
			t.Errorf("%s: network %q pid %q ipc %q networking %+v extra %+v, want %q %q %q and no endpoints",
				tt.service, h.NetworkMode, h.PidMode, h.IpcMode, spec.Networking, spec.Extra, tt.net, tt.pid, tt.ipc)
		}
	}
}

func TestBuildSpecNetworkRefusals(t *testing.T) {
	st := loadStack(t, networksCompose, nil)
	tests := []struct {
		name, key string
		edit      func()
	}{
		{"container outside the stack", "services.tool.network_mode", func() {
			s := st.Project.Services["tool"]
			s.NetworkMode = "container:other"
			st.Project.Services["tool"] = s
		}},
		{"undefined network", "services.tool.networks.nowhere", func() {
			s := st.Project.Services["tool"]
			s.NetworkMode = ""
			s.Networks = map[string]*types.ServiceNetworkConfig{"nowhere": nil}
			st.Project.Services["tool"] = s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.edit()
			_, err := buildSpec(request(st, "tool"))
			if !errors.Is(err, errCannotHonour) || !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Errorf("err = %v, want errCannotHonour starting with %q", err, tt.key)
			}
		})
	}
}

func TestBuildSpecPorts(t *testing.T) {
	st := loadStack(t, `
services:
  web:
    image: registry.example.com/shop/web:1.4
    ports:
      - "8080:80"
      - "127.0.0.1:5353:53/udp"
      - "9090-9091:9090-9091"
      - "18000-18010:443"
      - "7000"
      - target: 7070
        published: "17070"
        host_ip: 127.0.0.1
        protocol: tcp
        mode: host
        name: admin
        app_protocol: http
      - "[::1]:8081:80"
`, nil)
	want := nat.PortMap{
		"80/tcp":   {{HostPort: "8080"}, {HostIP: "::1", HostPort: "8081"}},
		"53/udp":   {{HostIP: "127.0.0.1", HostPort: "5353"}},
		"9090/tcp": {{HostPort: "9090"}},
		"9091/tcp": {{HostPort: "9091"}},
		"443/tcp":  {{HostPort: "18000-18010"}},
		"7000/tcp": {{}},
		"7070/tcp": {{HostIP: "127.0.0.1", HostPort: "17070"}},
	}
	spec := mustSpec(t, request(st, "web"))
	if diff := cmp.Diff(want, spec.Host.PortBindings); diff != "" {
		t.Errorf("PortBindings (-want +got):\n%s", diff)
	}
	for p := range want {
		if _, ok := spec.Config.ExposedPorts[p]; !ok {
			t.Errorf("published port %s is not exposed", p)
		}
	}
}
