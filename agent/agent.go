package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/agent/prefetch"
	"github.com/skiffops/skiff/agent/source"
	"github.com/skiffops/skiff/agent/store"
)

// Options are what the process around the agent provides.
type Options struct {
	Version string
	Logger  *slog.Logger
	// OnReady is called once, when the boot reconcile from the store is
	// done (at once when the store is empty): systemd's READY=1.
	OnReady func()
	// OnAlive is called by the liveness loop every AliveEvery: the systemd
	// watchdog. It waits on nothing external (Docker, Git, registries, a
	// stack's lock), only on the agent's own state lock.
	OnAlive func()
	// AliveEvery is the period of OnAlive. Default 10s.
	AliveEvery time.Duration
	// HealEvery is the period of healing rounds when no event comes.
	// Default 10s.
	HealEvery time.Duration
	// Grace is the engine's health gate for containers without
	// healthcheck (default 5s); tests shorten it.
	Grace time.Duration
}

// Agent is one node's agent: the composition root of source, manifests,
// engine, reconcile and store.
type Agent struct {
	cfg   Config
	opts  Options
	log   *slog.Logger
	store *store.Store
	src   *source.Source
	// eng and pf are set once the engine answers; the loops start after
	// that, the API may ask before and reads them under mu.
	eng *engine.Engine
	pf  *prefetch.Prefetcher
	// hooks are the notify webhooks (notifications.go).
	hooks notifier

	// locks gives each stack its own lock: an update holds it through its
	// gates, healing skips a stack whose lock is taken.
	locks *stackLocks
	// applies tracks the goroutines applying revisions; Run waits for them.
	applies sync.WaitGroup

	syncReq chan struct{} // a poll is asked for (skiff sync, fsnotify)
	healReq chan struct{} // a healing round is asked for (events)

	// storeMu serializes the agent's writes of what it knows to the store
	// (persist, revisions, meta) with flushStore, so that writing again
	// what the store missed never puts an older state over a newer one.
	// It is taken before mu, never while holding it.
	storeMu sync.Mutex

	mu sync.Mutex // guards st
	st state
}

// Run runs the agent until ctx ends. It returns an error only when it cannot
// start (the store is locked by another agent, the socket is taken, the
// configuration is unusable); an upstream that is down never ends it, and
// stopping it never stops the containers.
func Run(ctx context.Context, cfg Config, opts Options) error {
	a, err := newAgent(cfg, opts)
	if err != nil {
		return err
	}
	defer a.store.Close()
	srv, err := api.Listen(cfg.API.Socket, a, a.log)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	goRun(&wg, func() {
		if err := srv.Serve(); err != nil {
			a.log.Error("api server stopped", "error", err)
		}
	})
	stopMetrics := a.serveMetrics(&wg)
	goRun(&wg, func() { a.livenessLoop(ctx) })
	defer func() {
		srv.Shutdown(context.Background())
		stopMetrics()
		wg.Wait()
		a.hooks.Close()
		if a.eng != nil {
			a.eng.Close()
		}
		a.log.Info("agent stopped; containers keep running")
	}()

	if !a.connectEngine(ctx) {
		return nil
	}
	pf, err := a.newPrefetcher()
	if err != nil {
		return fmt.Errorf("prefetch: %w", err)
	}
	defer pf.Close()
	a.mu.Lock()
	a.pf = pf // the API reads it, under mu
	a.mu.Unlock()
	a.boot(ctx)
	if opts.OnReady != nil {
		opts.OnReady()
	}
	defer a.applies.Wait()
	goRun(&wg, func() { a.healLoop(ctx) })
	goRun(&wg, func() { a.watchEvents(ctx) })
	goRun(&wg, func() { a.pollLoop(ctx) })
	goRun(&wg, func() { a.watchLocalSource(ctx) })
	<-ctx.Done()
	return nil
}

