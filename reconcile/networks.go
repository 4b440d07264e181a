package reconcile

import (
	"fmt"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiffops/skiff/manifests"
)

// netPlan is what a stack's plan does to its networks, and what that means
// for the containers attached to them.
type netPlan struct {
	actions []Action
	// current maps the engine name of each network the stack uses to the
	// ID it has now; absent when the network is created or recreated.
	current map[string]string
	// recreated names the networks replaced by this plan.
	recreated map[string]bool
}

// planNetworks creates the stack's missing networks and recreates those
// whose definition hash changed (a network cannot be changed in place).
func planNetworks(s *manifests.Stack, have []Network) netPlan {
	np := netPlan{current: map[string]string{}, recreated: map[string]bool{}}
	for _, key := range sortedKeys(s.Project.Networks) {
		if bool(s.Project.Networks[key].External) || !networkUsed(s.Project, key) {
			continue
		}
		name := NetworkName(s, key)
		i := slices.IndexFunc(have, func(n Network) bool { return n.Name == name })
		if i < 0 {
			np.actions = append(np.actions, Action{Kind: CreateNetwork, Stack: s.Name, Key: key, Name: name, Reason: "missing"})
			continue
		}
		n := have[i]
		want := s.NetworkHash(key)
		if n.Hash == want {
			np.current[name] = n.ID
			continue
		}
		reason := fmt.Sprintf("definition hash %s→%s", shortHash(n.Hash), shortHash(want))
		if n.Hash == "" {
			reason = "created without a definition hash; recreated from its definition"
		}
		np.recreated[name] = true
		np.actions = append(np.actions, Action{Kind: RecreateNetwork, Stack: s.Name, Key: key, Name: name, Network: &n, Reason: reason})
	}
	return np
}

// stale reports whether container c is attached to one of the stack's
// networks that is recreated by this plan (early: it must be stopped before
// the network goes) or that was already replaced since c was created (it
// can never start again).
func (np netPlan) stale(c Container) (reason string, early, ok bool) {
	for _, name := range sortedKeys(c.Networks) {
		switch id, kept := np.current[name]; {
		case np.recreated[name]:
			return fmt.Sprintf("network %s is recreated", name), true, true
		case kept && id != c.Networks[name]:
			return fmt.Sprintf("network %s was replaced since it was created", name), false, true
		}
	}
	return "", false, false
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

// NetworkName is the engine's name of a stack's network: the name the
// project gives it, else <stack>_<key> as compose v2.
func NetworkName(s *manifests.Stack, key string) string {
	if n := s.Project.Networks[key].Name; n != "" {
		return n
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
