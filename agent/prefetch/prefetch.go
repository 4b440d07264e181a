package prefetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/distribution/reference"

	"github.com/skiffops/skiff/manifests"
)

// Puller is what prefetch needs of the Docker engine; *engine.Engine
// implements it.
type Puller interface {
	// ImageIDs returns the local image ID of each reference present; a
	// digest reference matches an image pulled by that digest from any
	// registry serving the same path.
	ImageIDs(ctx context.Context, refs []string) (map[string]string, error)
	// PullImage pulls ref with the X-Registry-Auth value auth and returns
	// the image ID and the manifest digest served. progress is called on
	// every message of the pull's progress stream.
	PullImage(ctx context.Context, ref, auth string, progress func(downloaded, total int64)) (id, digest string, err error)
	// TagImage gives the image source (a reference or an ID) the tag target.
	TagImage(ctx context.Context, source, target string) error
	// RemoveImageRef removes one name of an image, never the image.
	RemoveImageRef(ctx context.Context, ref string) error
}

// Pull policies of a service (compose's pull_policy).
const (
	PullAlways  = "always"
	PullMissing = "missing" // the default
	PullNever   = "never"
)

// Image is one image a revision needs.
type Image struct {
	Ref        string // canonical reference, as the stack writes it
	PullPolicy string // PullAlways, PullMissing (also "") or PullNever
}

// Options configure a Prefetcher. Puller is required.
type Options struct {
	Puller Puller
	Cache  MeasurementCache // nil: measurements live in memory only
	Region string           // the node's region: its registries come first
	// Registries are the node's own additions to fleet.yaml's lists.
	Registries []string
	// DockerConfig is the Docker config file holding credentials; empty
	// means $DOCKER_CONFIG/config.json or ~/.docker/config.json.
	DockerConfig string
	// PlainHTTP lists registries spoken to without TLS, as the engine's
	// insecure-registries; loopback hosts always are.
	PlainHTTP []string
	// Parallel bounds the pulls running at once. Default 3.
	Parallel int
	// ImageTimeout bounds one image's pull over all its registries. Default 30m.
	ImageTimeout time.Duration
	// StallTimeout abandons a registry whose pull made no progress for
	// that long. Default 60s.
	StallTimeout time.Duration
	// MaxAge is how long a latency measurement is trusted. Default 10m.
	MaxAge time.Duration
	// Samples is the number of GET /v2/ per measurement. Default 3.
	Samples int
	// RequestTimeout bounds each request prefetch sends itself. Default 5s.
	RequestTimeout time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
}

