package reconcile

import (
	"fmt"
	"strings"

	"github.com/skiffops/skiff/manifests"
)

// Kind is what an action does.
type Kind string

// The action kinds, in the words the plan prints.
const (
	CreateNetwork   Kind = "create-network"
	RecreateNetwork Kind = "recreate-network"
	CreateVolume    Kind = "create-volume"
	Create          Kind = "create"
	Recreate        Kind = "recreate"
	Start           Kind = "start"
	Rename          Kind = "rename"
	Remove          Kind = "remove"
	RemoveNetwork   Kind = "remove-network"
)

// Action is one change to the node, with the reason it is needed.
type Action struct {
	Kind    Kind
	Stack   string
	Service string // container actions
	Number  int    // container actions: the replica number
	// Name is the object acted on: the container's name for container
	// actions (the name it must have: for create and recreate the new
	// container's, for start and rename the replica's), the network's or
	// volume's engine name otherwise.
	Name string
	// Key is the network's or volume's key in the Compose project.
	Key string
	// Container is the existing container for recreate, start, rename and
	// remove.
	Container *Container
	// Network is the existing network for recreate-network and
	// remove-network.
	Network *Network
	// Update is the order of a recreate: stop-first or start-first.
	Update string
	// Early marks a recreate whose old container must be stopped and set
	// aside before the stack's networks change (it is attached to a
	// network that is recreated): it is stopped first whatever Update says.
	Early  bool
	Reason string
}

func (a Action) String() string {
	verb := string(a.Kind)
	if a.Kind == Recreate {
		verb += " (" + a.Update + ")"
	}
	return fmt.Sprintf("%s %s: %s", verb, a.Name, a.Reason)
}

// StackPlan is what one stack needs, in the order the executor applies it.
type StackPlan struct {
	Stack string
	// Spec is the stack's desired spec; nil when the stack departs.
	Spec *manifests.Stack
	// Revision is the commit that labels the containers this plan creates.
	Revision string
	// Depart removes what leaves the node: containers of services that
	// left the stack, replicas above the count, duplicates, and every
	// container of a departing stack. It runs first and is final.
	Depart []Action
	// Prepare creates missing networks and volumes and recreates networks
	// whose definition changed.
	Prepare []Action
	// Levels holds the container actions per dependency level: the
	// services of a level depend only on services of earlier levels.
	Levels [][]Action
	// Cleanup removes networks no service uses any more, once the rest
	// succeeded (for a departing stack: all its networks).
	Cleanup []Action
	// Current maps each service to the IDs of its replicas that already
	// carry the desired spec and are left as they are: the containers a
	// depends_on condition is judged on, with those the plan creates.
	Current map[string][]string
	// Err is set when the stack cannot be applied as desired, for example
	// a volume whose definition changed: nothing of it is applied.
	Err error
}

// Actions returns the plan's actions in execution order.
func (sp StackPlan) Actions() []Action {
	out := append([]Action(nil), sp.Depart...)
	out = append(out, sp.Prepare...)
	for _, l := range sp.Levels {
		out = append(out, l...)
	}
	return append(out, sp.Cleanup...)
}

// Empty reports whether the stack already matches.
func (sp StackPlan) Empty() bool { return sp.Err == nil && len(sp.Actions()) == 0 }

// Plan is what makes the node match its desired state, stack by stack in
// name order. Departures of every stack come before the rest (see Actions).
type Plan struct {
	Stacks []StackPlan
}

// Empty reports whether the node already matches.
func (p Plan) Empty() bool {
	for _, sp := range p.Stacks {
		if !sp.Empty() {
			return false
		}
	}
	return true
}

// Stack returns the plan of one stack.
func (p Plan) Stack(name string) (StackPlan, bool) {
	for _, sp := range p.Stacks {
		if sp.Stack == name {
			return sp, true
		}
	}
	return StackPlan{Stack: name}, false
}

// Actions returns every action in the order a revision applies them: the
// departures of all stacks first, so that ports, names and addresses are
// free, then each stack's other actions.
func (p Plan) Actions() []Action {
	var out []Action
	for _, sp := range p.Stacks {
		out = append(out, sp.Depart...)
	}
	for _, sp := range p.Stacks {
		rest := sp
		rest.Depart = nil
		out = append(out, rest.Actions()...)
	}
	return out
}

func (p Plan) String() string {
	var b strings.Builder
	for _, sp := range p.Stacks {
		if sp.Err != nil {
			fmt.Fprintf(&b, "stack %s cannot be applied: %v\n", sp.Stack, sp.Err)
		}
	}
	acts := p.Actions()
	if len(acts) == 0 && b.Len() == 0 {
		return "nothing to do: the node matches its desired state\n"
	}
	for _, a := range acts {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}
