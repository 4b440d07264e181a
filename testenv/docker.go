package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// LabelNode is the label the agent puts on every object it creates for a
// node; tests remove those objects by it (DESIGN.md §6).
const LabelNode = "io.skiff.node"

const (
	pingTimeout    = 5 * time.Second
	cleanupTimeout = 2 * time.Minute
)

// ConnectDocker returns a client for the engine named by the environment
// (DOCKER_HOST, or the default socket), with the API version negotiated
// against the engine, which has answered a ping.
func ConnectDocker(ctx context.Context) (*client.Client, error) {
	cli, err := connectDocker(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to docker engine at %s: %w", dockerHost(), err)
	}
	return cli, nil
}

func connectDocker(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	ping, err := cli.Ping(ctx)
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("ping: %w", err)
	}
	cli.NegotiateAPIVersionPing(ping)
	return cli, nil
}

// dockerHost names the engine the client talks to, for messages.
func dockerHost() string {
	if h := os.Getenv(client.EnvOverrideHost); h != "" {
		return h
	}
	return client.DefaultDockerHost
}

// DockerEnv is a test's connection to the engine. Objects the test creates
// directly carry Labels(), so the cleanup Docker registers removes exactly
// them.
type DockerEnv struct {
	Client *client.Client
	// Label is this test's value of the LabelTest label.
	Label string
}

// Docker connects to the engine for t and, in t.Cleanup, removes every
// container, network and volume labelled with the test's label. It skips t
// when no engine answers, or fails it when SKIFF_REQUIRE_DOCKER=1.
func Docker(t testing.TB) *DockerEnv {
	t.Helper()
	env := &DockerEnv{Client: dockerClient(t), Label: TestName(t)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		reportCleanup(t, removeLabelled(ctx, env.Client, LabelTest+"="+env.Label))
	})
	return env
}

// Labels returns the labels to put on objects the test creates directly.
func (e *DockerEnv) Labels() map[string]string {
	return map[string]string{LabelTest: e.Label}
}

// CleanupNode registers the removal, in t.Cleanup, of the containers, networks
// and volumes the agent created for node.
func (e *DockerEnv) CleanupNode(t testing.TB, node string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		reportCleanup(t, RemoveNodeObjects(ctx, e.Client, node))
	})
}

// RemoveNodeObjects removes the containers (forced, with their anonymous
// volumes), networks and volumes labelled io.skiff.node=node. Only tests do
// this: the agent itself never removes volumes.
func RemoveNodeObjects(ctx context.Context, cli *client.Client, node string) error {
	if err := removeLabelled(ctx, cli, LabelNode+"="+node); err != nil {
		return fmt.Errorf("remove objects of node %s: %w", node, err)
	}
	return nil
}

