package agent

import (
	"context"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/engine"
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

// prefetchImages makes every image of the revision local, from the nearest
// registry that has it, before any cut-over. An image pulled unverified
// (its origin was unreachable) is checked again at the next revision.
func (a *Agent) prefetchImages(ctx context.Context, fleet manifests.Fleet, stacks []manifests.Stack) error {
	images := prefetch.ImagesOf(stacks)
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
	for _, r := range results {
		if r.Err != nil || !r.Pulled {
			continue
		}
		rec := store.Image{Digest: r.Digest, Registry: r.Registry, Verified: r.Verified, PulledAt: time.Now()}
		if perr := a.store.PutImage(r.Ref, rec); perr != nil {
			a.log.Error("record image", "image", r.Ref, "error", perr)
		}
	}
	return err
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