func newAgent(cfg Config, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HealEvery <= 0 {
		opts.HealEvery = 10 * time.Second
	}
	if opts.AliveEvery <= 0 {
		opts.AliveEvery = 10 * time.Second
	}
	a := &Agent{
		cfg: cfg, opts: opts, log: opts.Logger.With("component", "agent"),
		syncReq: make(chan struct{}, 1), healReq: make(chan struct{}, 1),
		locks: newStackLocks(),
	}
	a.st = newState(cfg, opts.Version)
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	st, rec, err := store.OpenOrRecover(filepath.Join(cfg.StateDir, store.FileName), store.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	a.store = st
	a.st.storeStatus = api.StoreStatus{Path: st.Path()}
	if rec.MovedTo != "" {
		a.st.storeStatus = api.StoreStatus{Path: st.Path(), Recovered: true, Reason: rec.Reason, MovedTo: rec.MovedTo}
		a.log.Warn("state database was unusable: moved aside and rebuilt", "reason", rec.Reason, "moved_to", rec.MovedTo)
	}
	src, err := source.New(sourceConfig(cfg), opts.Logger)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("source: %w", err)
	}
	a.src = src
	hooks, err := newNotifier(cfg, opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.hooks = hooks
	if cfg.Secrets.AgeIdentityFile != "" {
		if _, err := cfg.keyring().Identities(); err != nil {
			a.log.Warn("age identities unusable: stacks with encrypted files are refused until they are", "error", err)
		}
	}
	return a, nil
}

func sourceConfig(c Config) source.Config {
	s := c.Source
	return source.Config{
		URL: s.URL, Branch: s.Branch, Timeout: s.Timeout,
		Username: s.Auth.Username, PasswordFile: s.Auth.PasswordFile,
		SSHKeyFile: s.Auth.SSHKeyFile, KnownHostsFile: s.Auth.KnownHostsFile,
		KeyringFile: s.Verify.KeyringFile, Dir: filepath.Join(c.StateDir, "source"),
	}
}

// connectEngine waits for the Docker engine, however long it takes: a
// daemon that restarts is waited out, never fatal. It reports whether ctx
// is still alive.
func (a *Agent) connectEngine(ctx context.Context) bool {
	b := backoff{min: 250 * time.Millisecond, max: 10 * time.Second, jitter: 0.1}
	for {
		eng, err := newEngine(ctx, a.cfg, engine.Options{Logger: a.opts.Logger, Grace: a.opts.Grace})
		if err == nil {
			a.mu.Lock()
			a.eng = eng // the API's dry run reads it, under mu
			a.mu.Unlock()
			a.setDocker(true, eng.APIVersion(), nil)
			return true
		}
		a.setDocker(false, "", err)
		if !sleep(ctx, b.next(), nil) {
			return false
		}
	}
}

func (a *Agent) serveMetrics(wg *sync.WaitGroup) (stop func()) {
	if a.cfg.API.MetricsListen == "" {
		return func() {}
	}
	srv := api.NewMetricsServer(a.cfg.API.MetricsListen, a)
	goRun(wg, func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server stopped", "listen", a.cfg.API.MetricsListen, "error", err)
		}
	})
	return func() { srv.Close() }
}

// livenessLoop pings the watchdog. It proves the process runs and its
// state lock is free (the API answers from it); it never waits on Docker,
// Git, a registry or a stack's lock, so an engine that hangs does not get a
// healthy agent killed.
func (a *Agent) livenessLoop(ctx context.Context) {
	if a.opts.OnAlive == nil {
		return
	}
	t := time.NewTicker(a.opts.AliveEvery)
	defer t.Stop()
	for {
		a.update(func(*state) {}) // the check: the state lock can be taken
		a.opts.OnAlive()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync asks for a poll now (api.Provider).
func (a *Agent) Sync() { notify(a.syncReq) }

// notify sends on a 1-buffered channel without blocking: requests coalesce.
func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func goRun(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		f()
	}()
}
