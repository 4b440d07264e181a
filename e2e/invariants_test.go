package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/testenv"
)

// nodeWant is what a node must run once a revision settled: exactly these
// containers, each running and last changed by the given commit, and
// exactly these networks.
type nodeWant struct {
	// containers maps each container name to the commit of its
	// io.skiff.revision label.
	containers map[string]string
	// networks maps each network name to whether it is internal.
	networks map[string]bool
	// revision is the commit the node must have applied.
	revision string
}

// checkNode compares the node's containers (any state), networks, status
// and history with want, and returns every difference: no duplicate, no
// container set aside (<id>_<name>), no orphan, none missing, nothing
// stopped; the networks as defined; every stack applied; each commit once
// in the history, the wanted one applied.
func checkNode(n *node, want nodeWant, pushed []string) []string {
	var bad []string
	ctx := context.Background()
	all, err := testenv.Containers(ctx, n.env.Client, testenv.LabelNode+"="+n.name, false)
	if err != nil {
		return []string{err.Error()}
	}
	seen := map[string]bool{}
	for _, c := range all {
		rev, wanted := want.containers[c.Name]
		switch {
		case strings.Contains(c.Name, "_"):
			bad = append(bad, fmt.Sprintf("container %s is set aside (%s): an update was left half-done", c.Name, c.State))
		case !wanted:
			bad = append(bad, fmt.Sprintf("container %s (%s) is not desired: an orphan or a duplicate", c.Name, c.State))
		case c.State != "running":
			bad = append(bad, fmt.Sprintf("container %s is %s, want running", c.Name, c.State))
		case c.Labels["io.skiff.revision"] != rev:
			bad = append(bad, fmt.Sprintf("container %s runs revision %s, want %s", c.Name, short7(c.Labels["io.skiff.revision"]), short7(rev)))
		}
		seen[c.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(want.containers)) {
		if !seen[name] {
			bad = append(bad, "container "+name+" is missing")
		}
	}
	nets, err := testenv.Networks(ctx, n.env.Client, testenv.LabelNode+"="+n.name)
	if err != nil {
		return append(bad, err.Error())
	}
	for name, got := range nets {
		if internal, ok := want.networks[name]; !ok {
			bad = append(bad, "network "+name+" is not desired")
		} else if got.Internal != internal {
			bad = append(bad, fmt.Sprintf("network %s internal=%v, want %v", name, got.Internal, internal))
		}
	}
	for name := range want.networks {
		if _, ok := nets[name]; !ok {
			bad = append(bad, "network "+name+" is missing")
		}
	}
	s, err := n.statusErr()
	if err != nil {
		return append(bad, err.Error())
	}
	bad = append(bad, checkStatus(s, want.revision)...)
	h, err := n.historyErr()
	if err != nil {
		return append(bad, err.Error())
	}
	return append(bad, checkHistory(h, want.revision, pushed)...)
}

func checkStatus(s api.Status, revision string) []string {
	var bad []string
	if s.AppliedRevision != revision || s.WantedRevision != revision || s.Why != "" {
		bad = append(bad, fmt.Sprintf("status: applied %s, wanted %s, why %q; want %s applied", short7(s.AppliedRevision), short7(s.WantedRevision), s.Why, short7(revision)))
	}
	for _, st := range s.Stacks {
		if st.Outcome != "applied" || st.Revision == "" {
			bad = append(bad, fmt.Sprintf("status: stack %s is %s at %s: %s", st.Name, st.Outcome, short7(st.Revision), st.Error))
		}
	}
	if s.Store.Recovered || !s.Docker.Connected {
		bad = append(bad, fmt.Sprintf("status: store %+v, docker %+v", s.Store, s.Docker))
	}
	return bad
}

// checkHistory: every entry is a commit that was pushed, each at most once
// (the campaign never pushes a commit twice), with an outcome of the
// documented set, and the wanted commit is the newest and applied.
func checkHistory(h api.History, revision string, pushed []string) []string {
	var bad []string
	count := map[string]int{}
	for _, r := range h.Revisions {
		count[r.Commit]++
		if !slices.Contains(pushed, r.Commit) {
			bad = append(bad, "history: "+short7(r.Commit)+" was never pushed")
		}
		switch r.Outcome {
		case "applied", "partial", "superseded", "pending", "failed", "refused", "rolled-back":
		default:
			bad = append(bad, fmt.Sprintf("history: %s has outcome %q", short7(r.Commit), r.Outcome))
		}
	}
	for c, k := range count {
		if k > 1 {
			bad = append(bad, fmt.Sprintf("history: %s appears %d times", short7(c), k))
		}
	}
	if len(h.Revisions) == 0 || h.Revisions[0].Commit != revision || h.Revisions[0].Outcome != "applied" {
		bad = append(bad, fmt.Sprintf("history: newest %+v, want %s applied", first(h.Revisions), short7(revision)))
	}
	return bad
}

func first(rs []api.Revision) any {
	if len(rs) == 0 {
		return "none"
	}
	return rs[0]
}

func short7(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}
