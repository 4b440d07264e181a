package engine

import (
	"context"
	"errors"
	"fmt"
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
// a healthcheck; otherwise running, without restarting, for the grace
// period. A job that exits 0 under restart no or on-failure passes.
func (e *Engine) WaitReady(ctx context.Context, id string) error {
	info, err := e.cli.ContainerInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", short(id), err)
	}
	if hasHealthcheck(info.Config.Healthcheck) {
		return e.poll(ctx, e.healthDeadline(info.Config.Healthcheck), func(ctx context.Context) error {
			return e.checkHealthy(ctx, id)
		})
	}
	restarts := info.RestartCount
	deadline := time.Now().Add(e.opts.Grace)
	return e.poll(ctx, e.opts.Grace+e.opts.Poll*4, func(ctx context.Context) error {
		info, err := e.cli.ContainerInspect(ctx, id)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", short(id), err)
		}
		switch st := info.State; {
		case st.Status == "exited" && st.ExitCode == 0 && isJob(info.HostConfig.RestartPolicy):
			return nil
		case st.Status == "exited" || st.Status == "dead":
			return fmt.Errorf("exited (%d) within the %s grace period", st.ExitCode, e.opts.Grace)
		case st.Restarting || info.RestartCount != restarts:
			return fmt.Errorf("restarted within the %s grace period (last exit %d)", e.opts.Grace, st.ExitCode)
		case time.Now().Before(deadline):
			return errNotReady
		}
		return nil
	})
}

func (e *Engine) checkHealthy(ctx context.Context, id string) error {
	info, err := e.cli.ContainerInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", short(id), err)
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

// WaitCondition waits until every container of a service satisfies a
// depends_on condition, judged from one list call per poll.
func (e *Engine) WaitCondition(ctx context.Context, stack, service, condition string) error {
	f := e.nodeFilter(filters.Arg("label", LabelProject+"="+stack), filters.Arg("label", LabelService+"="+service))
	return e.poll(ctx, e.opts.HealthTimeout, func(ctx context.Context) error {
		cs, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			return fmt.Errorf("list containers of %s: %w", service, err)
		}
		if len(cs) == 0 {
			return fmt.Errorf("no container of service %s", service)
		}
		for _, c := range cs {
			if err := meetsCondition(c, condition); err != nil {
				return err
			}
		}
		return nil
	})
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
// limit passes, or ctx ends.
func (e *Engine) poll(ctx context.Context, limit time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(e.opts.Poll)
	defer t.Stop()
	for {
		err := check(ctx)
		if !errors.Is(err, errNotReady) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no verdict within %s: %w", limit.Round(time.Millisecond), ctx.Err())
		case <-t.C:
		}
	}
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
