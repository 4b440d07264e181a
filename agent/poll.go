package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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
// asked, it checks the remote head and syncs a new one. Failures back off,
// capped at the interval, and never end the loop.
func (a *Agent) pollLoop(ctx context.Context) {
	interval := a.cfg.Source.Interval
	b := backoff{min: time.Second, max: max(interval, time.Second), jitter: 0.1}
	for {
		delay := jittered(interval, 0.1)
		if err := a.pollOnce(ctx); err != nil && ctx.Err() == nil {
			delay = min(b.next(), delay)
		} else {
			b.reset()
		}
		if !sleep(ctx, delay, a.syncReq) {
			return
		}
	}
}

// pollOnce asks the remote for the branch head (no fetch, no disk write, no
// store write when nothing moved) and syncs a new head.
func (a *Agent) pollOnce(ctx context.Context) error {
	head, err := a.src.Head(ctx)
	a.recordPoll(head, err)
	if err != nil {
		return err
	}
	a.mu.Lock()
	final := a.st.final
	a.mu.Unlock()
	if head == final {
		return nil
	}
	return a.syncRevision(ctx, head)
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
			}
			return
		}
		if s.source.OfflineSince != nil {
			a.log.Info("git source reachable again", "offline_for", now.Sub(*s.source.OfflineSince).Round(time.Second))
		}
		s.source.OfflineSince, s.source.LastError, s.source.LastSuccess = nil, "", now
		if s.wanted != head {
			s.wanted = head
			a.log.Info("new revision on the branch", "revision", short(head))
		}
	})
}

// syncRevision brings a new head onto the node. A network failure returns
// an error (retried with backoff); a refused or failed revision is recorded
// and is final for that head.
func (a *Agent) syncRevision(ctx context.Context, head string) error {
	start := time.Now()
	rev := store.Revision{Commit: head, SeenAt: start, Outcome: store.OutcomePending}
	d, err := a.selectRevision(ctx, head, &rev)
	if errors.Is(err, source.ErrMoved) {
		a.Sync() // the branch moved on since Head: poll again at once
		return nil
	}
	if errors.Is(err, errRefused) {
		rev.Outcome, rev.Error = store.OutcomeRefused, err.Error()
		a.finishRevision(rev, nil)
		a.log.Warn("revision refused", "revision", short(head), "error", err)
		return nil
	}
	if err != nil {
		a.setPending(head, err)
		return err
	}
	rev.Timings.Select = time.Since(start)
	prefetchStart := time.Now()
	if err := a.prefetchImages(ctx, d.Fleet, d.Stacks); err != nil {
		a.setPending(head, err)
		a.putRevision(rev)
		return err
	}
	rev.Timings.Prefetch = time.Since(prefetchStart)
	if err := a.applyRevision(ctx, head, d, &rev); err != nil {
		a.setPending(head, err)
		return err
	}
	rev.Timings.Total = time.Since(start)
	a.finishRevision(rev, d)
	return nil
}

// selectRevision fetches, verifies and checks out head, and loads what this
// node should run from it.
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
	dir, err := a.src.Checkout(head)
	if err != nil {
		return nil, fmt.Errorf("check out %s: %w", short(head), err)
	}
	d, err := manifests.Load(filepath.Join(dir, a.cfg.Source.Path), a.cfg.node())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRefused, err)
	}
	for _, p := range d.Problems {
		a.log.Warn("manifest problem", "revision", short(head), "stack", p.Stack, "problem", p.String())
	}
	return d, nil
}

func (a *Agent) setPending(head string, err error) {
	a.update(func(s *state) {
		if s.pending == nil || s.pending.Revision != head {
			s.pending = &api.Pending{Revision: head, Since: time.Now()}
			a.log.Warn("revision pending; the node keeps its current revision", "revision", short(head), "error", err)
		}
		s.pending.Reason = err.Error()
	})
}

func (a *Agent) putRevision(rev store.Revision) {
	if err := a.store.PutRevision(rev); err != nil {
		a.log.Error("record revision", "revision", short(rev.Commit), "error", err)
	}
}
