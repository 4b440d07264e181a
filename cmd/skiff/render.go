package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/skiffops/skiff/manifests"
)

// labelFlags collects repeated --label k=v flags.
type labelFlags map[string]string

func (l labelFlags) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + l[k]
	}
	return strings.Join(pairs, ",")
}

func (l labelFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	l[k] = v
	return nil
}

// renderJSON is the documented shape of `skiff render --json`.
type renderJSON struct {
	Node   string        `json:"node"`
	Region string        `json:"region"`
	Stacks []renderStack `json:"stacks"`
}

type renderStack struct {
	Name    string          `json:"name"`
	Project json.RawMessage `json:"project"`
}

func runRender(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("render", "--repo DIR --region R [--node N] [--label k=v ...] [--json]", stderr)
	repo := fs.String("repo", "", "checkout of the manifests repository (required)")
	region := fs.String("region", "", "region of the node (required)")
	node := fs.String("node", "", "node name (default: this host's name)")
	asJSON := fs.Bool("json", false, "print JSON: {node, region, stacks: [{name, project}]}")
	labels := labelFlags{}
	fs.Var(labels, "label", "node label k=v (repeatable)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *repo == "" || *region == "" {
		fmt.Fprintln(stderr, "skiff render: --repo and --region are required")
		fs.Usage()
		return exitUsage
	}
	if *node == "" {
		*node = hostname()
	}
	d, err := manifests.Load(*repo, manifests.Node{Name: *node, Region: *region, Labels: labels})
	if err != nil {
		printRefusal(stderr, "render", err)
		return exitFailure
	}
	printProblems(stderr, d.Problems)
	if err := writeRender(stdout, d, *node, *region, *asJSON); err != nil {
		fmt.Fprintf(stderr, "skiff render: %v\n", err)
		return exitFailure
	}
	for _, p := range d.Problems {
		if p.Severity == manifests.Error {
			return exitFailure
		}
	}
	return exitOK
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

func writeRender(w io.Writer, d *manifests.Desired, node, region string, asJSON bool) error {
	if asJSON {
		out := renderJSON{Node: node, Region: region, Stacks: []renderStack{}}
		for _, s := range d.Stacks {
			b, err := s.Project.MarshalJSON()
			if err != nil {
				return fmt.Errorf("stack %s: %w", s.Name, err)
			}
			out.Stacks = append(out.Stacks, renderStack{Name: s.Name, Project: b})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, s := range d.Stacks {
		b, err := s.Project.MarshalYAML()
		if err != nil {
			return fmt.Errorf("stack %s: %w", s.Name, err)
		}
		fmt.Fprintf(w, "# stack: %s\n%s", s.Name, b)
	}
	return nil
}

// printProblems writes one "file:line: msg" line per problem.
func printProblems(w io.Writer, ps []manifests.Problem) {
	for _, p := range ps {
		fmt.Fprintln(w, p.String())
	}
}

// printRefusal explains why a revision was refused as a whole.
func printRefusal(w io.Writer, cmd string, err error) {
	var fe *manifests.FleetError
	if errors.As(err, &fe) {
		printProblems(w, fe.Problems)
		fmt.Fprintf(w, "skiff %s: %s is invalid: the revision is refused\n", cmd, manifests.FleetFile)
		return
	}
	fmt.Fprintf(w, "skiff %s: %v\n", cmd, err)
}

var _ flag.Value = labelFlags{}
