package prefetch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/testenv"
)

// The origin of the benchmark is far: every new connection waits
// originLatency and every chunk (at most 32 KiB) crossing the proxy waits
// originChunkLatency, about 6.5 MB/s. The mirror is near: 5ms a connection.
const (
	benchImages        = 3
	originChunkLatency = 5 * time.Millisecond
)

// BenchmarkPrefetchNearestVsOrigin prefetches a revision of three images
// through the region's mirror and, in the same run, through the origin
// alone, removing the images before each prefetch. Measurements are warm,
// as in a running agent; the tag is resolved at the far origin both ways.
func BenchmarkPrefetchNearestVsOrigin(b *testing.B) {
	w := newRegWorld(b, nearLatency, originLatency)
	const mirror, origin = 0, 1
	w.proxies[origin].SetReadLatency(originChunkLatency)
	var images []Image
	var ids []string
	for i := range benchImages {
		tag := fmt.Sprintf("v%d", i)
		id, _ := w.publish(tag, tag, mirror, origin)
		images, ids = append(images, Image{Ref: w.ref(origin, tag)}), append(ids, id)
	}
	modes := []struct {
		name  string
		fleet manifests.Fleet
		p     *Prefetcher
		total time.Duration
	}{
		{name: "nearest", fleet: fleetOf([]string{w.host(mirror)}, []string{w.host(origin)})},
		{name: "origin", fleet: fleetOf(nil, []string{w.host(origin)})},
	}
	ctx := context.Background()
	for i := range modes {
		modes[i].p = w.prefetcher(nil)
		modes[i].p.ranker.rank(ctx, modes[i].fleet.RegistriesFor("eu", nil))
	}
	b.ResetTimer()
	for range b.N {
		for i := range modes {
			b.StopTimer()
			w.removeAll(images, ids)
			b.StartTimer()
			start := time.Now()
			results, err := modes[i].p.Prefetch(ctx, modes[i].fleet, images)
			modes[i].total += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if results[0].Registry != w.host(mirror) && modes[i].name == "nearest" {
				b.Fatalf("nearest mode pulled from %s", results[0].Registry)
			}
		}
	}
	b.StopTimer()
	w.removeAll(images, ids)
	nearest, far := modes[0].total/time.Duration(b.N), modes[1].total/time.Duration(b.N)
	b.ReportMetric(float64(nearest.Milliseconds()), "nearest-ms/op")
	b.ReportMetric(float64(far.Milliseconds()), "origin-ms/op")
	b.ReportMetric(float64(far)/float64(nearest), "speedup")
}

// removeAll removes the images' canonical names, and with them the images
// (the engine drops the digest names of a repository whose last tag goes).
func (w *regWorld) removeAll(images []Image, ids []string) {
	for _, img := range images {
		testenv.RemoveImageTag(w.t, w.env.Client, img.Ref)
	}
	for _, id := range ids {
		if w.localID(id) != "" {
			w.t.Fatalf("image %s still local", id)
		}
	}
}
