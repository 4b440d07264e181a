package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/skiffops/skiff/reconcile"
	"github.com/skiffops/skiff/testenv"
)

// BenchmarkNoopReconcile measures a reconcile that finds nothing to do: the
// observation (one label-filtered list per object kind, one image list),
// and the plan. No per-container inspect. Each node is set up once, outside
// the timed runs, and removed before the next size.
func BenchmarkNoopReconcile(b *testing.B) {
	for _, n := range []int{10, 100, 500} {
		w := noopWorld(b, n)
		d, _ := w.plan("bench") // the agent keeps the desired state in memory
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			benchNoop(b, w, d, n)
		})
		if err := testenv.RemoveNodeObjects(context.Background(), w.env.Client, w.node); err != nil {
			b.Fatal(err)
		}
	}
}

func noopWorld(b *testing.B, replicas int) *world {
	w := newWorld(b)
	w.write(map[string]string{"compose.yaml": fmt.Sprintf(`
services:
  app:
    image: IMAGE
    command: ["-listen", ":8080"]
    deploy: {replicas: %d}
`, replicas)})
	startAll(b, w)
	return w
}

func benchNoop(b *testing.B, w *world, d reconcile.Desired, replicas int) {
	refs := []string{d.Stacks[0].Services[0].Image}
	ctx := context.Background()
	for range b.N {
		observed, err := w.eng.Observe(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if d.Images, err = w.eng.ImageIDs(ctx, refs); err != nil {
			b.Fatal(err)
		}
		if p := reconcile.Build(d, observed); !p.Empty() || len(observed.Containers) != replicas {
			b.Fatalf("not a no-op over %d containers:\n%s", len(observed.Containers), p)
		}
	}
}

// startAll creates and starts the plan's containers eight at a time: the
// serial health-gated path would make setting up 500 containers slow.
func startAll(b *testing.B, w *world) {
	b.Helper()
	ctx := context.Background()
	d, p := w.plan("bench")
	s := &d.Stacks[0]
	for _, a := range p.Actions() {
		if a.Kind == reconcile.CreateNetwork {
			if err := w.eng.CreateNetwork(ctx, s, a.Key); err != nil {
				b.Fatal(err)
			}
		}
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, a := range p.Actions() {
		if a.Kind != reconcile.Create {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(a reconcile.Action) {
			defer func() { <-sem; wg.Done() }()
			id, err := w.eng.CreateContainer(ctx, reconcile.CreateRequest{Stack: s, Service: a.Service, Number: a.Number, Name: a.Name, Revision: "bench"})
			if err == nil {
				err = w.eng.StartContainer(ctx, id)
			}
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}(a)
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}
