package reconcile

import (
	"context"
	"time"

	"github.com/skiffops/skiff/manifests"
)

// Engine is what the executor needs of the container engine; agent/engine
// implements it over the Docker API.
type Engine interface {
	// CreateNetwork and CreateVolume create a stack's network or named
	// volume by its key in the Compose project.
	CreateNetwork(ctx context.Context, s *manifests.Stack, key string) error
	CreateVolume(ctx context.Context, s *manifests.Stack, key string) error
	// CreateContainer creates a replica, connected to all its networks but
	// not started, and returns its ID.
	CreateContainer(ctx context.Context, r CreateRequest) (id string, err error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer stops a container within its stop_grace_period.
	StopContainer(ctx context.Context, id string) error
	RenameContainer(ctx context.Context, id, name string) error
	// RemoveContainer stops a container within its stop_grace_period and
	// removes it.
	RemoveContainer(ctx context.Context, id string) error
	RemoveNetwork(ctx context.Context, id string) error
	// WaitReady is the health gate: it returns nil once a started container
	// is healthy (when it has a healthcheck) or has kept running, without
	// restarting, for grace; an error when it fails either. It returns
	// ctx's error as soon as ctx ends.
	WaitReady(ctx context.Context, id string, grace time.Duration) error
	// WaitCondition waits until every one of the containers ids (the
	// replicas of a dependency that carry its current spec) satisfies a
	// depends_on condition: service_started, service_healthy or
	// service_completed_successfully.
	WaitCondition(ctx context.Context, ids []string, condition string) error
}

// CreateRequest names the replica to create.
type CreateRequest struct {
	Stack    *manifests.Stack
	Service  string
	Number   int
	Name     string
	Revision string // the commit this container's spec comes from
	// Replaces is the ID of the container this one replaces, if any: its
	// anonymous volumes are carried over, as compose does.
	Replaces string
}
