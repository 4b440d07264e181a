package prefetch

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// A private registry (Debian's docker-registry with htpasswd) serves an
// image only with credentials. Without any, the prefetch is refused; with a
// Docker config naming a credential helper for it, the helper's
// credentials serve both the tag resolution at the origin and the engine's
// pull, verified by digest.
func TestDockerPullsFromAPrivateRegistryThroughACredentialHelper(t *testing.T) {
	env := testenv.Docker(t)
	name := testenv.TestName(t)
	reg := testenv.AuthRegistry(t, testUser, testPassword)
	calls := installHelper(t, "skifftest", reg.Addr())
	ctx := context.Background()
	cli := env.Client

	local := "skiff-test/" + name + ":src"
	id := testenv.TestImageVariant(t, local, name)
	ref := reg.Addr() + "/shop/" + name + ":1"
	if err := testenv.PushImageAuth(ctx, cli, local, ref, testUser, testPassword); err != nil {
		t.Fatal(err)
	}
	img, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	dg := repoDigestOf(reg.Addr()+"/shop/"+name, img.RepoDigests)
	testenv.RemoveImageTag(t, cli, ref)
	testenv.RemoveImageTag(t, cli, local)
	t.Cleanup(func() {
		testenv.RemoveImageTag(t, cli, reg.Addr()+"/shop/"+name+"@"+dg)
		testenv.RemoveImageTag(t, cli, ref)
	})
	fleet := fleetOf(nil, []string{reg.Addr()})
	prefetcher := func(config string) *Prefetcher {
		p, err := New(Options{Puller: dockerPuller{t: t, env: env}, Region: "eu", DockerConfig: config, StallTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}

	if _, err := prefetcher("/nonexistent/config.json").Prefetch(ctx, fleet, []Image{{Ref: ref}}); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("without credentials: %v, want unauthorized", err)
	}
	config := writeDockerConfigJSON(t, map[string]any{"credHelpers": map[string]string{reg.Addr(): "skifftest"}})
	results, err := prefetcher(config).Prefetch(ctx, fleet, []Image{{Ref: ref}})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.ImageID != id || r.Digest != dg || !r.Verified || r.Registry != reg.Addr() {
		t.Errorf("result %+v; want image %s, digest %s, verified, from %s", r, id, dg, reg.Addr())
	}
	if got, err := cli.ImageInspect(ctx, ref); err != nil || got.ID != id {
		t.Errorf("%s is not the pushed image: %v", ref, err)
	}
	if got := helperCalls(t, calls); !slices.Equal(got, []string{reg.Addr()}) {
		t.Errorf("helper asked for %v, want %s once", got, reg.Addr())
	}
}
