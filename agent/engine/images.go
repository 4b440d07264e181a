package engine

import (
	"context"
	"fmt"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
)

// ImageIDs returns the local image ID of each reference that is present, in
// one list call. A digest-pinned reference matches an image pulled by that
// digest from any registry serving the same repository path (a mirror).
func (e *Engine) ImageIDs(ctx context.Context, refs []string) (map[string]string, error) {
	index, err := e.images(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, ref := range refs {
		if id, ok := index.lookup(ref); ok {
			out[ref] = id
		}
	}
	return out, nil
}

// images indexes the local images, in one list call.
func (e *Engine) images(ctx context.Context) (imageIndex, error) {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	imgs, err := e.cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return imageIndex{}, fmt.Errorf("list images: %w", err)
	}
	return indexImages(imgs), nil
}

// imageIndex finds local images by tag, or by repository path and digest.
type imageIndex struct {
	byTag    map[string]string // normalized name:tag → ID
	byDigest map[string]string // path@digest → ID, whatever registry served it
	exact    map[string]string // normalized name@digest → ID, as the engine records it
}

func indexImages(imgs []image.Summary) imageIndex {
	ix := imageIndex{byTag: map[string]string{}, byDigest: map[string]string{}, exact: map[string]string{}}
	for _, img := range imgs {
		for _, t := range img.RepoTags {
			if n, err := reference.ParseNormalizedNamed(t); err == nil {
				ix.byTag[n.String()] = img.ID
			}
		}
		for _, d := range img.RepoDigests {
			if key, ok := digestKey(d); ok {
				ix.byDigest[key] = img.ID
			}
			if n, err := reference.ParseNormalizedNamed(d); err == nil {
				ix.exact[n.String()] = img.ID
			}
		}
	}
	return ix
}

// createRef is what a container of the image id is created from: the
// reference as the compose file writes it, as compose does, when the engine
// resolves it to that image, else the image ID (DESIGN.md §6, §10). A tag
// resolves: prefetch tagged the canonical name, which is the same name for
// the engine (nginx:1 is docker.io/library/nginx:1). A digest resolves only
// when the image carries that exact repo digest, which it does not when its
// bytes came from a mirror.
func (ix imageIndex) createRef(written, id string) string {
	if got, ok := ix.resolve(written); ok && got == id {
		return written
	}
	return id
}

// resolve finds the image the engine would take ref for.
func (ix imageIndex) resolve(ref string) (string, bool) {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", false
	}
	if d, ok := n.(reference.Digested); ok {
		// a name with tag and digest is looked up by its digest alone
		exact, err := reference.WithDigest(reference.TrimNamed(n), d.Digest())
		if err != nil {
			return "", false
		}
		id, found := ix.exact[exact.String()]
		return id, found
	}
	id, found := ix.byTag[reference.TagNameOnly(n).String()]
	return id, found
}

func (ix imageIndex) lookup(ref string) (string, bool) {
	if key, ok := digestKey(ref); ok {
		id, found := ix.byDigest[key]
		return id, found
	}
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", false
	}
	id, found := ix.byTag[reference.TagNameOnly(n).String()]
	return id, found
}

// digestKey returns "path@digest" for a digest-pinned reference: the
// registry host is left out, since mirrors serve the same paths.
func digestKey(ref string) (string, bool) {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", false
	}
	d, ok := n.(reference.Digested)
	if !ok {
		return "", false
	}
	return reference.Path(n) + "@" + d.Digest().String(), true
}
