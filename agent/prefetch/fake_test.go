package prefetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/skiffops/skiff/manifests"
)

// fakePuller is an engine in memory. serve decides how a pull from a
// reference goes; without it every pull succeeds at once.
type fakePuller struct {
	serve func(ctx context.Context, ref string, progress func(int64, int64)) (id, digest string, err error)

	// mu guards the fields below.
	mu         sync.Mutex
	local      map[string]string // name → image ID
	pulls      []string          // references pulled, in order
	auths      map[string]string // reference → X-Registry-Auth
	removed    []string
	running    int
	maxRunning int
}

func newFakePuller() *fakePuller {
	return &fakePuller{local: map[string]string{}, auths: map[string]string{}}
}

func (f *fakePuller) ImageIDs(_ context.Context, refs []string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, r := range refs {
		if id, ok := f.local[r]; ok {
			out[r] = id
		}
	}
	return out, nil
}

func (f *fakePuller) PullImage(ctx context.Context, ref, auth string, progress func(int64, int64)) (string, string, error) {
	f.mu.Lock()
	f.pulls = append(f.pulls, ref)
	f.auths[ref] = auth
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	serve := f.serve
	if serve == nil {
		serve = serveDigestOf
	}
	id, dg, err := serve(ctx, ref, progress)
	if err == nil {
		f.mu.Lock()
		f.local[ref] = id
		f.mu.Unlock()
	}
	return id, dg, err
}

func (f *fakePuller) TagImage(_ context.Context, source, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.local[target] = source
	return nil
}

func (f *fakePuller) RemoveImageRef(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.local, ref)
	f.removed = append(f.removed, ref)
	return nil
}

func (f *fakePuller) pulled() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.pulls...)
}

// serveDigestOf serves any reference: a digest reference yields its
// digest, a tag the digest of its path; the ID follows the digest.
func serveDigestOf(_ context.Context, ref string, progress func(int64, int64)) (string, string, error) {
	d := digestOf(ref)
	if progress != nil {
		progress(100, 100)
	}
	return "sha256:id-" + d.Encoded()[:12], d.String(), nil
}

// digestOf is the digest the fake world gives a reference's path, or the
// pinned one.
func digestOf(ref string) digest.Digest {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		panic(err)
	}
	if c, ok := n.(reference.Digested); ok {
		return c.Digest()
	}
	return digest.FromString(reference.Path(n))
}

// fakeRegistry answers GET /v2/ and manifest requests for the tags it has.
type fakeRegistry struct {
	srv   *httptest.Server
	delay time.Duration // before every answer

	// mu guards the fields below.
	mu sync.Mutex
	// auth, when set, checks a request's Authorization and answers 401
	// with its challenge when it returns one.
	auth     func(r *http.Request) (challenge string, ok bool)
	v2Status int                      // status of GET /v2/; 0 means 200
	tags     map[string]digest.Digest // path:tag → digest
	requests map[string]int           // "METHOD /path" → count
}

func newFakeRegistry(t *testing.T, delay time.Duration) *fakeRegistry {
	t.Helper()
	r := &fakeRegistry{delay: delay, tags: map[string]digest.Digest{}, requests: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *fakeRegistry) host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

func (r *fakeRegistry) setTag(pathTag string, d digest.Digest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tags[pathTag] = d
}

func (r *fakeRegistry) setAuth(auth func(r *http.Request) (string, bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auth = auth
}

func (r *fakeRegistry) setV2Status(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.v2Status = code
}

func (r *fakeRegistry) count(method, path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[method+" "+path]
}

func (r *fakeRegistry) handle(w http.ResponseWriter, req *http.Request) {
	time.Sleep(r.delay)
	r.mu.Lock()
	r.requests[req.Method+" "+req.URL.Path]++
	auth, v2Status := r.auth, r.v2Status
	r.mu.Unlock()
	if auth != nil {
		if challenge, ok := auth(req); !ok {
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if req.URL.Path == "/v2/" {
		if v2Status != 0 {
			w.WriteHeader(v2Status)
		}
		return
	}
	rest, ok := strings.CutPrefix(req.URL.Path, "/v2/")
	path, tag, found := strings.Cut(rest, "/manifests/")
	if !ok || !found {
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	d, known := r.tags[path+":"+tag]
	r.mu.Unlock()
	if !known {
		http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Docker-Content-Digest", d.String())
}

// fleetOf is a fleet with region "eu" holding mirrors and the given origins.
func fleetOf(mirrors, origins []string) manifests.Fleet {
	return manifests.Fleet{
		Regions:    map[string]manifests.Region{"eu": {Registries: mirrors}},
		Registries: origins,
	}
}

// newTestPrefetcher returns a Prefetcher over puller for region "eu", with
// short timeouts and no docker config, closed when the test ends.
func newTestPrefetcher(t *testing.T, puller Puller, tune func(*Options)) *Prefetcher {
	t.Helper()
	o := Options{
		Puller: puller, Region: "eu", DockerConfig: "/nonexistent/config.json",
		StallTimeout: 5 * time.Second, RequestTimeout: 2 * time.Second, Samples: 1,
	}
	if tune != nil {
		tune(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// memCache is a MeasurementCache in memory.
type memCache struct {
	mu sync.Mutex // guards m
	m  map[string]Measurement
}

func (c *memCache) Registries() (map[string]Measurement, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]Measurement{}
	for h, m := range c.m {
		out[h] = m
	}
	return out, nil
}

func (c *memCache) PutRegistry(host string, m Measurement) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]Measurement{}
	}
	c.m[host] = m
	return nil
}
