package agent

import (
	"context"
	"fmt"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/store"
)

// History returns the revisions this node saw, newest first (api.Provider).
func (a *Agent) History(_ context.Context, limit int) (api.History, error) {
	revs, err := a.store.Revisions(limit)
	if err != nil {
		return api.History{}, fmt.Errorf("read history: %w", err)
	}
	h := api.History{Revisions: []api.Revision{}}
	for _, r := range revs {
		h.Revisions = append(h.Revisions, apiRevision(r))
	}
	return h, nil
}

func apiRevision(r store.Revision) api.Revision {
	out := api.Revision{
		Commit: r.Commit, SeenAt: r.SeenAt, Verified: r.Verified, Signer: r.Signer,
		Outcome: string(r.Outcome), Error: r.Error,
	}
	if !r.AppliedAt.IsZero() {
		t := r.AppliedAt
		out.Applied = &t
	}
	if len(r.Stacks) > 0 {
		out.Stacks = map[string]api.StackOutcome{}
		for name, o := range r.Stacks {
			out.Stacks[name] = api.StackOutcome{Outcome: string(o.Outcome), Error: o.Error}
		}
	}
	return out
}
