package agent

import (
	"context"
	"testing"
	"time"
)

func TestBackoffGrowsCapsAndResets(t *testing.T) {
	b := backoff{min: time.Second, max: 8 * time.Second}
	var got []time.Duration
	for range 6 {
		got = append(got, b.next())
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v seconds", got, want)
		}
	}
	b.reset()
	if d := b.next(); d != time.Second {
		t.Errorf("after reset: %s, want 1s", d)
	}
}

func TestJitteredStaysWithinBounds(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := jittered(10*time.Second, 0.1)
		if d < 9*time.Second || d > 11*time.Second {
			t.Fatalf("jittered(10s, 10%%) = %s", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct delays in 1000: not jittered", len(seen))
	}
	if d := jittered(5*time.Second, 0); d != 5*time.Second {
		t.Errorf("no jitter: %s", d)
	}
}

func TestSleepWakesEarly(t *testing.T) {
	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	if !sleep(context.Background(), time.Hour, wake) {
		t.Error("sleep reported a dead context on wake-up")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sleep(ctx, time.Hour, nil) {
		t.Error("sleep reported a live context after cancel")
	}
}
