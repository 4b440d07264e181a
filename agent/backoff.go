package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is a capped exponential delay with ±jitter that resets on
// success: every loop of the agent is `for { work; b.wait(ctx, err) }`, and
// no loop ever exits because an upstream is down.
type backoff struct {
	min, max time.Duration
	jitter   float64 // fraction of the delay, e.g. 0.1 for ±10 %
	failures int
}

// next returns the delay after a failure, and counts it.
func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.failures && d < b.max; i++ {
		d *= 2
	}
	b.failures++
	return jittered(min(d, b.max), b.jitter)
}

// reset forgets the failures, after a success.
func (b *backoff) reset() { b.failures = 0 }

// jittered spreads d by ±frac so that a fleet's nodes do not poll in step.
func jittered(d time.Duration, frac float64) time.Duration {
	if frac <= 0 || d <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + frac*(2*rand.Float64()-1)))
}

// sleep waits for d, for ctx to end or for a wake-up on wake, and reports
// whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
		return true
	case <-t.C:
		return true
	}
}
