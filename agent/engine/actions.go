package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// CreateContainer creates a replica from its spec, on its first network, and
// connects the others before it is started. The repository files it mounts
// cannot be collected until it exists: from then on, its mounts keep them.
func (e *Engine) CreateContainer(ctx context.Context, r reconcile.CreateRequest) (string, error) {
	e.files.mu.RLock()
	defer e.files.mu.RUnlock()
	spec, err := e.spec(ctx, r)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", r.Name, err)
	}
	id, err := e.create(ctx, spec)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", r.Name, err)
	}
	e.log.Info("container created", "stack", r.Stack.Name, "service", r.Service, "container", r.Name, "revision", r.Revision)
	return id, nil
}

// create creates the container and connects its other networks, each call
// with its own deadline. A container that cannot be connected is removed.
func (e *Engine) create(ctx context.Context, spec containerSpec) (string, error) {
	cctx, cancel := e.callCtx(ctx)
	created, err := e.cli.ContainerCreate(cctx, spec.Config, spec.Host, spec.Networking, spec.Platform, spec.Name)
	cancel()
	if err != nil {
		return "", err
	}
	for _, extra := range spec.Extra {
		if err := e.connect(ctx, created.ID, extra); err != nil {
			rctx, cancel := e.callCtx(context.WithoutCancel(ctx))
			rmErr := e.cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true})
			cancel()
			return "", errors.Join(fmt.Errorf("connect network %s: %w", extra.Network, err), rmErr)
		}
	}
	return created.ID, nil
}

func (e *Engine) connect(ctx context.Context, id string, a networkAttachment) error {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	return e.cli.NetworkConnect(ctx, a.Network, id, a.Endpoint)
}

// spec builds the container spec of a request: the image to create from,
// the repository files copied where mounts can find them, and the API
// structures.
func (e *Engine) spec(ctx context.Context, r reconcile.CreateRequest) (containerSpec, error) {
	svc, ok := findService(r.Stack, r.Service)
	if !ok {
		return containerSpec{}, fmt.Errorf("service %s is not in stack %s", r.Service, r.Stack.Name)
	}
	images, err := e.images(ctx)
	if err != nil {
		return containerSpec{}, err
	}
	id, ok := images.lookup(svc.Image)
	if !ok {
		return containerSpec{}, fmt.Errorf("image %s is not present on the node", svc.Image)
	}
	written := r.Stack.Project.Services[r.Service].Image
	if written == "" {
		written = svc.Image
	}
	from := images.createRef(written, id)
	files, err := e.files.materializeStack(r.Stack)
	if err != nil {
		return containerSpec{}, err
	}
	env, err := e.materializeSecrets(r.Stack, files)
	if err != nil {
		return containerSpec{}, err
	}
	inherit, err := e.anonymousVolumes(ctx, r.Replaces)
	if err != nil {
		return containerSpec{}, err
	}
	return buildSpec(specRequest{
		Stack: r.Stack, Service: r.Service, Number: r.Number, Name: r.Name, Node: e.opts.Node,
		Revision: r.Revision, Image: from, ImageID: id, Files: files, Env: env, Inherit: inherit,
	})
}

// anonymousVolumes maps the mount targets of a container's anonymous
// volumes (the image's VOLUMEs, volumes without a source) to their names,
// so that its replacement keeps their data.
func (e *Engine) anonymousVolumes(ctx context.Context, id string) (map[string]string, error) {
	if id == "" {
		return nil, nil
	}
	info, err := e.inspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replaced container: %w", err)
	}
	out := map[string]string{}
	for _, m := range info.Mounts {
		if m.Type == mount.TypeVolume && isAnonymous(m.Name) {
			out[m.Destination] = m.Name
		}
	}
	return out, nil
}

func findService(s *manifests.Stack, name string) (manifests.Service, bool) {
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc, true
		}
	}
	return manifests.Service{}, false
}

// isAnonymous reports whether a volume name is one the engine generated: 64
// hex digits. Named volumes always carry a name a person chose.
func isAnonymous(name string) bool {
	if len(name) != 64 {
		return false
	}
	for _, r := range name {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
