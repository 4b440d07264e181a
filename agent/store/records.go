package store

import (
	"fmt"
	"time"
)

// The store's own record types, encoded as JSON. They are not the domain
// types of manifests or reconcile: the agent converts, so that those can
// change without a migration here.

// Outcome of a revision, or of one stack within it.
type Outcome string

// Outcomes.
const (
	OutcomePending    Outcome = "pending"     // seen, not applied yet (e.g. prefetch failed: retrying)
	OutcomeApplied    Outcome = "applied"     // every stack applied
	OutcomePartial    Outcome = "partial"     // some stacks applied, some not
	OutcomeFailed     Outcome = "failed"      // applying failed
	OutcomeRefused    Outcome = "refused"     // not applied on purpose: signature, no stacks/, validation
	OutcomeRolledBack Outcome = "rolled-back" // applied, failed its health gate, rolled back
	OutcomeRemoved    Outcome = "removed"     // a stack the revision no longer places was removed
	OutcomeSuperseded Outcome = "superseded"  // a newer commit came before it settled
)

// Valid reports whether o is one of the outcomes above.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomePending, OutcomeApplied, OutcomePartial, OutcomeFailed, OutcomeRefused, OutcomeRolledBack,
		OutcomeRemoved, OutcomeSuperseded:
		return true
	}
	return false
}

// Revision is one commit the node has seen, and what became of it.
type Revision struct {
	Commit    string                  `json:"commit"`
	SeenAt    time.Time               `json:"seen_at"`
	Verified  bool                    `json:"verified"`
	Signer    string                  `json:"signer,omitempty"`
	Outcome   Outcome                 `json:"outcome"`
	Stacks    map[string]StackOutcome `json:"stacks,omitempty"`
	Error     string                  `json:"error,omitempty"`
	AppliedAt time.Time               `json:"applied_at,omitzero"`
	Timings   Timings                 `json:"timings,omitzero"`
}

// StackOutcome is what became of one stack in a revision.
type StackOutcome struct {
	Outcome  Outcome       `json:"outcome"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
}

// Timings of the steps of a sync (DESIGN.md §5).
type Timings struct {
	Fetch     time.Duration `json:"fetch_ns,omitempty"`
	Select    time.Duration `json:"select_ns,omitempty"`
	Prefetch  time.Duration `json:"prefetch_ns,omitempty"`
	Reconcile time.Duration `json:"reconcile_ns,omitempty"`
	Total     time.Duration `json:"total_ns,omitempty"`
}

func (r Revision) validate() error {
	if r.Commit == "" {
		return fmt.Errorf("revision without commit: %w", ErrInvalid)
	}
	if !r.Outcome.Valid() {
		return fmt.Errorf("revision %s: outcome %q: %w", r.Commit, r.Outcome, ErrInvalid)
	}
	for stack, o := range r.Stacks {
		if !o.Outcome.Valid() {
			return fmt.Errorf("revision %s: stack %s: outcome %q: %w", r.Commit, stack, o.Outcome, ErrInvalid)
		}
	}
	return nil
}

// AppliedStack is the last good state of one stack on this node: enough to
// reconcile it with no checkout and no network.
type AppliedStack struct {
	Stack    string `json:"stack"`
	Revision string `json:"revision"`
	// Spec is the agent's own encoding of the stack's desired state; the
	// store keeps it opaque, apart from the record (bucket specs/).
	Spec      []byte            `json:"-"`
	SpecHash  string            `json:"spec_hash"`
	Images    map[string]string `json:"images,omitempty"` // canonical reference → digest
	AppliedAt time.Time         `json:"applied_at"`
}

// Failed is a spec that failed for a stack (rolled back, or refused by the
// node): it is not retried until a commit changes the stack.
type Failed struct {
	Commit string `json:"commit"`
	Digest string `json:"digest,omitempty"` // the failed spec's digest
}

// Image is what the node knows of one image, by canonical reference.
type Image struct {
	Digest   string    `json:"digest"`
	Registry string    `json:"registry"` // host it was pulled from
	Verified bool      `json:"verified"` // digest resolved at the origin
	PulledAt time.Time `json:"pulled_at"`
}

// RegistryStats is the latest latency measurement of one registry host.
type RegistryStats struct {
	Median     time.Duration `json:"median_ns"`
	Samples    int           `json:"samples"`
	MeasuredAt time.Time     `json:"measured_at"`
	LastError  string        `json:"last_error,omitempty"` // credentials stripped by the caller
}

// Event is one entry of the node's recent events.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Stack   string    `json:"stack,omitempty"`
	Service string    `json:"service,omitempty"`
	Message string    `json:"message"`
}

// Meta holds the small values of the meta bucket.
type Meta struct {
	WantedRevision  string
	AppliedRevision string
	LastSync        time.Time
}
