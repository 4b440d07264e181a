package agent

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/internal/redact"
	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// state is what the agent knows in memory, guarded by Agent.mu. The API
// answers from it, so status never waits on Git, registries or Docker.
type state struct {
	node, region, version string
	startedAt             time.Time

	// desired is what the node runs: per stack, the last good spec and the
	// commit it came from.
	desired map[string]desiredStack
	// outcomes is what became of each stack at the last revision.
	outcomes map[string]stackOutcome
	applied  string // last revision applied
	wanted   string // branch head last seen
	// final is the last head whose processing ended for good (applied,
	// refused, failed): it is not processed again until the head moves.
	final   string
	pending *api.Pending

	observed    reconcile.Observed // as of the last reconcile
	source      api.SourceStatus
	docker      api.DockerStatus
	storeStatus api.StoreStatus
	counters    api.Counters
}

type desiredStack struct {
	stack    manifests.Stack
	revision string // the commit the spec came from
}

type stackOutcome struct {
	outcome string
	err     string
	failed  string // a commit that failed for the stack
}

func newState(cfg Config, version string) state {
	return state{
		node: cfg.Node, region: cfg.Region, version: version, startedAt: time.Now(),
		desired: map[string]desiredStack{}, outcomes: map[string]stackOutcome{},
		source: api.SourceStatus{URL: redact.URL(cfg.Source.URL), Branch: cfg.Source.Branch},
	}
}

// update runs f with the state locked.
func (a *Agent) update(f func(*state)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.st)
}

// desiredState returns the planner's input for what the node runs now.
func (a *Agent) desiredState() reconcile.Desired {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := reconcile.Desired{Revision: a.st.applied, StackRevisions: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(a.st.desired)) {
		ds := a.st.desired[name]
		d.Stacks = append(d.Stacks, ds.stack)
		d.StackRevisions[name] = ds.revision
	}
	return d
}

func (a *Agent) setDocker(connected bool, apiVersion string, err error) {
	a.update(func(s *state) {
		was := s.docker.Connected
		if connected {
			s.docker = api.DockerStatus{Connected: true, APIVersion: apiVersion}
			if !was {
				a.log.Info("docker engine connected", "api_version", apiVersion)
			}
			return
		}
		if s.docker.OfflineSince == nil {
			now := time.Now()
			s.docker.OfflineSince = &now
			a.log.Warn("docker engine not answering; waiting for it", "error", err)
		}
		s.docker.Connected = false
		if err != nil {
			s.docker.LastError = err.Error()
		}
	})
}

// Status is the node's status (api.Provider), from memory only.
func (a *Agent) Status(context.Context) api.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.st
	out := api.Status{
		Node: s.node, Region: s.region, Version: s.version, StartedAt: s.startedAt,
		WantedRevision: s.wanted, AppliedRevision: s.applied, Pending: s.pending,
		Source: s.source, Docker: s.docker, Store: s.storeStatus, Counters: s.counters,
		Stacks: []api.StackStatus{}, UnusedVolumes: unusedVolumes(s), Pulls: a.pullProgress(),
	}
	for _, name := range slices.Sorted(maps.Keys(s.desired)) {
		out.Stacks = append(out.Stacks, stackStatus(s, s.desired[name]))
	}
	return out
}

func stackStatus(s state, ds desiredStack) api.StackStatus {
	o := s.outcomes[ds.stack.Name]
	st := api.StackStatus{Name: ds.stack.Name, Revision: ds.revision, Outcome: o.outcome, Error: o.err, FailedRevision: o.failed}
	if st.Outcome == "" {
		st.Outcome = "applied"
	}
	for _, svc := range ds.stack.Services {
		ss := api.ServiceStatus{Name: svc.Name, Image: svc.Image, Replicas: svc.Replicas, Containers: []api.ContainerStatus{}}
		for _, c := range s.observed.Containers {
			if c.Stack == ds.stack.Name && c.Service == svc.Name {
				ss.Containers = append(ss.Containers, api.ContainerStatus{Name: c.Name, State: c.State, Health: c.Health, Revision: c.Revision})
			}
		}
		slices.SortFunc(ss.Containers, func(x, y api.ContainerStatus) int { return strings.Compare(x.Name, y.Name) })
		st.Services = append(st.Services, ss)
	}
	return st
}

// unusedVolumes lists the node's volumes that no desired stack uses.
func unusedVolumes(s state) []string {
	used := map[string]bool{}
	for _, ds := range s.desired {
		for key := range ds.stack.Project.Volumes {
			used[reconcile.VolumeName(&ds.stack, key)] = true
		}
	}
	out := []string{}
	for _, v := range s.observed.Volumes {
		if !used[v.Name] {
			out = append(out, v.Name)
		}
	}
	slices.Sort(out)
	return out
}
