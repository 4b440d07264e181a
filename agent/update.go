package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// lockWait is how long an update waits for its stack's lock before it is
// left for the revision's next try.
const lockWait = 3 * time.Second

// removeStack removes the containers and networks of a stack a good
// revision no longer places; departed is called once they are gone (or
// could not be removed). Its volumes stay.
func (a *Agent) removeStack(ctx context.Context, name string, departed func()) *store.StackOutcome {
	defer departed()
	unlock, err := a.locks.lock(ctx, name)
	if err != nil {
		return nil
	}
	defer unlock()
	if e, ok := a.entry(name); !ok || e.State != ledger.Removing {
		return nil // placed again meanwhile
	}
	obs, err := a.observe(ctx)
	if err != nil {
		return &store.StackOutcome{Outcome: store.OutcomePending, Error: err.Error()}
	}
	sp := reconcile.PlanRemoval(name, obs)
	for _, act := range sp.Actions() {
		a.log.Info("remove", "stack", name, "action", string(act.Kind), "object", act.Name, "reason", act.Reason)
	}
	if _, err := reconcile.Depart(ctx, a.eng, sp); err != nil {
		a.log.Warn("stack removal incomplete; retried", "stack", name, "error", err)
		return &store.StackOutcome{Outcome: store.OutcomePending, Error: err.Error()}
	}
	var effects []ledger.Effect
	a.update(func(s *state) { effects = s.ledger.Removed(name) })
	a.persist(effects)
	a.refreshObserved(ctx)
	return &store.StackOutcome{Outcome: store.OutcomeRemoved}
}

// updateStack applies a stack's target as one transaction under the
// stack's lock: its departures first, then (once every stack of the
// revision departed: arrive, then waitAll) the rest, gated. A newer commit
// that changes the stack abandons the wait. A failure rolls the stack back
// and restores its last good spec.
func (a *Agent) updateStack(ctx context.Context, e ledger.Entry, arrive, waitAll func()) *store.StackOutcome {
	defer arrive()
	digest := e.Target.Digest()
	// The lock is free, or held by an update this revision superseded (it
	// lets go at once), or by healing. Anything longer is another update
	// in its gate: this one is left for the revision's next try rather than
	// holding up the others.
	lockCtx, cancel := context.WithTimeout(ctx, lockWait)
	unlock, err := a.locks.lock(lockCtx, e.Name)
	cancel()
	if err != nil {
		return nil
	}
	defer unlock()
	var target *manifests.Stack
	var rev string
	var ok bool
	a.update(func(s *state) { target, rev, ok = s.ledger.Begin(e.Name, digest) })
	if !ok {
		return nil // superseded, or applied by an update that held the lock
	}
	wait, end := a.locks.begin(ctx, e.Name, digest)
	defer end()
	sp, err := a.planTarget(ctx, target, rev)
	departed := err == nil && len(sp.Depart) > 0
	if departed {
		_, err = reconcile.Depart(ctx, a.eng, sp)
	}
	arrive()
	waitAll()
	if departed && err == nil {
		// What it departed is gone: plan again. Other stacks' departures
		// touch none of this stack's objects.
		sp, err = a.planTarget(ctx, target, rev)
	}
	if err != nil {
		return a.postpone(e.Name, err)
	}
	a.log.Info("updating stack", "stack", e.Name, "revision", short(rev), "actions", len(sp.Actions()))
	res := reconcile.ApplyStack(ctx, a.eng, sp, reconcile.Options{Gate: true, Wait: wait})
	return a.settleStack(ctx, e.Name, target, rev, res)
}

// planTarget observes the stack's objects and plans its target.
func (a *Agent) planTarget(ctx context.Context, target *manifests.Stack, rev string) (reconcile.StackPlan, error) {
	obs, err := a.eng.ObserveStack(ctx, target.Name)
	if err != nil {
		return reconcile.StackPlan{}, fmt.Errorf("observe stack %s: %w", target.Name, err)
	}
	images, err := a.eng.ImageIDs(ctx, imageRefs(target))
	if err != nil {
		return reconcile.StackPlan{}, err
	}
	return reconcile.PlanStack(target, rev, obs, images), nil
}

