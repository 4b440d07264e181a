package testenv

import (
	"context"
	"maps"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

func TestDockerPings(t *testing.T) {
	t.Parallel()
	env := Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ping, err := env.Client.Ping(ctx)
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	if v := env.Client.ClientVersion(); versions.GreaterThan(v, ping.APIVersion) {
		t.Errorf("client API version %s is newer than the engine's %s: not negotiated", v, ping.APIVersion)
	}
	if got := env.Labels()[LabelTest]; got == "" || got != env.Label {
		t.Errorf("Labels()[%s] = %q, want the test's label %q", LabelTest, got, env.Label)
	}
}

// dockerObjects names what createLabelled made.
type dockerObjects struct {
	containerID, network, volume, anonVolume string
}

func TestDockerCleanupRemovesLabelledObjects(t *testing.T) {
	t.Parallel()
	img := TestImage(t, "skiff-test/cleanup:"+TestName(t))
	env := Docker(t)
	node := UniqueName("node")

	// Labelled with this test's label only: neither cleanup below may touch it.
	bystander := createLabelled(t, env.Client, img, env.Labels())
	var byTest, byNode dockerObjects
	t.Run("test label", func(t *testing.T) {
		sub := Docker(t)
		byTest = createLabelled(t, sub.Client, img, sub.Labels())
	})
	t.Run("node label", func(t *testing.T) {
		env.CleanupNode(t, node)
		labels := maps.Clone(env.Labels())
		labels[LabelNode] = node
		byNode = createLabelled(t, env.Client, img, labels)
	})

	assertObjects(t, env.Client, byTest, false)
	assertObjects(t, env.Client, byNode, false)
	assertObjects(t, env.Client, bystander, true)
}

// createLabelled creates a network, a volume and a running container attached
// to both (plus an anonymous volume), all carrying labels.
func createLabelled(t *testing.T, cli *client.Client, img string, labels map[string]string) dockerObjects {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs := dockerObjects{network: UniqueName("net"), volume: UniqueName("vol")}
	if _, err := cli.NetworkCreate(ctx, objs.network, network.CreateOptions{Labels: labels}); err != nil {
		t.Fatalf("create network: %v", err)
	}
	if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: objs.volume, Labels: labels}); err != nil {
		t.Fatalf("create volume: %v", err)
	}
	created, err := cli.ContainerCreate(ctx,
		&container.Config{Image: img, Labels: labels, Volumes: map[string]struct{}{"/anon": {}}},
		&container.HostConfig{NetworkMode: container.NetworkMode(objs.network), Binds: []string{objs.volume + ":/data"}},
		nil, nil, UniqueName("ctr"))
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	objs.containerID = created.ID
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container: %v", err)
	}
	inspect, err := cli.ContainerInspect(ctx, created.ID)
	if err != nil {
		t.Fatalf("inspect container: %v", err)
	}
	for _, m := range inspect.Mounts {
		if m.Destination == "/anon" {
			objs.anonVolume = m.Name
		}
	}
	if objs.anonVolume == "" {
		t.Fatalf("container %s has no anonymous volume at /anon: %+v", created.ID, inspect.Mounts)
	}
	return objs
}

// assertObjects checks that every object in objs exists, or that none does.
func assertObjects(t *testing.T, cli *client.Client, objs dockerObjects, wantExist bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, errC := cli.ContainerInspect(ctx, objs.containerID)
	_, errN := cli.NetworkInspect(ctx, objs.network, network.InspectOptions{})
	_, errV := cli.VolumeInspect(ctx, objs.volume)
	_, errA := cli.VolumeInspect(ctx, objs.anonVolume)
	for what, err := range map[string]error{
		"container " + objs.containerID: errC,
		"network " + objs.network:       errN,
		"volume " + objs.volume:         errV,
		"anonymous volume":              errA,
	} {
		switch {
		case wantExist && err != nil:
			t.Errorf("%s: want it kept, inspect: %v", what, err)
		case !wantExist && err == nil:
			t.Errorf("%s: still exists after cleanup", what)
		case !wantExist && !cerrdefs.IsNotFound(err):
			t.Errorf("%s: want not found, inspect: %v", what, err)
		}
	}
}
