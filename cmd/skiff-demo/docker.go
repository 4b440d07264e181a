package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/distribution/reference"

	"github.com/skiffops/skiff/testenv"
)

// docker is the demo's handle on the engine. Every call goes through
// testenv: the Docker client itself is only imported by agent/engine and
// testenv (DESIGN.md §4), so the handle holds the client in closures.
type docker struct {
	build           func(ctx context.Context, ref string, opts ...testenv.ImageOption) (string, error)
	push            func(ctx context.Context, local, remote string) error
	removeImage     func(ctx context.Context, ref string) error
	removeImages    func(ctx context.Context, match func(reference.Named) bool) ([]string, error)
	containers      func(ctx context.Context, label string, running bool) ([]testenv.Container, error)
	removeContainer func(ctx context.Context, name string) error
	removeNode      func(ctx context.Context, node string) error
	close           func() error
}

// connectDocker connects to the engine, or says in one line why it cannot
// and what to do.
func connectDocker(ctx context.Context) (docker, error) {
	cli, err := testenv.ConnectDocker(ctx)
	if err != nil {
		return docker{}, fmt.Errorf("%w; %s", err, dockerHint())
	}
	return docker{
		build: func(ctx context.Context, ref string, opts ...testenv.ImageOption) (string, error) {
			return testenv.BuildTestImage(ctx, cli, ref, opts...)
		},
		push: func(ctx context.Context, local, remote string) error {
			return testenv.PushImage(ctx, cli, local, remote)
		},
		removeImage: func(ctx context.Context, ref string) error { return testenv.RemoveImage(ctx, cli, ref) },
		removeImages: func(ctx context.Context, match func(reference.Named) bool) ([]string, error) {
			return testenv.RemoveImagesNamed(ctx, cli, match)
		},
		containers: func(ctx context.Context, label string, running bool) ([]testenv.Container, error) {
			return testenv.Containers(ctx, cli, label, running)
		},
		removeContainer: func(ctx context.Context, name string) error { return testenv.RemoveContainer(ctx, cli, name) },
		removeNode:      func(ctx context.Context, node string) error { return testenv.RemoveNodeObjects(ctx, cli, node) },
		close:           cli.Close,
	}, nil
}

// dockerHint says how to get an engine the demo can use.
func dockerHint() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" && !strings.HasPrefix(h, "unix://") {
		return "the demo needs a Docker engine on this machine (DOCKER_HOST=" + h + " is not a local socket): unset DOCKER_HOST or point it at a local engine"
	}
	return "the demo needs a Docker engine on this machine: install Docker Engine (https://docs.docker.com/engine/install/, or apt-get install docker.io), start it (systemctl start docker) and make sure you may use its socket (the docker group, or root)"
}
