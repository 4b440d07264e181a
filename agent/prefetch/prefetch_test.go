package prefetch

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/skiffops/skiff/manifests"
)

// world is an origin and two mirrors (the first one nearer) in front of a
// fake engine.
type world struct {
	origin, near, far *fakeRegistry
	puller            *fakePuller
	fleet             manifests.Fleet
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{
		origin: newFakeRegistry(t, 40*time.Millisecond),
		near:   newFakeRegistry(t, 0),
		far:    newFakeRegistry(t, 20*time.Millisecond),
		puller: newFakePuller(),
	}
	w.fleet = fleetOf([]string{w.far.host(), w.near.host()}, []string{w.origin.host()})
	return w
}

func TestPullsByDigestFromTheNearestAndNamesCanonically(t *testing.T) {
	w := newWorld(t)
	ref := w.origin.host() + "/shop/web:1.4"
	d := digest.FromString("web 1.4")
	w.origin.setTag("shop/web:1.4", d)
	p := newTestPrefetcher(t, w.puller, nil)

	results, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: ref}})
	if err != nil {
		t.Fatal(err)
	}
	mirrorRef := w.near.host() + "/shop/web@" + d.String()
	if got := w.puller.pulled(); !slices.Equal(got, []string{mirrorRef}) {
		t.Errorf("pulls = %v, want only %s", got, mirrorRef)
	}
	r := results[0]
	if r.Registry != w.near.host() || r.Digest != d.String() || !r.Verified || !r.Pulled {
		t.Errorf("result = %+v, want verified %s from %s", r, d, w.near.host())
	}
	if _, ok := w.puller.local[ref]; !ok {
		t.Errorf("canonical name %s not given", ref)
	}
	if !slices.Equal(w.puller.removed, []string{mirrorRef}) {
		t.Errorf("removed names = %v, want the mirror's %s", w.puller.removed, mirrorRef)
	}
	if n := w.origin.count("HEAD", "/v2/shop/web/manifests/1.4"); n != 1 {
		t.Errorf("origin answered %d HEAD for the tag, want 1", n)
	}
}

func TestPolicyDecidesWhatIsPulled(t *testing.T) {
	const host = "other.example.net"
	for _, tc := range []struct {
		policy  string
		local   bool
		pulls   int
		wantErr error
	}{
		{policy: "", local: true, pulls: 0},
		{policy: PullMissing, local: false, pulls: 1},
		{policy: PullAlways, local: true, pulls: 1},
		{policy: PullNever, local: true, pulls: 0},
		{policy: PullNever, local: false, pulls: 0, wantErr: ErrNotLocal},
	} {
		t.Run(tc.policy+map[bool]string{true: "-local", false: "-absent"}[tc.local], func(t *testing.T) {
			puller := newFakePuller()
			ref := host + "/app:1"
			if tc.local {
				puller.local[ref] = "sha256:old"
			}
			p := newTestPrefetcher(t, puller, nil)
			_, err := p.Prefetch(context.Background(), manifests.Fleet{}, []Image{{Ref: ref, PullPolicy: tc.policy}})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got := len(puller.pulled()); got != tc.pulls {
				t.Errorf("%d pulls, want %d", got, tc.pulls)
			}
		})
	}
}

func TestImageOfAnotherRegistryIsPulledAsWritten(t *testing.T) {
	w := newWorld(t)
	p := newTestPrefetcher(t, w.puller, nil)
	ref := "ghcr.io/acme/tool:2"
	results, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: ref}})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.puller.pulled(); !slices.Equal(got, []string{ref}) {
		t.Errorf("pulls = %v, want %s as written", got, ref)
	}
	if results[0].Registry != "ghcr.io" || len(w.puller.removed) != 0 {
		t.Errorf("result %+v, removed %v", results[0], w.puller.removed)
	}
	for _, r := range []*fakeRegistry{w.origin, w.near, w.far} {
		if n := r.count("GET", "/v2/"); n != 0 {
			t.Errorf("registry %s probed %d times for an image it does not serve", r.host(), n)
		}
	}
}

func TestStaleMirrorIsSkippedForTheOriginsDigest(t *testing.T) {
	w := newWorld(t)
	d := digest.FromString("current")
	w.origin.setTag("shop/web:1", d)
	w.puller.serve = func(ctx context.Context, ref string, progress func(int64, int64)) (string, string, error) {
		if strings.HasPrefix(ref, w.near.host()+"/") {
			return "", "", errors.New("manifest unknown: manifest unknown")
		}
		return serveDigestOf(ctx, ref, progress)
	}
	p := newTestPrefetcher(t, w.puller, nil)
	results, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: w.origin.host() + "/shop/web:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Registry != w.far.host() || results[0].Digest != d.String() {
		t.Errorf("result = %+v, want %s from %s", results[0], d, w.far.host())
	}
}

