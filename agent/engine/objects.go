package engine

import (
	"context"
	"fmt"
	"maps"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// objectLabels are the labels of every object skiff creates for a stack.
func (e *Engine) objectLabels(stack string, user map[string]string) map[string]string {
	l := maps.Clone(user)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelProject] = stack
	l[LabelVersion] = composeVersion
	l[LabelManaged] = "true"
	l[LabelNode] = e.opts.Node
	return l
}

// CreateNetwork creates a stack's network as compose names and labels it,
// with the hash of its definition in io.skiff.network-hash.
func (e *Engine) CreateNetwork(ctx context.Context, s *manifests.Stack, key string) error {
	cfg := s.Project.Networks[key]
	name := reconcile.NetworkName(s, key)
	labels := e.objectLabels(s.Name, cfg.Labels)
	labels[LabelNetwork] = key
	labels[LabelNetworkHash] = s.NetworkHash(key)
	opts := network.CreateOptions{
		Driver:     cfg.Driver,
		Internal:   cfg.Internal,
		Attachable: cfg.Attachable,
		Options:    cfg.DriverOpts,
		Labels:     labels,
		EnableIPv6: cfg.EnableIPv6,
		IPAM:       networkIPAM(cfg.Ipam),
	}
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	if _, err := e.cli.NetworkCreate(ctx, name, opts); err != nil {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	e.log.Info("network created", "stack", s.Name, "network", name)
	return nil
}

// networkIPAM converts a network's ipam: key; nil when it has none, which
// leaves the engine's defaults.
func networkIPAM(c types.IPAMConfig) *network.IPAM {
	if len(c.Config) == 0 && c.Driver == "" && len(c.Options) == 0 {
		return nil
	}
	out := &network.IPAM{Driver: c.Driver, Options: c.Options}
	for _, p := range c.Config {
		if p == nil {
			continue
		}
		out.Config = append(out.Config, network.IPAMConfig{
			Subnet: p.Subnet, IPRange: p.IPRange, Gateway: p.Gateway, AuxAddress: p.AuxiliaryAddresses,
		})
	}
	return out
}

// CreateVolume creates a stack's named volume, with the hash of its
// definition in io.skiff.volume-hash. Creating one that exists is a no-op
// in the engine, which keeps its data and its labels.
func (e *Engine) CreateVolume(ctx context.Context, s *manifests.Stack, key string) error {
	cfg := s.Project.Volumes[key]
	name := reconcile.VolumeName(s, key)
	labels := e.objectLabels(s.Name, cfg.Labels)
	labels[LabelVolume] = key
	labels[LabelVolumeHash] = s.VolumeHash(key)
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	_, err := e.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: cfg.Driver, DriverOpts: cfg.DriverOpts, Labels: labels})
	if err != nil {
		return fmt.Errorf("create volume %s: %w", name, err)
	}
	e.log.Info("volume created", "stack", s.Name, "volume", name)
	return nil
}

// RemoveNetwork removes a network; one already gone is not an error.
func (e *Engine) RemoveNetwork(ctx context.Context, id string) error {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	if err := e.cli.NetworkRemove(ctx, id); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove network %s: %w", short(id), err)
	}
	e.log.Info("network removed", "network", short(id))
	return nil
}
