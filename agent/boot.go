package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/manifests"
)

// boot restores the desired state from the store and reconciles it before
// any network call: a node gets right after a reboot with no Git and no
// registry. A store that was rebuilt is refilled from the last checkout on
// disk, which needs no network either.
func (a *Agent) boot(ctx context.Context) {
	start := time.Now()
	a.loadStore()
	if len(a.desiredState().Stacks) == 0 {
		a.rebuildFromCheckout()
	}
	if err := a.heal(ctx); err != nil {
		a.log.Warn("boot reconcile incomplete; healing retries", "error", err)
	}
	a.log.Info("boot reconcile done", "revision", short(a.desiredState().Revision),
		"stacks", len(a.desiredState().Stacks), "took", time.Since(start).Round(time.Millisecond))
}

// loadStore fills the in-memory state from the store. A damaged record is
// a warning: that stack is left out, never the whole boot.
func (a *Agent) loadStore() {
	meta, err := a.store.Meta()
	if err != nil {
		a.log.Warn("read store meta", "error", err)
	}
	stacks, err := a.store.Stacks()
	if err != nil {
		a.log.Warn("read applied stacks from store", "error", err)
	}
	failed, err := a.store.FailedRevisions()
	if err != nil {
		a.log.Warn("read failed revisions from store", "error", err)
	}
	for _, d := range a.store.Damaged() {
		a.log.Warn("damaged store record skipped", "record", d)
	}
	a.update(func(s *state) {
		s.applied, s.wanted, s.final = meta.AppliedRevision, meta.WantedRevision, meta.AppliedRevision
		s.source.LastSuccess = meta.LastSync
		for _, rec := range stacks {
			st, err := manifests.UnmarshalStoredStack(rec.Spec)
			if err != nil {
				a.log.Warn("stored stack unreadable; skipped", "stack", rec.Stack, "error", err)
				continue
			}
			s.desired[st.Name] = desiredStack{stack: st, revision: rec.Revision}
		}
		for stack, commit := range failed {
			o := s.outcomes[stack]
			o.failed = commit
			s.outcomes[stack] = o
		}
	})
}

// rebuildFromCheckout takes the desired state from the checkout on disk when
// the store has none (first boot, or a store rebuilt after corruption).
func (a *Agent) rebuildFromCheckout() {
	commit, dir, ok := a.src.Current()
	if !ok {
		return
	}
	d, err := manifests.Load(filepath.Join(dir, a.cfg.Source.Path), a.cfg.node())
	if err != nil {
		a.log.Warn("last checkout unusable for the boot reconcile", "revision", short(commit), "error", err)
		return
	}
	a.update(func(s *state) {
		for _, st := range d.Stacks {
			s.desired[st.Name] = desiredStack{stack: st, revision: commit}
		}
		s.applied, s.final = commit, ""
	})
	for _, st := range d.Stacks {
		a.saveStack(st, commit)
	}
	a.log.Info("desired state rebuilt from the last checkout", "revision", short(commit), "stacks", len(d.Stacks))
}

// saveStack records a stack's applied spec.
func (a *Agent) saveStack(st manifests.Stack, commit string) {
	spec, err := st.MarshalStored()
	if err != nil {
		a.log.Error("encode stack for the store", "stack", st.Name, "error", err)
		return
	}
	rec := store.AppliedStack{Stack: st.Name, Revision: commit, Spec: spec, SpecHash: stackHash(st), AppliedAt: time.Now()}
	if err := a.store.PutStack(rec); err != nil {
		a.log.Error("record applied stack", "stack", st.Name, "error", err)
	}
}

// stackHash summarizes a stack's services (spec hash and replicas), to tell
// whether a new revision changed it.
func stackHash(st manifests.Stack) string {
	h := ""
	for _, svc := range st.Services {
		h += fmt.Sprintf("%s=%s*%d;", svc.Name, svc.Hash, svc.Replicas)
	}
	return h
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
