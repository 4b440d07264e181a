package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

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
// the node's containers, changing nothing and needing no agent. Stacks with
// errors keep what they run, as the agent would keep their last good spec.
func PlanCheckout(ctx context.Context, c Config, repo string) (api.Plan, error) {
	d, err := manifests.Load(filepath.Join(repo, c.Source.Path), c.node())
	if err != nil {
		return api.Plan{}, fmt.Errorf("load %s: %w", repo, err)
	}
	eng, err := newEngine(ctx, c, engine.Options{})
	if err != nil {
		return api.Plan{}, err
	}
	defer eng.Close()
	images, err := eng.ImageIDs(ctx, imageRefs(d.Stacks))
	if err != nil {
		return api.Plan{}, err
	}
	observed, err := eng.Observe(ctx)
	if err != nil {
		return api.Plan{}, err
	}
	desired := reconcile.Desired{Stacks: d.Stacks, Keep: d.Refused(), Images: images}
	return apiPlan(c, "", reconcile.Build(desired, observed), d.Problems), nil
}

// Plan is a dry run of the next healing round (api.Provider): the node's
// desired state against its containers.
func (a *Agent) Plan(ctx context.Context) (api.Plan, error) {
	a.mu.Lock()
	connected := a.eng != nil
	a.mu.Unlock()
	if !connected {
		return api.Plan{}, errors.New("the docker engine has not answered yet: no plan")
	}
	unlock, err := a.lockReconcile(ctx)
	if err != nil {
		return api.Plan{}, err
	}
	defer unlock()
	d := a.desiredState()
	p, err := a.plan(ctx, &d)
	if err != nil {
		return api.Plan{}, err
	}
	return apiPlan(a.cfg, d.Revision, p, nil), nil
}

func apiPlan(c Config, revision string, p reconcile.Plan, problems []manifests.Problem) api.Plan {
	out := api.Plan{Node: c.Node, Region: c.Region, Revision: revision, Actions: []api.PlanAction{}, Problems: []api.Problem{}}
	for _, a := range p.Actions {
		out.Actions = append(out.Actions, api.PlanAction{
			Kind: string(a.Kind), Stack: a.Stack, Service: a.Service, Number: a.Number,
			Name: a.Name, Update: a.Update, Reason: a.Reason,
		})
	}
	for _, pr := range problems {
		out.Problems = append(out.Problems, api.Problem{File: pr.File, Line: pr.Line, Severity: pr.Severity.String(), Message: pr.Msg})
	}
	return out
}
