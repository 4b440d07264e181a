package agent

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// applyRevision reconciles the node to head's desired state. Stacks refused
// at head, or that failed at head before, keep their last good spec; a stack
// whose update fails is rolled back and keeps its last good spec too.
func (a *Agent) applyRevision(ctx context.Context, head string, d *manifests.Desired, rev *store.Revision) error {
	unlock, err := a.lockReconcile(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	start := time.Now()
	prev := a.snapshotDesired()
	next := a.nextDesired(head, d, prev)
	desired := toReconcile(head, next)
	plan, err := a.plan(ctx, &desired)
	if err != nil {
		return err
	}
	res := reconcile.Apply(ctx, a.eng, desired, plan)
	if ctx.Err() != nil {
		// The agent is stopping: what did not finish was rolled back, and
		// the revision stays pending, to be applied at the next start. A
		// stop is not a failure of the revision.
		return ctx.Err()
	}
	a.refreshObserved(ctx)
	rev.Timings.Reconcile = time.Since(start)
	rev.Stacks = map[string]store.StackOutcome{}
	for _, sr := range res.Stacks {
		if sr.Outcome == reconcile.Applied {
			continue
		}
		a.log.Warn("stack not applied; it keeps its last good spec", "stack", sr.Stack, "revision", short(head),
			"outcome", string(sr.Outcome), "error", sr.Err)
		rev.Stacks[sr.Stack] = store.StackOutcome{Outcome: storeOutcome(sr.Outcome), Error: sr.Err.Error()}
		a.revertStack(next, prev, sr.Stack, head)
	}
	for _, name := range d.Refused() {
		rev.Stacks[name] = store.StackOutcome{Outcome: store.OutcomeRefused, Error: problemsOf(d, name)}
	}
	a.commitDesired(head, next, prev, rev)
	a.update(func(s *state) {
		s.counters.Reconciles++
		if len(rev.Stacks) > 0 {
			s.counters.ReconcileFails++
		}
	})
	return nil
}

// nextDesired is what the node should run after head: head's stacks, but
// the last good spec for stacks refused at head or that already failed at
// head. A stack whose spec head does not change keeps its revision.
func (a *Agent) nextDesired(head string, d *manifests.Desired, prev map[string]desiredStack) map[string]desiredStack {
	a.mu.Lock()
	outcomes := maps.Clone(a.st.outcomes)
	a.mu.Unlock()
	next := map[string]desiredStack{}
	for _, st := range d.Stacks {
		old, had := prev[st.Name]
		switch {
		case outcomes[st.Name].failed == head && had:
			next[st.Name] = old
		case outcomes[st.Name].failed == head:
			// failed at head and never applied before: nothing to run
		case had && stackHash(old.stack) == stackHash(st):
			next[st.Name] = desiredStack{stack: st, revision: old.revision}
		default:
			next[st.Name] = desiredStack{stack: st, revision: head}
		}
	}
	for _, name := range d.Refused() {
		if old, had := prev[name]; had {
			next[name] = old
		}
	}
	return next
}

// revertStack puts back a stack's last good spec after its update failed.
func (a *Agent) revertStack(next, prev map[string]desiredStack, name, head string) {
	if old, had := prev[name]; had {
		next[name] = old
	} else {
		delete(next, name)
	}
	a.update(func(s *state) {
		o := s.outcomes[name]
		o.failed = head
		s.outcomes[name] = o
	})
	if _, err := a.store.SetFailed(name, head); err != nil {
		a.log.Error("record failed revision", "stack", name, "error", err)
	}
}

// commitDesired makes next the desired state, in memory and in the store.
func (a *Agent) commitDesired(head string, next, prev map[string]desiredStack, rev *store.Revision) {
	for name, ds := range next {
		if old, had := prev[name]; had && old.revision == ds.revision && stackHash(old.stack) == stackHash(ds.stack) {
			continue
		}
		a.saveStack(ds.stack, ds.revision)
	}
	for name := range prev {
		if _, kept := next[name]; !kept {
			if err := a.store.DeleteStack(name); err != nil {
				a.log.Error("forget removed stack", "stack", name, "error", err)
			}
		}
	}
	a.update(func(s *state) {
		s.desired = next
		for name := range next {
			o := s.outcomes[name]
			if so, bad := rev.Stacks[name]; bad {
				o.outcome, o.err = string(so.Outcome), so.Error
			} else {
				o = stackOutcome{outcome: "applied"}
			}
			s.outcomes[name] = o
		}
	})
	for name := range next {
		if _, bad := rev.Stacks[name]; !bad {
			if _, err := a.store.ClearFailed(name); err != nil {
				a.log.Error("clear failed revision", "stack", name, "error", err)
			}
		}
	}
	rev.Outcome = revisionOutcome(rev.Stacks, len(next))
}

// finishRevision records the end of head's processing: it is final, and
// the revision is in the history.
func (a *Agent) finishRevision(rev store.Revision, d *manifests.Desired) {
	now := time.Now()
	if rev.Outcome != store.OutcomeRefused {
		rev.AppliedAt = now
	}
	a.putRevision(rev)
	a.update(func(s *state) {
		s.final, s.wanted, s.pending = rev.Commit, rev.Commit, nil
		if rev.Outcome != store.OutcomeRefused {
			s.applied = rev.Commit
		}
	})
	for key, value := range map[store.MetaKey]string{store.MetaWantedRevision: rev.Commit, store.MetaAppliedRevision: a.desiredState().Revision} {
		if _, err := a.store.SetMeta(key, value); err != nil {
			a.log.Error("record meta", "key", string(key), "error", err)
		}
	}
	if d != nil {
		a.log.Info("revision synced", "revision", short(rev.Commit), "outcome", string(rev.Outcome),
			"stacks", len(d.Stacks), "took", rev.Timings.Total.Round(time.Millisecond))
	}
}

func (a *Agent) snapshotDesired() map[string]desiredStack {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.st.desired)
}

func toReconcile(head string, m map[string]desiredStack) reconcile.Desired {
	d := reconcile.Desired{Revision: head, StackRevisions: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		d.Stacks = append(d.Stacks, m[name].stack)
		d.StackRevisions[name] = m[name].revision
	}
	return d
}

func storeOutcome(o reconcile.Outcome) store.Outcome {
	if o == reconcile.RolledBack {
		return store.OutcomeRolledBack
	}
	return store.OutcomeFailed
}

func revisionOutcome(bad map[string]store.StackOutcome, total int) store.Outcome {
	switch {
	case len(bad) == 0:
		return store.OutcomeApplied
	case len(bad) >= total && total > 0:
		return store.OutcomeFailed
	}
	return store.OutcomePartial
}

func problemsOf(d *manifests.Desired, stack string) string {
	var msgs []string
	for _, p := range d.Problems {
		if p.Stack == stack && p.Severity == manifests.Error {
			msgs = append(msgs, p.String())
		}
	}
	return strings.Join(msgs, "; ")
}

func imageRefs(stacks []manifests.Stack) []string {
	var refs []string
	for _, s := range stacks {
		for _, svc := range s.Services {
			if !slices.Contains(refs, svc.Image) {
				refs = append(refs, svc.Image)
			}
		}
	}
	return refs
}
