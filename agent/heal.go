package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/reconcile"
)

// healDebounce gathers a burst of events (a stack's containers dying
// together) into one healing round.
const healDebounce = 100 * time.Millisecond

// healLoop keeps the node on its desired state between revisions: on Docker
// events, and every HealEvery as a safety net. It never touches the
// network, and it pings the watchdog on every round.
func (a *Agent) healLoop(ctx context.Context) {
	b := backoff{min: 250 * time.Millisecond, max: a.opts.HealEvery, jitter: 0.1}
	delay := a.opts.HealEvery
	for {
		if !sleep(ctx, delay, a.healReq) {
			return
		}
		if !sleep(ctx, healDebounce, nil) {
			return
		}
		if a.opts.OnAlive != nil {
			a.opts.OnAlive()
		}
		if err := a.heal(ctx); err != nil {
			delay = b.next()
			continue
		}
		b.reset()
		delay = a.opts.HealEvery
	}
}

// heal plans the in-memory desired state against the node and applies what
// it finds: a killed or removed container comes back.
func (a *Agent) heal(ctx context.Context) error {
	unlock, err := a.lockReconcile(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	d := a.desiredState()
	d.Healing = true
	plan, err := a.plan(ctx, &d)
	if err != nil {
		return err
	}
	if plan.Empty() {
		return nil
	}
	for _, act := range plan.Actions {
		a.log.Info("repair", "stack", act.Stack, "action", string(act.Kind), "object", act.Name, "reason", act.Reason)
	}
	res := reconcile.Apply(ctx, a.eng, d, plan)
	a.update(func(s *state) { s.counters.Repairs += uint64(len(plan.Actions)) })
	a.refreshObserved(ctx)
	if err := res.Err(); err != nil {
		a.log.Warn("repair incomplete", "error", err)
		return err
	}
	return nil
}

// plan observes the node, fills d's image IDs and returns the plan. It
// records the observation for status and the engine's availability.
func (a *Agent) plan(ctx context.Context, d *reconcile.Desired) (reconcile.Plan, error) {
	observed, err := a.eng.Observe(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.setDocker(false, "", err)
		}
		return reconcile.Plan{}, fmt.Errorf("observe: %w", err)
	}
	a.setDocker(true, a.eng.APIVersion(), nil)
	a.update(func(s *state) { s.observed = observed })
	images, err := a.eng.ImageIDs(ctx, imageRefs(d.Stacks))
	if err != nil {
		return reconcile.Plan{}, err
	}
	d.Images = images
	return reconcile.Build(*d, observed), nil
}

func (a *Agent) refreshObserved(ctx context.Context) {
	if observed, err := a.eng.Observe(ctx); err == nil {
		a.update(func(s *state) { s.observed = observed })
	}
}

// watchEvents turns the node's container events into healing rounds.
func (a *Agent) watchEvents(ctx context.Context) {
	a.eng.Watch(ctx, func(e engine.Event) {
		a.log.Debug("container event", "action", e.Action, "container", e.Container, "stack", e.Stack)
		notify(a.healReq)
	}, func(connected bool, err error) {
		if connected {
			a.setDocker(true, a.eng.APIVersion(), nil)
			notify(a.healReq) // anything may have happened while the stream was down
			return
		}
		a.setDocker(false, "", err)
	})
}
