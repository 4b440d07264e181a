package prefetch

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// flight is the one pull of an image in progress; every caller that wants
// the image while it runs waits for it.
type flight struct {
	done   chan struct{} // closed when result is set
	result Result
	cancel context.CancelFunc // abandons the pull when no caller waits any more
	// waiters and abandoned are guarded by Prefetcher.mu.
	waiters   int
	abandoned bool // cancelled: a new caller starts a new flight
}

// ImageProgress is one image being prefetched, for the agent's status.
type ImageProgress struct {
	Ref        string
	Registry   string // being pulled from; "" while waiting for a slot or resolving
	Downloaded int64  // bytes so far from Registry
	Total      int64  // bytes announced so far by Registry
	Started    time.Time
}

// join waits for the image's flight, starting it when none runs. A caller
// that gives up leaves the flight to the others, and cancels it when it
// was the last one waiting.
func (p *Prefetcher) join(ctx context.Context, j *job) Result {
	p.mu.Lock()
	f, ok := p.flights[j.ref]
	if !ok || f.abandoned {
		f = p.startLocked(j)
	}
	f.waiters++
	p.mu.Unlock()
	select {
	case <-f.done:
		return f.result
	case <-ctx.Done():
		p.mu.Lock()
		if f.waiters--; f.waiters == 0 {
			f.abandoned = true
			f.cancel()
		}
		p.mu.Unlock()
		return Result{Ref: j.ref, Err: &ImageError{Ref: j.ref, Err: fmt.Errorf("prefetch abandoned: %w", ctx.Err())}}
	}
}

// startLocked starts the flight of j. p.mu must be held.
func (p *Prefetcher) startLocked(j *job) *flight {
	fctx, cancel := context.WithCancel(p.ctx)
	f := &flight{done: make(chan struct{}), cancel: cancel}
	p.flights[j.ref] = f
	p.progress[j.ref] = &ImageProgress{Ref: j.ref, Started: p.opts.Now()}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		res := p.fly(fctx, j)
		p.mu.Lock()
		if p.flights[j.ref] == f {
			delete(p.flights, j.ref)
			delete(p.progress, j.ref)
		}
		f.result = res
		close(f.done)
		p.mu.Unlock()
	}()
	return f
}

// fly waits for a pull slot, then fetches the image within its timeout.
func (p *Prefetcher) fly(ctx context.Context, j *job) Result {
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	case <-ctx.Done():
		return Result{Ref: j.ref, Err: &ImageError{Ref: j.ref, Err: fmt.Errorf("wait for a pull slot: %w", ctx.Err())}}
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.ImageTimeout)
	defer cancel()
	return p.fetch(ctx, j)
}

// setProgress records where the image is coming from and how far it got.
func (p *Prefetcher) setProgress(ref, registry string, downloaded, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ip, ok := p.progress[ref]; ok {
		ip.Registry, ip.Downloaded, ip.Total = registry, downloaded, total
	}
}

// Progress returns the images being prefetched now, by reference.
func (p *Prefetcher) Progress() []ImageProgress {
	p.mu.Lock()
	out := make([]ImageProgress, 0, len(p.progress))
	for _, ip := range p.progress {
		out = append(out, *ip)
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b ImageProgress) int { return cmp.Compare(a.Ref, b.Ref) })
	return out
}
