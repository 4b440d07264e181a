package webhook

import "time"

// bucket is a token bucket: n messages at once, refilled at n per window.
// Only the webhook's sender uses it.
type bucket struct {
	n      float64
	window time.Duration
	tokens float64
	at     time.Time // of the last refill
}

func newBucket(n int, window time.Duration, now time.Time) *bucket {
	return &bucket{n: float64(n), window: window, tokens: float64(n), at: now}
}

func (b *bucket) refill(now time.Time) {
	if now.After(b.at) {
		b.tokens = min(b.n, b.tokens+b.n*float64(now.Sub(b.at))/float64(b.window))
		b.at = now
	}
}

// take spends a token when there is one.
func (b *bucket) take(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// wait is how long until a token is there.
func (b *bucket) wait(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(b.window) / b.n)
}
