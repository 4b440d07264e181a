package api

import "time"

// The JSON of the local API and of `skiff status --json` / `skiff history
// --json`. Fields are only ever added; none is renamed or removed.

// Status is the agent's view of its node: GET /v1/status.
type Status struct {
	Node      string    `json:"node"`
	Region    string    `json:"region"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	// WantedRevision is the branch head last seen; AppliedRevision the last
	// revision applied (some stacks may keep an older spec: see Stacks).
	WantedRevision  string `json:"wanted_revision"`
	AppliedRevision string `json:"applied_revision"`
	// Why says, when the wanted revision is not the applied one, why not:
	// refused, pending (which images), or which stacks kept their last
	// good spec. Empty when the node runs what it wants.
	Why     string   `json:"why,omitempty"`
	Pending *Pending `json:"pending,omitempty"`
	// Refused is set when the wanted revision was refused as a whole
	// (unsigned, no stacks/, invalid fleet.yaml): it is not applied until
	// the branch moves.
	Refused *Refused `json:"refused,omitempty"`
	// Pulls are the image pulls under way (prefetch of a new revision).
	Pulls  []PullProgress `json:"pulls,omitempty"`
	Source SourceStatus   `json:"source"`
	Docker DockerStatus   `json:"docker"`
	Store  StoreStatus    `json:"store"`
	Stacks []StackStatus  `json:"stacks"`
	// UnusedVolumes are volumes skiff created for stacks that no longer
	// use them. skiff never removes volumes: they are listed for a person.
	UnusedVolumes []string `json:"unused_volumes"`
	Counters      Counters `json:"counters"`
}

// Pending says why the wanted revision is not applied yet.
type Pending struct {
	Revision string    `json:"revision"`
	Since    time.Time `json:"since"`
	Reason   string    `json:"reason"`
	// Stacks are the stacks held back, each with the images it waits for.
	Stacks []PendingStack `json:"stacks,omitempty"`
}

// PendingStack is a stack whose update waits for its images.
type PendingStack struct {
	Stack  string         `json:"stack"`
	Images []PendingImage `json:"images"`
}

// PendingImage is an image that could not be made local.
type PendingImage struct {
	Image      string   `json:"image"`
	Registries []string `json:"registries"` // tried, in order
	Error      string   `json:"error"`
	// Definite is set when the origin answered that it has no such image
	// or refused access: it is retried more slowly (CI may push it later).
	Definite bool      `json:"definite,omitempty"`
	NextTry  time.Time `json:"next_try,omitzero"`
}

// Refused is a revision that is not applied on purpose.
type Refused struct {
	Revision string    `json:"revision"`
	Since    time.Time `json:"since"`
	Reason   string    `json:"reason"`
}

// PullProgress is one image being prefetched.
type PullProgress struct {
	Image      string    `json:"image"`
	Registry   string    `json:"registry,omitempty"` // empty while waiting or resolving
	Downloaded int64     `json:"downloaded"`
	Total      int64     `json:"total"`
	Since      time.Time `json:"since"`
}

// SourceStatus is the state of the Git source.
type SourceStatus struct {
	URL         string    `json:"url"` // credentials removed
	Branch      string    `json:"branch"`
	LastPoll    time.Time `json:"last_poll"`
	LastSuccess time.Time `json:"last_success"`
	LastError   string    `json:"last_error,omitempty"`
	// OfflineSince is set while the source is unreachable: the time of the
	// first failed poll since the last success.
	OfflineSince *time.Time `json:"offline_since,omitempty"`
}

// DockerStatus is the state of the engine connection.
type DockerStatus struct {
	Connected    bool       `json:"connected"`
	APIVersion   string     `json:"api_version,omitempty"`
	OfflineSince *time.Time `json:"offline_since,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
}

