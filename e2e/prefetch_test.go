package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// TestAgentWaitsForItsImages runs a node whose images come from an origin
// registry and its region's mirror, each behind a fault proxy. With both cut,
// a new revision is not cut over: the old container keeps running and
// status says which image is pending. Once the mirror is back, the revision
// is applied (unverified: the origin is still cut).
func TestAgentWaitsForItsImages(t *testing.T) {
	name := testenv.TestName(t)
	origin, mirror := testenv.Registry(t), testenv.Registry(t)
	po, pm := testenv.FaultProxy(t, origin.Addr()), testenv.FaultProxy(t, mirror.Addr())
	git := testenv.GitServer(t)
	for _, v := range []string{"v1", "v2"} {
		// Variants unique to this test: an identical layer held by another
		// test would make the pull download nothing.
		testenv.TestImageVariant(t, "skiff-test/"+name+":"+v, name+"-"+v)
	}
	env := testenv.Docker(t)
	ctx := context.Background()
	for _, v := range []string{"v1", "v2"} {
		local := "skiff-test/" + name + ":" + v
		for _, reg := range []*testenv.RegistryServer{origin, mirror} {
			remote := reg.Addr() + "/skiff/" + name + ":" + v
			if err := testenv.PushImage(ctx, env.Client, local, remote); err != nil {
				t.Fatal(err)
			}
			testenv.RemoveImageTag(t, env.Client, remote)
		}
		testenv.RemoveImageTag(t, env.Client, local) // the node must pull it
	}
	canonical := func(v string) string { return po.Addr() + "/skiff/" + name + ":" + v }
	for _, v := range []string{"v1", "v2"} {
		// Registered before the node: cleanups run last first, so the
		// images go after the containers that use them.
		t.Cleanup(func() { testenv.RemoveImageTag(t, env.Client, canonical(v)) })
	}
	n := newNode(t, env, git.URL(), "")
	push := func(v string) string {
		t.Helper()
		files := stackFiles(n.name, canonical(v), v)
		files["fleet.yaml"] = fmt.Sprintf("registries: [%q]\nregions:\n  test: {registries: [%q]}\n", po.Addr(), pm.Addr())
		c, err := git.Push(files, "images "+v)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	web := n.name + "-web-1"

	c1 := push("v1")
	n.start()
	waitFor(t, "web at v1", 90*time.Second, func() (bool, string) {
		got := n.running()[web]
		return got.Revision == c1, fmt.Sprint(got)
	})
	before := n.running()[web]

	po.Cut()
	pm.Cut()
	c2 := push("v2")
	waitFor(t, "v2 to be pending on its image", 60*time.Second, func() (bool, string) {
		s := n.status()
		return s.Pending != nil && s.Pending.Revision == c2 && strings.Contains(s.Pending.Reason, canonical("v2")),
			fmt.Sprintf("%+v", s.Pending)
	})
	if got := n.running()[web]; got != before {
		t.Fatalf("web changed while its new image could not be fetched: %v → %v", before, got)
	}
	if s := n.status(); s.AppliedRevision != c1 {
		t.Errorf("applied revision %s while v2's image is missing, want %s", s.AppliedRevision, c1)
	}

	waitFor(t, "the image retried", 60*time.Second, func() (bool, string) {
		return strings.Contains(n.log.String(), "image not pulled again"), "no retry yet"
	})
	if got := strings.Count(n.log.String(), "image not pulled; retried"); got != 1 {
		t.Errorf("%d warnings for one image that cannot be fetched, want one until it is pulled", got)
	}
	if err := pm.Restore(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "v2 applied once the mirror is back", 90*time.Second, func() (bool, string) {
		got := n.running()[web]
		return got.Revision == c2, fmt.Sprint(got)
	})
	served, err := mirror.Requests("GET", "/v2/skiff/"+name+"/blobs/")
	if err != nil || served == 0 {
		t.Errorf("the mirror served %d blob GETs (%v): the image did not come from it", served, err)
	}
}
