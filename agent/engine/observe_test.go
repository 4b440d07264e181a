package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// writeStacks replaces the world's repository with these stacks (name →
// compose.yaml; IMAGE stands for the test image) and loads them by name.
func (w *world) writeStacks(stacks map[string]string) map[string]*manifests.Stack {
	w.t.Helper()
	if err := os.RemoveAll(filepath.Join(w.repo, "stacks")); err != nil {
		w.t.Fatal(err)
	}
	for name, compose := range stacks {
		p := filepath.Join(w.repo, "stacks", name, "compose.yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(compose, "IMAGE", w.image)), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	return w.load()
}

// load loads the world's repository for its node, by stack name.
func (w *world) load() map[string]*manifests.Stack {
	w.t.Helper()
	d, err := manifests.Load(w.repo, manifests.Node{Name: w.node, Region: "test"})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, p := range d.Problems {
		if p.Severity == manifests.Error {
			w.t.Fatalf("manifest problem: %s", p)
		}
	}
	out := map[string]*manifests.Stack{}
	for i := range d.Stacks {
		out[d.Stacks[i].Name] = &d.Stacks[i]
	}
	return out
}

// create creates replica 1 of a service through the engine.
func (w *world) create(s *manifests.Stack, service string) string {
	w.t.Helper()
	id, err := w.eng.CreateContainer(context.Background(), reconcile.CreateRequest{
		Stack: s, Service: service, Number: 1, Name: reconcile.ContainerName(s, service, 1), Revision: "r1",
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// TestObserveReadsLabelsAndAttachments creates two stacks' objects through
// the engine and checks that Observe reports, from the lists alone, each
// network's and volume's key and definition hash and each container's
// networks, and that ObserveStack sees one stack only.
func TestObserveReadsLabelsAndAttachments(t *testing.T) {
	w := newWorld(t)
	a, b := w.stack, w.stack+"b"
	stacks := w.writeStacks(map[string]string{
		a: "services:\n  web:\n    image: IMAGE\n    networks: [front, back]\n    volumes: [data:/data]\n" +
			"networks:\n  front: {}\n  back: {internal: true, labels: {tier: back}}\nvolumes:\n  data: {labels: {keep: me}}\n",
		b: "services:\n  web:\n    image: IMAGE\n",
	})
	sa, sb := stacks[a], stacks[b]
	ctx := context.Background()
	for _, step := range []func() error{
		func() error { return w.eng.CreateNetwork(ctx, sa, "front") },
		func() error { return w.eng.CreateNetwork(ctx, sa, "back") },
		func() error { return w.eng.CreateVolume(ctx, sa, "data") },
		func() error { return w.eng.CreateNetwork(ctx, sb, "default") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	idA, idB := w.create(sa, "web"), w.create(sb, "web")

	all, err := w.eng.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nets := map[string]reconcile.Network{}
	for _, n := range all.Networks {
		nets[n.Name] = n
	}
	for _, want := range []struct {
		s   *manifests.Stack
		key string
	}{{sa, "front"}, {sa, "back"}, {sb, "default"}} {
		name := reconcile.NetworkName(want.s, want.key)
		n := nets[name]
		if n.Stack != want.s.Name || n.Key != want.key || n.Hash != want.s.NetworkHash(want.key) || n.ID == "" {
			t.Errorf("network %s observed as %+v, want key %s and hash %s", name, n, want.key, want.s.NetworkHash(want.key))
		}
	}
	wantVolumes := []reconcile.Volume{{Name: a + "_data", Stack: a, Key: "data", Hash: sa.VolumeHash("data")}}
	if diff := cmp.Diff(wantVolumes, all.Volumes); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
	wantAttached := map[string]map[string]string{
		idA: {a + "_front": nets[a+"_front"].ID, a + "_back": nets[a+"_back"].ID},
		idB: {b + "_default": nets[b+"_default"].ID},
	}
	gotAttached := map[string]map[string]string{}
	for _, c := range all.Containers {
		gotAttached[c.ID] = c.Networks
	}
	if diff := cmp.Diff(wantAttached, gotAttached); diff != "" {
		t.Errorf("container networks (-want +got):\n%s", diff)
	}

	// A container that has run keeps the ID of the network it ran on: once
	// that network is replaced, the list tells it apart.
	oldFront := nets[a+"_front"].ID
	for _, step := range []func() error{
		func() error { return w.eng.StartContainer(ctx, idA) },
		func() error { return w.eng.StopContainer(ctx, idA) },
		func() error { return w.eng.RemoveNetwork(ctx, oldFront) },
		func() error { return w.eng.CreateNetwork(ctx, sa, "front") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	again, err := w.eng.ObserveStack(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range again.Networks {
		if n.Key == "front" && (n.ID == oldFront || again.Containers[0].Networks[n.Name] != oldFront) {
			t.Errorf("after replacing %s: network %s, container attached to %s; want a new network and the old ID", n.Name, n.ID, again.Containers[0].Networks[n.Name])
		}
	}

	one, err := w.eng.ObserveStack(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Containers) != 1 || one.Containers[0].ID != idB || len(one.Networks) != 1 || one.Networks[0].Key != "default" || len(one.Volumes) != 0 {
		t.Errorf("ObserveStack(%s) = %+v, want its one container and network only", b, one)
	}
}
