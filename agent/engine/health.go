package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Docker's healthcheck defaults, used to bound the wait for a verdict.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
)

// errNotReady means a check has no verdict yet; poll keeps waiting.
var errNotReady = errors.New("not ready")

// WaitReady is the health gate of a started container: healthy when it has
// a healthcheck; otherwise running, without restarting, for grace (0:
// Options.Grace). A job that exits 0 under restart no or on-failure passes.
// It returns ctx's error as soon as ctx ends: the caller abandons a gate
// that a newer commit superseded.
func (e *Engine) WaitReady(ctx context.Context, id string, grace time.Duration) error {
	if grace <= 0 {
		grace = e.opts.Grace
	}
	info, err := e.inspect(ctx, id)
	if err != nil {
		return ended(ctx, err)
	}
	if hasHealthcheck(info.Config.Healthcheck) {
		return e.poll(ctx, e.healthDeadline(info.Config.Healthcheck), func(ctx context.Context) error {
			return e.checkHealthy(ctx, id)
		})
	}
	restarts := info.RestartCount
	deadline := time.Now().Add(grace)
	return e.poll(ctx, grace+e.opts.Poll*4, func(ctx context.Context) error {
		info, err := e.inspect(ctx, id)
		if err != nil {
			return err
		}
		return keptRunning(info, restarts, grace, time.Now().Before(deadline))
	})
}

// keptRunning judges a container without healthcheck: nil once it ran for
// the grace period (or finished its job), errNotReady while it runs within
// it, an error when it exited or restarted.
func keptRunning(info container.InspectResponse, restarts int, grace time.Duration, within bool) error {
	switch st := info.State; {
	case st.Status == "exited" && st.ExitCode == 0 && isJob(info.HostConfig.RestartPolicy):
		return nil
	case st.Status == "exited" || st.Status == "dead":
		return fmt.Errorf("exited (%d) within the %s grace period", st.ExitCode, grace)
	case st.Restarting || info.RestartCount != restarts:
		return fmt.Errorf("restarted within the %s grace period (last exit %d)", grace, st.ExitCode)
	case within:
		return errNotReady
	}
	return nil
}

func (e *Engine) checkHealthy(ctx context.Context, id string) error {
	info, err := e.inspect(ctx, id)
	if err != nil {
		return err
	}
	st := info.State
	if st.Status == "exited" || st.Status == "dead" {
		return fmt.Errorf("exited (%d) before it was healthy", st.ExitCode)
	}
	if st.Health == nil {
		return errNotReady
	}
	switch st.Health.Status {
	case container.Healthy:
		return nil
	case container.Unhealthy:
		return fmt.Errorf("unhealthy%s", lastProbe(st.Health))
	}
	return errNotReady
}

// lastProbe quotes the output of the last failed probe, for the error.
func lastProbe(h *container.Health) string {
	if len(h.Log) == 0 {
		return ""
	}
	last := h.Log[len(h.Log)-1]
	out := strings.TrimSpace(last.Output)
	if len(out) > 200 {
		out = out[:200] + "…"
	}
	return fmt.Sprintf(": last probe exited %d: %q", last.ExitCode, out)
}

// WaitCondition waits until every one of the containers ids satisfies a
// depends_on condition, judged from one list call per poll; a container
// that is gone fails it at once.
func (e *Engine) WaitCondition(ctx context.Context, ids []string, condition string) error {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) == 0 {
		return errors.New("no container to wait for")
	}
	args := make([]filters.KeyValuePair, 0, len(ids))
	for _, id := range ids {
		args = append(args, filters.Arg("id", id))
	}
	f := filters.NewArgs(args...)
	return e.poll(ctx, e.opts.HealthTimeout, func(ctx context.Context) error {
		ctx, cancel := e.callCtx(ctx)
		defer cancel()
		cs, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			return fmt.Errorf("list containers: %w", err)
		}
		return meetAll(cs, ids, condition)
	})
}

