package reconcile

import (
	"fmt"
	"strings"
)

// Kind is what an action does.
type Kind string

// The action kinds, in the words the plan prints.
const (
	CreateNetwork Kind = "create-network"
	CreateVolume  Kind = "create-volume"
	Create        Kind = "create"
	Recreate      Kind = "recreate"
	Start         Kind = "start"
	Remove        Kind = "remove"
	RemoveNetwork Kind = "remove-network"
)

// Action is one change to the node, with the reason it is needed.
type Action struct {
	Kind    Kind
	Stack   string
	Service string // container actions
	Number  int    // container actions: the replica number
	// Name is the object acted on: the container's name for container
	// actions (the new container's for create and recreate), the network's
	// or volume's engine name otherwise.
	Name string
	// Key is the network's or volume's key in the Compose project.
	Key string
	// Container is the existing container for recreate, start and remove.
	Container *Container
	// Network is the existing network for remove-network.
	Network *Network
	// Update is the order of a recreate: stop-first or start-first.
	Update string
	Reason string
}

func (a Action) String() string {
	verb := string(a.Kind)
	if a.Kind == Recreate {
		verb += " (" + a.Update + ")"
	}
	return fmt.Sprintf("%s %s: %s", verb, a.Name, a.Reason)
}

// Plan is the ordered list of actions that makes the node match its desired
// state. Actions of one stack are contiguous; within a stack, removals of
// services that left come first, then networks and volumes, then services in
// dependency order.
type Plan struct {
	Actions []Action
}

// Empty reports whether the node already matches.
func (p Plan) Empty() bool { return len(p.Actions) == 0 }

// Stacks returns the names of the stacks the plan changes, in plan order.
func (p Plan) Stacks() []string {
	var names []string
	for _, a := range p.Actions {
		if len(names) == 0 || names[len(names)-1] != a.Stack {
			names = append(names, a.Stack)
		}
	}
	return names
}

// ForStack returns the actions of one stack, in order.
func (p Plan) ForStack(stack string) []Action {
	var out []Action
	for _, a := range p.Actions {
		if a.Stack == stack {
			out = append(out, a)
		}
	}
	return out
}

func (p Plan) String() string {
	if p.Empty() {
		return "nothing to do: the node matches its desired state\n"
	}
	var b strings.Builder
	for _, a := range p.Actions {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}
