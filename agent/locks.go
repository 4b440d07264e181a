package agent

import (
	"context"
	"fmt"
	"sync"
)

// stackLocks gives each stack its own lock, so that healing one stack never
// waits on an update of another, and lets a newer commit abandon the waits
// of an update in flight.
type stackLocks struct {
	mu    sync.Mutex // guards slots
	slots map[string]*stackSlot
}

type stackSlot struct {
	lock chan struct{} // 1-buffered: held while full
	// update is the update holding the lock, if any: what it applies and
	// how to abandon its waits. Guarded by stackLocks.mu.
	update *inflight
}

// inflight is an update of one stack to the spec with digest.
type inflight struct {
	digest string
	cancel context.CancelCauseFunc
}

// errSuperseded is the cause of an update abandoned for a newer commit.
type errSuperseded struct{ by string }

func (e errSuperseded) Error() string { return fmt.Sprintf("superseded by commit %s", short(e.by)) }

func newStackLocks() *stackLocks { return &stackLocks{slots: map[string]*stackSlot{}} }

func (l *stackLocks) slot(stack string) *stackSlot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.slots[stack]
	if !ok {
		s = &stackSlot{lock: make(chan struct{}, 1)}
		l.slots[stack] = s
	}
	return s
}

// lock waits for the stack's lock, or for ctx to end.
func (l *stackLocks) lock(ctx context.Context, stack string) (unlock func(), err error) {
	s := l.slot(stack)
	select {
	case s.lock <- struct{}{}:
		return func() { <-s.lock }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for stack %s: %w", stack, ctx.Err())
	}
}

// tryLock takes the stack's lock only if it is free.
func (l *stackLocks) tryLock(stack string) (unlock func(), ok bool) {
	s := l.slot(stack)
	select {
	case s.lock <- struct{}{}:
		return func() { <-s.lock }, true
	default:
		return nil, false
	}
}

// begin registers the update the caller (holding the lock) runs, and
// returns the context of its waits: superseding it ends that context.
func (l *stackLocks) begin(ctx context.Context, stack, digest string) (wait context.Context, end func()) {
	wait, cancel := context.WithCancelCause(ctx)
	u := &inflight{digest: digest, cancel: cancel}
	l.mu.Lock()
	l.slots[stack].update = u
	l.mu.Unlock()
	return wait, func() {
		l.mu.Lock()
		if l.slots[stack].update == u {
			l.slots[stack].update = nil
		}
		l.mu.Unlock()
		cancel(nil)
	}
}

// supersede abandons the waits of the stack's update in flight unless it
// applies digest, which commit rev still wants. It reports whether it did.
func (l *stackLocks) supersede(stack, digest, rev string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.slots[stack]
	if !ok || s.update == nil || s.update.digest == digest {
		return false
	}
	s.update.cancel(errSuperseded{by: rev})
	return true
}
