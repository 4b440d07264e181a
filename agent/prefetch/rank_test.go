package prefetch

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func newTestRanker(cache MeasurementCache, now func() time.Time) *ranker {
	reg := newRegistryClient(2*time.Second, nil)
	return &ranker{
		cache: cache, probe: reg.ping, samples: 3, maxAge: time.Minute, now: now,
		log: slog.New(slog.DiscardHandler), mem: map[string]Measurement{},
	}
}

func hostsOf(rs []ranked) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Host
	}
	return out
}

func TestRankByMedianLatencyDeadLast(t *testing.T) {
	slow := newFakeRegistry(t, 60*time.Millisecond)
	fast := newFakeRegistry(t, 0)
	mid := newFakeRegistry(t, 25*time.Millisecond)
	dead := newFakeRegistry(t, 0)
	dead.srv.Close()
	locked := newFakeRegistry(t, 0)
	locked.setAuth(func(*http.Request) (string, bool) { return `Basic realm="r"`, false })
	notRegistry := newFakeRegistry(t, 0)
	notRegistry.setV2Status(http.StatusNotFound)

	r := newTestRanker(nil, time.Now)
	got := r.rank(context.Background(), []string{dead.host(), slow.host(), notRegistry.host(), mid.host(), fast.host(), locked.host()})
	alive := hostsOf(got[:4])
	// locked answers 401 at once: alive, and as near as fast.
	if alive[3] != slow.host() || alive[2] != mid.host() || !slices.Contains(alive[:2], fast.host()) || !slices.Contains(alive[:2], locked.host()) {
		t.Errorf("alive ranked %v; want fast and locked, then mid %s, then slow %s", alive, mid.host(), slow.host())
	}
	if want := []string{dead.host(), notRegistry.host()}; !slices.Equal(hostsOf(got[4:]), want) {
		t.Errorf("dead ranked %v, want %v in configured order", hostsOf(got[4:]), want)
	}
	for _, d := range got[4:] {
		if d.Alive() || d.LastError == "" {
			t.Errorf("%s: %+v, want a recorded error", d.Host, d.Measurement)
		}
	}
	if m := got[3]; m.Samples != 3 || m.Median < 60*time.Millisecond {
		t.Errorf("slow registry measured %+v, want 3 samples, median ≥ 60ms", m.Measurement)
	}
}

func TestFreshMeasurementsAreReused(t *testing.T) {
	reg := newFakeRegistry(t, 0)
	now := time.Now()
	clock := func() time.Time { return now }
	cache := &memCache{}
	r := newTestRanker(cache, clock)
	r.rank(context.Background(), []string{reg.host()})
	if n := reg.count("GET", "/v2/"); n != 3 {
		t.Fatalf("%d probes, want 3 samples", n)
	}
	if m := cache.m[reg.host()]; !m.Alive() || !m.MeasuredAt.Equal(now) {
		t.Fatalf("cached %+v", m)
	}

	// A new ranker (an agent restart) trusts the store's fresh measurement.
	now = now.Add(30 * time.Second)
	newTestRanker(cache, clock).rank(context.Background(), []string{reg.host()})
	if n := reg.count("GET", "/v2/"); n != 3 {
		t.Errorf("a fresh measurement was taken again (%d probes)", n)
	}

	now = now.Add(time.Minute)
	r.rank(context.Background(), []string{reg.host()})
	if n := reg.count("GET", "/v2/"); n != 6 {
		t.Errorf("an old measurement was not taken again (%d probes)", n)
	}
}

func TestFailedRegistryIsMeasuredAgain(t *testing.T) {
	reg := newFakeRegistry(t, 0)
	r := newTestRanker(&memCache{}, time.Now)
	r.rank(context.Background(), []string{reg.host()})
	r.failed(reg.host(), errors.New("pull: connection reset"))
	got := r.rank(context.Background(), []string{reg.host()})
	if n := reg.count("GET", "/v2/"); n != 6 {
		t.Errorf("%d probes, want a new measurement after the failure", n)
	}
	if !got[0].Alive() {
		t.Errorf("measured again: %+v, want alive", got[0])
	}
}

func TestDeadRegistryErrorNamesIt(t *testing.T) {
	reg := newFakeRegistry(t, 0)
	reg.srv.Close()
	r := newTestRanker(nil, time.Now)
	got := r.rank(context.Background(), []string{reg.host()})
	if got[0].Alive() || !strings.Contains(got[0].LastError, reg.host()) {
		t.Errorf("dead registry measured %+v, want an error naming it", got[0].Measurement)
	}
}
