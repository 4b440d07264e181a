package agent

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/agent/webhook"
)

// notifier is what the agent tells of what happens on the node (the notify
// webhooks); *webhook.Notifier implements it. Notify never blocks and may be
// called under the state lock.
type notifier interface {
	Notify(webhook.Event)
	Close()
}

var _ notifier = (*webhook.Notifier)(nil)

// newNotifier starts the webhooks of cfg.Notify, reading each url_file.
func newNotifier(cfg Config, opts Options) (*webhook.Notifier, error) {
	hooks := make([]webhook.Config, 0, len(cfg.Notify))
	for i, n := range cfg.Notify {
		h := webhook.Config{
			URL: n.URL, Name: fmt.Sprintf("notify[%d]", i), Format: webhook.Format(n.Format),
			PendingAfter: n.PendingAfter, OfflineAfter: n.OfflineAfter, MaxPerMinute: n.MaxPerMinute,
		}
		for _, e := range n.Events {
			h.Events = append(h.Events, webhook.Kind(e))
		}
		if n.URLFile != "" {
			data, err := os.ReadFile(n.URLFile)
			if err != nil {
				return nil, fmt.Errorf("notify[%d].url_file: %w", i, err)
			}
			h.URL = strings.TrimSpace(string(data))
			if err := webhook.CheckURL(h.URL, false); err != nil {
				return nil, fmt.Errorf("notify[%d].url_file %s: %w", i, n.URLFile, err)
			}
		}
		hooks = append(hooks, h)
	}
	return webhook.New(hooks, webhook.Options{Node: cfg.Node, Region: cfg.Region, Logger: opts.Logger})
}

// tell hands an event to the webhooks.
func (a *Agent) tell(e webhook.Event) {
	if a.hooks != nil {
		a.hooks.Notify(e)
	}
}

// stackFailed tells that a stack's update failed: rolled back to its last
// good spec when restored, else failed.
func (a *Agent) stackFailed(name, rev string, err error, restored bool) {
	kind := webhook.RolledBack
	if !restored {
		kind = webhook.Failed
	}
	a.tell(webhook.Event{Kind: kind, Revision: rev, Stack: name, Error: err.Error()})
}

// stackBlocked tells that the node refused a stack's spec (a changed
// volume, for example).
func (a *Agent) stackBlocked(name, rev string, err error) {
	a.tell(webhook.Event{Kind: webhook.Refused, Revision: rev, Stack: name, Error: err.Error()})
}

// announceRefusals tells of the stacks a revision refuses (manifest
// errors), before the ledger takes the revision in (the caller holds the
// state lock): a stack already refused for the same reason was told at an
// earlier revision, and one that rec, the revision's history record, shows
// refused was told before the agent restarted.
func (a *Agent) announceRefusals(l *ledger.Ledger, head string, rec store.Revision, refused map[string]string) {
	for _, name := range slices.Sorted(maps.Keys(refused)) {
		if e, ok := l.Get(name); ok && e.State == ledger.Refused && e.Reason == refused[name] {
			continue
		}
		if rec.Stacks[name].Outcome == store.OutcomeRefused {
			continue
		}
		a.tell(webhook.Event{Kind: webhook.Refused, Revision: head, Stack: name, Error: refused[name]})
	}
}

// revisionRefused tells that a revision is refused as a whole, unless its
// history record says so already: it was told before the agent restarted.
// It runs before refuse records it.
func (a *Agent) revisionRefused(head string, err error) {
	if rec, gerr := a.store.GetRevision(head); gerr == nil && rec.Outcome == store.OutcomeRefused {
		return
	}
	a.tell(webhook.Event{Kind: webhook.Refused, Revision: head, Error: err.Error()})
}

// revisionSettled tells that the applied revision moved from was to applied
// ("" when it did not move), with its outcome from recs (applied, or
// partial when some stacks kept their last good spec; a revision none of
// whose stacks applied is no news: each failure was told), and reports the
// pending condition as it is now.
func (a *Agent) revisionSettled(was, applied string, recs []store.Revision) {
	if applied != "" && applied != was {
		outcome := store.OutcomeApplied
		for _, r := range recs {
			if r.Commit == applied {
				outcome = r.Outcome
			}
		}
		if outcome != store.OutcomeFailed {
			a.tell(webhook.Event{Kind: webhook.Applied, Revision: applied, Outcome: string(outcome)})
		}
	}
	a.pendingChanged()
}

// pendingChanged reports the pending condition of the wanted revision as
// the state holds it: a webhook is told once it lasted pending_after.
func (a *Agent) pendingChanged() {
	a.mu.Lock()
	p := a.st.pending
	e := webhook.Event{Kind: webhook.Pending, Cleared: p == nil}
	if p != nil {
		e.Revision, e.Since, e.Error, e.Images = p.Revision, p.Since, p.Reason, pendingImages(p)
	}
	a.mu.Unlock()
	a.tell(e)
}

func pendingImages(p *api.Pending) []webhook.Image {
	var out []webhook.Image
	for _, st := range p.Stacks {
		for _, img := range st.Images {
			if !slices.ContainsFunc(out, func(w webhook.Image) bool { return w.Image == img.Image }) {
				out = append(out, webhook.Image{Image: img.Image, Registries: slices.Clone(img.Registries), Error: img.Error})
			}
		}
	}
	return out
}

// sourceOffline and sourceOnline report the Git source's reachability as it
// changes (the caller holds the state lock): a webhook is told of an outage
// that lasted offline_after, and of its end.
func (a *Agent) sourceOffline(since time.Time, err error) {
	a.tell(webhook.Event{Kind: webhook.Offline, Since: since, Error: err.Error()})
}

func (a *Agent) sourceOnline(since time.Time) {
	a.tell(webhook.Event{Kind: webhook.Offline, Since: since, Cleared: true})
}
