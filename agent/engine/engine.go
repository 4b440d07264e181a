package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/skiffops/skiff/reconcile"
)

var _ reconcile.Engine = (*Engine)(nil)

// Options configure an Engine.
type Options struct {
	// Host is the engine's address (unix:///var/run/docker.sock,
	// tcp://…); empty means DOCKER_HOST or the local socket.
	Host string
	// Node is this node's name: it labels every object skiff creates and
	// filters every list, so skiff never touches another node's objects.
	Node string
	// FilesDir holds the content-addressed copies of repository files that
	// containers mount (state_dir/files).
	FilesDir string
	// Grace is how long a container without healthcheck must keep running,
	// without restarting, to pass the health gate. Default 5s.
	Grace time.Duration
	// HealthTimeout caps the wait for a healthcheck verdict. Default 5m.
	HealthTimeout time.Duration
	// Poll is the period of the health gate's checks. Default 250ms.
	Poll   time.Duration
	Logger *slog.Logger
}

// Engine drives the Docker Engine API for one node.
type Engine struct {
	cli  *client.Client
	opts Options
	log  *slog.Logger
}

const pingTimeout = 10 * time.Second

// New connects to the engine, negotiates the API version and pings it.
func New(ctx context.Context, o Options) (*Engine, error) {
	if o.Node == "" {
		return nil, errors.New("engine: node name is required")
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 5 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if o.Host != "" {
		opts = append(opts, client.WithHost(o.Host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	e := &Engine{cli: cli, opts: o, log: o.Logger.With("component", "engine")}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	ping, err := cli.Ping(pctx)
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("ping docker engine at %s: %w", cli.DaemonHost(), err)
	}
	cli.NegotiateAPIVersionPing(ping)
	e.log.Info("connected to docker engine", "host", cli.DaemonHost(), "api_version", cli.ClientVersion())
	return e, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.cli.Close() }

// APIVersion is the negotiated Docker API version.
func (e *Engine) APIVersion() string { return e.cli.ClientVersion() }

// nodeFilter selects the objects skiff created for this node.
func (e *Engine) nodeFilter(extra ...filters.KeyValuePair) filters.Args {
	args := append([]filters.KeyValuePair{
		filters.Arg("label", LabelManaged+"=true"),
		filters.Arg("label", LabelNode+"="+e.opts.Node),
	}, extra...)
	return filters.NewArgs(args...)
}

// Observe lists this node's containers, networks and volumes: one
// label-filtered list call each, no per-object inspect.
func (e *Engine) Observe(ctx context.Context) (reconcile.Observed, error) {
	var o reconcile.Observed
	cs, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: e.nodeFilter()})
	if err != nil {
		return o, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs {
		o.Containers = append(o.Containers, observedContainer(c))
	}
	ns, err := e.cli.NetworkList(ctx, network.ListOptions{Filters: e.nodeFilter()})
	if err != nil {
		return o, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns {
		o.Networks = append(o.Networks, reconcile.Network{ID: n.ID, Name: n.Name, Stack: n.Labels[LabelProject]})
	}
	vs, err := e.cli.VolumeList(ctx, volume.ListOptions{Filters: e.nodeFilter()})
	if err != nil {
		return o, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vs.Volumes {
		o.Volumes = append(o.Volumes, reconcile.Volume{Name: v.Name, Stack: v.Labels[LabelProject]})
	}
	return o, nil
}

func observedContainer(c container.Summary) reconcile.Container {
	n, _ := strconv.Atoi(c.Labels[LabelNumber])
	name := c.ID
	if len(c.Names) > 0 {
		name = strings.TrimPrefix(c.Names[0], "/")
	}
	exit, health := parseStatus(c.Status)
	return reconcile.Container{
		ID: c.ID, Name: name, Stack: c.Labels[LabelProject], Service: c.Labels[LabelService], Number: n,
		Hash: c.Labels[LabelConfigHash], ImageID: c.ImageID, Revision: c.Labels[LabelRevision],
		State: c.State, ExitCode: exit, Health: health,
	}
}

// parseStatus reads the exit code and health from the list's human status,
// "Exited (137) 5 seconds ago" or "Up 3 minutes (healthy)", so that no
// inspect is needed.
func parseStatus(status string) (exitCode int, health string) {
	if rest, ok := strings.CutPrefix(status, "Exited ("); ok {
		if code, _, ok := strings.Cut(rest, ")"); ok {
			exitCode, _ = strconv.Atoi(code)
		}
	}
	switch {
	case strings.HasSuffix(status, "(healthy)"):
		health = "healthy"
	case strings.HasSuffix(status, "(unhealthy)"):
		health = "unhealthy"
	case strings.HasSuffix(status, "(health: starting)"):
		health = "starting"
	}
	return exitCode, health
}

// ImageIDs returns the local image ID of each reference that is present, in
// one list call. A digest-pinned reference matches an image pulled by that
// digest from any registry serving the same repository path (a mirror).
func (e *Engine) ImageIDs(ctx context.Context, refs []string) (map[string]string, error) {
	imgs, err := e.cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	index := indexImages(imgs)
	out := map[string]string{}
	for _, ref := range refs {
		if id, ok := index.lookup(ref); ok {
			out[ref] = id
		}
	}
	return out, nil
}
