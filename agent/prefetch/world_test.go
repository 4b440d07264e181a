package prefetch

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"

	"github.com/skiffops/skiff/testenv"
)

// dockerPuller is the real engine reached through testenv. The tests of
// this package may import neither the engine adapter nor the Docker client
// (DESIGN.md §4), so it pulls with testenv's helpers, passing X-Registry-Auth
// as the adapter does, without progress reports (the engine adapter's own
// tests cover those).
type dockerPuller struct {
	t   testing.TB
	env *testenv.DockerEnv
}

func (d dockerPuller) ImageIDs(ctx context.Context, refs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, r := range refs {
		if img, err := d.env.Client.ImageInspect(ctx, r); err == nil {
			out[r] = img.ID
		}
	}
	return out, nil
}

func (d dockerPuller) PullImage(ctx context.Context, ref, auth string, _ func(int64, int64)) (string, string, error) {
	if err := testenv.PullImageAuth(ctx, d.env.Client, ref, auth); err != nil {
		return "", "", err
	}
	img, err := d.env.Client.ImageInspect(ctx, ref)
	if err != nil {
		return "", "", fmt.Errorf("inspect %s: %w", ref, err)
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", err
	}
	if c, ok := named.(reference.Digested); ok {
		return img.ID, c.Digest().String(), nil
	}
	return img.ID, repoDigestOf(named.Name(), img.RepoDigests), nil
}

func repoDigestOf(repo string, repoDigests []string) string {
	for _, rd := range repoDigests {
		if name, d, ok := strings.Cut(rd, "@"); ok && name == repo {
			return d
		}
	}
	return ""
}

func (d dockerPuller) TagImage(ctx context.Context, source, target string) error {
	return d.env.Client.ImageTag(ctx, source, target)
}

func (d dockerPuller) RemoveImageRef(_ context.Context, ref string) error {
	testenv.RemoveImageTag(d.t, d.env.Client, ref)
	return nil
}

// regWorld is registries each behind a fault proxy, and the engine.
type regWorld struct {
	t       testing.TB
	env     *testenv.DockerEnv
	name    string
	regs    []*testenv.RegistryServer
	proxies []*testenv.TCPFaultProxy
}

// newRegWorld starts one registry per latency, each behind a proxy adding
// that latency to every new connection.
func newRegWorld(t testing.TB, latencies ...time.Duration) *regWorld {
	t.Helper()
	w := &regWorld{t: t, env: testenv.Docker(t), name: testenv.TestName(t)}
	for _, l := range latencies {
		r := testenv.Registry(t)
		p := testenv.FaultProxy(t, r.Addr())
		p.SetLatency(l)
		w.regs, w.proxies = append(w.regs, r), append(w.proxies, p)
	}
	return w
}

// host is how the node reaches registry i: through its proxy.
func (w *regWorld) host(i int) string { return w.proxies[i].Addr() }

// path is the test's repository path.
func (w *regWorld) path() string { return "shop/" + w.name }

// publish builds a test image of its own (variant), pushes it as
// path:tag straight to the registries at idx and removes it from the
// engine, so that a prefetch must download it. It returns the image ID and
// the manifest digest, and removes in t.Cleanup every name a prefetch may
// give the image.
func (w *regWorld) publish(variant, tag string, idx ...int) (id, dg string) {
	w.t.Helper()
	ctx := context.Background()
	cli := w.env.Client
	local := "skiff-test/" + w.name + "-" + variant + ":src"
	id = testenv.TestImageVariant(w.t, local, w.name+"-"+variant)
	for _, i := range idx {
		ref := w.regs[i].Addr() + "/" + w.path() + ":" + tag
		if err := testenv.PushImage(ctx, cli, local, ref); err != nil {
			w.t.Fatal(err)
		}
		img, err := cli.ImageInspect(ctx, ref)
		if err != nil {
			w.t.Fatal(err)
		}
		d := repoDigestOf(w.regs[i].Addr()+"/"+w.path(), img.RepoDigests)
		if dg != "" && d != dg {
			w.t.Fatalf("pushes of one image gave digests %s and %s", dg, d)
		}
		dg = d
		testenv.RemoveImageTag(w.t, cli, ref)
	}
	testenv.RemoveImageTag(w.t, cli, local)
	if _, err := cli.ImageInspect(ctx, id); err == nil {
		w.t.Fatalf("image %s still local after publishing", id)
	}
	w.t.Cleanup(func() {
		// Digest names first: the last tag to go takes the image with it.
		for i := range w.proxies {
			testenv.RemoveImageTag(w.t, cli, w.host(i)+"/"+w.path()+"@"+dg)
		}
		for i := range w.proxies {
			testenv.RemoveImageTag(w.t, cli, w.host(i)+"/"+w.path()+":"+tag)
		}
	})
	return id, dg
}

// ref is the canonical reference of path:tag, at the origin (registry i).
func (w *regWorld) ref(origin int, tag string) string {
	return w.host(origin) + "/" + w.path() + ":" + tag
}

// localID returns the ID of the local image named ref, or "".
func (w *regWorld) localID(ref string) string {
	img, err := w.env.Client.ImageInspect(context.Background(), ref)
	if err != nil {
		return ""
	}
	return img.ID
}

// served counts the manifest and blob GETs registry i answered for the
// test's repository.
func (w *regWorld) served(i int) int {
	w.t.Helper()
	n := 0
	for _, kind := range []string{"/manifests/", "/blobs/"} {
		c, err := w.regs[i].Requests("GET", "/v2/"+w.path()+kind)
		if err != nil {
			w.t.Fatal(err)
		}
		n += c
	}
	return n
}

// waitServed waits until registry i's log shows it served the pull.
func (w *regWorld) waitServed(i int) {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for w.served(i) == 0 {
		if time.Now().After(deadline) {
			w.t.Fatalf("registry %d (%s) served no manifest or blob", i, w.host(i))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// prefetcher returns a Prefetcher for region "eu" over the engine.
func (w *regWorld) prefetcher(cache MeasurementCache) *Prefetcher {
	w.t.Helper()
	p, err := New(Options{
		Puller: dockerPuller{t: w.t, env: w.env}, Cache: cache, Region: "eu",
		DockerConfig: "/nonexistent/config.json", StallTimeout: time.Minute,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(p.Close)
	return p
}
