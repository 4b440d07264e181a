package prefetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/distribution/reference"

	"github.com/skiffops/skiff/manifests"
)

// Result says how one image became local, or why it did not.
type Result struct {
	Ref      string // the reference asked for
	ImageID  string
	Digest   string // manifest digest pulled; "" when the image was already local
	Registry string // host that served the pull; "" when already local
	Verified bool   // when Pulled: pinned, resolved at the origin, or pulled as written from a non-origin registry
	Pulled   bool
	Bytes    int64         // downloaded
	Duration time.Duration // of the pull from Registry
	Err      error         // an *ImageError when the image is not local
}

// job is one image to pull, with everything its flight needs.
type job struct {
	ref        string // as asked (the flight's key)
	pullRef    string // normalized: name:tag, or name@digest
	canonical  string // name:tag for a tag reference, "" for a digest one
	path, tag  string
	pinned     string   // digest of a digest reference
	origin     string   // the reference's registry host
	mirrored   bool     // origin is a fleet origin: look on the mirrors too
	candidates []ranked // nearest first
	creds      dockerConfig
	keep       map[string]bool // path@digest of pinned images: their names stay
}

func newJob(ref string, fleet manifests.Fleet, creds dockerConfig, keep map[string]bool) (*job, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("parse reference: %w", err)
	}
	j := &job{
		ref: ref, path: reference.Path(named), origin: reference.Domain(named),
		creds: creds, keep: keep,
	}
	j.mirrored = fleet.IsOrigin(j.origin)
	if d, ok := named.(reference.Digested); ok {
		j.pinned = d.Digest().String()
		j.pullRef = reference.TrimNamed(named).String() + "@" + j.pinned
		return j, nil
	}
	tagged := reference.TagNameOnly(named).(reference.Tagged)
	j.tag, j.canonical = tagged.Tag(), tagged.String()
	j.pullRef = j.canonical
	return j, nil
}

// source is one way to get the image: a registry and the reference the
// engine pulls from it.
type source struct {
	host     string
	ref      string
	digest   string // the digest the pull must yield; "" for an unverified tag
	verified bool
}

// fetch pulls the image from its sources in order until one serves it.
func (p *Prefetcher) fetch(ctx context.Context, j *job) Result {
	ie := &ImageError{Ref: j.ref}
	sources, skipped := p.sources(ctx, j, ie)
	again := p.failing(j.ref) // its failures were logged already: log changes, not retries
	level := slog.LevelInfo
	if again {
		level = slog.LevelDebug
	}
	for _, src := range sources {
		res, err := p.attempt(ctx, j, src)
		if err == nil {
			p.setFailing(j.ref, false)
			p.logPulled(res, skipped)
			return res
		}
		ie.Attempts = append(ie.Attempts, Attempt{Registry: src.host, Err: err})
		if ctx.Err() != nil {
			break
		}
		if j.mirrored {
			p.ranker.failed(src.host, err)
		}
		p.log.Log(ctx, level, "pull failed", "image", j.ref, "registry", src.host, "error", err)
	}
	ie.Attempts = append(ie.Attempts, skipped...)
	if ctx.Err() == nil {
		p.setFailing(j.ref, true)
	}
	if again {
		p.log.Debug("image not pulled again", "image", j.ref, "error", ie)
	} else {
		p.log.Warn("image not pulled; retried with backoff, and said again only once it is pulled", "image", j.ref, "error", ie)
	}
	return Result{Ref: j.ref, Err: ie}
}

// failing reports whether the last pull of ref failed.
func (p *Prefetcher) failing(ref string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed[ref]
}

func (p *Prefetcher) setFailing(ref string, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if failed {
		p.failed[ref] = true
	} else {
		delete(p.failed, ref)
	}
}

// sources orders where to pull from. An image of a non-origin registry
// comes from there, as written. Otherwise the alive candidates are used
// nearest first: by digest when it is pinned or the origin resolved the
// tag, by tag (unverified) when the origin cannot be asked. skipped holds
// the registries left out, with why.
func (p *Prefetcher) sources(ctx context.Context, j *job, ie *ImageError) (sources []source, skipped []Attempt) {
	if !j.mirrored {
		return []source{{host: j.origin, ref: j.pullRef, digest: j.pinned, verified: true}}, nil
	}
	var alive []string
	for _, r := range j.candidates {
		if r.Alive() {
			alive = append(alive, r.Host)
			continue
		}
		skipped = append(skipped, Attempt{Registry: r.Host, Err: fmt.Errorf("%w: %s", ErrUnreachable, r.LastError)})
	}
	if j.pinned != "" {
		return j.byDigest(alive, j.pinned), skipped
	}
	if !slices.Contains(alive, j.origin) {
		return j.byTag(alive), skipped // the origin is in skipped already
	}
	cred, err := j.creds.creds(ctx, j.origin)
	if err != nil { // a helper failed: the origin cannot be asked
		skipped = append(skipped, Attempt{Registry: j.origin, Err: err})
		return j.byTag(slices.DeleteFunc(alive, func(h string) bool { return h == j.origin })), skipped
	}
	d, err := p.reg.resolve(ctx, j.origin, j.path, j.tag, cred)
	switch {
	case err == nil:
		return j.byDigest(alive, d), skipped
	case errors.Is(err, ErrNotFound):
		ie.Err = fmt.Errorf("origin %s has no tag %s: %w", j.origin, j.tag, err)
		return nil, skipped
	}
	if ctx.Err() == nil {
		p.ranker.failed(j.origin, err)
	}
	skipped = append(skipped, Attempt{Registry: j.origin, Err: err})
	return j.byTag(slices.DeleteFunc(alive, func(h string) bool { return h == j.origin })), skipped
}

func (j *job) byDigest(hosts []string, d string) []source {
	out := make([]source, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, source{host: h, ref: h + "/" + j.path + "@" + d, digest: d, verified: true})
	}
	return out
}

func (j *job) byTag(hosts []string) []source {
	out := make([]source, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, source{host: h, ref: h + "/" + j.path + ":" + j.tag})
	}
	return out
}

// logPulled writes the image's one line: where from, how big, how fast.
func (p *Prefetcher) logPulled(r Result, skipped []Attempt) {
	args := []any{
		"image", r.Ref, "registry", r.Registry, "digest", r.Digest, "verified", r.Verified,
		"bytes", r.Bytes, "duration", r.Duration.Round(time.Millisecond), "speed", speed(r.Bytes, r.Duration),
	}
	if !r.Verified {
		reasons := (&ImageError{Ref: r.Ref, Attempts: skipped}).Error()
		p.log.Warn("image pulled from a mirror's tag: the origin could not confirm it", append(args, "error", reasons)...)
		return
	}
	p.log.Info("image pulled", args...)
}

func speed(bytes int64, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MB/s", float64(bytes)/1e6/d.Seconds())
}
