package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/reconcile"
)

// Status is the node's status (api.Provider), from memory only.
func (a *Agent) Status(context.Context) api.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &a.st
	out := api.Status{
		Node: s.node, Region: s.region, Version: s.version, StartedAt: s.startedAt,
		WantedRevision: s.wanted, AppliedRevision: s.applied, Pending: s.pending, Refused: s.refused,
		Source: s.source, Docker: s.docker, Store: s.storeStatus, Counters: s.counters,
		Stacks: []api.StackStatus{}, UnusedVolumes: unusedVolumes(s), Pulls: a.pullProgress(),
	}
	for _, e := range s.ledger.Entries() {
		out.Stacks = append(out.Stacks, stackStatus(s, e))
	}
	out.Why = why(out)
	return out
}

func stackStatus(s *state, e ledger.Entry) api.StackStatus {
	st := api.StackStatus{Name: e.Name, Revision: e.Revision, Outcome: string(e.State), Error: e.Reason, FailedRevision: e.Failed.Commit,
		RepairError: s.repairFailing[e.Name].err, Services: []api.ServiceStatus{}}
	if e.Target != nil && e.TargetRevision != e.Revision {
		st.WantedRevision = e.TargetRevision
	}
	spec := e.Spec
	if spec == nil {
		spec = e.Target
	}
	if spec == nil {
		st.Services = observedServices(s, e.Name)
		return st
	}
	for _, svc := range spec.Services {
		ss := api.ServiceStatus{Name: svc.Name, Image: svc.Image, Replicas: svc.Replicas, Containers: containersOf(s, e.Name, svc.Name)}
		st.Services = append(st.Services, ss)
	}
	return st
}

// observedServices lists what runs of a stack whose spec is unknown.
func observedServices(s *state, stack string) []api.ServiceStatus {
	var names []string
	for _, c := range s.observed.Containers {
		if c.Stack == stack && !slices.Contains(names, c.Service) {
			names = append(names, c.Service)
		}
	}
	slices.Sort(names)
	out := []api.ServiceStatus{}
	for _, n := range names {
		out = append(out, api.ServiceStatus{Name: n, Containers: containersOf(s, stack, n)})
	}
	return out
}

func containersOf(s *state, stack, service string) []api.ContainerStatus {
	out := []api.ContainerStatus{}
	for _, c := range s.observed.Containers {
		if c.Stack == stack && c.Service == service {
			out = append(out, api.ContainerStatus{Name: c.Name, State: c.State, Health: c.Health, Revision: c.Revision})
		}
	}
	slices.SortFunc(out, func(x, y api.ContainerStatus) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// why says in one line why the node does not run what the branch wants.
func why(st api.Status) string {
	var parts []string
	if r := st.Refused; r != nil && r.Revision == st.WantedRevision {
		parts = append(parts, fmt.Sprintf("revision %s refused: %s", short(r.Revision), r.Reason))
	}
	if p := st.Pending; p != nil {
		if len(p.Stacks) == 0 {
			parts = append(parts, fmt.Sprintf("revision %s pending: %s", short(p.Revision), p.Reason))
		}
		for _, ps := range p.Stacks {
			for _, img := range ps.Images {
				parts = append(parts, fmt.Sprintf("stack %s waits for image %s (tried %s): %s",
					ps.Stack, img.Image, registriesOrNone(img.Registries), img.Error))
			}
		}
	}
	for _, s := range st.Stacks {
		switch ledger.State(s.Outcome) {
		case ledger.RolledBack, ledger.Failed, ledger.Refused:
			keeps := "keeps its last good spec"
			if s.Revision != "" {
				keeps += " (" + short(s.Revision) + ")"
			} else {
				keeps = "runs nothing"
			}
			parts = append(parts, fmt.Sprintf("stack %s %s: %s: %s", s.Name, keeps, s.Outcome, s.Error))
		case ledger.Applying:
			parts = append(parts, fmt.Sprintf("stack %s is being updated to %s", s.Name, short(s.WantedRevision)))
		case ledger.Adopted:
			parts = append(parts, fmt.Sprintf("stack %s: %s", s.Name, s.Error))
		}
		if s.RepairError != "" {
			parts = append(parts, fmt.Sprintf("stack %s cannot be repaired (retried every healing round): %s", s.Name, s.RepairError))
		}
	}
	return strings.Join(parts, "; ")
}

func registriesOrNone(hosts []string) string {
	if len(hosts) == 0 {
		return "no registry"
	}
	return strings.Join(hosts, ", ")
}

// unusedVolumes lists the node's volumes that no known stack uses.
func unusedVolumes(s *state) []string {
	used := map[string]bool{}
	for _, spec := range s.ledger.Specs() {
		for key := range spec.Project.Volumes {
			used[reconcile.VolumeName(spec, key)] = true
		}
	}
	unknown := map[string]bool{} // stacks whose spec is unknown: their volumes may be in use
	for _, e := range s.ledger.Entries() {
		unknown[e.Name] = e.Spec == nil && e.Target == nil
	}
	out := []string{}
	for _, v := range s.observed.Volumes {
		if !used[v.Name] && !unknown[v.Stack] {
			out = append(out, v.Name)
		}
	}
	slices.Sort(out)
	return out
}
