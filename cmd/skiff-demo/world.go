package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"

	"github.com/skiffops/skiff/testenv"
)

// world is what the demo serves on loopback: the Git server holding the
// fleet and the two registries holding its images.
type world struct {
	git            *testenv.GitHTTPServer
	origin, mirror *ociRegistry
}

// startWorld starts the Git server (its repository under dir/git) and the
// registries. The origin answers without delay until the images are pushed.
func startWorld(dir string) (*world, error) {
	w := &world{}
	gitDir := filepath.Join(dir, "git")
	if err := os.MkdirAll(gitDir, 0o755); err != nil {
		return nil, err
	}
	var err error
	if w.git, err = testenv.StartGitServer(gitDir); err != nil {
		return nil, err
	}
	if w.origin, err = startRegistry("origin"); err != nil {
		w.close()
		return nil, err
	}
	if w.mirror, err = startRegistry("mirror"); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// close stops the servers; the Git repository stays in the demo directory
// until demo-clean.
func (w *world) close() error {
	var errs []error
	if w.git != nil {
		errs = append(errs, closeWithin(w.git.Close))
	}
	for _, r := range []*ociRegistry{w.origin, w.mirror} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	return errors.Join(errs...)
}

// pushImages builds every demo image, pushes it to both registries and
// removes it from the engine again, so that the node really pulls it.
func pushImages(ctx context.Context, d docker, w *world, node string) error {
	for _, img := range demoImages {
		local := img.ref(w.origin.Addr(), node)
		// The variant makes each image's layer the demo's own, so that a
		// pull downloads it rather than finding it held by another image.
		variant := testenv.WithVariant(fmt.Sprintf("%s %s:%s", node, img.name, img.tag))
		if _, err := d.build(ctx, local, variant); err != nil {
			return err
		}
		for _, reg := range []*ociRegistry{w.origin, w.mirror} {
			if err := d.push(ctx, local, img.ref(reg.Addr(), node)); err != nil {
				return err
			}
		}
		for _, reg := range []*ociRegistry{w.origin, w.mirror} {
			if err := d.removeImage(ctx, img.ref(reg.Addr(), node)); err != nil {
				return err
			}
		}
	}
	return nil
}

// isDemoImage says whether name is one of node's demo images: on a
// registry of 127.0.0.1, under the node's namespace.
func isDemoImage(node string) func(reference.Named) bool {
	return func(n reference.Named) bool {
		return strings.HasPrefix(reference.Domain(n), "127.0.0.1:") &&
			strings.HasPrefix(reference.Path(n), node+"/")
	}
}
