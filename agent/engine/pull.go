package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
)

// The engine implements prefetch.Puller with basic types only (it may not
// import agent/prefetch): ImageIDs, PullImage, TagImage and RemoveImageRef.

// Pull pulls ref from the registry it names, without credentials, and
// returns the local image ID.
func (e *Engine) Pull(ctx context.Context, ref string) (string, error) {
	id, _, err := e.PullImage(ctx, ref, "", nil)
	if err != nil {
		return "", err
	}
	e.log.Info("image pulled", "image", ref, "id", short(id))
	return id, nil
}

// PullImage pulls ref and returns the local image ID and the manifest digest
// the registry served. auth is the X-Registry-Auth value (base64url JSON of
// username, password and serveraddress; empty for none). progress, when not
// nil, is called for every message of the engine's progress stream with the
// bytes downloaded so far and the total announced so far, over all layers:
// each call is a sign of life. The engine reports failures inside the stream,
// which is read to its end; cancelling ctx abandons the pull.
func (e *Engine) PullImage(ctx context.Context, ref, auth string, progress func(downloaded, total int64)) (id, digest string, err error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", fmt.Errorf("pull %s: %w", ref, err)
	}
	rc, err := e.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return "", "", fmt.Errorf("pull %s: %w", ref, err)
	}
	defer rc.Close()
	if err := readPullStream(rc, progress); err != nil {
		return "", "", fmt.Errorf("pull %s: %w", ref, err)
	}
	inspect, err := e.imageInspect(ctx, ref)
	if err != nil {
		return "", "", fmt.Errorf("pull %s: the engine reported success but: %w", ref, err)
	}
	return inspect.ID, repoDigest(named, inspect.RepoDigests), nil
}

// repoDigest returns the digest of named among an image's repo digests: the
// pinned one for a digest reference, else the one of named's repository.
func repoDigest(named reference.Named, repoDigests []string) string {
	if d, ok := named.(reference.Digested); ok {
		return d.Digest().String()
	}
	for _, rd := range repoDigests {
		n, err := reference.ParseNormalizedNamed(rd)
		if err != nil || n.Name() != named.Name() {
			continue
		}
		if c, ok := n.(reference.Canonical); ok {
			return c.Digest().String()
		}
	}
	return ""
}

// TagImage gives the image source (a reference or an ID) the tag target.
func (e *Engine) TagImage(ctx context.Context, source, target string) error {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	if err := e.cli.ImageTag(ctx, source, target); err != nil {
		return fmt.Errorf("tag %s as %s: %w", source, target, err)
	}
	return nil
}

// errLastName refuses to remove the only names an image has left.
var errLastName = errors.New("it is the image's last name: the image would be removed")

// RemoveImageRef removes the name ref (a tag or a repo@digest) from its image
// and never the image itself: it refuses when no name of another repository
// would be left (the engine also drops the digest names of a repository
// whose last tag goes). A name already gone is not an error.
func (e *Engine) RemoveImageRef(ctx context.Context, ref string) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return fmt.Errorf("remove image name %s: %w", ref, err)
	}
	inspect, err := e.imageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove image name %s: %w", ref, err)
	}
	names := slices.Concat(inspect.RepoTags, inspect.RepoDigests)
	if !slices.ContainsFunc(names, otherRepository(named.Name())) {
		return fmt.Errorf("remove image name %s: %w", ref, errLastName)
	}
	rctx, cancel := e.callCtx(ctx)
	defer cancel()
	_, err = e.cli.ImageRemove(rctx, ref, image.RemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove image name %s: %w", ref, err)
	}
	return nil
}

func (e *Engine) imageInspect(ctx context.Context, ref string) (image.InspectResponse, error) {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	return e.cli.ImageInspect(ctx, ref)
}

// otherRepository matches the names of a repository other than repo.
func otherRepository(repo string) func(string) bool {
	return func(name string) bool {
		n, err := reference.ParseNormalizedNamed(name)
		return err == nil && n.Name() != repo
	}
}

// pullMessage is the part of a pull progress line skiff reads.
type pullMessage struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	ProgressDetail struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	Error       string `json:"error"`
	ErrorDetail struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readPullStream reads the progress stream to its end, feeding progress,
// and returns the first failure the engine reports in it.
func readPullStream(r io.Reader, progress func(downloaded, total int64)) error {
	dec := json.NewDecoder(r)
	meter := pullMeter{layers: map[string]layerBytes{}}
	for {
		var m pullMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read progress: %w", err)
		}
		if m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
		meter.add(m)
		if progress != nil {
			progress(meter.sum())
		}
	}
}

// pullMeter sums the download progress of a pull's layers.
type pullMeter struct {
	layers map[string]layerBytes
}

type layerBytes struct{ current, total int64 }

func (p *pullMeter) add(m pullMessage) {
	if m.ID == "" {
		return
	}
	l := p.layers[m.ID]
	switch m.Status {
	case "Downloading":
		l.current = m.ProgressDetail.Current
		if m.ProgressDetail.Total > 0 {
			l.total = m.ProgressDetail.Total
		}
	case "Download complete":
		l.current = max(l.current, l.total)
	default:
		return
	}
	p.layers[m.ID] = l
}

func (p *pullMeter) sum() (downloaded, total int64) {
	for _, l := range p.layers {
		downloaded += l.current
		total += l.total
	}
	return downloaded, total
}
