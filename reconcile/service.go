package reconcile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiffops/skiff/manifests"
)

// planService makes replicas 1..Replicas of one service exist, run and match
// the spec, and removes replicas above that count.
func planService(d Desired, s *manifests.Stack, svc manifests.Service, have []Container) []Action {
	byNumber := map[int][]Container{}
	for _, c := range sortContainers(have) {
		if c.Service == svc.Name {
			byNumber[c.Number] = append(byNumber[c.Number], c)
		}
	}
	restart := s.Project.Services[svc.Name].Restart
	imageID := d.Images[svc.Image]
	var out []Action
	for n := 1; n <= svc.Replicas; n++ {
		base := Action{Stack: s.Name, Service: svc.Name, Number: n, Name: ContainerName(s, svc.Name, n)}
		cs := byNumber[n]
		if len(cs) == 0 {
			a := base
			a.Kind, a.Reason = Create, "missing"
			if imageID == "" {
				a.Reason += " (image " + svc.Image + " is not local)"
			}
			out = append(out, a)
			continue
		}
		keep, dups := pickPrimary(cs, svc.Hash)
		for _, c := range dups {
			out = append(out, removeAction(c, fmt.Sprintf("duplicate of replica %d (%s is kept)", n, keep.Name)))
		}
		if kind, reason := drift(keep, svc, imageID, restart); kind != "" {
			a := base
			c := keep
			a.Kind, a.Reason, a.Container = kind, reason, &c
			switch kind {
			case Recreate:
				a.Update = svc.Update
			case Start:
				a.Name = keep.Name
			}
			out = append(out, a)
		}
	}
	for _, n := range sortedNumbers(byNumber) {
		if n > svc.Replicas || n < 1 {
			for _, c := range byNumber[n] {
				out = append(out, removeAction(c, fmt.Sprintf("scaled to %d replicas", svc.Replicas)))
			}
		}
	}
	return out
}

// pickPrimary chooses, among containers claiming the same replica number
// (left by an agent killed mid-update), the one to keep: matching spec and
// running first, then matching spec, then running.
func pickPrimary(cs []Container, hash string) (Container, []Container) {
	score := func(c Container) int {
		s := 0
		if c.Hash == hash {
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

// ServiceOrder returns the services of a project so that every service comes
// after the services it depends on; independent services are in name order.
// Dependencies outside the project are ignored, and so is a cycle (compose
// refuses those at load time): its services keep name order.
func ServiceOrder(p *types.Project) []string {
	names := sortedKeys(p.Services)
	done := map[string]bool{}
	visiting := map[string]bool{}
	var out []string
	var visit func(string)
	visit = func(name string) {
		if done[name] || visiting[name] {
			return
		}
		visiting[name] = true
		for _, dep := range sortedKeys(p.Services[name].DependsOn) {
			if _, ok := p.Services[dep]; ok {
				visit(dep)
			}
		}
		visiting[name] = false
		done[name] = true
		out = append(out, name)
	}
	for _, n := range names {
		visit(n)
	}
	return out
}
