package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/skiffops/skiff/reconcile"
)

// Observe lists this node's containers, networks and volumes: one
// label-filtered list call each, no per-object inspect.
func (e *Engine) Observe(ctx context.Context) (reconcile.Observed, error) {
	return e.observe(ctx, e.nodeFilter())
}

// ObserveStack is Observe for one stack: the same three list calls,
// filtered by the stack's project label as well, for the agent's per-stack
// updates and healing.
func (e *Engine) ObserveStack(ctx context.Context, stack string) (reconcile.Observed, error) {
	return e.observe(ctx, e.nodeFilter(filters.Arg("label", LabelProject+"="+stack)))
}

func (e *Engine) observe(ctx context.Context, f filters.Args) (reconcile.Observed, error) {
	var o reconcile.Observed
	var err error
	if o.Containers, err = e.observeContainers(ctx, f); err != nil {
		return reconcile.Observed{}, err
	}
	if o.Networks, err = e.observeNetworks(ctx, f); err != nil {
		return reconcile.Observed{}, err
	}
	if o.Volumes, err = e.observeVolumes(ctx, f); err != nil {
		return reconcile.Observed{}, err
	}
	resolveUnstarted(o.Containers, o.Networks)
	return o, nil
}

// resolveUnstarted fills in the network IDs of containers that never
// started. The engine reports none for them: such a container is attached
// by network name and joins whatever network has that name when it starts
// (one that has started keeps the ID, and cannot start once that network is
// replaced). So it is reported attached to the listed network of that name;
// its ID stays empty when there is none.
func resolveUnstarted(cs []reconcile.Container, ns []reconcile.Network) {
	byName := make(map[string]string, len(ns))
	for _, n := range ns {
		byName[n.Name] = n.ID
	}
	for _, c := range cs {
		for name, id := range c.Networks {
			if id == "" {
				c.Networks[name] = byName[name]
			}
		}
	}
}

func (e *Engine) observeContainers(ctx context.Context, f filters.Args) ([]reconcile.Container, error) {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	cs, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]reconcile.Container, 0, len(cs))
	for _, c := range cs {
		out = append(out, observedContainer(c))
	}
	return out, nil
}

func (e *Engine) observeNetworks(ctx context.Context, f filters.Args) ([]reconcile.Network, error) {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	ns, err := e.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	out := make([]reconcile.Network, 0, len(ns))
	for _, n := range ns {
		out = append(out, reconcile.Network{
			ID: n.ID, Name: n.Name, Stack: n.Labels[LabelProject],
			Key: n.Labels[LabelNetwork], Hash: n.Labels[LabelNetworkHash],
		})
	}
	return out, nil
}

func (e *Engine) observeVolumes(ctx context.Context, f filters.Args) ([]reconcile.Volume, error) {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	vs, err := e.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := make([]reconcile.Volume, 0, len(vs.Volumes))
	for _, v := range vs.Volumes {
		out = append(out, reconcile.Volume{
			Name: v.Name, Stack: v.Labels[LabelProject],
			Key: v.Labels[LabelVolume], Hash: v.Labels[LabelVolumeHash],
		})
	}
	return out, nil
}

func observedContainer(c container.Summary) reconcile.Container {
	n, _ := strconv.Atoi(c.Labels[LabelNumber])
	name := c.ID
	if len(c.Names) > 0 {
		name = strings.TrimPrefix(c.Names[0], "/")
	}
	exit, health := parseStatus(c.Status)
	return reconcile.Container{
		ID: c.ID, Name: name, Stack: c.Labels[LabelProject], Service: c.Labels[LabelService], Number: n,
		Hash: c.Labels[LabelConfigHash], ImageID: c.ImageID, Revision: c.Labels[LabelRevision],
		State: c.State, ExitCode: exit, Health: health, Networks: attachedNetworks(c.NetworkSettings),
	}
}

// attachedNetworks maps the name of each network a listed container is
// attached to to the network's ID; nil when it has none.
func attachedNetworks(s *container.NetworkSettingsSummary) map[string]string {
	if s == nil || len(s.Networks) == 0 {
		return nil
	}
	out := make(map[string]string, len(s.Networks))
	for name, ep := range s.Networks {
		if ep != nil {
			out[name] = ep.NetworkID
		}
	}
	return out
}

// parseStatus reads the exit code and health from the list's human status,
// "Exited (137) 5 seconds ago" or "Up 3 minutes (healthy)", so that no
// inspect is needed.
func parseStatus(status string) (exitCode int, health string) {
	if rest, ok := strings.CutPrefix(status, "Exited ("); ok {
		if code, _, ok := strings.Cut(rest, ")"); ok {
			exitCode, _ = strconv.Atoi(code)
		}
	}
	switch {
	case strings.HasSuffix(status, "(healthy)"):
		health = "healthy"
	case strings.HasSuffix(status, "(unhealthy)"):
		health = "unhealthy"
	case strings.HasSuffix(status, "(health: starting)"):
		health = "starting"
	}
	return exitCode, health
}
