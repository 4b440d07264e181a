package reconcile

import (
	"github.com/skiffops/skiff/manifests"
)

// Container is a container the engine reports for this node, read from one
// label-filtered list call: no per-container inspect.
type Container struct {
	ID       string
	Name     string // without the leading slash
	Stack    string // com.docker.compose.project
	Service  string // com.docker.compose.service
	Number   int    // com.docker.compose.container-number
	Hash     string // com.docker.compose.config-hash (skiff's spec hash)
	ImageID  string // the image the container runs, sha256:…
	Revision string // io.skiff.revision: the commit that last changed it
	State    string // created, running, paused, restarting, removing, exited, dead
	ExitCode int    // when State is exited
	Health   string // "", starting, healthy or unhealthy
}

// Container states as the engine reports them.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateRemoving   = "removing"
	StateExited     = "exited"
	StateDead       = "dead"
)

// Network is a network skiff created for a stack on this node.
type Network struct {
	ID    string
	Name  string // the engine's name, <stack>_<key> unless the stack names it
	Stack string
}

// Volume is a named volume skiff created for a stack. skiff never removes
// volumes; the planner only creates missing ones.
type Volume struct {
	Name  string
	Stack string
}

// Observed is what runs on the node, as far as skiff's labels tell.
type Observed struct {
	Containers []Container
	Networks   []Network
	Volumes    []Volume
}

// Desired is what the node should run.
type Desired struct {
	// Revision is the commit the stacks come from; it labels the containers
	// this plan creates or changes (io.skiff.revision).
	Revision string
	// StackRevisions overrides Revision per stack: a stack that kept an
	// older spec (refused or failed at Revision) labels its containers with
	// the commit that spec came from.
	StackRevisions map[string]string
	Stacks         []manifests.Stack
	// Healing says the stacks' specs are already applied: a missing or
	// stopped replica is started without a health gate, since there is no
	// older state to roll back to. Updates (recreate) are always gated.
	Healing bool
	// Keep names stacks that are not in Stacks but whose objects must be left
	// alone, such as stacks refused at this revision: they keep running
	// their last good spec.
	Keep []string
	// Images maps each desired image reference to its local image ID. A
	// reference that is not local is absent: its containers cannot be
	// created, and image drift is not judged for it.
	Images map[string]string
}

// RevisionOf returns the commit a stack's containers are labelled with.
func (d Desired) RevisionOf(stack string) string {
	if r, ok := d.StackRevisions[stack]; ok {
		return r
	}
	return d.Revision
}
