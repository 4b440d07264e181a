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
	WantedRevision  string   `json:"wanted_revision"`
	AppliedRevision string   `json:"applied_revision"`
	Pending         *Pending `json:"pending,omitempty"`
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
}

// StackStatus is one stack on the node.
type StackStatus struct {
	Name string `json:"name"`
	// Revision is the commit of the spec the stack runs.
	Revision string `json:"revision"`
	Outcome  string `json:"outcome"` // applied, rolled-back, failed, refused, removing
	Error    string `json:"error,omitempty"`
	// FailedRevision is a commit that failed for this stack and is not
	// retried until a new one comes.
	FailedRevision string          `json:"failed_revision,omitempty"`
	Services       []ServiceStatus `json:"services"`
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
	Outcome  string                  `json:"outcome"` // pending, applied, partial, failed, refused, rolled-back
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