// postpone puts a stack whose update could not start (the engine did not
// answer) back to waiting: it is retried with the revision's next try.
func (a *Agent) postpone(name string, err error) *store.StackOutcome {
	a.update(func(s *state) { s.ledger.Wait(name, err.Error()) })
	a.log.Warn("stack update postponed", "stack", name, "error", err)
	return &store.StackOutcome{Outcome: store.OutcomePending, Error: err.Error()}
}

// settleStack records how an update ended.
func (a *Agent) settleStack(ctx context.Context, name string, target *manifests.Stack, rev string, res reconcile.StackResult) *store.StackOutcome {
	var effects []ledger.Effect
	var out store.StackOutcome
	switch res.Outcome {
	case reconcile.Applied:
		a.update(func(s *state) { effects = s.ledger.Applied(name, target, rev) })
		out = store.StackOutcome{Outcome: store.OutcomeApplied}
		a.log.Info("stack applied", "stack", name, "revision", short(rev))
		if res.Cleanup != nil {
			a.log.Warn("stack applied; removing what it replaced is incomplete, retried", "stack", name, "error", res.Cleanup)
		}
	case reconcile.Blocked:
		a.update(func(s *state) { effects = s.ledger.Blocked(name, target, rev, res.Err.Error()) })
		out = store.StackOutcome{Outcome: store.OutcomeRefused, Error: res.Err.Error()}
		a.log.Warn("stack refused by the node; it keeps its last good spec", "stack", name, "revision", short(rev), "error", res.Err)
		a.stackBlocked(name, rev, res.Err)
	case reconcile.RolledBack, reconcile.Failed:
		if engine.IsUnreachable(res.Err) {
			// The engine went away (a daemon restart): the spec did not
			// fail, the update was cut short. It is resumed from where
			// the node is with the revision's next try; meanwhile healing
			// keeps the stack on its last good spec.
			out := a.postpone(name, fmt.Errorf("update interrupted, resumed when the docker engine answers: %w", res.Err))
			a.refreshObserved(ctx)
			return out
		}
		restored := res.Outcome == reconcile.RolledBack && a.restore(ctx, name)
		a.update(func(s *state) { effects = s.ledger.RolledBack(name, target, rev, res.Err.Error(), restored) })
		out = store.StackOutcome{Outcome: store.OutcomeRolledBack, Error: res.Err.Error()}
		if !restored {
			out.Outcome = store.OutcomeFailed
		}
		a.log.Warn("stack update failed; rolled back to its last good spec", "stack", name, "revision", short(rev),
			"restored", restored, "error", res.Err)
		a.stackFailed(name, rev, res.Err, restored)
	case reconcile.Abandoned:
		if ctx.Err() != nil {
			return nil // the agent stops
		}
		var sup errSuperseded
		if errors.As(res.Err, &sup) {
			out = store.StackOutcome{Outcome: store.OutcomeSuperseded, Error: sup.Error()}
		}
		a.log.Info("stack update abandoned", "stack", name, "revision", short(rev), "reason", res.Err)
	}
	a.persist(effects)
	a.refreshObserved(ctx)
	if out.Outcome == "" {
		return nil
	}
	return &out
}

// restore brings a stack whose update failed back to its last good spec,
// from where the node is (its undo put the old containers back; a network
// that was replaced or a container that cannot start is recreated). The
// caller holds the stack's lock. A stack with no known spec keeps what the
// undo restored.
func (a *Agent) restore(ctx context.Context, name string) bool {
	e, ok := a.entry(name)
	if !ok || e.Spec == nil {
		return true
	}
	sp, err := a.planTarget(ctx, e.Spec, e.Revision)
	if err != nil {
		a.log.Error("restore last good spec", "stack", name, "error", err)
		return false
	}
	if sp.Empty() {
		return true
	}
	res := reconcile.ApplyStack(ctx, a.eng, sp, reconcile.Options{})
	if res.Outcome != reconcile.Applied {
		a.log.Error("restore last good spec", "stack", name, "outcome", string(res.Outcome), "error", res.Err)
		return false
	}
	return true
}
