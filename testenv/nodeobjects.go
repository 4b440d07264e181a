package testenv

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// Networks lists the networks carrying label ("key=value"): name → what
// tests check of it.
func Networks(ctx context.Context, cli *client.Client, label string) (map[string]Network, error) {
	list, err := cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return nil, fmt.Errorf("list networks with %s: %w", label, err)
	}
	out := make(map[string]Network, len(list))
	for _, n := range list {
		out[n.Name] = Network{ID: n.ID, Internal: n.Internal, Labels: n.Labels}
	}
	return out, nil
}

// KillContainer sends SIGKILL to a running container, as a daemon that
// restarts without live-restore stops every container.
func KillContainer(ctx context.Context, cli *client.Client, nameOrID string) error {
	if err := cli.ContainerKill(ctx, nameOrID, "KILL"); err != nil {
		return fmt.Errorf("kill container %s: %w", nameOrID, err)
	}
	return nil
}
