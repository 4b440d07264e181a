package agent

import (
	"slices"
	"time"

	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/manifests"
)

// persist writes the ledger's effects to the store. A write that fails (a
// full disk) is noted: the node keeps running and healing on what it knows
// in memory, status says so, and flushStore writes it all again once the
// store takes writes.
func (a *Agent) persist(effects []ledger.Effect) {
	a.storeMu.Lock()
	defer a.storeMu.Unlock()
	for _, e := range effects {
		var err error
		switch e.Op {
		case ledger.OpSave:
			err = a.saveStack(*e.Spec, e.Revision)
		case ledger.OpForget:
			err = a.store.DeleteStack(e.Stack)
		case ledger.OpFail:
			_, err = a.store.SetFailed(e.Stack, store.Failed{Commit: e.Failed.Commit, Digest: e.Failed.Digest})
		case ledger.OpClearFail:
			_, err = a.store.ClearFailed(e.Stack)
		}
		a.stored("record stack state of "+e.Stack, err)
	}
}

// saveStack records a stack's last good spec.
func (a *Agent) saveStack(st manifests.Stack, commit string) error {
	spec, err := st.MarshalStored()
	if err != nil {
		return err
	}
	return a.store.PutStack(store.AppliedStack{Stack: st.Name, Revision: commit, Spec: spec, SpecHash: st.Digest(), AppliedAt: time.Now()})
}

func (a *Agent) putRevision(rev store.Revision) {
	a.storeMu.Lock()
	defer a.storeMu.Unlock()
	a.storedRevision(rev, a.store.PutRevision(rev))
}

func (a *Agent) updateRevision(rev store.Revision) {
	a.storeMu.Lock()
	defer a.storeMu.Unlock()
	a.storedRevision(rev, a.store.UpdateRevision(rev))
}

// storedRevision notes a revision record that the store missed: flushStore
// writes it again, in the order the records were missed. A record written
// since replaces the missed one.
func (a *Agent) storedRevision(rev store.Revision, err error) {
	a.update(func(s *state) {
		i := slices.IndexFunc(s.missedRevisions, func(r store.Revision) bool { return r.Commit == rev.Commit })
		switch {
		case err == nil && i >= 0:
			s.missedRevisions = slices.Delete(s.missedRevisions, i, i+1)
		case err != nil && i >= 0:
			s.missedRevisions[i] = rev
		case err != nil:
			s.missedRevisions = append(s.missedRevisions, rev)
		}
	})
	a.stored("record revision "+short(rev.Commit), err)
}

func (a *Agent) setMeta(key store.MetaKey, value string) {
	a.storeMu.Lock()
	defer a.storeMu.Unlock()
	_, err := a.store.SetMeta(key, value)
	a.stored("record "+string(key), err)
}

// stored notes the outcome of a store write. The first failure is logged
// and shown in status (one line per state change, not one per write), and
// marks the store as missing writes; only flushStore clears that.
func (a *Agent) stored(what string, err error) {
	if err == nil {
		return
	}
	a.update(func(s *state) {
		s.storeMissed = true
		if s.storeStatus.WriteError == "" {
			now := time.Now()
			s.storeStatus.WriteErrorSince = &now
			a.log.Warn("state database writes fail; the node keeps running and healing on what it knows in memory, and writes it again once it can",
				"path", a.store.Path(), "error", err)
		}
		s.storeStatus.WriteError = what + ": " + err.Error()
	})
	a.log.Debug("store write failed", "what", what, "error", err)
}

// flushStore writes again what the store missed while its writes failed:
// every stack's last good spec and failed spec, the stacks forgotten
// meanwhile, the revisions wanted and applied, and the revision records it
// missed. It is a no-op while nothing was missed.
func (a *Agent) flushStore() {
	// Under storeMu, the snapshot below is at least as new as every write
	// that already landed, and no write lands between it and the rewrite.
	a.storeMu.Lock()
	defer a.storeMu.Unlock()
	a.mu.Lock()
	missed := a.st.storeMissed
	entries := a.st.ledger.Entries()
	wanted, applied := a.st.wanted, a.st.applied
	revs := slices.Clone(a.st.missedRevisions)
	a.mu.Unlock()
	if !missed {
		return
	}
	err := a.rewrite(entries, wanted, applied, revs)
	a.update(func(s *state) {
		if err != nil {
			s.storeStatus.WriteError = "write again what was missed: " + err.Error()
			return
		}
		s.missedRevisions = slices.DeleteFunc(s.missedRevisions, func(r store.Revision) bool {
			return slices.ContainsFunc(revs, func(w store.Revision) bool { return w.Commit == r.Commit })
		})
		if s.storeStatus.WriteErrorSince != nil {
			a.log.Info("state database writable again; what it missed is written", "path", a.store.Path(),
				"failing_for", time.Since(*s.storeStatus.WriteErrorSince).Round(time.Second))
		}
		s.storeMissed, s.storeStatus.WriteError, s.storeStatus.WriteErrorSince = false, "", nil
	})
}

func (a *Agent) rewrite(entries []ledger.Entry, wanted, applied string, revs []store.Revision) error {
	stored, err := a.store.Stacks()
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, e := range entries {
		known[e.Name] = true
		if e.Spec == nil {
			continue // adopted, or never applied here: nothing to record
		}
		if err := a.saveStack(*e.Spec, e.Revision); err != nil {
			return err
		}
		if e.Failed.Commit != "" {
			_, err = a.store.SetFailed(e.Name, store.Failed{Commit: e.Failed.Commit, Digest: e.Failed.Digest})
		} else {
			_, err = a.store.ClearFailed(e.Name)
		}
		if err != nil {
			return err
		}
	}
	for _, st := range stored {
		if !known[st.Stack] {
			if err := a.store.DeleteStack(st.Stack); err != nil {
				return err
			}
		}
	}
	for key, value := range map[store.MetaKey]string{store.MetaWantedRevision: wanted, store.MetaAppliedRevision: applied} {
		if value == "" {
			continue
		}
		if _, err := a.store.SetMeta(key, value); err != nil {
			return err
		}
	}
	for _, r := range revs {
		if err := a.store.UpdateRevision(r); err != nil {
			return err
		}
	}
	return nil
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
