package prefetch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiffops/skiff/manifests"
)

// gate holds pulls until it is opened.
type gate struct {
	started chan string
	open    chan struct{}
}

func newGate() *gate { return &gate{started: make(chan string, 100), open: make(chan struct{})} }

func (g *gate) serve(ctx context.Context, ref string, progress func(int64, int64)) (string, string, error) {
	g.started <- ref
	progress(10, 100)
	select {
	case <-g.open:
		return serveDigestOf(ctx, ref, progress)
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
}

func TestOnePullPerImageAtATime(t *testing.T) {
	puller := newFakePuller()
	g := newGate()
	puller.serve = g.serve
	p := newTestPrefetcher(t, puller, nil)
	ref := "ghcr.io/acme/tool:1"
	var wg sync.WaitGroup
	results := make([][]Result, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = p.Prefetch(context.Background(), manifests.Fleet{}, []Image{{Ref: ref, PullPolicy: PullAlways}})
		}()
	}
	<-g.started
	waitFor(t, "both callers to wait on the flight", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		f := p.flights[ref]
		return f != nil && f.waiters == 2
	})
	close(g.open)
	wg.Wait()
	if n := len(puller.pulled()); n != 1 {
		t.Errorf("%d pulls for two concurrent requests, want 1", n)
	}
	for i := range 2 {
		if errs[i] != nil || results[i][0].ImageID == "" {
			t.Errorf("caller %d: %v, %+v", i, errs[i], results[i])
		}
	}
}

func TestPullsRunInParallelWithinTheBound(t *testing.T) {
	puller := newFakePuller()
	g := newGate()
	puller.serve = g.serve
	p := newTestPrefetcher(t, puller, func(o *Options) { o.Parallel = 2 })
	var images []Image
	for i := range 5 {
		images = append(images, Image{Ref: fmt.Sprintf("ghcr.io/acme/tool%d:1", i)})
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.Prefetch(context.Background(), manifests.Fleet{}, images)
		done <- err
	}()
	<-g.started
	<-g.started
	waitFor(t, "the other images to wait for a slot", func() bool { return len(p.Progress()) == 5 })
	select {
	case ref := <-g.started:
		t.Fatalf("a third pull (%s) started with two slots", ref)
	case <-time.After(100 * time.Millisecond):
	}
	close(g.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if puller.maxRunning != 2 {
		t.Errorf("at most %d pulls ran at once, want 2", puller.maxRunning)
	}
	if len(p.Progress()) != 0 {
		t.Errorf("progress after the prefetch: %+v", p.Progress())
	}
}

func TestProgressShowsTheRunningPull(t *testing.T) {
	puller := newFakePuller()
	g := newGate()
	puller.serve = g.serve
	p := newTestPrefetcher(t, puller, nil)
	done := make(chan error, 1)
	go func() {
		_, err := p.Prefetch(context.Background(), manifests.Fleet{}, []Image{{Ref: "ghcr.io/acme/tool:1"}})
		done <- err
	}()
	<-g.started
	var got []ImageProgress
	waitFor(t, "progress of the pull", func() bool {
		got = p.Progress()
		return len(got) == 1 && got[0].Downloaded == 10
	})
	if got[0].Ref != "ghcr.io/acme/tool:1" || got[0].Registry != "ghcr.io" || got[0].Total != 100 {
		t.Errorf("progress = %+v", got)
	}
	close(g.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStalledPullMovesToTheNextRegistry(t *testing.T) {
	w := newWorld(t)
	w.origin.srv.Close() // tags come from the mirrors: no digest to resolve
	stalled := make(chan error, 1)
	w.puller.serve = func(ctx context.Context, ref string, progress func(int64, int64)) (string, string, error) {
		if ref != w.near.host()+"/shop/web:1" {
			return serveDigestOf(ctx, ref, progress)
		}
		progress(1, 100) // alive at first, then silent
		<-ctx.Done()
		stalled <- ctx.Err()
		return "", "", fmt.Errorf("read progress: %w", ctx.Err())
	}
	p := newTestPrefetcher(t, w.puller, func(o *Options) { o.StallTimeout = 200 * time.Millisecond })
	start := time.Now()
	results, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: w.origin.host() + "/shop/web:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Registry != w.far.host() {
		t.Errorf("served by %s, want %s after the stall", results[0].Registry, w.far.host())
	}
	if !errors.Is(<-stalled, context.Canceled) {
		t.Error("the stalled pull was not cancelled")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("prefetch took %s with a 200ms stall timeout", d)
	}
}

func TestSteadyProgressIsNotAStall(t *testing.T) {
	puller := newFakePuller()
	puller.serve = func(ctx context.Context, ref string, progress func(int64, int64)) (string, string, error) {
		for i := range 10 {
			progress(int64(i), 10)
			time.Sleep(50 * time.Millisecond)
		}
		return serveDigestOf(ctx, ref, progress)
	}
	p := newTestPrefetcher(t, puller, func(o *Options) { o.StallTimeout = 200 * time.Millisecond })
	if _, err := p.Prefetch(context.Background(), manifests.Fleet{}, []Image{{Ref: "ghcr.io/acme/slow:1"}}); err != nil {
		t.Fatalf("a pull progressing every 50ms failed with a 200ms stall timeout: %v", err)
	}
}

func TestStallEverywhereFailsWithTheReason(t *testing.T) {
	puller := newFakePuller()
	puller.serve = func(ctx context.Context, _ string, _ func(int64, int64)) (string, string, error) {
		<-ctx.Done()
		return "", "", ctx.Err()
	}
	p := newTestPrefetcher(t, puller, func(o *Options) { o.StallTimeout = 100 * time.Millisecond })
	_, err := p.Prefetch(context.Background(), manifests.Fleet{}, []Image{{Ref: "ghcr.io/acme/hung:1"}})
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("err = %v, want a stall", err)
	}
}

func TestLastCallerLeavingCancelsThePull(t *testing.T) {
	puller := newFakePuller()
	g := newGate()
	puller.serve = g.serve
	p := newTestPrefetcher(t, puller, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Prefetch(ctx, manifests.Fleet{}, []Image{{Ref: "ghcr.io/acme/tool:1"}})
		done <- err
	}()
	<-g.started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the caller's cancellation", err)
	}
	waitFor(t, "the abandoned flight to end", func() bool { return len(p.Progress()) == 0 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
