package manifests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Validate checks every stack of the checkout in dir for every region: the
// regions of fleet.yaml, those of the overlay file names (compose.<region>.yaml)
// and those named in x-skiff. Node names and labels are ignored, so every
// service placed in a region is checked there; published ports clash only
// between services that can land on one node. Problems found in some regions
// only say which. fleet.yaml problems are returned as problems; the error is
// for a checkout that cannot be validated at all (no stacks/ directory).
func Validate(dir string) ([]Problem, error) {
	repo, names, err := openRepo(dir)
	if err != nil {
		return nil, err
	}
	fleet, err := loadFleet(repo)
	if fe := (*FleetError)(nil); errors.As(err, &fe) {
		return fe.Problems, nil
	}
	if err != nil {
		return nil, err
	}
	regions, ps := regionsOf(repo, names, fleet)
	perRegion := make([][]Problem, len(regions))
	for i, region := range regions {
		var checks []*stackCheck
		for _, name := range names {
			c := checkStack(stackInput{repo: repo, name: name, region: region, fleet: &fleet})
			perRegion[i] = append(perRegion[i], c.problems...)
			checks = append(checks, c)
		}
		perRegion[i] = append(perRegion[i], crossCheck(checks, false)...)
	}
	ps = append(ps, mergeRegions(regions, perRegion)...)
	ps = append(ps, checkRepoSops(repo)...)
	return sortProblems(ps), nil
}

// regionsOf collects the regions to validate, sorted, and warns about
// regions fleet.yaml does not define (when it defines any). With no region
// anywhere, the stacks are checked once for the empty region.
func regionsOf(repo string, stacks []string, fleet Fleet) ([]string, []Problem) {
	set := map[string]bool{}
	for r := range fleet.Regions {
		set[r] = true
	}
	var ps []Problem
	note := func(region, file string, line int, what string) {
		if _, known := fleet.Regions[region]; len(fleet.Regions) > 0 && !known {
			ps = append(ps, Problem{File: file, Line: line, Severity: Warning,
				Msg: fmt.Sprintf("%s names region %q, which %s does not define", what, region, FleetFile)})
		}
		set[region] = true
	}
	for _, stack := range stacks {
		dir := filepath.Join(repo, StacksDir, stack)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			rel := StacksDir + "/" + stack + "/" + e.Name()
			if r, ok := overlayRegion(e.Name()); ok {
				note(r, rel, 0, "overlay "+e.Name())
			}
			if e.Name() == ComposeFile || strings.HasPrefix(e.Name(), "compose.") && strings.HasSuffix(e.Name(), ".yaml") {
				for _, r := range placementRegions(filepath.Join(dir, e.Name())) {
					note(r.Value, rel, r.Line, "x-skiff.regions")
				}
			}
		}
	}
	regions := make([]string, 0, len(set))
	for r := range set {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	if len(regions) == 0 {
		regions = []string{""}
	}
	return regions, ps
}

// overlayRegion returns the region of a compose.<region>.yaml file name.
func overlayRegion(name string) (string, bool) {
	r, ok := strings.CutPrefix(name, "compose.")
	if !ok {
		return "", false
	}
	r, ok = strings.CutSuffix(r, ".yaml")
	return r, ok && regionName.MatchString(r)
}

// placementRegions returns the region names written literally in the
// x-skiff blocks of a file (top level and services).
func placementRegions(file string) []*yaml.Node {
	data, err := readLimited(file, MaxYAMLSize)
	if err != nil {
		return nil
	}
	root, err := parseYAML(data)
	if err != nil || root == nil {
		return nil
	}
	lists := []*yaml.Node{valueAt(root, XSkiff, "regions")}
	for _, e := range entries(valueAt(root, "services")) {
		lists = append(lists, valueAt(e.value, XSkiff, "regions"))
	}
	var out []*yaml.Node
	for _, l := range lists {
		if l = deref(l); l != nil && l.Kind == yaml.SequenceNode {
			for _, n := range l.Content {
				if n = deref(n); n != nil && n.Kind == yaml.ScalarNode && !strings.Contains(n.Value, "$") {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// mergeRegions folds the problems of every region into one list; a problem
// not found in every region says in which.
func mergeRegions(regions []string, perRegion [][]Problem) []Problem {
	seen := map[Problem][]string{}
	var order []Problem
	for i, ps := range perRegion {
		for _, p := range ps {
			if len(seen[p]) == 0 {
				order = append(order, p)
			}
			if l := seen[p]; len(l) == 0 || l[len(l)-1] != regions[i] {
				seen[p] = append(l, regions[i])
			}
		}
	}
	out := make([]Problem, 0, len(order))
	for _, p := range order {
		if in := seen[p]; len(in) < len(regions) {
			p.Msg += regionNote(in)
		}
		out = append(out, p)
	}
	return out
}

func regionNote(regions []string) string {
	if len(regions) == 1 {
		return fmt.Sprintf(" (region %s)", regions[0])
	}
	return fmt.Sprintf(" (regions %s)", strings.Join(regions, ", "))
}
