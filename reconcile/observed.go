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
	// Networks maps the name of each network the container is attached to
	// to that network's ID, as the list reports it: a container whose
	// network was replaced cannot start again and must be recreated.
	Networks map[string]string
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
	Key   string // com.docker.compose.network: its key in the project
	// Hash is io.skiff.network-hash, the definition it was created from
	// (manifests.Stack.NetworkHash); empty for a network created before
	// skiff labelled them.
	Hash string
}

// Volume is a named volume skiff created for a stack. skiff never removes
// volumes; the planner only creates missing ones.
type Volume struct {
	Name  string
	Stack string
	Key   string // com.docker.compose.volume
	Hash  string // io.skiff.volume-hash (manifests.Stack.VolumeHash); may be empty
}

// Observed is what runs on the node, as far as skiff's labels tell.
type Observed struct {
	Containers []Container
	Networks   []Network
	Volumes    []Volume
}

// Desired is what the node should run, as far as this plan goes. Stacks
// the node runs that are neither in Stacks nor in Remove are left alone:
// nothing is pruned that the caller did not decide to remove.
type Desired struct {
	// Stacks are converged to their spec.
	Stacks []manifests.Stack
	// Revisions gives, per stack, the commit that labels the containers the
	// plan creates or changes (io.skiff.revision).
	Revisions map[string]string
	// Remove names the stacks whose containers and networks go: a good
	// revision no longer places them on the node.
	Remove []string
	// Images maps each desired image reference to its local image ID. A
	// reference that is not local is absent: its containers cannot be
	// created, and image drift is not judged for it.
	Images map[string]string
}
