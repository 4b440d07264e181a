package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiffops/skiff/manifests"
)

// buildSpec turns one replica of a Compose service into the Docker API
// container spec, the way docker compose v2.40.3 creates it on an engine
// speaking API 1.41. This was checked by comparing `docker inspect` (Config,
// HostConfig, network aliases) of containers compose created with that of
// containers created from buildSpec for the same files; the differences left
// are the deliberate ones below. Every key that manifests lets through is
// honoured or refused with an error naming it (errCannotHonour); none is
// dropped.
//
// Deliberate differences from compose:
//
//   - com.docker.compose.config-hash holds skiff's spec hash
//     (manifests.Service.Hash), not compose's; the io.skiff.* labels are added.
//   - com.docker.compose.project.working_dir is not written and
//     project.config_files lists the compose files relative to the repository
//     root (stacks/<stack>/compose.yaml): compose writes absolute paths into
//     the project directory, which for skiff is a checkout that changes with
//     every revision and is removed later. `docker compose -p <stack>
//     ps|logs|down` need neither; `docker compose ls` warns without
//     config_files.
//   - Bind sources, secrets and configs from the repository are the
//     content-addressed copies of specRequest.Files, never checkout paths,
//     and are always mounted read-only, even without :ro: compose mounts
//     such files and directories writable, but a copy is content shared by
//     every container (and every revision) that mounts it, so one container
//     must never change what another sees. Node paths are mounted as
//     written.
//   - A bind with selinux: is always written as a Binds entry, which carries
//     the relabel option; compose switches binds with propagation: to the
//     Mount API and silently loses it. selinux: with create_host_path: false
//     on a node path is refused: the engine cannot be asked both at once.
//   - security_opt seccomp=<file> is refused: compose inlines the profile
//     file, which manifests neither checks nor hashes.
//   - Lists compose builds from maps (environment, ulimits, mounts, extra
//     hosts, depends_on label) are sorted, so that equal services give equal
//     specs.
//   - network_mode, pid and ipc "service:NAME" join replica 1 of NAME by
//     container name; compose resolves the current container's ID.
//   - A label the user sets under com.docker.compose. or io.skiff. is refused
//     instead of being overwritten.
//   - Anonymous volumes of a replaced container are kept only when the caller
//     passes them in specRequest.Inherit (compose looks them up itself).
//   - The proxies of the Docker CLI's config.json are not added to the
//     environment: what a container gets comes from the repository only.
//   - uid, gid and mode of secrets and configs are honoured with a copy that
//     has them (materializeStack); compose ignores them without Swarm.
//   - Config.Image is the image as written, as with compose, except for a
//     digest the engine knows only under a mirror's name: such a container
//     is created from the image ID (the canonical name is always in
//     io.skiff.image), where compose would pull.
func buildSpec(req specRequest) (containerSpec, error) {
	svc, meta, err := req.service()
	if err != nil {
		return containerSpec{}, err
	}
	b := &specBuilder{req: req, svc: svc, meta: meta}
	spec := containerSpec{Name: req.Name}
	steps := []func(*containerSpec) error{
		b.config, b.host, b.mounts, b.networks, b.platform,
	}
	for _, step := range steps {
		if err := step(&spec); err != nil {
			return containerSpec{}, err
		}
	}
	return spec, nil
}

// specRequest is what a container spec is built from.
type specRequest struct {
	Stack    *manifests.Stack
	Service  string
	Number   int
	Name     string // the container's name
	Node     string
	Revision string // the commit that last changed this container
	// Image is what the container is created from, its Config.Image: the
	// reference as the compose file writes it, or the image ID when the
	// engine cannot resolve that (a digest pulled from a mirror; DESIGN.md
	// §6, §10). The canonical name is in io.skiff.image.
	Image   string
	ImageID string
	// Files maps the checkout path of every repository file the stack uses
	// (manifests.File.Path) to its content-addressed copy on the host, and
	// the variantKey of secrets and configs with uid, gid or mode to their
	// own copy: what materializeStack returns.
	Files map[string]string
	// Env maps the placeholders of encrypted dotenv values
	// (manifests.SecretRef) to their plaintext, for the environment.
	Env map[string]string
	// Inherit maps a mount target to the volume the replaced container had
	// there, for the anonymous volumes compose carries over on recreate: the
	// service's volumes without a source and the image's VOLUMEs. Optional.
	Inherit map[string]string
}

// containerSpec is everything ContainerCreate and NetworkConnect need. A
// container cannot be created on two networks at once: it is created on
// Networking's single network and connected to Extra before it starts.
type containerSpec struct {
	Name       string
	Config     *container.Config
	Host       *container.HostConfig
	Networking *network.NetworkingConfig
	Extra      []networkAttachment
	Platform   *ocispec.Platform // nil unless the service sets platform
}

// networkAttachment is one more network to connect before start.
type networkAttachment struct {
	Network  string // the engine's network name
	Endpoint *network.EndpointSettings
}

// errCannotHonour marks a key of a service that the engine cannot apply as
// written; the service is refused rather than run without it.
var errCannotHonour = errors.New("cannot be honoured")

// specBuilder carries one request through the steps of buildSpec.
type specBuilder struct {
	req  specRequest
	svc  types.ServiceConfig
	meta manifests.Service
}

// service finds the Compose service and skiff's data about it.
func (r specRequest) service() (types.ServiceConfig, manifests.Service, error) {
	switch {
	case r.Stack == nil || r.Stack.Project == nil:
		return types.ServiceConfig{}, manifests.Service{}, errors.New("build spec: no stack")
	case r.Number < 1:
		return types.ServiceConfig{}, manifests.Service{}, fmt.Errorf("build spec for %s: replica number %d", r.Service, r.Number)
	case r.Name == "" || r.Image == "":
		return types.ServiceConfig{}, manifests.Service{}, fmt.Errorf("build spec for %s: container name and image are required", r.Service)
	}
	svc, ok := r.Stack.Project.Services[r.Service]
	if !ok {
		return types.ServiceConfig{}, manifests.Service{}, fmt.Errorf("build spec: stack %s has no service %s", r.Stack.Name, r.Service)
	}
	for _, m := range r.Stack.Services {
		if m.Name == r.Service {
			return svc, m, nil
		}
	}
	return types.ServiceConfig{}, manifests.Service{}, fmt.Errorf("build spec: stack %s has no hash for service %s", r.Stack.Name, r.Service)
}

// refuse reports a key of the service that cannot be honoured; key is the
// path below the service, as in "volumes[2].bind.selinux".
func (b *specBuilder) refuse(key, format string, args ...any) error {
	return fmt.Errorf("services.%s.%s: %s: %w", b.svc.Name, key, fmt.Sprintf(format, args...), errCannotHonour)
}

// platform parses the platform key (os/arch[/variant]).
func (b *specBuilder) platform(spec *containerSpec) error {
	if b.svc.Platform == "" {
		return nil
	}
	parts := strings.Split(strings.ToLower(b.svc.Platform), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return b.refuse("platform", "%q: write os/arch[/variant], as linux/amd64", b.svc.Platform)
	}
	p := &ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	spec.Platform = p
	return nil
}
