package engine

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/skiffops/skiff/reconcile"
)

// networks sets the network mode, the endpoint of the first network (by
// priority, then key, as compose picks it), the extra networks to connect
// before start, and the published ports. Every endpoint has the aliases
// compose v2.40.3 gives on API 1.41: the container's name, the service name,
// then the aliases of that network.
func (b *specBuilder) networks(spec *containerSpec) error {
	spec.Host.PortBindings = portBindings(b.svc.Ports)
	if b.svc.NetworkMode != "" {
		return b.networkMode(spec)
	}
	p := b.req.Stack.Project
	if len(p.Networks) == 0 {
		spec.Host.NetworkMode = "none"
		return nil
	}
	keys := b.svc.NetworksByPriority()
	if len(keys) == 0 {
		keys = []string{"default"}
	}
	for i, key := range keys {
		if _, ok := p.Networks[key]; !ok {
			return b.refuse("networks."+key, "not defined in the top-level networks")
		}
		ep, err := b.endpoint(key)
		if err != nil {
			return err
		}
		name := reconcile.NetworkName(b.req.Stack, key)
		if i == 0 {
			spec.Host.NetworkMode = container.NetworkMode(name)
			spec.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{name: ep}}
			continue
		}
		spec.Extra = append(spec.Extra, networkAttachment{Network: name, Endpoint: ep})
	}
	return nil
}

// networkMode handles network_mode: host, none, bridge as written, and
// service:NAME as the network namespace of replica 1 of NAME.
func (b *specBuilder) networkMode(spec *containerSpec) error {
	if len(b.svc.Networks) > 0 {
		return b.refuse("network_mode", "cannot be combined with networks:")
	}
	mode, err := b.joinService("network_mode", b.svc.NetworkMode)
	if err != nil {
		return err
	}
	spec.Host.NetworkMode = container.NetworkMode(mode)
	spec.Config.NetworkDisabled = mode == "disabled"
	return nil
}

// joinService resolves a namespace mode (network_mode, pid, ipc):
// "service:NAME" joins replica 1 of NAME by its container name; containers
// skiff does not manage are refused; anything else is passed as written.
func (b *specBuilder) joinService(key, mode string) (string, error) {
	if name, ok := strings.CutPrefix(mode, types.ServicePrefix); ok {
		if _, exists := b.req.Stack.Project.Services[name]; !exists {
			return "", b.refuse(key, "service %q is not part of the stack on this node", name)
		}
		return types.ContainerPrefix + reconcile.ContainerName(b.req.Stack, name, 1), nil
	}
	if strings.HasPrefix(mode, types.ContainerPrefix) {
		return "", b.refuse(key, "%q names a container skiff does not manage; use service:NAME", mode)
	}
	return mode, nil
}

// endpoint is the endpoint on the network of the project with key.
func (b *specBuilder) endpoint(key string) (*network.EndpointSettings, error) {
	cfg := b.svc.Networks[key]
	aliases := []string{b.canonicalName()}
	if cfg.ServiceNameAliasEnabled() {
		aliases = append(aliases, b.svc.Name)
	}
	ep := &network.EndpointSettings{}
	if cfg == nil {
		ep.Aliases = aliases
		return ep, nil
	}
	if err := b.checkEndpoint(key, cfg); err != nil {
		return nil, err
	}
	ep.Aliases = append(aliases, cfg.Aliases...)
	ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: cfg.Ipv4Address}
	ep.IPAddress = cfg.Ipv4Address
	return ep, nil
}

// checkEndpoint refuses the endpoint settings skiff does not apply (the
// manifests key rules refuse them first).
func (b *specBuilder) checkEndpoint(key string, cfg *types.ServiceNetworkConfig) error {
	for _, c := range []struct {
		key string
		set bool
	}{
		{"ipv6_address", cfg.Ipv6Address != ""},
		{"link_local_ips", len(cfg.LinkLocalIPs) > 0},
		{"mac_address", cfg.MacAddress != ""},
		{"driver_opts", len(cfg.DriverOpts) > 0},
		{"gw_priority", cfg.GatewayPriority != 0},
		{"interface_name", cfg.InterfaceName != ""},
	} {
		if c.set {
			return b.refuse("networks."+key+"."+c.key, "not supported by skiff")
		}
	}
	return nil
}

// portBindings publishes every port on its host IP and port (a range lets
// the engine pick one, an empty port any). mode, name and app_protocol have
// no engine setting: compose ignores them without Swarm too.
func portBindings(ports []types.ServicePortConfig) nat.PortMap {
	m := nat.PortMap{}
	for _, p := range ports {
		k := containerPort(p)
		m[k] = append(m[k], nat.PortBinding{HostIP: p.HostIP, HostPort: p.Published})
	}
	return m
}
