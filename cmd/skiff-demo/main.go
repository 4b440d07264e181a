// Command skiff-demo shows skiff at work on this machine, with nothing but
// Go, Git and a Docker engine: it serves a fleet repository from a Git server
// on 127.0.0.1, its images from two registries on 127.0.0.1 (a region's
// mirror, and an origin that answers late as a far-away one would), runs the
// real `skiff agent` for one node, and narrates what the node does as the
// demo commits a change and removes a container behind the agent's back.
//
//	skiff-demo [--skiff bin/skiff] [--until-healed]   run the demo (make demo)
//	skiff-demo --clean                               remove what it created (make demo-clean)
//
// It is a development tool: it imports testenv, which the skiff binary never
// does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

const (
	defaultNode = "skiff-demo"
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the demo's flags.
type options struct {
	skiff       string
	dir         string
	node        string
	region      string
	latency     time.Duration
	timeout     time.Duration
	untilHealed bool
	clean       bool
}

func defaultDir() string { return filepath.Join(os.TempDir(), defaultNode) }

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("skiff-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.skiff, "skiff", "bin/skiff", "the skiff `binary` to run as the agent (make build)")
	fs.StringVar(&o.dir, "dir", defaultDir(), "the demo's `directory`: agent.yaml, state, socket, log, Git repository")
	fs.StringVar(&o.node, "node", defaultNode, "the node's `name`; it labels and prefixes everything the demo creates")
	fs.StringVar(&o.region, "region", "eu-west", "the node's `region`")
	fs.DurationVar(&o.latency, "latency", 150*time.Millisecond, "`delay` the origin registry adds to every request")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long each step may take before the demo gives up")
	fs.BoolVar(&o.untilHealed, "until-healed", false, "exit 0 once the removed container is healed (for CI)")
	fs.BoolVar(&o.clean, "clean", false, "remove every container, network, volume, image and directory the demo created, and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return o, err
	}
	o.dir = abs
	return o, nil
}

// run runs the demo (or --clean) and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		fmt.Fprintf(stderr, "skiff-demo: %v\n", err)
		return exitUsage
	}
	d, err := connectDocker(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "skiff-demo: %v\n", err)
		return exitFailure
	}
	defer d.close()
	if o.clean {
		return runClean(ctx, d, o, stdout, stderr)
	}
	if _, err := os.Stat(o.skiff); err != nil {
		fmt.Fprintf(stderr, "skiff-demo: the agent binary %s: %v (build it with make build; make demo does)\n", o.skiff, err)
		return exitFailure
	}
	demo := &demo{opts: o, docker: d, out: stdout, start: time.Now()}
	err = demo.run(ctx)
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		return exitOK // Ctrl-C: the demo has stopped and said how to clean up
	}
	fmt.Fprintf(stderr, "skiff-demo: %v\n", err)
	return exitFailure
}