func (o *Options) defaults() {
	setDefault(&o.Parallel, 3)
	setDefault(&o.ImageTimeout, 30*time.Minute)
	setDefault(&o.StallTimeout, 60*time.Second)
	setDefault(&o.MaxAge, 10*time.Minute)
	setDefault(&o.Samples, 3)
	setDefault(&o.RequestTimeout, 5*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Prefetcher makes images local from the nearest registry that has them.
// It is safe for concurrent use; Close stops its pulls.
type Prefetcher struct {
	opts   Options
	log    *slog.Logger
	reg    *registryClient
	ranker *ranker
	slots  chan struct{} // one token per running pull
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup // flights

	// mu guards flights, progress and failed.
	mu       sync.Mutex
	flights  map[string]*flight
	progress map[string]*ImageProgress
	failed   map[string]bool // images whose last pull failed: logged once
}

// New returns a Prefetcher.
func New(o Options) (*Prefetcher, error) {
	if o.Puller == nil {
		return nil, errors.New("prefetch: a puller is required")
	}
	o.defaults()
	ctx, stop := context.WithCancel(context.Background())
	p := &Prefetcher{
		opts: o, log: o.Logger.With("component", "prefetch"),
		reg:   newRegistryClient(o.RequestTimeout, o.PlainHTTP),
		slots: make(chan struct{}, o.Parallel),
		ctx:   ctx, stop: stop,
		flights: map[string]*flight{}, progress: map[string]*ImageProgress{}, failed: map[string]bool{},
	}
	p.ranker = &ranker{
		cache: o.Cache, probe: p.reg.ping, samples: o.Samples, maxAge: o.MaxAge,
		now: o.Now, log: p.log, mem: map[string]Measurement{},
	}
	return p, nil
}

// Close abandons the running pulls and waits for them to end.
func (p *Prefetcher) Close() {
	p.stop()
	p.wg.Wait()
}

// ImagesOf returns the images the stacks' services need, each once, with
// the most demanding pull policy asked for it.
func ImagesOf(stacks []manifests.Stack) []Image {
	var all []Image
	for _, s := range stacks {
		for _, svc := range s.Services {
			all = append(all, Image{Ref: svc.Image, PullPolicy: svc.PullPolicy})
		}
	}
	return dedupe(all)
}

// strongerPolicy returns the policy that pulls more of a and b.
func strongerPolicy(a, b string) string {
	rank := func(p string) int {
		switch p {
		case PullAlways:
			return 2
		case PullNever:
			return 0
		}
		return 1
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Prefetch makes every image local, pulling in parallel those that are
// missing (or pull_policy: always) from the nearest registry that has them.
// It returns one Result per distinct reference, in order, and an *Error
// naming every image left missing: then the revision must not be cut over.
// Other errors (the engine does not answer) leave every result empty.
func (p *Prefetcher) Prefetch(ctx context.Context, fleet manifests.Fleet, images []Image) ([]Result, error) {
	images = dedupe(images)
	refs := make([]string, len(images))
	for i, img := range images {
		refs[i] = img.Ref
	}
	local, err := p.opts.Puller.ImageIDs(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("prefetch: %w", err)
	}
	results := make([]Result, len(images))
	var jobs []int
	for i, img := range images {
		if r, done := decideLocal(img, local); done {
			results[i] = r
			continue
		}
		jobs = append(jobs, i)
	}
	if len(jobs) > 0 {
		p.pullAll(ctx, fleet, images, jobs, results)
	}
	return results, failures(results)
}

// dedupe keeps the first of each reference, with the strongest policy.
func dedupe(images []Image) []Image {
	var out []Image
	at := map[string]int{}
	for _, img := range images {
		if i, ok := at[img.Ref]; ok {
			out[i].PullPolicy = strongerPolicy(out[i].PullPolicy, img.PullPolicy)
			continue
		}
		at[img.Ref] = len(out)
		out = append(out, img)
	}
	return out
}

// decideLocal settles an image without a pull when its policy allows.
func decideLocal(img Image, local map[string]string) (Result, bool) {
	id, have := local[img.Ref]
	switch {
	case img.PullPolicy == PullNever && !have:
		return Result{Ref: img.Ref, Err: &ImageError{Ref: img.Ref, Err: ErrNotLocal}}, true
	case have && img.PullPolicy != PullAlways:
		return Result{Ref: img.Ref, ImageID: id}, true
	}
	return Result{}, false
}

// pullAll ranks the candidate registries once, then pulls the images at
// jobs in parallel, each through its single flight.
func (p *Prefetcher) pullAll(ctx context.Context, fleet manifests.Fleet, images []Image, jobs []int, results []Result) {
	creds, err := loadDockerConfig(dockerConfigPath(p.opts.DockerConfig))
	if err != nil {
		p.log.Warn("pulling without credentials", "error", err)
	}
	pinned := pinnedKeys(images)
	var candidates []ranked
	var wg sync.WaitGroup
	for _, i := range jobs {
		j, err := newJob(images[i].Ref, fleet, creds, pinned)
		if err != nil {
			results[i] = Result{Ref: images[i].Ref, Err: &ImageError{Ref: images[i].Ref, Err: err}}
			continue
		}
		if j.mirrored && candidates == nil {
			candidates = p.ranker.rank(ctx, fleet.RegistriesFor(p.opts.Region, p.opts.Registries))
		}
		j.candidates = candidates
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = p.join(ctx, j)
		}()
	}
	wg.Wait()
}

// pinnedKeys returns path@digest of the digest-pinned images: the mirror
// names that let the engine find them must stay.
func pinnedKeys(images []Image) map[string]bool {
	keys := map[string]bool{}
	for _, img := range images {
		n, err := reference.ParseNormalizedNamed(img.Ref)
		if err != nil {
			continue
		}
		if d, ok := n.(reference.Digested); ok {
			keys[reference.Path(n)+"@"+d.Digest().String()] = true
		}
	}
	return keys
}

func failures(results []Result) error {
	var e Error
	for _, r := range results {
		var ie *ImageError
		if errors.As(r.Err, &ie) {
			e.Images = append(e.Images, ie)
		}
	}
	if len(e.Images) == 0 {
		return nil
	}
	return &e
}
