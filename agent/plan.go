package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/agent/secrets"
	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// node is what manifests need to know of this node.
func (c Config) node() manifests.Node {
	return manifests.Node{Name: c.Node, Region: c.Region, Labels: c.Labels}
}

// filesDir holds the content-addressed copies of repository files.
func (c Config) filesDir() string { return filepath.Join(c.StateDir, "files") }

// keyring decrypts the repository's SOPS files with the node's identities.
func (c Config) keyring() *secrets.Keyring { return secrets.NewKeyring(c.Secrets.AgeIdentityFile) }

// load turns the checkout in dir (its source.path applies) into this
// node's desired state; a stack whose encrypted files the node cannot
// decrypt is refused.
func (c Config) load(dir string) (*manifests.Desired, error) {
	return manifests.Load(filepath.Join(dir, c.Source.Path), c.node(), manifests.WithDecrypter(c.keyring()))
}

// newEngine connects to the configured Docker engine for this node.
func newEngine(ctx context.Context, c Config, opts engine.Options) (*engine.Engine, error) {
	opts.Host, opts.Node, opts.FilesDir = c.Docker.Host, c.Node, c.filesDir()
	opts.SecretsDir, opts.Decrypter = c.Secrets.RuntimeDir, c.keyring()
	return engine.New(ctx, opts)
}

// desiredOf is what the next reconcile converges to, from the ledger: each
// stack's wanted spec (its target, else its last good spec), the stacks a
// good revision dropped to remove, and nothing about adopted stacks. The
// agent's dry run and `skiff plan --repo` both plan from it.
func desiredOf(entries []ledger.Entry) reconcile.Desired {
	d := reconcile.Desired{Revisions: map[string]string{}}
	for _, e := range entries {
		switch {
		case e.State == ledger.Removing:
			d.Remove = append(d.Remove, e.Name)
		case e.Target != nil:
			d.Stacks = append(d.Stacks, *e.Target)
			d.Revisions[e.Name] = e.TargetRevision
		case e.Spec != nil:
			d.Stacks = append(d.Stacks, *e.Spec)
			d.Revisions[e.Name] = e.Revision
		}
	}
	return d
}

// planFor plans d against the node's containers.
func planFor(ctx context.Context, eng *engine.Engine, d reconcile.Desired, obs reconcile.Observed) (reconcile.Plan, error) {
	var stacks []*manifests.Stack
	for i := range d.Stacks {
		stacks = append(stacks, &d.Stacks[i])
	}
	images, err := eng.ImageIDs(ctx, imageRefs(stacks...))
	if err != nil {
		return reconcile.Plan{}, err
	}
	d.Images = images
	return reconcile.Build(d, obs), nil
}

// PlanCheckout plans the checkout in repo (its source.path applies) against
// the node's containers, changing nothing and needing no agent. It decides
// as the agent would after a store loss: stacks on the node are adopted,
// then the checkout places, refuses (they keep what they run) or drops
// (they are removed) them.
func PlanCheckout(ctx context.Context, c Config, repo string) (api.Plan, error) {
	d, err := c.load(repo)
	if err != nil {
		return api.Plan{}, fmt.Errorf("load %s: %w", repo, err)
	}
	eng, err := newEngine(ctx, c, engine.Options{})
	if err != nil {
		return api.Plan{}, err
	}
	defer eng.Close()
	obs, err := eng.Observe(ctx)
	if err != nil {
		return api.Plan{}, err
	}
	l := ledger.New()
	l.Adopt(stackNames(obs))
	refused := map[string]string{}
	for _, name := range d.Refused() {
		refused[name] = problemsOf(d, name)
	}
	l.Load("", d.Stacks, refused)
	p, err := planFor(ctx, eng, desiredOf(l.Entries()), obs)
	if err != nil {
		return api.Plan{}, err
	}
	return apiPlan(c, "", p, d.Problems), nil
}

func stackNames(obs reconcile.Observed) []string {
	var names []string
	for _, c := range obs.Containers {
		if !slices.Contains(names, c.Stack) {
			names = append(names, c.Stack)
		}
	}
	slices.Sort(names)
	return names
}

// Plan is a dry run of the next reconcile (api.Provider): what the ledger
// wants against the node's containers. It takes no lock: an update in
// flight shows as what is left of it.
func (a *Agent) Plan(ctx context.Context) (api.Plan, error) {
	a.mu.Lock()
	connected := a.eng != nil
	revision := a.st.wanted
	a.mu.Unlock()
	if !connected {
		return api.Plan{}, errors.New("the docker engine has not answered yet: no plan")
	}
	obs, err := a.observe(ctx)
	if err != nil {
		return api.Plan{}, err
	}
	p, err := planFor(ctx, a.eng, desiredOf(a.entries()), obs)
	if err != nil {
		return api.Plan{}, err
	}
	return apiPlan(a.cfg, revision, p, nil), nil
}

func apiPlan(c Config, revision string, p reconcile.Plan, problems []manifests.Problem) api.Plan {
	out := api.Plan{Node: c.Node, Region: c.Region, Revision: revision, Actions: []api.PlanAction{}, Problems: []api.Problem{}}
	for _, sp := range p.Stacks {
		if sp.Err != nil {
			out.Problems = append(out.Problems, api.Problem{File: "stacks/" + sp.Stack, Severity: "error", Message: sp.Err.Error()})
		}
	}
	for _, a := range p.Actions() {
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
