package prefetch

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// Registries of the tests: two mirrors of region eu and the origin.
const (
	nearLatency   = 5 * time.Millisecond
	farLatency    = 60 * time.Millisecond
	originLatency = 150 * time.Millisecond
)

func TestDockerPullsFromTheNearestRegistry(t *testing.T) {
	w := newRegWorld(t, farLatency, nearLatency, originLatency)
	const far, near, origin = 0, 1, 2
	id, dg := w.publish("a", "1.0", far, near, origin)
	fleet := fleetOf([]string{w.host(far), w.host(near)}, []string{w.host(origin)})
	ref := w.ref(origin, "1.0")

	results, err := w.prefetcher(nil).Prefetch(context.Background(), fleet, []Image{{Ref: ref}})
	if err != nil {
		t.Fatal(err)
	}
	r := results[0]
	if r.Registry != w.host(near) || r.Digest != dg || r.ImageID != id || !r.Verified {
		t.Errorf("result = %+v; want image %s, digest %s, verified, from %s", r, id, dg, w.host(near))
	}
	if got := w.localID(ref); got != id {
		t.Errorf("canonical name %s → %q, want %s", ref, got, id)
	}
	if got := w.localID(w.host(near) + "/" + w.path() + "@" + dg); got != "" {
		t.Error("the mirror's name was left on the image")
	}
	w.waitServed(near)
	if n, m := w.served(far), w.served(origin); n != 0 || m != 0 {
		t.Errorf("far mirror served %d GETs, origin %d; want only the nearest to serve", n, m)
	}
	if n, err := w.regs[origin].Requests("HEAD", "/v2/"+w.path()+"/manifests/1.0"); err != nil || n != 1 {
		t.Errorf("origin answered %d HEAD of the tag (%v), want 1", n, err)
	}
}

func TestDockerFallsBackAndRecovers(t *testing.T) {
	w := newRegWorld(t, nearLatency, farLatency, originLatency)
	const near, far, origin = 0, 1, 2
	all := []int{near, far, origin}
	w.publish("a", "a", all...)
	_, digestB := w.publish("b", "b", all...)
	idC, _ := w.publish("c", "c", all...)
	fleet := fleetOf([]string{w.host(near), w.host(far)}, []string{w.host(origin)})
	p := w.prefetcher(&memCache{})
	ctx := context.Background()

	if _, err := p.Prefetch(ctx, fleet, []Image{{Ref: w.ref(origin, "a")}}); err != nil {
		t.Fatal(err)
	}
	w.waitServed(near)
	servedByNear := w.served(near)

	// The nearest is cut after it was measured: its pull fails, the next serves.
	w.proxies[near].Cut()
	results, err := p.Prefetch(ctx, fleet, []Image{{Ref: w.ref(origin, "b")}})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Registry != w.host(far) || r.Digest != digestB || !r.Verified {
		t.Errorf("with the nearest cut: %+v, want a verified pull from %s", r, w.host(far))
	}
	if w.served(near) != servedByNear {
		t.Error("the cut registry served a request")
	}

	// All cut: the image fails, naming every registry, and nothing is pulled.
	w.proxies[far].Cut()
	w.proxies[origin].Cut()
	refC := w.ref(origin, "c")
	_, err = p.Prefetch(ctx, fleet, []Image{{Ref: refC}})
	var pe *Error
	if !errors.As(err, &pe) || len(pe.Images) != 1 || pe.Images[0].Ref != refC {
		t.Fatalf("with every registry cut: %v; want image %s failed", err, refC)
	}
	for i := range all {
		if !slices.Contains(pe.Images[0].Tried(), w.host(i)) || !strings.Contains(err.Error(), w.host(i)) {
			t.Errorf("error does not name registry %s: %v", w.host(i), err)
		}
	}
	if w.localID(refC) != "" {
		t.Error("image present although every registry was cut")
	}
	t.Logf("every registry cut: %v", err)

	// One is back: the prefetch succeeds (unverified: the origin is still cut).
	if err := w.proxies[far].Restore(); err != nil {
		t.Fatal(err)
	}
	results, err = p.Prefetch(ctx, fleet, []Image{{Ref: refC}})
	if err != nil {
		t.Fatalf("with %s restored: %v", w.host(far), err)
	}
	if r := results[0]; r.Registry != w.host(far) || r.ImageID != idC || r.Verified {
		t.Errorf("after the restore: %+v; want an unverified pull of %s from %s", r, idC, w.host(far))
	}
	if w.localID(refC) != idC {
		t.Error("image not under its canonical name after the restore")
	}
}

func TestDockerOriginDownUsesTheNearestMirrorsTag(t *testing.T) {
	w := newRegWorld(t, nearLatency, originLatency)
	const near, origin = 0, 1
	id, dg := w.publish("a", "1", near, origin)
	w.proxies[origin].Cut()
	fleet := fleetOf([]string{w.host(near)}, []string{w.host(origin)})
	ref := w.ref(origin, "1")

	results, err := w.prefetcher(nil).Prefetch(context.Background(), fleet, []Image{{Ref: ref}})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Verified || r.Registry != w.host(near) || r.Digest != dg || r.ImageID != id {
		t.Errorf("result = %+v; want an unverified pull of %s (%s) from %s", r, id, dg, w.host(near))
	}
	if w.localID(ref) != id {
		t.Error("image not under its canonical name")
	}
	if w.localID(w.ref(near, "1")) != "" {
		t.Error("the mirror's tag was left on the image")
	}
}

func TestDockerStaleMirrorSkippedAndRefusedForAPinnedDigest(t *testing.T) {
	w := newRegWorld(t, nearLatency, farLatency, originLatency)
	const stale, far, origin = 0, 1, 2
	id, dg := w.publish("current", "1", far, origin)
	staleID, _ := w.publish("old", "1", stale) // same tag, other image
	fleet := fleetOf([]string{w.host(stale), w.host(far)}, []string{w.host(origin)})
	ctx := context.Background()

	results, err := w.prefetcher(nil).Prefetch(ctx, fleet, []Image{{Ref: w.ref(origin, "1")}})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Registry != w.host(far) || r.ImageID != id || r.Digest != dg {
		t.Errorf("tag: %+v; want %s from %s, the stale mirror skipped", r, id, w.host(far))
	}
	if w.localID(staleID) != "" {
		t.Error("the stale mirror's image was pulled")
	}

	// Pinned to the origin's digest, with only the stale mirror reachable.
	pinned := w.host(origin) + "/" + w.path() + "@" + dg
	w.proxies[far].Cut()
	w.proxies[origin].Cut()
	p := w.prefetcher(nil)
	_, err = p.Prefetch(ctx, fleet, []Image{{Ref: pinned}})
	var ie *ImageError
	if !errors.As(err, &ie) || len(ie.Attempts) == 0 || ie.Attempts[0].Registry != w.host(stale) {
		t.Fatalf("pinned digest: %v; want the stale mirror refused first", err)
	}
	t.Logf("refused: %v", ie.Attempts[0].Err)

	if err := w.proxies[far].Restore(); err != nil {
		t.Fatal(err)
	}
	results, err = p.Prefetch(ctx, fleet, []Image{{Ref: pinned}})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Registry != w.host(far) || r.ImageID != id || r.Digest != dg || !r.Verified {
		t.Errorf("pinned digest: %+v; want %s from %s", r, id, w.host(far))
	}
}
