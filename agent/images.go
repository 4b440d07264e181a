package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/agent/prefetch"
	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/manifests"
)

var _ prefetch.Puller = (*engine.Engine)(nil)

// registryCache keeps prefetch's registry measurements in the store, so a
// restarted agent ranks its registries without measuring them again.
type registryCache struct{ s *store.Store }

func (c registryCache) Registries() (map[string]prefetch.Measurement, error) {
	st, err := c.s.Registries()
	if err != nil {
		return nil, err
	}
	out := make(map[string]prefetch.Measurement, len(st))
	for host, r := range st {
		out[host] = prefetch.Measurement(r)
	}
	return out, nil
}

func (c registryCache) PutRegistry(host string, m prefetch.Measurement) error {
	return c.s.PutRegistry(host, store.RegistryStats(m))
}

func (a *Agent) newPrefetcher() (*prefetch.Prefetcher, error) {
	return prefetch.New(prefetch.Options{
		Puller: a.eng, Cache: registryCache{a.store},
		Region: a.cfg.Region, Registries: a.cfg.Registries, DockerConfig: a.cfg.Docker.ConfigFile,
		Logger: a.opts.Logger,
	})
}

// prefetchTargets makes the images of the stacks' targets local, in
// parallel, from the nearest registry that has them, before any cut-over.
// It returns, per stack, the images that could not be made local: those
// stacks wait; the others go on. An image pulled unverified (its origin was
// unreachable) is checked again at the next revision.
func (a *Agent) prefetchTargets(ctx context.Context, fleet manifests.Fleet, updates []ledger.Entry) map[string][]api.PendingImage {
	if len(updates) == 0 {
		return nil
	}
	var targets []manifests.Stack
	for _, e := range updates {
		targets = append(targets, *e.Target)
	}
	images := prefetch.ImagesOf(targets)
	known, err := a.store.Images()
	if err != nil {
		a.log.Warn("read image records", "error", err)
	}
	for i, img := range images {
		if rec, ok := known[img.Ref]; ok && !rec.Verified && img.PullPolicy != prefetch.PullNever {
			images[i].PullPolicy = prefetch.PullAlways
		}
	}
	results, err := a.pf.Prefetch(ctx, fleet, images)
	missing := map[string]api.PendingImage{}
	for _, r := range results {
		if r.Err != nil {
			missing[r.Ref] = pendingImage(r.Ref, r.Err)
			continue
		}
		if r.Pulled {
			rec := store.Image{Digest: r.Digest, Registry: r.Registry, Verified: r.Verified, PulledAt: time.Now()}
			a.stored("record image "+r.Ref, a.store.PutImage(r.Ref, rec))
		}
	}
	if results == nil && err != nil { // the engine did not answer: every image is in doubt
		for _, img := range images {
			missing[img.Ref] = api.PendingImage{Image: img.Ref, Error: err.Error()}
		}
	}
	waiting := map[string][]api.PendingImage{}
	for _, st := range targets {
		for _, ref := range imageRefs(&st) {
			if m, ok := missing[ref]; ok {
				waiting[st.Name] = append(waiting[st.Name], m)
			}
		}
	}
	return waiting
}

// pendingImage says why an image is not local, registry by registry.
func pendingImage(ref string, err error) api.PendingImage {
	p := api.PendingImage{Image: ref, Error: err.Error(), Registries: []string{}}
	var ie *prefetch.ImageError
	if !errors.As(err, &ie) {
		return p
	}
	p.Registries = ie.Tried()
	var parts []string
	if ie.Err != nil {
		parts = append(parts, ie.Err.Error())
	}
	// Definite: the origin answered that it has no such image, or every
	// registry refused it, rather than not answering.
	definite := len(ie.Attempts) > 0 || isDefinite(ie.Err)
	for _, at := range ie.Attempts {
		parts = append(parts, fmt.Sprintf("%s: %v", at.Registry, at.Err))
		if !isDefinite(at.Err) {
			definite = false
		}
	}
	p.Error, p.Definite = strings.Join(parts, "; "), definite
	return p
}

func isDefinite(err error) bool {
	return err != nil && (errors.Is(err, prefetch.ErrNotFound) || errors.Is(err, prefetch.ErrUnauthorized))
}

func pendingReason(imgs []api.PendingImage) string {
	var parts []string
	for _, img := range imgs {
		parts = append(parts, fmt.Sprintf("image %s is not local: %s", img.Image, img.Error))
	}
	return strings.Join(parts, "; ")
}

// pendingStatus says what the newest revision waits for.
func pendingStatus(s *state, commit string, waiting map[string][]api.PendingImage) *api.Pending {
	p := &api.Pending{Revision: commit, Since: time.Now()}
	if s.pending != nil && s.pending.Revision == commit {
		p.Since = s.pending.Since
	}
	var reasons []string
	for _, e := range s.ledger.Entries() {
		switch {
		case len(waiting[e.Name]) > 0:
			p.Stacks = append(p.Stacks, api.PendingStack{Stack: e.Name, Images: waiting[e.Name]})
			var refs []string
			for _, img := range waiting[e.Name] {
				refs = append(refs, img.Image)
			}
			reasons = append(reasons, fmt.Sprintf("stack %s waits for image %s", e.Name, strings.Join(refs, ", ")))
		case e.State == ledger.Applying:
			reasons = append(reasons, "stack "+e.Name+" is being updated")
		case e.State == ledger.Pending, e.State == ledger.Removing:
			reasons = append(reasons, fmt.Sprintf("stack %s %s: %s", e.Name, e.State, e.Reason))
		}
	}
	p.Reason = strings.Join(reasons, "; ")
	return p
}

// retryDelay is when the newest revision's waiting stacks are tried again:
// soon after a transient failure, and more slowly when every missing image
// was refused definitely by the registries (not there, or denied): CI may
// push it after the commit.
func retryDelay(r *retryState, interval time.Duration, waiting map[string][]api.PendingImage) time.Duration {
	definite := len(waiting) > 0
	for _, imgs := range waiting {
		if slices.ContainsFunc(imgs, func(p api.PendingImage) bool { return !p.Definite }) {
			definite = false
		}
	}
	if definite != r.definite {
		r.definite = definite
		r.b.reset()
	}
	if definite {
		r.b.min, r.b.max = max(interval, 30*time.Second), max(10*interval, 10*time.Minute)
	} else {
		r.b.min, r.b.max = time.Second, max(interval, time.Second)
	}
	return r.b.next()
}

// pullProgress is what status shows of the pulls under way.
func (a *Agent) pullProgress() []api.PullProgress {
	if a.pf == nil {
		return nil
	}
	var out []api.PullProgress
	for _, p := range a.pf.Progress() {
		out = append(out, api.PullProgress{Image: p.Ref, Registry: p.Registry, Downloaded: p.Downloaded, Total: p.Total, Since: p.Started})
	}
	return out
}
