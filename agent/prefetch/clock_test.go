package prefetch

import (
	"context"
	"testing"
	"time"
)

// TestRankAfterTheClockJumps: measurements are stored with the wall clock
// and read back after a restart. When the clock jumps forward they are
// stale and taken again; when it jumps back, a measurement that now lies in
// the future is taken again too, not trusted until the clock catches up.
func TestRankAfterTheClockJumps(t *testing.T) {
	for name, jump := range map[string]time.Duration{"forward a day": 24 * time.Hour, "back a year": -365 * 24 * time.Hour} {
		t.Run(name, func(t *testing.T) {
			reg := newFakeRegistry(t, 0)
			now := time.Now()
			clock := func() time.Time { return now }
			cache := &memCache{}
			newTestRanker(cache, clock).rank(context.Background(), []string{reg.host()})
			now = now.Add(jump)
			newTestRanker(cache, clock).rank(context.Background(), []string{reg.host()})
			if n := reg.count("GET", "/v2/"); n != 6 {
				t.Errorf("%d probes after the clock jumped %s, want the measurement taken again (6)", n, name)
			}
		})
	}
}
