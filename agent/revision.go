package agent

import (
	"context"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/manifests"
)

// takeRevision makes a loaded revision what the node wants: the ledger takes
// its stacks, and applying starts. seen says the branch head was just seen
// at head (a poll), rather than taken up again from the checkout on disk:
// only a sighting is a new entry in the history and the wanted revision.
func (a *Agent) takeRevision(ctx context.Context, head string, d *manifests.Desired, rec store.Revision, seen bool) {
	refused := map[string]string{}
	for _, name := range d.Refused() {
		refused[name] = problemsOf(d, name)
	}
	var effects []ledger.Effect
	var loaded *loadedRevision
	a.update(func(s *state) {
		a.announceRefusals(s.ledger, head, rec, refused)
		effects, _ = s.ledger.Load(head, d.Stacks, refused)
		s.seq++
		s.loaded = &loadedRevision{commit: head, fleet: d.Fleet, record: rec, seq: s.seq, recorded: make(chan struct{})}
		loaded = s.loaded
		if seen {
			s.refused = nil
		}
		s.retry.at = time.Time{}
		s.retry.b.reset()
	})
	// The store's writes (each a commit with its fsyncs) go beside the
	// cut-over rather than before it; the revision settles after them.
	a.applies.Add(1)
	go func() {
		defer a.applies.Done()
		defer close(loaded.recorded)
		a.persist(effects)
		if seen {
			a.putRevision(rec)
			a.setMeta(store.MetaWantedRevision, head)
		} else {
			a.updateRevision(rec)
		}
	}()
	a.startApply(ctx, head)
}

// supersede abandons the wait of an update in flight of a stack whose newer
// spec can be applied now (its images are local), or that leaves the node:
// the newest commit wins. An update whose successor still waits for its
// images is left to finish: it may well pass.
func (a *Agent) supersede(head string, ready, removals []ledger.Entry) {
	for _, e := range append(slices.Clone(ready), removals...) {
		digest := ""
		if e.Target != nil {
			digest = e.Target.Digest()
		}
		if a.locks.supersede(e.Name, digest, head) {
			a.log.Info("update superseded by a newer commit; its wait is abandoned", "stack", e.Name, "revision", short(head))
		}
	}
}

func (a *Agent) startApply(ctx context.Context, head string) {
	a.applies.Add(1)
	go func() {
		defer a.applies.Done()
		a.applyRevision(ctx, head)
	}()
}

// applyRevision brings the node to what the ledger wants for head: the
// images of every changed stack are prefetched, stacks that leave the node
// (and services that leave a stack) go first, then each stack whose images
// are local is updated in its own transaction, beside the others. A stack
// whose images are missing waits, alone.
func (a *Agent) applyRevision(ctx context.Context, head string) {
	start := time.Now()
	a.mu.Lock()
	loaded := a.st.loaded
	entries := a.st.ledger.Entries()
	a.mu.Unlock()
	if loaded == nil || loaded.commit != head {
		return // a newer revision came first
	}
	var updates, removals []ledger.Entry
	for _, e := range entries {
		switch {
		case e.State == ledger.Removing:
			removals = append(removals, e)
		case e.Target != nil && e.State != ledger.Applying:
			updates = append(updates, e)
		}
	}
	waiting := a.prefetchTargets(ctx, loaded.fleet, updates)
	prefetched := time.Since(start)
	var ready []ledger.Entry
	for _, e := range updates {
		if imgs, wait := waiting[e.Name]; wait {
			a.update(func(s *state) { s.ledger.Wait(e.Name, pendingReason(imgs)) })
			continue
		}
		ready = append(ready, e)
	}
	a.supersede(head, ready, removals)
	outcomes := a.applyStacks(ctx, removals, ready)
	if ctx.Err() != nil {
		return // the agent stops: the revision is taken up again at the next start
	}
	for name, imgs := range waiting {
		outcomes[name] = store.StackOutcome{Outcome: store.OutcomePending, Error: pendingReason(imgs)}
	}
	<-loaded.recorded
	a.settleRevision(loaded, outcomes, waiting, store.Timings{Prefetch: prefetched, Reconcile: time.Since(start) - prefetched})
}

// applyStacks departs and updates stacks, each under its own lock and in
// its own goroutine; no stack's update starts before every departure is
// done.
func (a *Agent) applyStacks(ctx context.Context, removals, ready []ledger.Entry) map[string]store.StackOutcome {
	var mu sync.Mutex
	outcomes := map[string]store.StackOutcome{}
	set := func(name string, o *store.StackOutcome) {
		if o != nil {
			mu.Lock()
			outcomes[name] = *o
			mu.Unlock()
		}
	}
	var departed, done sync.WaitGroup
	departed.Add(len(removals) + len(ready))
	for _, e := range removals {
		done.Add(1)
		go func() {
			defer done.Done()
			set(e.Name, a.removeStack(ctx, e.Name, departed.Done))
		}()
	}
	for _, e := range ready {
		done.Add(1)
		go func() {
			defer done.Done()
			set(e.Name, a.updateStack(ctx, e, sync.OnceFunc(departed.Done), departed.Wait))
		}()
	}
	done.Wait()
	return outcomes
}

