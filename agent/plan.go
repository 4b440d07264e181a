package agent

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// PlanReport is a dry run: what the next reconcile would change, and why.
type PlanReport struct {
	Node     string
	Region   string
	Plan     reconcile.Plan
	Problems []manifests.Problem
}

// node is what manifests need to know of this node.
func (c Config) node() manifests.Node {
	return manifests.Node{Name: c.Node, Region: c.Region, Labels: c.Labels}
}

// filesDir holds the content-addressed copies of repository files.
func (c Config) filesDir() string { return filepath.Join(c.StateDir, "files") }

// newEngine connects to the configured Docker engine for this node.
func newEngine(ctx context.Context, c Config, opts engine.Options) (*engine.Engine, error) {
	opts.Host, opts.Node, opts.FilesDir = c.Docker.Host, c.Node, c.filesDir()
	return engine.New(ctx, opts)
}

// PlanCheckout plans the checkout in repo (its source.path applies) against
// the node's containers, changing nothing. Stacks with errors keep what
// they run, as the agent would keep their last good spec.
func PlanCheckout(ctx context.Context, c Config, repo string) (*PlanReport, error) {
	d, err := manifests.Load(filepath.Join(repo, c.Source.Path), c.node())
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", repo, err)
	}
	eng, err := newEngine(ctx, c, engine.Options{})
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	images, err := eng.ImageIDs(ctx, imageRefs(d.Stacks))
	if err != nil {
		return nil, err
	}
	desired := reconcile.Desired{Stacks: d.Stacks, Keep: d.Refused(), Images: images}
	observed, err := eng.Observe(ctx)
	if err != nil {
		return nil, err
	}
	return &PlanReport{Node: c.Node, Region: c.Region, Plan: reconcile.Build(desired, observed), Problems: d.Problems}, nil
}
