package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/docker/docker/api/types/filters"
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
	// SecretsDir holds the plaintext of the encrypted repository files
	// that containers mount (secrets.runtime_dir), and Decrypter decrypts
	// them; without both, a stack with encrypted files cannot be created.
	SecretsDir string
	Decrypter  Decrypter
	// Grace is how long a container without healthcheck must keep running,
	// without restarting, to pass the health gate. Default 5s.
	Grace time.Duration
	// HealthTimeout caps the wait for a healthcheck verdict. Default 5m.
	HealthTimeout time.Duration
	// Poll is the period of the health gate's checks. Default 250ms.
	Poll time.Duration
	// CallTimeout is the deadline of every single engine API call but
	// pulls, event streams and stops (which wait for the container's own
	// stop timeout on top of it). Default 30s.
	CallTimeout time.Duration
	Logger      *slog.Logger
}

// Engine drives the Docker Engine API for one node.
type Engine struct {
	cli     *client.Client
	opts    Options
	log     *slog.Logger
	files   *fileStore
	secrets *secretStore // nil without SecretsDir and Decrypter
}

const (
	pingTimeout        = 10 * time.Second
	defaultCallTimeout = 30 * time.Second
)

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
	if o.CallTimeout <= 0 {
		o.CallTimeout = defaultCallTimeout
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
	log := o.Logger.With("component", "engine")
	e := &Engine{cli: cli, opts: o, log: log, files: newFileStore(o.FilesDir, log), secrets: newSecretStore(o.SecretsDir, o.Decrypter, log)}
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

// callCtx bounds one engine API call by CallTimeout: a hung daemon (or a
// black-holed socket) fails the call instead of the loop that made it.
func (e *Engine) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.opts.CallTimeout)
}