// settleRevision records what became of a revision's stacks in this run.
// A revision is applied when nothing of it is left to do: for the newest,
// when the ledger has settled; for an older one (a newer commit came while
// it ran), when every stack this run took on ended. Outcomes of an older
// revision count for the newest too, which left those stacks alone.
func (a *Agent) settleRevision(loaded *loadedRevision, outcomes map[string]store.StackOutcome, waiting map[string][]api.PendingImage, t store.Timings) {
	now := time.Now()
	var recs []store.Revision
	var applied, was string
	var outcome store.Outcome
	a.update(func(s *state) {
		was = s.applied
		newest := s.loaded == loaded
		r := &loaded.record
		for name, o := range outcomes {
			mergeOutcome(r, name, o)
			if !newest && s.loaded != nil && o.Outcome != store.OutcomeSuperseded {
				mergeOutcome(&s.loaded.record, name, o)
			}
		}
		r.Timings.Prefetch += t.Prefetch
		r.Timings.Reconcile += t.Reconcile
		if !newest {
			r.Outcome = olderOutcome(outcomes, waiting)
			if r.Outcome != store.OutcomeSuperseded && loaded.seq > s.appliedSeq {
				r.AppliedAt, applied, outcome = now, r.Commit, r.Outcome
				s.applied, s.appliedSeq = r.Commit, loaded.seq
			}
			recs = append(recs, *r)
		}
		if s.loaded == nil {
			return
		}
		n := &s.loaded.record
		addRefused(n, s.ledger)
		n.Timings.Total = now.Sub(n.SeenAt)
		if settled(s.ledger) {
			n.Outcome, n.AppliedAt = revisionOutcome(n.Stacks), now
			s.applied, s.appliedSeq, applied, outcome = n.Commit, s.loaded.seq, n.Commit, n.Outcome
			s.pending, s.retry.at = nil, time.Time{}
			s.retry.b.reset()
		} else if newest {
			n.Outcome = store.OutcomePending
			s.pending = pendingStatus(s, n.Commit, waiting)
			s.retry.at = now.Add(retryDelay(&s.retry, a.cfg.Source.Interval, waiting))
			nextTry(s.pending, s.retry.at)
		}
		recs = append(recs, *n)
		s.counters.Reconciles++
	})
	for _, r := range recs {
		a.updateRevision(r)
	}
	a.revisionSettled(was, applied, recs)
	if applied != "" {
		a.collectFiles()
		a.setMeta(store.MetaAppliedRevision, applied)
		_, err := a.store.SetLastSync(now)
		a.stored("record last sync", err)
		a.log.Info("revision synced", "revision", short(applied), "outcome", string(outcome), "took", now.Sub(loaded.record.SeenAt).Round(time.Millisecond))
		// The node goes idle now: hand back to the system what parsing,
		// planning and the health gates allocated (one GC), so an idle
		// agent's resident set is what it keeps, not its peak.
		debug.FreeOSMemory()
	}
}

// collectFiles removes the copies of repository files that no spec the
// ledger knows, and no container, uses any more. Nothing is collected while
// a stack is adopted: its spec, and so its files, are unknown.
func (a *Agent) collectFiles() {
	a.mu.Lock()
	complete, specs := a.st.ledger.Complete(), a.st.ledger.Specs()
	a.mu.Unlock()
	if !complete {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := a.eng.CollectFiles(ctx, specs)
	switch {
	case err != nil:
		a.log.Warn("collect repository file copies", "error", err)
	case n > 0:
		a.log.Info("repository file copies collected", "removed", n)
	}
}

// olderOutcome is how a run of a revision that a newer one followed ended:
// superseded when any of its stacks was, or is left waiting.
func olderOutcome(outcomes map[string]store.StackOutcome, waiting map[string][]api.PendingImage) store.Outcome {
	if len(waiting) > 0 {
		return store.OutcomeSuperseded
	}
	for _, o := range outcomes {
		if o.Outcome == store.OutcomeSuperseded || o.Outcome == store.OutcomePending {
			return store.OutcomeSuperseded
		}
	}
	return revisionOutcome(outcomes)
}

func nextTry(p *api.Pending, at time.Time) {
	for i := range p.Stacks {
		for j := range p.Stacks[i].Images {
			p.Stacks[i].Images[j].NextTry = at
		}
	}
}

// settled reports whether the ledger has nothing left to do for the newest
// revision: no stack waits, is being updated or is being removed.
func settled(l *ledger.Ledger) bool {
	for _, e := range l.Entries() {
		if e.State == ledger.Pending || e.State == ledger.Applying || e.State == ledger.Removing {
			return false
		}
	}
	return true
}

func mergeOutcome(r *store.Revision, stack string, o store.StackOutcome) {
	if r.Stacks == nil {
		r.Stacks = map[string]store.StackOutcome{}
	}
	r.Stacks[stack] = o
}

// addRefused records the stacks the revision refused (manifest errors).
func addRefused(r *store.Revision, l *ledger.Ledger) {
	for _, e := range l.Entries() {
		if _, has := r.Stacks[e.Name]; !has && e.State == ledger.Refused && e.Failed.Commit == "" {
			mergeOutcome(r, e.Name, store.StackOutcome{Outcome: store.OutcomeRefused, Error: e.Reason})
		}
	}
}

func revisionOutcome(stacks map[string]store.StackOutcome) store.Outcome {
	good, bad := 0, 0
	for _, o := range stacks {
		switch o.Outcome {
		case store.OutcomeApplied, store.OutcomeRemoved:
			good++
		case store.OutcomeSuperseded:
		default:
			bad++
		}
	}
	switch {
	case bad == 0:
		return store.OutcomeApplied
	case good == 0:
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
