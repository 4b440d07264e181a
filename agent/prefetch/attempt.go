package prefetch

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// attempt pulls the image from one source, abandoning it when the progress
// stream stays silent for the stall timeout, then names it canonically.
func (p *Prefetcher) attempt(ctx context.Context, j *job, src source) (Result, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := p.opts.StallTimeout
	timer := time.AfterFunc(stall, func() { cancel(fmt.Errorf("%w for %s", ErrStalled, stall)) })
	defer timer.Stop()
	auth, err := j.creds.registryAuth(actx, src.host)
	if err != nil {
		return Result{}, err
	}
	p.setProgress(j.ref, src.host, 0, 0)
	var downloaded atomic.Int64
	start := time.Now()
	id, dg, err := p.opts.Puller.PullImage(actx, src.ref, auth, func(d, total int64) {
		timer.Reset(stall)
		downloaded.Store(d)
		p.setProgress(j.ref, src.host, d, total)
	})
	if err != nil {
		return Result{}, p.attemptError(ctx, actx, err)
	}
	if src.digest != "" && dg != src.digest {
		p.dropName(ctx, src.ref)
		return Result{}, fmt.Errorf("%w: %s served %s", ErrDigestMismatch, src.ref, orUnknown(dg))
	}
	if err := p.name(ctx, j, src, id, dg); err != nil {
		return Result{}, err
	}
	res := Result{
		Ref: j.ref, ImageID: id, Digest: dg, Registry: src.host, Verified: src.verified,
		Pulled: true, Bytes: downloaded.Load(), Duration: time.Since(start),
	}
	return res, nil
}

// attemptError says why an attempt ended: a stall, the image's own
// timeout, or the engine's error.
func (p *Prefetcher) attemptError(ctx, actx context.Context, err error) error {
	if cause := context.Cause(actx); errors.Is(cause, ErrStalled) {
		return cause
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("image timeout %s: %w", p.opts.ImageTimeout, ctx.Err())
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func orUnknown(d string) string {
	if d == "" {
		return "an unknown digest"
	}
	return d
}

// name gives a tag reference its canonical name and removes the mirror's
// name. A digest reference pulled from a mirror keeps the mirror's
// path@digest name: the engine cannot tag by digest, and that name is how
// it finds the image again (containers run it by ID).
func (p *Prefetcher) name(ctx context.Context, j *job, src source, id, dg string) error {
	if j.canonical != "" && src.ref != j.canonical {
		if err := p.opts.Puller.TagImage(ctx, id, j.canonical); err != nil {
			return fmt.Errorf("name %s: %w", j.canonical, err)
		}
	}
	if src.host == j.origin || j.pinned != "" {
		return nil
	}
	if src.digest != "" && j.keep[j.path+"@"+dg] {
		return nil // a pinned image of this revision is found by this name
	}
	p.dropName(ctx, src.ref)
	return nil
}

// dropName removes a mirror's name of an image; failing to is untidy, not
// fatal.
func (p *Prefetcher) dropName(ctx context.Context, ref string) {
	if err := p.opts.Puller.RemoveImageRef(ctx, ref); err != nil {
		p.log.Warn("remove mirror's image name", "image", ref, "error", err)
	}
}
