package webhook

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket(3, time.Minute, t0)
	for i := range 3 {
		if !b.take(t0) {
			t.Fatalf("token %d of a full bucket refused", i)
		}
	}
	if b.take(t0) {
		t.Fatal("a fourth message within the minute")
	}
	if w := b.wait(t0); w != 20*time.Second {
		t.Errorf("wait = %s, want 20s (a minute / 3)", w)
	}
	if b.take(t0.Add(19 * time.Second)) {
		t.Error("a token before it is refilled")
	}
	if !b.take(t0.Add(20 * time.Second)) {
		t.Error("no token once refilled")
	}
	if !b.take(t0.Add(time.Hour)) || !b.take(t0.Add(time.Hour)) || !b.take(t0.Add(time.Hour)) || b.take(t0.Add(time.Hour)) {
		t.Error("an idle bucket holds more than its size")
	}
}
