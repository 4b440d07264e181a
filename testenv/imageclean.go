package testenv

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// ImagesNamed returns the IDs of the local images one of whose names (tags
// or repository digests) match says yes to, with those names. match gets
// the name in its normalized form, such as 127.0.0.1:5000/shop/web:1.0.
func ImagesNamed(ctx context.Context, cli *client.Client, match func(reference.Named) bool) (map[string][]string, error) {
	list, err := cli.ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := map[string][]string{}
	for _, img := range list {
		for _, name := range slices.Concat(img.RepoTags, img.RepoDigests) {
			named, err := reference.ParseNormalizedNamed(name)
			if err != nil || !match(named) {
				continue
			}
			out[img.ID] = append(out[img.ID], named.String())
		}
	}
	return out, nil
}

// RemoveImage removes the name ref, and the image when no other name holds
// it, as `docker rmi -f` does; a name that is already gone is not an error.
// The engine never removes an image a container still uses: it then only
// takes the name away.
func RemoveImage(ctx context.Context, cli *client.Client, ref string) error {
	_, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	return gone(err, "remove image %s", ref)
}

// RemoveImagesNamed removes the names of the local images that match says
// yes to, one by one, and so the images that no other name holds; it returns
// the names it removed.
func RemoveImagesNamed(ctx context.Context, cli *client.Client, match func(reference.Named) bool) ([]string, error) {
	found, err := ImagesNamed(ctx, cli, match)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, names := range found {
		for _, name := range names {
			if err := RemoveImage(ctx, cli, name); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, name)
		}
	}
	slices.Sort(removed)
	return removed, errors.Join(errs...)
}
