package reconcile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiffops/skiff/manifests"
)

// servicePlan is what one service needs.
type servicePlan struct {
	depart  []Action // duplicates and replicas above the count
	actions []Action // its level's actions
	current []string // IDs of replicas left as they are, carrying the spec
}

// planService makes replicas 1..Replicas of one service exist, run and match
// the spec, and removes duplicates and replicas above that count.
func planService(s *manifests.Stack, svc manifests.Service, have []Container, imageID string, nets netPlan) servicePlan {
	byNumber := map[int][]Container{}
	for _, c := range sortContainers(have) {
		if c.Service == svc.Name {
			byNumber[c.Number] = append(byNumber[c.Number], c)
		}
	}
	restart := s.Project.Services[svc.Name].Restart
	var sp servicePlan
	for n := 1; n <= svc.Replicas; n++ {
		name := ContainerName(s, svc.Name, n)
		base := Action{Stack: s.Name, Service: svc.Name, Number: n, Name: name}
		cs := byNumber[n]
		if len(cs) == 0 {
			a := base
			a.Kind, a.Reason = Create, "missing"
			if imageID == "" {
				a.Reason += " (image " + svc.Image + " is not local)"
			}
			sp.actions = append(sp.actions, a)
			continue
		}
		keep, dups := pickPrimary(cs, svc.Hash, name)
		for _, c := range dups {
			sp.depart = append(sp.depart, removeAction(c, fmt.Sprintf("duplicate of replica %d (%s is kept)", n, keep.ID[:min(12, len(keep.ID))])))
		}
		a, ok := replicaAction(base, keep, svc, imageID, restart, nets)
		if !ok {
			sp.current = append(sp.current, keep.ID)
			continue
		}
		if a.Kind == Rename {
			sp.current = append(sp.current, keep.ID)
		}
		sp.actions = append(sp.actions, a)
	}
	for _, n := range sortedNumbers(byNumber) {
		if n > svc.Replicas || n < 1 {
			for _, c := range byNumber[n] {
				sp.depart = append(sp.depart, removeAction(c, fmt.Sprintf("scaled to %d replicas", svc.Replicas)))
			}
		}
	}
	return sp
}

// replicaAction decides what an existing replica needs, if anything.
func replicaAction(base Action, keep Container, svc manifests.Service, imageID, restart string, nets netPlan) (Action, bool) {
	a := base
	c := keep
	a.Container = &c
	kind, reason := drift(keep, svc, imageID, restart)
	if why, early, stale := nets.stale(keep); stale && kind != Recreate {
		kind, reason, a.Early = Recreate, why, early
	} else if stale && early {
		a.Early = true
	}
	switch {
	case kind == Recreate:
		a.Update = svc.Update
		if a.Early {
			a.Update = manifests.UpdateStopFirst
		}
	case kind == "" && keep.Name != base.Name && keep.State == StateExited:
		// An update stopped it to set it aside and did not finish (the
		// agent was killed, the engine went away): it did not finish a
		// job, it was stopped. It runs again under its own name.
		kind, reason = Start, "named "+keep.Name+" and stopped by an update that did not finish"
	case kind == "" && keep.Name != base.Name:
		kind, reason = Rename, "named "+keep.Name+" (set aside by an update that did not finish)"
	case kind == "":
		return Action{}, false
	}
	a.Kind, a.Reason = kind, reason
	return a, true
}

// pickPrimary chooses, among containers claiming the same replica number
// (left by an update that was superseded, or an agent killed mid-update),
// the one to keep: the one carrying the spec first, then the one with the
// replica's name, then a running one.
func pickPrimary(cs []Container, hash, name string) (Container, []Container) {
	score := func(c Container) int {
		s := 0
		if c.Hash == hash {
			s += 4
		}
		if c.Name == name {
			s += 2
		}
		if c.State == StateRunning {
			s++
		}
		return s
	}
	best := 0
	for i, c := range cs {
		if score(c) > score(cs[best]) {
			best = i
		}
	}
	var dups []Container
	for i, c := range cs {
		if i != best {
			dups = append(dups, c)
		}
	}
	return cs[best], dups
}

// drift decides whether a container that exists must change, by spec hash,
// image ID and state, never by comparing every field.
func drift(c Container, svc manifests.Service, imageID, restart string) (Kind, string) {
	switch {
	case c.Hash != svc.Hash:
		return Recreate, fmt.Sprintf("config hash %s→%s", shortHash(c.Hash), shortHash(svc.Hash))
	case imageID != "" && c.ImageID != imageID:
		return Recreate, fmt.Sprintf("image %s→%s (%s)", shortHash(c.ImageID), shortHash(imageID), svc.Image)
	case c.State == StateDead:
		return Recreate, "container is dead"
	case c.State == StateCreated:
		return Start, "created but not started"
	case c.State == StateExited && c.ExitCode == 0 && jobRestart(restart):
		return "", "" // finished its job: not drift
	case c.State == StateExited:
		return Start, fmt.Sprintf("exited (%d)", c.ExitCode)
	}
	return "", "" // running, restarting (the engine's restart policy acts), paused (an operator's doing) or removing
}

// jobRestart reports whether a restart policy lets a container finish: a
// container that exited 0 under it is done, not down.
func jobRestart(policy string) bool {
	return policy == "" || policy == "no" || strings.HasPrefix(policy, "on-failure")
}

func sortedNumbers(m map[int][]Container) []int {
	ns := make([]int, 0, len(m))
	for n := range m {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	return ns
}

// Levels groups the services of a project by dependency level: level 0
// depends on no service of the project, level n only on services of levels
// below n. Each level is in name order. Dependencies outside the project are
// ignored, and so is a cycle (compose refuses those at load time): its
// services go to the level where the cycle is found.
func Levels(p *types.Project) [][]string {
	level := map[string]int{}
	visiting := map[string]bool{}
	var depth func(string) int
	depth = func(name string) int {
		if l, ok := level[name]; ok {
			return l
		}
		if visiting[name] {
			return -1
		}
		visiting[name] = true
		l := 0
		for dep := range p.Services[name].DependsOn {
			if _, ok := p.Services[dep]; ok {
				l = max(l, depth(dep)+1)
			}
		}
		visiting[name] = false
		level[name] = l
		return l
	}
	var out [][]string
	for _, name := range sortedKeys(p.Services) {
		l := depth(name)
		for len(out) <= l {
			out = append(out, nil)
		}
		out[l] = append(out[l], name)
	}
	for _, names := range out {
		sort.Strings(names)
	}
	return out
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
