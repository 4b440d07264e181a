package reconcile

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiffops/skiff/manifests"
)

// Build returns the plan that makes the observed node match the desired
// state. It is pure: the same inputs always give the same plan.
func Build(d Desired, o Observed) Plan {
	byStack := groupByStack(o)
	var p Plan
	wanted := map[string]bool{}
	for i := range d.Stacks {
		s := &d.Stacks[i]
		wanted[s.Name] = true
		p.Actions = append(p.Actions, planStack(d, s, byStack[s.Name])...)
	}
	for _, name := range sortedKeys(byStack) {
		if wanted[name] || slices.Contains(d.Keep, name) {
			continue
		}
		p.Actions = append(p.Actions, planRemoveStack(name, byStack[name])...)
	}
	return p
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

func planStack(d Desired, s *manifests.Stack, have *stackObjects) []Action {
	if have == nil {
		have = &stackObjects{}
	}
	var out []Action
	out = append(out, removeLeftServices(s, have.containers)...)
	out = append(out, createNetworks(s, have.networks)...)
	out = append(out, createVolumes(s, have.volumes)...)
	for _, name := range ServiceOrder(s.Project) {
		svc, ok := findService(s, name)
		if !ok {
			continue
		}
		out = append(out, planService(d, s, svc, have.containers)...)
	}
	out = append(out, removeUnusedNetworks(s, have.networks)...)
	return out
}

// removeLeftServices removes the containers of services no longer in the
// stack for this node, last-started first.
func removeLeftServices(s *manifests.Stack, have []Container) []Action {
	var out []Action
	for _, c := range sortContainers(have) {
		if _, ok := findService(s, c.Service); ok {
			continue
		}
		out = append(out, removeAction(c, fmt.Sprintf("service %s is no longer in stack %s on this node", c.Service, s.Name)))
	}
	slices.Reverse(out)
	return out
}

func createNetworks(s *manifests.Stack, have []Network) []Action {
	var out []Action
	for _, key := range sortedKeys(s.Project.Networks) {
		n := s.Project.Networks[key]
		if bool(n.External) || !networkUsed(s.Project, key) {
			continue
		}
		name := NetworkName(s, key)
		if slices.ContainsFunc(have, func(h Network) bool { return h.Name == name }) {
			continue
		}
		out = append(out, Action{Kind: CreateNetwork, Stack: s.Name, Key: key, Name: name, Reason: "missing"})
	}
	return out
}

func createVolumes(s *manifests.Stack, have []Volume) []Action {
	var out []Action
	for _, key := range sortedKeys(s.Project.Volumes) {
		v := s.Project.Volumes[key]
		if bool(v.External) || !volumeUsed(s.Project, key) {
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

// removeUnusedNetworks removes the stack's networks no service uses any more.
// It comes last, after the containers that used them were recreated.
func removeUnusedNetworks(s *manifests.Stack, have []Network) []Action {
	wanted := map[string]bool{}
	for key, n := range s.Project.Networks {
		if !bool(n.External) && networkUsed(s.Project, key) {
			wanted[NetworkName(s, key)] = true
		}
	}
	var out []Action
	for _, n := range sortNetworks(have) {
		if !wanted[n.Name] {
			out = append(out, removeNetworkAction(n, "no service of the stack uses it any more"))
		}
	}
	return out
}

// planRemoveStack removes every container and network of a stack that is no
// longer placed on the node. Its volumes stay: skiff never removes data.
func planRemoveStack(name string, have *stackObjects) []Action {
	var out []Action
	cs := sortContainers(have.containers)
	slices.Reverse(cs)
	for _, c := range cs {
		out = append(out, removeAction(c, fmt.Sprintf("stack %s is no longer placed on this node", name)))
	}
	for _, n := range sortNetworks(have.networks) {
		out = append(out, removeNetworkAction(n, fmt.Sprintf("stack %s is no longer placed on this node", name)))
	}
	return out
}

func removeAction(c Container, reason string) Action {
	c2 := c
	return Action{Kind: Remove, Stack: c.Stack, Service: c.Service, Number: c.Number, Name: c.Name, Container: &c2, Reason: reason}
}

func removeNetworkAction(n Network, reason string) Action {
	n2 := n
	return Action{Kind: RemoveNetwork, Stack: n.Stack, Name: n.Name, Network: &n2, Reason: reason}
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

// NetworkName is the engine's name of a stack's network: the name the
// project gives it, else <stack>_<key> as compose v2.
func NetworkName(s *manifests.Stack, key string) string {
	if n := s.Project.Networks[key].Name; n != "" {
		return n
	}
	return s.Name + "_" + key
}

// VolumeName is the engine's name of a stack's named volume, like NetworkName.
func VolumeName(s *manifests.Stack, key string) string {
	if v := s.Project.Volumes[key].Name; v != "" {
		return v
	}
	return s.Name + "_" + key
}

func networkUsed(p *types.Project, key string) bool {
	for _, svc := range p.Services {
		if _, ok := svc.Networks[key]; ok {
			return true
		}
		if key == "default" && len(svc.Networks) == 0 && svc.NetworkMode == "" {
			return true
		}
	}
	return false
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

// shortHash shortens a spec hash or image ID for a reason line.
func shortHash(h string) string {
	if i := strings.LastIndexAny(h, ":-"); i >= 0 {
		h = h[i+1:]
	}
	if len(h) > 12 {
		h = h[:12]
	}
	if h == "" {
		return "none"
	}
	return h
}
