package engine_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/testenv"
)

// TestWatchSurvivesDaemonRestart follows a node's container events through
// a proxy in front of the engine; cutting the proxy ends the event stream as
// a daemon restart does. An event that happens while the stream is down
// must still be delivered once it is back.
func TestWatchSurvivesDaemonRestart(t *testing.T) {
	node := testenv.TestName(t)
	image := "skiff-test/" + node + ":1"
	testenv.TestImage(t, image)
	env := testenv.Docker(t)
	env.CleanupNode(t, node)
	proxy := testenv.FaultProxy(t, "unix:///var/run/docker.sock")
	eng, err := engine.New(context.Background(), engine.Options{
		Host: "tcp://" + proxy.Addr(), Node: node, FilesDir: filepath.Join(t.TempDir(), "files"), Poll: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })

	events := make(chan engine.Event, 16)
	states := make(chan bool, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		eng.Watch(ctx, func(e engine.Event) { events <- e }, func(up bool, _ error) { states <- up })
	}()
	t.Cleanup(func() { cancel(); <-done })
	expectState(t, states, true)

	a := runManaged(t, env, node, image, "a")
	b := runManaged(t, env, node, image, "b")
	kill(t, env, a)
	expectEvent(t, events, "die", node+"-a")

	proxy.Cut() // the daemon "restarts"
	expectState(t, states, false)
	if err := env.Client.ContainerRemove(context.Background(), b, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	expectState(t, states, true)
	expectEvent(t, events, "destroy", node+"-b")
}

// runManaged starts a container labelled as skiff's for node.
func runManaged(t *testing.T, env *testenv.DockerEnv, node, image, name string) string {
	t.Helper()
	ctx := context.Background()
	labels := env.Labels()
	labels[engine.LabelManaged], labels[engine.LabelNode] = "true", node
	labels[engine.LabelProject], labels[engine.LabelService] = "w", name
	c, err := env.Client.ContainerCreate(ctx, &container.Config{Image: image, Labels: labels}, nil, nil, nil, node+"-"+name)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func kill(t *testing.T, env *testenv.DockerEnv, id string) {
	t.Helper()
	if err := env.Client.ContainerKill(context.Background(), id, "KILL"); err != nil {
		t.Fatal(err)
	}
}

func expectEvent(t *testing.T, events <-chan engine.Event, action, name string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Action == action && e.Container == name {
				return
			}
		case <-timeout:
			t.Fatalf("no %s event for %s", action, name)
		}
	}
}

func expectState(t *testing.T, states <-chan bool, want bool) {
	t.Helper()
	select {
	case got := <-states:
		if got != want {
			t.Fatalf("watch state %v, want %v", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no watch state change to %v", want)
	}
}
