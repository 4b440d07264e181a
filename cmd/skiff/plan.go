package main

import (
	"context"
	"fmt"
	"io"

	"github.com/skiffops/skiff/agent"
	"github.com/skiffops/skiff/agent/api"
)

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan", "[--repo DIR] [--json] [--socket PATH] [--config FILE] [config flags]", stderr)
	cf := bindConfigFlags(fs)
	socket := fs.String("socket", "", "ask the agent on this API socket (default: api.socket of --config)")
	repo := fs.String("repo", "", "plan this checkout of the manifests repository against the node's containers, without an agent")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var p api.Plan
	var err error
	if *repo != "" {
		p, err = planRepo(ctx, cf, *repo)
	} else {
		p, err = planFromAgent(ctx, cf, *socket)
	}
	if err != nil {
		fmt.Fprintf(stderr, "skiff plan: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		return printJSON(stdout, stderr, p)
	}
	for _, pr := range p.Problems {
		fmt.Fprintf(stderr, "%s\n", problemLine(pr))
	}
	printPlan(stdout, p)
	return exitOK
}

func planRepo(ctx context.Context, cf *configFlags, repo string) (api.Plan, error) {
	cfg, err := cf.loadLocal()
	if err != nil {
		return api.Plan{}, err
	}
	return agent.PlanCheckout(ctx, cfg, repo)
}

// planFromAgent asks the running agent, found as the other client commands
// find it.
func planFromAgent(ctx context.Context, cf *configFlags, socket string) (api.Plan, error) {
	sf := &socketFlags{socket: socket, config: cf.path}
	c, err := sf.client()
	if err != nil {
		return api.Plan{}, err
	}
	return c.Plan(ctx)
}

func printPlan(w io.Writer, p api.Plan) {
	if len(p.Actions) == 0 {
		fmt.Fprintln(w, "nothing to do: the node matches its desired state")
		return
	}
	for _, a := range p.Actions {
		verb := a.Kind
		if a.Update != "" {
			verb += " (" + a.Update + ")"
		}
		fmt.Fprintf(w, "%s %s: %s\n", verb, a.Name, a.Reason)
	}
}

func problemLine(p api.Problem) string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Severity == "warning" {
		return loc + ": warning: " + p.Message
	}
	return loc + ": " + p.Message
}