// meetAll judges the listed containers ids: an error naming the first one
// that is gone or failed, errNotReady while one may still meet condition.
func meetAll(cs []container.Summary, ids []string, condition string) error {
	listed := make(map[string]container.Summary, len(cs))
	for _, c := range cs {
		listed[c.ID] = c
	}
	var waiting error
	for _, id := range ids {
		c, ok := listed[id]
		if !ok {
			return fmt.Errorf("container %s is gone", short(id))
		}
		if err := meetsCondition(c, condition); errors.Is(err, errNotReady) {
			waiting = err
		} else if err != nil {
			return err
		}
	}
	return waiting
}

// meetsCondition judges one container of a dependency: nil when it meets
// the condition, errNotReady while it may still, an error when it cannot.
func meetsCondition(c container.Summary, condition string) error {
	exit, health := parseStatus(c.Status)
	name := strings.TrimPrefix(firstName(c), "/")
	switch condition {
	case "service_completed_successfully":
		if c.State != "exited" {
			return errNotReady
		}
		if exit != 0 {
			return fmt.Errorf("%s exited (%d)", name, exit)
		}
		return nil
	case "service_healthy":
		switch {
		case health == "healthy":
			return nil
		case health == "unhealthy":
			return fmt.Errorf("%s is unhealthy", name)
		case health == "" && c.State == "running":
			return fmt.Errorf("%s has no healthcheck, so it can never be service_healthy", name)
		case c.State == "exited" || c.State == "dead":
			return fmt.Errorf("%s exited (%d)", name, exit)
		}
		return errNotReady
	}
	// service_started, the default.
	switch {
	case c.State == "running" || (c.State == "exited" && exit == 0):
		return nil
	case c.State == "exited" || c.State == "dead":
		return fmt.Errorf("%s exited (%d)", name, exit)
	}
	return errNotReady
}

// poll runs check every Poll until it returns anything but errNotReady, the
// limit passes, or ctx ends. Each check gets its own calls' deadlines.
func (e *Engine) poll(ctx context.Context, limit time.Duration, check func(context.Context) error) error {
	pctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(e.opts.Poll)
	defer t.Stop()
	noVerdict := func() error { return fmt.Errorf("no verdict within %s", limit.Round(time.Millisecond)) }
	for {
		err := check(pctx)
		switch {
		case ctx.Err() != nil:
			return ended(ctx, err)
		case err != nil && pctx.Err() != nil:
			return noVerdict() // the limit passed during the check
		case !errors.Is(err, errNotReady):
			return err
		}
		select {
		case <-ctx.Done():
			return ended(ctx, nil)
		case <-pctx.Done():
			return noVerdict()
		case <-t.C:
		}
	}
}

// ended returns ctx's error once ctx ended (whatever err an interrupted call
// returned, so that the caller sees it was abandoned, not failed), else err.
func ended(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("wait abandoned: %w", ctx.Err())
	}
	return err
}

func hasHealthcheck(hc *container.HealthConfig) bool {
	return hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE"
}

// healthDeadline bounds the wait for a healthcheck's verdict: the start
// period plus every retry, capped by HealthTimeout.
func (e *Engine) healthDeadline(hc *container.HealthConfig) time.Duration {
	interval, timeout, retries := hc.Interval, hc.Timeout, hc.Retries
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	if timeout <= 0 {
		timeout = defaultHealthTimeout
	}
	if retries <= 0 {
		retries = defaultHealthRetries
	}
	d := hc.StartPeriod + time.Duration(retries+1)*(interval+timeout) + 2*time.Second
	return min(d, e.opts.HealthTimeout)
}

// isJob reports whether a restart policy lets a container finish.
func isJob(p container.RestartPolicy) bool {
	return p.Name == "" || p.Name == "no" || p.Name == "on-failure"
}

func firstName(c container.Summary) string {
	if len(c.Names) > 0 {
		return c.Names[0]
	}
	return c.ID
}
