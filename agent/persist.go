package agent

import (
	"time"

	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/manifests"
)

// persist writes the ledger's effects to the store. A write that fails is
// logged: the node keeps running on what it knows in memory, and the next
// effect of that stack writes it again.
func (a *Agent) persist(effects []ledger.Effect) {
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
		if err != nil {
			a.log.Error("record stack state", "stack", e.Stack, "op", string(e.Op), "error", err)
		}
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
	if err := a.store.PutRevision(rev); err != nil {
		a.log.Error("record revision", "revision", short(rev.Commit), "error", err)
	}
}

func (a *Agent) setMeta(key store.MetaKey, value string) {
	if _, err := a.store.SetMeta(key, value); err != nil {
		a.log.Error("record meta", "key", string(key), "error", err)
	}
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
