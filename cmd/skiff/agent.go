package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/fsnotify/fsnotify"

	"github.com/skiffops/skiff/agent"
)

func runAgent(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := newFlagSet("agent", "[--config FILE] [config flags]", stderr)
	cf := bindConfigFlags(fs)
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	format := fs.String("log-format", "text", "log `format`: text (key=value) or json")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	// The agent idles between polls with a live heap of a few MB: Go's
	// default GC target (GOGC=100) lets it double before collecting. 25 keeps
	// an edge node's agent small (idle RSS 24.8 MB instead of 26.0 with ten
	// containers, see BENCHMARKS.md) for no measurable CPU at that heap size.
	// GOGC in the environment still wins.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(25)
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintf(stderr, "skiff agent: %v\n", err)
		return exitUsage
	}
	cfg, err := cf.load()
	if err != nil {
		fmt.Fprintf(stderr, "skiff agent: %v\n", err)
		return exitFailure
	}
	reload := watchReload(ctx, cf.path, log)
	for {
		next, err := superviseAgent(ctx, cfg, cf, reload, log)
		if err != nil {
			log.Error("agent cannot start", "error", err)
			return exitFailure
		}
		if next == nil {
			return exitOK
		}
		cfg = *next
	}
}

// superviseAgent runs the agent until ctx ends (nil, nil) or a reload
// brings a valid, different configuration (which it returns). A reload
// with an invalid configuration is refused and the agent keeps running.
func superviseAgent(ctx context.Context, cfg agent.Config, cf *configFlags, reload <-chan struct{}, log *slog.Logger) (*agent.Config, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- agent.Run(runCtx, cfg, agentOptions(log)) }()
	for {
		select {
		case err := <-done:
			return nil, err
		case <-reload:
			next, err := cf.load()
			if err != nil {
				log.Error("configuration reload refused; the agent keeps its running configuration", "error", err)
				continue
			}
			if reflect.DeepEqual(next, cfg) {
				continue
			}
			log.Info("configuration changed: restarting the agent's loops; containers keep running")
			_, _ = daemon.SdNotify(false, daemon.SdNotifyReloading)
			cancel()
			if err := <-done; err != nil {
				return nil, err
			}
			return &next, nil
		}
	}
}

func agentOptions(log *slog.Logger) agent.Options {
	opts := agent.Options{
		Version: version,
		Logger:  log,
		OnReady: func() { _, _ = daemon.SdNotify(false, daemon.SdNotifyReady) },
	}
	if interval, err := daemon.SdWatchdogEnabled(false); err == nil && interval > 0 {
		opts.AliveEvery = interval / 3
		opts.OnAlive = func() { _, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog) }
	}
	return opts
}

// watchReload signals a reload on SIGHUP and when the configuration file
// changes (fsnotify on its directory: editors replace files by rename).
func watchReload(ctx context.Context, path string, log *slog.Logger) <-chan struct{} {
	out := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	if path == "" {
		path = defaultConfigPath
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(filepath.Dir(path))
	}
	if err != nil {
		log.Warn("configuration file not watched; reload with SIGHUP", "path", path, "error", err)
		w = nil
	}
	go func() {
		defer signal.Stop(hup)
		var events chan fsnotify.Event
		if w != nil {
			defer w.Close()
			events = w.Events
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the configuration")
				notify(out)
			case ev := <-events:
				if filepath.Clean(ev.Name) == filepath.Clean(path) {
					notify(out)
				}
			}
		}
	}()
	return out
}

func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