func TestPinnedDigestFromOtherBitsIsRefused(t *testing.T) {
	w := newWorld(t)
	d := digest.FromString("pinned")
	ref := w.origin.host() + "/shop/web@" + d.String()
	liar := func(ctx context.Context, ref string, progress func(int64, int64)) (string, string, error) {
		if strings.HasPrefix(ref, w.near.host()+"/") {
			return "sha256:other", digest.FromString("other").String(), nil
		}
		return "", "", errors.New("connection refused")
	}
	w.puller.serve = liar
	p := newTestPrefetcher(t, w.puller, nil)
	_, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: ref}})
	var ie *ImageError
	if !errors.As(err, &ie) || !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("err = %v, want a digest mismatch", err)
	}
	if want := []string{w.near.host(), w.far.host(), w.origin.host()}; !slices.Equal(ie.Tried(), want) {
		t.Errorf("tried %v, want %v", ie.Tried(), want)
	}
	if !strings.Contains(err.Error(), w.near.host()) {
		t.Errorf("error does not name the mirror: %v", err)
	}

	w.puller.serve = func(ctx context.Context, r string, progress func(int64, int64)) (string, string, error) {
		if strings.HasPrefix(r, w.far.host()+"/") {
			return serveDigestOf(ctx, r, progress)
		}
		return liar(ctx, r, progress)
	}
	results, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: ref}})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Registry != w.far.host() || !results[0].Verified {
		t.Errorf("result = %+v, want a verified pull from %s", results[0], w.far.host())
	}
	if slices.Contains(w.puller.removed, w.far.host()+"/shop/web@"+d.String()) {
		t.Error("the mirror's digest name of a pinned image was removed: the engine could not find it again")
	}
}

func TestOriginWithoutTheTagFailsTheImage(t *testing.T) {
	w := newWorld(t)
	p := newTestPrefetcher(t, w.puller, nil)
	_, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: w.origin.host() + "/shop/gone:1"}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want the origin's manifest unknown", err)
	}
	if got := w.puller.pulled(); len(got) != 0 {
		t.Errorf("pulled %v although the origin has no such tag", got)
	}
}

func TestOriginDownUsesTheNearestMirrorsTag(t *testing.T) {
	w := newWorld(t)
	w.origin.srv.Close()
	ref := w.origin.host() + "/shop/web:1"
	p := newTestPrefetcher(t, w.puller, nil)
	results, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: ref}})
	if err != nil {
		t.Fatal(err)
	}
	mirrorTag := w.near.host() + "/shop/web:1"
	if got := w.puller.pulled(); !slices.Equal(got, []string{mirrorTag}) {
		t.Errorf("pulls = %v, want the nearest mirror's tag", got)
	}
	if r := results[0]; r.Verified || r.Registry != w.near.host() {
		t.Errorf("result = %+v, want unverified from %s", r, w.near.host())
	}
	if !slices.Equal(w.puller.removed, []string{mirrorTag}) {
		t.Errorf("removed %v, want the mirror's tag", w.puller.removed)
	}
}

func TestEveryRegistryFailingNamesThemAll(t *testing.T) {
	w := newWorld(t)
	w.origin.setTag("shop/web:1", digest.FromString("x"))
	w.puller.serve = func(context.Context, string, func(int64, int64)) (string, string, error) {
		return "", "", errors.New("connection refused")
	}
	p := newTestPrefetcher(t, w.puller, nil)
	ref := w.origin.host() + "/shop/web:1"
	_, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: ref}})
	var pe *Error
	if !errors.As(err, &pe) || len(pe.Images) != 1 || pe.Images[0].Ref != ref {
		t.Fatalf("err = %v, want one failed image %s", err, ref)
	}
	want := []string{w.near.host(), w.far.host(), w.origin.host()}
	if diff := cmp.Diff(want, pe.Images[0].Tried()); diff != "" {
		t.Errorf("registries named (-want +got):\n%s", diff)
	}
}

func TestPullMarksTheRegistryForRemeasuring(t *testing.T) {
	w := newWorld(t)
	w.origin.setTag("shop/web:1", digest.FromString("x"))
	cache := &memCache{}
	w.puller.serve = func(ctx context.Context, ref string, progress func(int64, int64)) (string, string, error) {
		if strings.HasPrefix(ref, w.near.host()+"/") {
			return "", "", errors.New("connection reset by peer")
		}
		return serveDigestOf(ctx, ref, progress)
	}
	p := newTestPrefetcher(t, w.puller, func(o *Options) { o.Cache = cache })
	if _, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: w.origin.host() + "/shop/web:1"}}); err != nil {
		t.Fatal(err)
	}
	m := cache.m[w.near.host()]
	if m.Alive() || !strings.Contains(m.LastError, "connection reset") {
		t.Fatalf("near mirror's measurement after a failed pull = %+v", m)
	}
	before := w.near.count("GET", "/v2/")
	if _, err := p.Prefetch(context.Background(), w.fleet, []Image{{Ref: w.origin.host() + "/shop/web:2", PullPolicy: PullNever}, {Ref: w.origin.host() + "/shop/web:1", PullPolicy: PullAlways}}); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("err = %v", err)
	}
	if w.near.count("GET", "/v2/") == before {
		t.Error("the failed mirror was not measured again")
	}
}

func TestImagesOfMergesPolicies(t *testing.T) {
	stacks := []manifests.Stack{
		{Services: []manifests.Service{{Image: "r/a:1", PullPolicy: PullMissing}, {Image: "r/b:1", PullPolicy: PullNever}}},
		{Services: []manifests.Service{{Image: "r/a:1", PullPolicy: PullAlways}, {Image: "r/b:1", PullPolicy: PullMissing}}},
	}
	want := []Image{{Ref: "r/a:1", PullPolicy: PullAlways}, {Ref: "r/b:1", PullPolicy: PullMissing}}
	if diff := cmp.Diff(want, ImagesOf(stacks)); diff != "" {
		t.Errorf("ImagesOf (-want +got):\n%s", diff)
	}
}
