package reconcile

import (
	"fmt"
	"slices"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiffops/skiff/manifests"
)

// Build returns the plan that makes the observed node match the desired
// state: one StackPlan per stack of d.Stacks, and one per stack of d.Remove
// that still has objects on the node. It is pure: the same inputs always
// give the same plan.
func Build(d Desired, o Observed) Plan {
	byStack := groupByStack(o)
	var p Plan
	for i := range d.Stacks {
		s := &d.Stacks[i]
		p.Stacks = append(p.Stacks, planStack(s, d.Revisions[s.Name], byStack[s.Name], d.Images))
	}
	for _, name := range d.Remove {
		if slices.ContainsFunc(d.Stacks, func(s manifests.Stack) bool { return s.Name == name }) {
			continue
		}
		if have := byStack[name]; have != nil {
			p.Stacks = append(p.Stacks, planRemoval(name, have))
		}
	}
	sort.SliceStable(p.Stacks, func(i, j int) bool { return p.Stacks[i].Stack < p.Stacks[j].Stack })
	return p
}

// PlanStack plans one stack against what the node has of it (o may hold
// other stacks' objects too: they are ignored).
func PlanStack(s *manifests.Stack, revision string, o Observed, images map[string]string) StackPlan {
	return planStack(s, revision, groupByStack(o)[s.Name], images)
}

// PlanRemoval plans the departure of a stack: every container and network
// of it goes; its volumes stay, skiff never removes data.
func PlanRemoval(stack string, o Observed) StackPlan {
	have := groupByStack(o)[stack]
	if have == nil {
		return StackPlan{Stack: stack}
	}
	return planRemoval(stack, have)
}

// stackObjects is what the node has of one stack.
type stackObjects struct {
	containers []Container
	networks   []Network
	volumes    []Volume
}

func groupByStack(o Observed) map[string]*stackObjects {
	m := map[string]*stackObjects{}
	get := func(stack string) *stackObjects {
		if m[stack] == nil {
			m[stack] = &stackObjects{}
		}
		return m[stack]
	}
	for _, c := range o.Containers {
		get(c.Stack).containers = append(get(c.Stack).containers, c)
	}
	for _, n := range o.Networks {
		get(n.Stack).networks = append(get(n.Stack).networks, n)
	}
	for _, v := range o.Volumes {
		get(v.Stack).volumes = append(get(v.Stack).volumes, v)
	}
	return m
}

func planStack(s *manifests.Stack, revision string, have *stackObjects, images map[string]string) StackPlan {
	if have == nil {
		have = &stackObjects{}
	}
	sp := StackPlan{Stack: s.Name, Spec: s, Revision: revision, Current: map[string][]string{}}
	if err := checkVolumes(s, have.volumes); err != nil {
		sp.Err = err
		return sp
	}
	nets := planNetworks(s, have.networks)
	sp.Prepare = append(nets.actions, createVolumes(s, have.volumes)...)
	sp.Depart = removeLeftServices(s, have.containers)
	for _, names := range Levels(s.Project) {
		var level []Action
		for _, name := range names {
			svc, ok := findService(s, name)
			if !ok {
				continue
			}
			r := planService(s, svc, have.containers, images[svc.Image], nets)
			sp.Depart = append(sp.Depart, r.depart...)
			level = append(level, r.actions...)
			sp.Current[name] = r.current
		}
		sp.Levels = append(sp.Levels, level)
	}
	sp.Cleanup = removeUnusedNetworks(s, have.networks)
	return sp
}

// removeLeftServices removes the containers of services no longer in the
// stack for this node.
func removeLeftServices(s *manifests.Stack, have []Container) []Action {
	var out []Action
	for _, c := range sortContainers(have) {
		if _, ok := findService(s, c.Service); !ok {
			out = append(out, removeAction(c, fmt.Sprintf("service %s is no longer in stack %s on this node", c.Service, s.Name)))
		}
	}
	return out
}

