package engine

import (
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
)

// imageIndex finds local images by tag, or by repository path and digest.
type imageIndex struct {
	byTag    map[string]string // normalized name:tag → ID
	byDigest map[string]string // path@digest → ID, whatever registry served it
}

func indexImages(imgs []image.Summary) imageIndex {
	ix := imageIndex{byTag: map[string]string{}, byDigest: map[string]string{}}
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
		}
	}
	return ix
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

// isDigestRef reports whether ref pins a digest: such images cannot carry
// their canonical name locally, so containers are created from the ID.
func isDigestRef(ref string) bool {
	_, ok := digestKey(ref)
	return ok
}
