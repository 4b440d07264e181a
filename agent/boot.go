package agent

import (
	"context"
	"slices"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/manifests"
)

// boot restores what each stack runs from the store and reconciles it before
// any network call: a node gets right after a reboot with no Git and no
// registry. Stacks the node runs that the store does not know (it was lost
// or rebuilt) are adopted and left untouched until a revision decides.
func (a *Agent) boot(ctx context.Context) {
	start := time.Now()
	a.loadStore()
	a.adoptUnknown(ctx)
	if err := a.heal(ctx); err != nil {
		a.log.Warn("boot reconcile incomplete; healing retries", "error", err)
	}
	a.log.Info("boot reconcile done", "revision", short(a.appliedRevision()),
		"stacks", len(a.entries()), "took", time.Since(start).Round(time.Millisecond))
}

// loadStore fills the ledger from the store. A damaged record is a warning:
// that stack is adopted, never the whole boot lost.
func (a *Agent) loadStore() {
	meta, err := a.store.Meta()
	if err != nil {
		a.log.Warn("read store meta", "error", err)
	}
	stacks, err := a.store.Stacks()
	if err != nil {
		a.log.Warn("read applied stacks from store", "error", err)
	}
	failed, err := a.store.FailedSpecs()
	if err != nil {
		a.log.Warn("read failed specs from store", "error", err)
	}
	for _, d := range a.store.Damaged() {
		a.log.Warn("damaged store record skipped", "record", d)
	}
	last, _ := a.store.GetRevision(meta.WantedRevision)
	a.update(func(s *state) {
		s.applied, s.wanted, s.selected = meta.AppliedRevision, meta.WantedRevision, meta.AppliedRevision
		s.source.LastSuccess = meta.LastSync
		if last.Commit != "" && last.Outcome == store.OutcomeRefused {
			// The branch's head was refused before the restart: status
			// still says so, with no network.
			s.refused = &api.Refused{Revision: last.Commit, Since: last.SeenAt, Reason: last.Error}
			s.selected = last.Commit
		}
		for _, rec := range stacks {
			st, err := manifests.UnmarshalStoredStack(rec.Spec)
			if err != nil {
				a.log.Warn("stored stack unreadable: its containers are left as they are until a revision decides", "stack", rec.Stack, "error", err)
				s.ledger.Unreadable(rec.Stack, err.Error())
				continue
			}
			f := failed[rec.Stack]
			s.ledger.Restore(st, rec.Revision, ledger.FailedSpec{Commit: f.Commit, Digest: f.Digest})
		}
	})
}

// adoptUnknown adopts the stacks the node runs that the ledger does not know.
func (a *Agent) adoptUnknown(ctx context.Context) {
	obs, err := a.observe(ctx)
	if err != nil {
		a.log.Warn("observe the node at boot", "error", err)
		return
	}
	known := map[string]bool{}
	for _, e := range a.entries() {
		known[e.Name] = true
	}
	var names []string
	for _, c := range obs.Containers {
		if !known[c.Stack] && !slices.Contains(names, c.Stack) {
			names = append(names, c.Stack)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return
	}
	a.update(func(s *state) { s.ledger.Adopt(names) })
	a.log.Warn("stacks on the node with no known spec: adopted, left untouched until a revision decides", "stacks", names)
}

// takeCheckout takes up the current checkout at start, before the first
// poll: the agent may have stopped before it was applied, stacks may have
// been adopted, or the node's configuration (labels, region) changed what
// it places here. That revision was fetched, verified and loaded when the
// link moved to it; taking it up needs no Git, and a stack it leaves as it
// is costs nothing.
func (a *Agent) takeCheckout(ctx context.Context) {
	commit, dir, ok := a.src.Current()
	if !ok {
		return
	}
	d, err := a.cfg.load(dir)
	if err != nil {
		a.log.Warn("current checkout unusable; waiting for the next revision", "revision", short(commit), "error", err)
		return
	}
	rec, err := a.store.GetRevision(commit)
	if err != nil {
		rec = store.Revision{Commit: commit, SeenAt: time.Now(), Outcome: store.OutcomePending}
	}
	a.log.Info("applying the current checkout", "revision", short(commit))
	a.update(func(s *state) {
		if s.refused == nil { // a refused head stays selected: not retried until the branch moves
			s.selected = commit
		}
	})
	a.takeRevision(ctx, commit, d, rec, false)
}

func (a *Agent) appliedRevision() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.applied
}