// planRemoval removes every container and network of a stack that is no
// longer placed on the node. Its volumes stay: skiff never removes data.
func planRemoval(name string, have *stackObjects) StackPlan {
	sp := StackPlan{Stack: name}
	reason := fmt.Sprintf("stack %s is no longer placed on this node", name)
	for _, c := range sortContainers(have.containers) {
		sp.Depart = append(sp.Depart, removeAction(c, reason))
	}
	for _, n := range sortNetworks(have.networks) {
		sp.Cleanup = append(sp.Cleanup, removeNetworkAction(n, reason))
	}
	return sp
}

// checkVolumes refuses a stack whose volume definition changed: volumes are
// never recreated or removed, and running on the old definition silently
// would not be what the commit says.
func checkVolumes(s *manifests.Stack, have []Volume) error {
	for _, key := range sortedKeys(s.Project.Volumes) {
		if bool(s.Project.Volumes[key].External) || !volumeUsed(s.Project, key) {
			continue
		}
		name := VolumeName(s, key)
		i := slices.IndexFunc(have, func(v Volume) bool { return v.Name == name })
		if i < 0 || have[i].Hash == "" {
			continue // missing (created), or made before volumes carried a hash
		}
		if want := s.VolumeHash(key); have[i].Hash != want {
			return fmt.Errorf("volumes.%s: the definition of volume %s changed (hash %s→%s), and skiff never recreates or removes a volume: "+
				"keep its old definition, or use a new volume name and move the data (remove the old one with docker volume rm %s)",
				key, name, shortHash(have[i].Hash), shortHash(want), name)
		}
	}
	return nil
}

func createVolumes(s *manifests.Stack, have []Volume) []Action {
	var out []Action
	for _, key := range sortedKeys(s.Project.Volumes) {
		if bool(s.Project.Volumes[key].External) || !volumeUsed(s.Project, key) {
			continue
		}
		name := VolumeName(s, key)
		if slices.ContainsFunc(have, func(h Volume) bool { return h.Name == name }) {
			continue
		}
		out = append(out, Action{Kind: CreateVolume, Stack: s.Name, Key: key, Name: name, Reason: "missing"})
	}
	return out
}

func removeAction(c Container, reason string) Action {
	c2 := c
	return Action{Kind: Remove, Stack: c.Stack, Service: c.Service, Number: c.Number, Name: c.Name, Container: &c2, Reason: reason}
}

func removeNetworkAction(n Network, reason string) Action {
	n2 := n
	return Action{Kind: RemoveNetwork, Stack: n.Stack, Key: n.Key, Name: n.Name, Network: &n2, Reason: reason}
}

func findService(s *manifests.Stack, name string) (manifests.Service, bool) {
	i := slices.IndexFunc(s.Services, func(svc manifests.Service) bool { return svc.Name == name })
	if i < 0 {
		return manifests.Service{}, false
	}
	return s.Services[i], true
}

// ContainerName is the name of replica number n of a service: the service's
// container_name when it sets one, else <stack>-<service>-<n> as compose v2.
func ContainerName(s *manifests.Stack, service string, n int) string {
	if cfg, ok := s.Project.Services[service]; ok && cfg.ContainerName != "" {
		return cfg.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", s.Name, service, n)
}

// VolumeName is the engine's name of a stack's named volume: the name the
// project gives it, else <stack>_<key> as compose v2.
func VolumeName(s *manifests.Stack, key string) string {
	if v := s.Project.Volumes[key].Name; v != "" {
		return v
	}
	return s.Name + "_" + key
}

func volumeUsed(p *types.Project, key string) bool {
	for _, svc := range p.Services {
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source == key {
				return true
			}
		}
	}
	return false
}

func sortContainers(cs []Container) []Container {
	out := slices.Clone(cs)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		if out[i].Number != out[j].Number {
			return out[i].Number < out[j].Number
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func sortNetworks(ns []Network) []Network {
	out := slices.Clone(ns)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
