package engine

import (
	"context"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// Bounds of a stop: the engine waits for the container's own stop timeout
// (stop_grace_period, 10s unless set) before it kills, so the call's
// deadline is that timeout plus CallTimeout, however long the stack asks
// for. A negative stop timeout makes the engine wait for ever; skiff gives
// up after maxStopWait.
const (
	defaultStopWait = 10 * time.Second
	maxStopWait     = 10 * time.Minute
)

// inspect inspects a container within CallTimeout.
func (e *Engine) inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	info, err := e.cli.ContainerInspect(ctx, id)
	if err != nil {
		return info, fmt.Errorf("inspect %s: %w", short(id), err)
	}
	return info, nil
}

// StartContainer starts a created or stopped container, decrypting again
// the files it mounts from the secrets directory when they are gone.
func (e *Engine) StartContainer(ctx context.Context, id string) error {
	e.files.mu.RLock()
	defer e.files.mu.RUnlock()
	if err := e.restoreSecrets(ctx, id); err != nil {
		return fmt.Errorf("start %s: %w", short(id), err)
	}
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	if err := e.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", short(id), err)
	}
	return nil
}

// StopContainer stops a container within its own stop timeout
// (stop_grace_period), then kills it. The stop timeout is read from the
// container itself, so that the call's deadline never cuts a graceful stop
// short; a container that is not running, or is gone, needs no stop.
func (e *Engine) StopContainer(ctx context.Context, id string) error {
	info, err := e.inspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return e.stop(ctx, info)
}

func (e *Engine) stop(ctx context.Context, info container.InspectResponse) error {
	if info.ContainerJSONBase == nil || info.State == nil || !(info.State.Running || info.State.Restarting) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, stopWait(info.Config)+e.opts.CallTimeout)
	defer cancel()
	if err := e.cli.ContainerStop(ctx, info.ID, container.StopOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop %s: %w", short(info.ID), err)
	}
	return nil
}

// stopWait is how long the engine waits for a container to stop before it
// kills it: what container.StopOptions{} leaves to the container's config.
func stopWait(c *container.Config) time.Duration {
	switch {
	case c == nil || c.StopTimeout == nil:
		return defaultStopWait
	case *c.StopTimeout < 0:
		return maxStopWait
	}
	return time.Duration(*c.StopTimeout) * time.Second
}

// RenameContainer renames a container.
func (e *Engine) RenameContainer(ctx context.Context, id, name string) error {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	if err := e.cli.ContainerRename(ctx, id, name); err != nil {
		return fmt.Errorf("rename %s to %s: %w", short(id), name, err)
	}
	return nil
}

// RemoveContainer stops a container gracefully and removes it. Anonymous
// volumes are kept (skiff never removes data); a container already gone is
// not an error.
func (e *Engine) RemoveContainer(ctx context.Context, id string) error {
	info, err := e.inspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if err := e.stop(ctx, info); err != nil {
		return err
	}
	rctx, cancel := e.callCtx(ctx)
	defer cancel()
	if err := e.cli.ContainerRemove(rctx, id, container.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", short(id), err)
	}
	e.log.Info("container removed", "container", short(id))
	return nil
}