// StoreStatus says whether the state database had to be rebuilt.
type StoreStatus struct {
	Path string `json:"path"`
	// Recovered is set when the database was unusable at boot: it was moved
	// to MovedTo and rebuilt.
	Recovered bool   `json:"recovered"`
	Reason    string `json:"reason,omitempty"`
	MovedTo   string `json:"moved_to,omitempty"`
	// WriteError is set while writes to the database fail (a full disk):
	// the last failure. The agent keeps running and healing on what it
	// knows in memory, and writes it again once writes succeed.
	WriteError      string     `json:"write_error,omitempty"`
	WriteErrorSince *time.Time `json:"write_error_since,omitempty"`
}

// StackStatus is one stack on the node.
type StackStatus struct {
	Name string `json:"name"`
	// Revision is the commit of the spec the stack runs.
	Revision string `json:"revision"`
	// Outcome is applied, pending, applying, rolled-back, failed, refused,
	// removing or adopted (found on the node with no known spec, after the
	// state database was rebuilt: left untouched until a revision decides).
	Outcome string `json:"outcome"`
	// Error says why the stack does not run what the wanted revision asks.
	Error string `json:"error,omitempty"`
	// WantedRevision is the commit whose spec waits or is being applied,
	// when it is not Revision.
	WantedRevision string `json:"wanted_revision,omitempty"`
	// FailedRevision is a commit that failed for this stack and is not
	// retried until a new one comes.
	FailedRevision string `json:"failed_revision,omitempty"`
	// RepairError is set while healing cannot bring the stack back to its
	// spec (a container that cannot be recreated): the last error. Healing
	// retries every round.
	RepairError string          `json:"repair_error,omitempty"`
	Services    []ServiceStatus `json:"services"`
}

// ServiceStatus is one service of a stack.
type ServiceStatus struct {
	Name       string            `json:"name"`
	Image      string            `json:"image"`
	Replicas   int               `json:"replicas"`
	Containers []ContainerStatus `json:"containers"`
}

// ContainerStatus is one container of a service.
type ContainerStatus struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Health   string `json:"health,omitempty"`
	Revision string `json:"revision"`
}

// Counters count what the agent did since it started.
type Counters struct {
	Polls          uint64 `json:"polls"`
	PollFailures   uint64 `json:"poll_failures"`
	Fetches        uint64 `json:"fetches"`
	Reconciles     uint64 `json:"reconciles"`
	ReconcileFails uint64 `json:"reconcile_failures"`
	Repairs        uint64 `json:"repairs"` // actions taken by healing between revisions
}

// Revision is one revision the node saw: GET /v1/history.
type Revision struct {
	Commit   string                  `json:"commit"`
	SeenAt   time.Time               `json:"seen_at"`
	Verified bool                    `json:"verified"`
	Signer   string                  `json:"signer,omitempty"`
	Outcome  string                  `json:"outcome"` // pending, applied, partial, failed, refused, rolled-back, superseded
	Error    string                  `json:"error,omitempty"`
	Stacks   map[string]StackOutcome `json:"stacks,omitempty"`
	Applied  *time.Time              `json:"applied_at,omitempty"`
}

// StackOutcome is how one stack of a revision ended.
type StackOutcome struct {
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// History is the answer of GET /v1/history, newest first.
type History struct {
	Revisions []Revision `json:"revisions"`
}

// Plan is what the next reconcile would change, and why: GET /v1/plan, and
// `skiff plan --json` (with or without --repo).
type Plan struct {
	Node     string       `json:"node"`
	Region   string       `json:"region"`
	Revision string       `json:"revision,omitempty"`
	Actions  []PlanAction `json:"actions"`
	Problems []Problem    `json:"problems"`
}

// PlanAction is one change, with its reason.
type PlanAction struct {
	Kind    string `json:"kind"` // create-network, create-volume, create, recreate, start, remove, remove-network
	Stack   string `json:"stack"`
	Service string `json:"service,omitempty"`
	Number  int    `json:"number,omitempty"`
	Name    string `json:"name"`
	Update  string `json:"update,omitempty"` // recreate: stop-first or start-first
	Reason  string `json:"reason"`
}

// Problem is a problem found in the manifests.
type Problem struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	Severity string `json:"severity"` // error or warning
	Message  string `json:"message"`
}
