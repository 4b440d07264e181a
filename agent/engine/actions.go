package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
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

// CreateNetwork creates a stack's network as compose names and labels it.
func (e *Engine) CreateNetwork(ctx context.Context, s *manifests.Stack, key string) error {
	cfg := s.Project.Networks[key]
	name := reconcile.NetworkName(s, key)
	labels := e.objectLabels(s.Name, cfg.Labels)
	labels[LabelNetwork] = key
	opts := network.CreateOptions{
		Driver:     cfg.Driver,
		Internal:   cfg.Internal,
		Attachable: cfg.Attachable,
		Options:    cfg.DriverOpts,
		Labels:     labels,
		EnableIPv6: cfg.EnableIPv6,
	}
	if len(cfg.Ipam.Config) > 0 || cfg.Ipam.Driver != "" {
		opts.IPAM = &network.IPAM{Driver: cfg.Ipam.Driver}
		for _, p := range cfg.Ipam.Config {
			opts.IPAM.Config = append(opts.IPAM.Config, network.IPAMConfig{Subnet: p.Subnet, IPRange: p.IPRange, Gateway: p.Gateway})
		}
	}
	if _, err := e.cli.NetworkCreate(ctx, name, opts); err != nil {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	e.log.Info("network created", "stack", s.Name, "network", name)
	return nil
}

// CreateVolume creates a stack's named volume; creating one that exists is
// a no-op in the engine, which keeps its data.
func (e *Engine) CreateVolume(ctx context.Context, s *manifests.Stack, key string) error {
	cfg := s.Project.Volumes[key]
	name := reconcile.VolumeName(s, key)
	labels := e.objectLabels(s.Name, cfg.Labels)
	labels[LabelVolume] = key
	_, err := e.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: cfg.Driver, DriverOpts: cfg.DriverOpts, Labels: labels})
	if err != nil {
		return fmt.Errorf("create volume %s: %w", name, err)
	}
	e.log.Info("volume created", "stack", s.Name, "volume", name)
	return nil
}

// CreateContainer creates a replica from its spec, on its first network, and
// connects the others before it is started.
func (e *Engine) CreateContainer(ctx context.Context, r reconcile.CreateRequest) (string, error) {
	spec, err := e.spec(ctx, r)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", r.Name, err)
	}
	created, err := e.cli.ContainerCreate(ctx, spec.Config, spec.Host, spec.Networking, spec.Platform, spec.Name)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", r.Name, err)
	}
	for _, extra := range spec.Extra {
		if err := e.cli.NetworkConnect(ctx, extra.Network, created.ID, extra.Endpoint); err != nil {
			rmErr := e.cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
			return "", errors.Join(fmt.Errorf("create %s: connect network %s: %w", r.Name, extra.Network, err), rmErr)
		}
	}
	e.log.Info("container created", "stack", r.Stack.Name, "service", r.Service, "container", r.Name, "revision", r.Revision)
	return created.ID, nil
}

// spec builds the container spec of a request: the image to create from,
// the repository files copied where mounts can find them, and the API
// structures.
func (e *Engine) spec(ctx context.Context, r reconcile.CreateRequest) (containerSpec, error) {
	svc, ok := findService(r.Stack, r.Service)
	if !ok {
		return containerSpec{}, fmt.Errorf("service %s is not in stack %s", r.Service, r.Stack.Name)
	}
	ids, err := e.ImageIDs(ctx, []string{svc.Image})
	if err != nil {
		return containerSpec{}, err
	}
	id, ok := ids[svc.Image]
	if !ok {
		return containerSpec{}, fmt.Errorf("image %s is not present on the node", svc.Image)
	}
	from := svc.Image
	if isDigestRef(svc.Image) {
		from = id
	}
	files, err := materializeStack(e.opts.FilesDir, r.Stack)
	if err != nil {
		return containerSpec{}, err
	}
	inherit, err := e.anonymousVolumes(ctx, r.Replaces)
	if err != nil {
		return containerSpec{}, err
	}
	return buildSpec(specRequest{
		Stack: r.Stack, Service: r.Service, Number: r.Number, Name: r.Name, Node: e.opts.Node,
		Revision: r.Revision, Image: from, ImageID: id, Files: files, Inherit: inherit,
	})
}

// anonymousVolumes maps the mount targets of a container's anonymous
// volumes (the image's VOLUMEs, volumes without a source) to their names,
// so that its replacement keeps their data.
func (e *Engine) anonymousVolumes(ctx context.Context, id string) (map[string]string, error) {
	if id == "" {
		return nil, nil
	}
	info, err := e.cli.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspect replaced container %s: %w", short(id), err)
	}
	out := map[string]string{}
	for _, m := range info.Mounts {
		if m.Type == mount.TypeVolume && isAnonymous(m.Name) {
			out[m.Destination] = m.Name
		}
	}
	return out, nil
}

// StartContainer starts a created or stopped container.
func (e *Engine) StartContainer(ctx context.Context, id string) error {
	if err := e.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", short(id), err)
	}
	return nil
}

// StopContainer stops a container within its own stop timeout
// (stop_grace_period), then kills it.
func (e *Engine) StopContainer(ctx context.Context, id string) error {
	if err := e.cli.ContainerStop(ctx, id, container.StopOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop %s: %w", short(id), err)
	}
	return nil
}

// RenameContainer renames a container.
func (e *Engine) RenameContainer(ctx context.Context, id, name string) error {
	if err := e.cli.ContainerRename(ctx, id, name); err != nil {
		return fmt.Errorf("rename %s to %s: %w", short(id), name, err)
	}
	return nil
}

// RemoveContainer stops a container gracefully and removes it. Anonymous
// volumes are kept (skiff never removes data); a container already gone is
// not an error.
func (e *Engine) RemoveContainer(ctx context.Context, id string) error {
	if err := e.StopContainer(ctx, id); err != nil {
		return err
	}
	if err := e.cli.ContainerRemove(ctx, id, container.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", short(id), err)
	}
	e.log.Info("container removed", "container", short(id))
	return nil
}

// RemoveNetwork removes a network; one already gone is not an error.
func (e *Engine) RemoveNetwork(ctx context.Context, id string) error {
	if err := e.cli.NetworkRemove(ctx, id); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove network %s: %w", short(id), err)
	}
	e.log.Info("network removed", "network", short(id))
	return nil
}

func findService(s *manifests.Stack, name string) (manifests.Service, bool) {
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc, true
		}
	}
	return manifests.Service{}, false
}

// isAnonymous reports whether a volume name is one the engine generated: 64
// hex digits. Named volumes always carry a name a person chose.
func isAnonymous(name string) bool {
	if len(name) != 64 {
		return false
	}
	for _, r := range name {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
