package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/source"
	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/manifests"
)

// errRefused marks a revision that is not applied on purpose (signature,
// no stacks/, invalid fleet.yaml): it is recorded and not retried until the
// head moves.
var errRefused = errors.New("revision refused")

// pollLoop follows the branch: every interval (jittered), or at once when
// asked, it checks the remote head and selects a new one; stacks waiting for
// their images are retried when their time comes. Failures back off, capped
// at the interval, and never end the loop. Applying runs beside it: a push
// that arrives while a stack waits in its gate is fetched at once.
func (a *Agent) pollLoop(ctx context.Context) {
	a.takeCheckout(ctx)
	interval := a.cfg.Source.Interval
	b := backoff{min: time.Second, max: max(interval, time.Second), jitter: 0.1}
	for {
		delay := jittered(interval, 0.1)
		if err := a.pollOnce(ctx); err != nil && ctx.Err() == nil {
			delay = min(b.next(), delay)
		} else {
			b.reset()
		}
		if at := a.retryAt(); !at.IsZero() {
			delay = max(0, min(delay, time.Until(at)))
		}
		if !sleep(ctx, delay, a.syncReq) {
			return
		}
	}
}

// pollOnce asks the remote for the branch head (no fetch, no disk write, no
// store write when nothing moved), selects a new head, and retries the
// current one's waiting stacks when due.
func (a *Agent) pollOnce(ctx context.Context) error {
	head, err := a.src.Head(ctx)
	a.recordPoll(head, err)
	if err != nil {
		return err
	}
	a.mu.Lock()
	selected, loaded := a.st.selected, a.st.loaded
	due := !a.st.retry.at.IsZero() && !time.Now().Before(a.st.retry.at)
	if due {
		a.st.retry.at = time.Time{}
	}
	a.mu.Unlock()
	switch {
	case head != selected:
		return a.selectHead(ctx, head)
	case due && loaded != nil && loaded.commit == head:
		a.startApply(ctx, head)
	}
	return nil
}

func (a *Agent) retryAt() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.retry.at
}

// recordPoll updates the source's status, logging only state changes: a
// partition gives one warning, not one per poll.
func (a *Agent) recordPoll(head string, err error) {
	now := time.Now()
	a.update(func(s *state) {
		s.counters.Polls++
		s.source.LastPoll = now
		if err != nil {
			s.counters.PollFailures++
			s.source.LastError = err.Error()
			if s.source.OfflineSince == nil {
				s.source.OfflineSince = &now
				a.log.Warn("git source unreachable; keeping the node on its last applied state", "error", err)
				a.sourceOffline(now, err)
			}
			return
		}
		if s.source.OfflineSince != nil {
			a.log.Info("git source reachable again", "offline_for", now.Sub(*s.source.OfflineSince).Round(time.Second))
			a.sourceOnline(*s.source.OfflineSince)
		}
		s.source.OfflineSince, s.source.LastError, s.source.LastSuccess = nil, "", now
		if s.wanted != head {
			s.wanted = head
			a.log.Info("new revision on the branch", "revision", short(head))
		}
	})
}

// selectHead brings a new head as far as the ledger: fetched, verified,
// checked out and loaded. A network failure returns an error (retried with
// backoff); a refused revision is recorded and final for that head.
func (a *Agent) selectHead(ctx context.Context, head string) error {
	start := time.Now()
	rec := store.Revision{Commit: head, SeenAt: start, Outcome: store.OutcomePending}
	d, err := a.selectRevision(ctx, head, &rec)
	switch {
	case errors.Is(err, source.ErrMoved):
		a.Sync() // the branch moved on since Head: poll again at once
		return nil
	case errors.Is(err, errRefused):
		a.refuse(head, rec, err)
		return nil
	case err != nil:
		a.setPending(head, err)
		return err
	}
	rec.Timings.Select = time.Since(start)
	a.update(func(s *state) { s.selected = head })
	a.takeRevision(ctx, head, d, rec, true)
	return nil
}

// selectRevision fetches, verifies and stages head, loads what this node
// should run from it, and only then makes it the current checkout.
func (a *Agent) selectRevision(ctx context.Context, head string, rev *store.Revision) (*manifests.Desired, error) {
	if err := a.src.Fetch(ctx, head); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", short(head), err)
	}
	a.update(func(s *state) { s.counters.Fetches++ })
	v, err := a.src.Verify(head)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRefused, err)
	}
	rev.Verified, rev.Signer = v.Verified, v.Signer
	dir, err := a.src.Stage(head)
	if err != nil {
		return nil, fmt.Errorf("check out %s: %w", short(head), err)
	}
	d, err := a.cfg.load(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRefused, err)
	}
	if err := a.src.Promote(head); err != nil {
		return nil, fmt.Errorf("check out %s: %w", short(head), err)
	}
	for _, p := range d.Problems {
		a.log.Warn("manifest problem", "revision", short(head), "stack", p.Stack, "problem", p.String())
	}
	return d, nil
}

// refuse records a revision refused as a whole: nothing changes on the
// node, and it is not tried again until the branch moves.
func (a *Agent) refuse(head string, rec store.Revision, err error) {
	a.revisionRefused(head, err)
	rec.Outcome, rec.Error = store.OutcomeRefused, err.Error()
	a.putRevision(rec)
	a.setMeta(store.MetaWantedRevision, head)
	a.update(func(s *state) {
		s.selected, s.pending = head, nil
		s.refused = &api.Refused{Revision: head, Since: time.Now(), Reason: err.Error()}
	})
	a.pendingChanged()
	a.log.Warn("revision refused; the node keeps what it runs", "revision", short(head), "error", err)
}

// setPending records why head is not selected yet (fetch failed).
func (a *Agent) setPending(head string, err error) {
	a.update(func(s *state) {
		if s.pending == nil || s.pending.Revision != head {
			s.pending = &api.Pending{Revision: head, Since: time.Now()}
			a.log.Warn("revision pending; the node keeps its current revision", "revision", short(head), "error", err)
		}
		s.pending.Reason = err.Error()
	})
	a.pendingChanged()
}
