package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/skiffops/skiff/agent"
)

// planJSON is the stable --json form of skiff plan.
type planJSON struct {
	Node     string        `json:"node"`
	Region   string        `json:"region"`
	Actions  []planAction  `json:"actions"`
	Problems []problemJSON `json:"problems"`
}

type planAction struct {
	Kind    string `json:"kind"`
	Stack   string `json:"stack"`
	Service string `json:"service,omitempty"`
	Number  int    `json:"number,omitempty"`
	Name    string `json:"name"`
	Update  string `json:"update,omitempty"`
	Reason  string `json:"reason"`
}

type problemJSON struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan", "--repo DIR [--config FILE] [--json] [config flags]", stderr)
	cf := bindConfigFlags(fs)
	repo := fs.String("repo", "", "plan this checkout of the manifests repository against the node's containers")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *repo == "" {
		fmt.Fprintln(stderr, "skiff plan: --repo DIR is required (asking a running agent comes with 'skiff agent')")
		return exitUsage
	}
	cfg, err := cf.loadLocal()
	if err != nil {
		fmt.Fprintf(stderr, "skiff plan: %v\n", err)
		return exitFailure
	}
	report, err := agent.PlanCheckout(ctx, cfg, *repo)
	if err != nil {
		fmt.Fprintf(stderr, "skiff plan: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		return printJSON(stdout, stderr, planToJSON(report))
	}
	for _, p := range report.Problems {
		fmt.Fprintln(stderr, p.String())
	}
	fmt.Fprint(stdout, report.Plan.String())
	return exitOK
}

func planToJSON(r *agent.PlanReport) planJSON {
	out := planJSON{Node: r.Node, Region: r.Region, Actions: []planAction{}, Problems: []problemJSON{}}
	for _, a := range r.Plan.Actions {
		out.Actions = append(out.Actions, planAction{
			Kind: string(a.Kind), Stack: a.Stack, Service: a.Service, Number: a.Number,
			Name: a.Name, Update: a.Update, Reason: a.Reason,
		})
	}
	for _, p := range r.Problems {
		out.Problems = append(out.Problems, problemJSON{File: p.File, Line: p.Line, Severity: p.Severity.String(), Message: p.Msg})
	}
	return out
}

func printJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "skiff: write json: %v\n", err)
		return exitFailure
	}
	return exitOK
}
