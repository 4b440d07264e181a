package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/testenv"
)

// imageOf creates replica 1 of the world's stack, whose image is written
// as given, and returns its Config.Image and io.skiff.image.
func (w *world) imageOf(written string) (configImage, label string) {
	w.t.Helper()
	w.write(map[string]string{"compose.yaml": "services:\n  web:\n    image: " + written + "\n"})
	st := w.load()[w.stack]
	ctx := context.Background()
	if err := w.eng.CreateNetwork(ctx, st, "default"); err != nil && !cerrdefs.IsConflict(err) {
		w.t.Fatal(err) // the first case creates it
	}
	id := w.create(st, "web")
	w.start(id)
	info, err := w.env.Client.ContainerInspect(ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.eng.RemoveContainer(ctx, id); err != nil {
		w.t.Fatal(err)
	}
	return info.Config.Image, info.Config.Labels[engine.LabelRef]
}

// TestConfigImageAsWritten: containers carry the image as the compose file
// writes it, as compose does, and the canonical name in io.skiff.image; a
// digest the engine only knows under a mirror's name is created from the
// image ID.
func TestConfigImageAsWritten(t *testing.T) {
	w := newWorld(t)
	reg := testenv.Registry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pushed := reg.Addr() + "/skiff-test/" + w.node + ":1"
	if err := testenv.PushImage(ctx, w.env.Client, w.image, pushed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.RemoveImageTag(t, w.env.Client, pushed) })
	img, err := w.env.Client.ImageInspect(ctx, w.image)
	if err != nil {
		t.Fatal(err)
	}
	var digest string
	for _, d := range img.RepoDigests {
		if rest, ok := strings.CutPrefix(d, reg.Addr()+"/skiff-test/"+w.node+"@"); ok {
			digest = rest
		}
	}
	if digest == "" {
		t.Fatalf("no repo digest of %s after the push: %v", pushed, img.RepoDigests)
	}
	canonical := func(ref string) string {
		n, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			t.Fatal(err)
		}
		return reference.TagNameOnly(n).String()
	}
	byDigest := reg.Addr() + "/skiff-test/" + w.node + "@" + digest
	viaMirror := "registry.example.com/skiff-test/" + w.node + "@" + digest
	for _, tt := range []struct{ written, want string }{
		{w.image, w.image}, // skiff-test/<node>:1, canonically docker.io/…
		{byDigest, byDigest},
		{viaMirror, img.ID},
	} {
		got, label := w.imageOf(tt.written)
		if got != tt.want || label != canonical(tt.written) {
			t.Errorf("image: %s: Config.Image %s, io.skiff.image %s; want %s and %s", tt.written, got, label, tt.want, canonical(tt.written))
		}
	}
}
