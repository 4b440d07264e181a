package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// healDebounce gathers a burst of events (a stack's containers dying
// together) into one healing round.
const healDebounce = 100 * time.Millisecond

// healLoop keeps the node on its last good specs between revisions: on
// Docker events, and every HealEvery as a safety net. It never touches the
// network.
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
		a.flushStore()
		if err := a.heal(ctx); err != nil {
			delay = b.next()
			continue
		}
		b.reset()
		delay = a.opts.HealEvery
	}
}

// heal brings every stack that healing may act on (ledger.Entry.Heals)
// back to its last good spec: a killed or removed container comes back. A
// stack whose lock is taken (an update runs) is skipped, never waited for.
func (a *Agent) heal(ctx context.Context) error {
	var held []ledger.Entry
	for _, e := range a.entries() {
		if !e.Heals() {
			continue
		}
		unlock, ok := a.locks.tryLock(e.Name)
		if !ok {
			continue
		}
		defer unlock()
		held = append(held, e)
	}
	obs, err := a.observe(ctx)
	if err != nil || len(held) == 0 {
		return err
	}
	var errs []error
	for _, e := range held {
		// The entry may have changed between the copy and the lock.
		if cur, ok := a.entry(e.Name); !ok || !cur.Heals() || cur.Spec.Digest() != e.Spec.Digest() {
			continue
		}
		err := a.healStack(ctx, e.Spec, e.Revision, obs)
		a.noteRepair(e.Name, err)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// noteRepair logs the changes of a stack's repairs, not every round: the
// first failure is a warning, the failures after it are debug lines, and
// the first success after them says so.
func (a *Agent) noteRepair(stack string, err error) {
	a.update(func(s *state) {
		f, failing := s.repairFailing[stack]
		switch {
		case err != nil && !failing:
			s.repairFailing[stack] = repairFailure{since: time.Now(), err: err.Error()}
			a.log.Warn("repair failed; retried every healing round", "stack", stack, "error", err)
		case err != nil:
			s.repairFailing[stack] = repairFailure{since: f.since, err: err.Error()}
			a.log.Debug("repair failed again", "stack", stack, "error", err)
		case failing:
			delete(s.repairFailing, stack)
			a.log.Info("repair succeeded", "stack", stack, "failing_for", time.Since(f.since).Round(time.Second))
		}
	})
}

// repairing reports whether the stack's repairs are failing: their actions
// were logged when they first failed.
func (a *Agent) repairing(stack string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, failing := a.st.repairFailing[stack]
	return failing
}

// healStack converges one stack, whose lock the caller holds, to spec
// without health gates.
func (a *Agent) healStack(ctx context.Context, spec *manifests.Stack, revision string, obs reconcile.Observed) error {
	images, err := a.eng.ImageIDs(ctx, imageRefs(spec))
	if err != nil {
		return err
	}
	sp := reconcile.PlanStack(spec, revision, obs, images)
	if sp.Empty() {
		return nil
	}
	level := slog.LevelInfo
	if a.repairing(spec.Name) {
		level = slog.LevelDebug // logged when the repairs began to fail
	}
	for _, act := range sp.Actions() {
		a.log.Log(ctx, level, "repair", "stack", act.Stack, "action", string(act.Kind), "object", act.Name, "reason", act.Reason)
	}
	res := reconcile.ApplyStack(ctx, a.eng, sp, reconcile.Options{})
	a.update(func(s *state) { s.counters.Repairs += uint64(len(sp.Actions())) })
	a.refreshObserved(ctx)
	if res.Outcome != reconcile.Applied {
		return fmt.Errorf("repair %s: %s: %w", spec.Name, res.Outcome, res.Err)
	}
	return nil
}

// observe lists the node's objects and records the observation for status
// and the engine's availability.
func (a *Agent) observe(ctx context.Context) (reconcile.Observed, error) {
	obs, err := a.eng.Observe(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.setDocker(false, "", err)
		}
		return obs, fmt.Errorf("observe: %w", err)
	}
	a.setDocker(true, a.eng.APIVersion(), nil)
	a.update(func(s *state) { s.observed = obs })
	return obs, nil
}

func (a *Agent) refreshObserved(ctx context.Context) {
	_, _ = a.observe(ctx)
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

// imageRefs returns the images of the stacks' services, each once.
func imageRefs(stacks ...*manifests.Stack) []string {
	var refs []string
	seen := map[string]bool{}
	for _, s := range stacks {
		for _, svc := range s.Services {
			if !seen[svc.Image] {
				seen[svc.Image] = true
				refs = append(refs, svc.Image)
			}
		}
	}
	return refs
}