// dockerClient connects for t, skipping or failing when no engine answers,
// and closes the client in t.Cleanup.
func dockerClient(t testing.TB) *client.Client {
	t.Helper()
	cli, err := connectDocker(context.Background())
	if err != nil {
		missingDocker(t, fmt.Sprintf("no Docker engine answers at %s: %v", dockerHost(), err))
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// missingDocker skips t because a part of the Docker test world is missing,
// or fails it when SKIFF_REQUIRE_DOCKER=1.
func missingDocker(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(EnvRequireDocker) == "1" {
		t.Fatalf("%s (%s=1)", msg, EnvRequireDocker)
	}
	t.Skipf("%s; set %s=1 to fail instead", msg, EnvRequireDocker)
}

// reportCleanup fails t on cleanup errors other than objects already gone.
func reportCleanup(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("docker cleanup: %v", err)
	}
}

// removeLabelled removes the containers, then the networks, then the volumes
// carrying label ("key=value"). Objects that are already gone are not errors.
func removeLabelled(ctx context.Context, cli *client.Client, label string) error {
	f := filters.NewArgs(filters.Arg("label", label))
	return errors.Join(
		removeContainers(ctx, cli, f),
		removeNetworks(ctx, cli, f),
		removeVolumes(ctx, cli, f),
	)
}

func removeContainers(ctx context.Context, cli *client.Client, f filters.Args) error {
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	var errs []error
	anonymous := map[string]bool{}
	for _, c := range list {
		for _, m := range c.Mounts {
			if m.Type == "volume" && isAnonymousVolume(m.Name) {
				anonymous[m.Name] = true
			}
		}
		err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		errs = append(errs, gone(err, "remove container %s", c.ID))
	}
	// An anonymous volume a container inherited by name (the agent carries
	// them over on recreate) is not removed with it: remove it here.
	for name := range anonymous {
		errs = append(errs, gone(cli.VolumeRemove(ctx, name, true), "remove volume %s", name))
	}
	return errors.Join(errs...)
}

// isAnonymousVolume reports whether name is one the engine generated.
func isAnonymousVolume(name string) bool {
	if len(name) != 64 {
		return false
	}
	for _, r := range name {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

func removeNetworks(ctx context.Context, cli *client.Client, f filters.Args) error {
	list, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	var errs []error
	for _, n := range list {
		errs = append(errs, gone(cli.NetworkRemove(ctx, n.ID), "remove network %s", n.Name))
	}
	return errors.Join(errs...)
}

func removeVolumes(ctx context.Context, cli *client.Client, f filters.Args) error {
	list, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	var errs []error
	for _, v := range list.Volumes {
		errs = append(errs, gone(cli.VolumeRemove(ctx, v.Name, true), "remove volume %s", v.Name))
	}
	return errors.Join(errs...)
}

// gone wraps err with context, treating "not found" as success: another
// cleanup, or the engine itself, got there first.
func gone(err error, format string, args ...any) error {
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// Container is what a test needs to know of a container.
type Container struct {
	ID     string
	Name   string
	State  string
	Labels map[string]string
}

// Containers lists the containers carrying label ("key=value"), only the
// running ones when running is set, so that tests outside the engine
// adapter need no Docker API types.
func Containers(ctx context.Context, cli *client.Client, label string, running bool) ([]Container, error) {
	f := filters.NewArgs(filters.Arg("label", label))
	if running {
		f.Add("status", "running")
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: !running, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers with %s: %w", label, err)
	}
	out := make([]Container, 0, len(list))
	for _, c := range list {
		name := c.ID
		if len(c.Names) > 0 {
			name = c.Names[0][1:]
		}
		out = append(out, Container{ID: c.ID, Name: name, State: c.State, Labels: c.Labels})
	}
	return out, nil
}

// RemoveContainer removes a container by force, as `docker rm -f` does.
func RemoveContainer(ctx context.Context, cli *client.Client, nameOrID string) error {
	if err := cli.ContainerRemove(ctx, nameOrID, container.RemoveOptions{Force: true}); err != nil {
		return fmt.Errorf("remove container %s: %w", nameOrID, err)
	}
	return nil
}

// StopContainer stops a container, as `docker stop -t 2` does: the engine's
// restart policy leaves a container stopped this way alone.
func StopContainer(ctx context.Context, cli *client.Client, nameOrID string) error {
	timeout := 2
	if err := cli.ContainerStop(ctx, nameOrID, container.StopOptions{Timeout: &timeout}); err != nil {
		return fmt.Errorf("stop container %s: %w", nameOrID, err)
	}
	return nil
}

// Network is what tests outside the engine adapter check of a network.
type Network struct {
	ID       string
	Internal bool
	Labels   map[string]string
}

// InspectNetwork returns a network by name or ID.
func InspectNetwork(ctx context.Context, cli *client.Client, name string) (Network, error) {
	n, err := cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		return Network{}, fmt.Errorf("inspect network %s: %w", name, err)
	}
	return Network{ID: n.ID, Internal: n.Internal, Labels: n.Labels}, nil
}
