// Package ledger keeps, per stack, what the node runs and why: its last good
// spec, the spec a newer revision wants, the commit that failed for it, and
// the state a person reads in `skiff status`. It is the one place that
// decides these; the agent feeds it events (a revision loaded, an update
// applied, rolled back, a stack removed) and persists the effects it
// returns. It is pure: no I/O, no clock, no goroutines.
//
// The rules (DESIGN.md §10):
//
//   - A stack's containers are removed only because a revision that loaded
//     with a stacks/ directory no longer places it (Load, then Removed).
//   - A stack found on the node without a known spec (after a store loss,
//     or a stored spec that does not decode) is adopted: its containers run
//     untouched until such a revision decides.
//   - A spec that failed (rolled back, or refused by the node) is not
//     retried until a commit changes the stack.
//   - A stack refused at a revision keeps its last good spec.
package ledger

import (
	"maps"
	"slices"

	"github.com/skiffops/skiff/manifests"
)

// State is what a person is told about a stack.
type State string

// The states of a stack.
const (
	Applied    State = "applied"     // runs Spec, the spec the newest revision wants
	Pending    State = "pending"     // a newer spec waits (its images are not local yet); runs Spec
	Applying   State = "applying"    // a newer spec is being applied
	RolledBack State = "rolled-back" // the newest spec failed its update; runs Spec
	Failed     State = "failed"      // the newest spec failed and restoring Spec did too
	Refused    State = "refused"     // the newest revision's stack is invalid, or asks what the node refuses; runs Spec
	Removing   State = "removing"    // a good revision no longer places it: its containers go
	Adopted    State = "adopted"     // found on the node with no known spec: left untouched
)

// FailedSpec is a spec that failed for a stack: not retried until a commit
// changes the stack.
type FailedSpec struct {
	Commit string
	Digest string // manifests.Stack.Digest of the failed spec
}

// Entry is what the ledger knows of one stack.
type Entry struct {
	Name string
	// Spec is the last good spec: what the node runs and heals to. nil when
	// none is known (adopted) or the stack never ran here.
	Spec     *manifests.Stack
	Revision string // the commit Spec came from
	// Target is the spec a newer revision wants, not applied yet.
	Target         *manifests.Stack
	TargetRevision string
	Failed         FailedSpec
	State          State
	// Reason says why the stack does not run what the newest revision
	// wants: the error, the images still missing.
	Reason string
}

// Heals reports whether healing may act on the stack: it has a spec, and no
// update owns it.
func (e Entry) Heals() bool {
	return e.Spec != nil && e.State != Applying && e.State != Removing
}

// Ledger holds the entries of a node's stacks. It is not safe for
// concurrent use: the agent guards it with its state lock.
type Ledger struct {
	entries map[string]*Entry
}

// New returns an empty ledger.
func New() *Ledger { return &Ledger{entries: map[string]*Entry{}} }

// Op is what an Effect asks the store to do.
type Op string

// The operations of an Effect.
const (
	OpSave      Op = "save"       // record Spec@Revision as the stack's last good spec
	OpForget    Op = "forget"     // forget everything about the stack
	OpFail      Op = "fail"       // record Failed
	OpClearFail Op = "clear-fail" // forget the stack's failed spec
)

// Effect is one change the store must make so that a restart finds what
// the ledger knows.
type Effect struct {
	Op       Op
	Stack    string
	Spec     *manifests.Stack // OpSave
	Revision string           // OpSave
	Failed   FailedSpec       // OpFail
}

// Restore puts back a stack recorded in the store, at boot.
func (l *Ledger) Restore(spec manifests.Stack, revision string, failed FailedSpec) {
	s := spec
	l.entries[spec.Name] = &Entry{Name: spec.Name, Spec: &s, Revision: revision, Failed: failed, State: Applied}
}

// Unreadable records a stored stack whose spec does not decode: it is
// adopted, never pruned for it.
func (l *Ledger) Unreadable(name, reason string) {
	l.entries[name] = &Entry{Name: name, State: Adopted, Reason: "stored spec unreadable: " + reason}
}

// Adopt records the stacks the node runs that the ledger does not know (its
// store was lost): they are left untouched until a revision decides.
func (l *Ledger) Adopt(names []string) {
	for _, name := range names {
		if _, ok := l.entries[name]; !ok {
			l.entries[name] = &Entry{Name: name, State: Adopted, Reason: "found on the node with no known spec (the state database was rebuilt); left untouched until a revision decides"}
		}
	}
}

// Get returns a copy of a stack's entry.
func (l *Ledger) Get(name string) (Entry, bool) {
	e, ok := l.entries[name]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// Entries returns copies of every entry, sorted by name.
func (l *Ledger) Entries() []Entry {
	out := make([]Entry, 0, len(l.entries))
	for _, name := range slices.Sorted(maps.Keys(l.entries)) {
		out = append(out, *l.entries[name])
	}
	return out
}

// Specs returns every spec the ledger refers to, last good and wanted: the
// files the node must keep.
func (l *Ledger) Specs() []*manifests.Stack {
	var out []*manifests.Stack
	for _, e := range l.Entries() {
		if e.Spec != nil {
			out = append(out, e.Spec)
		}
		if e.Target != nil {
			out = append(out, e.Target)
		}
	}
	return out
}

// Complete reports whether every stack's spec is known: nothing adopted.
func (l *Ledger) Complete() bool {
	for _, e := range l.entries {
		if e.State == Adopted {
			return false
		}
	}
	return true
}
